"""The exception family: an error about a setting is worded by each entry point its own way."""

from __future__ import annotations

import pickle

from audiogen.errors import ManifestError, VoiceError


def test_an_error_names_its_setting_as_each_entry_point_calls_it():
    error = VoiceError("'nosuch': unknown voice", "voice")
    assert error.worded("--voice") == "--voice 'nosuch': unknown voice"  # the command line
    assert str(error) == "voice 'nosuch': unknown voice"  # the Python API's keyword
    assert error.message == "'nosuch': unknown voice"  # after a manifest's key path
    plain = VoiceError("the engine stopped")
    assert plain.setting is None and str(plain) == plain.worded("--voice") == "the engine stopped"


def test_errors_survive_the_trip_from_a_worker_process():
    error = pickle.loads(pickle.dumps(VoiceError("400: out of range", "rate")))
    assert (type(error), error.setting, str(error)) == (VoiceError, "rate", "rate 400: out of range")
    manifest = pickle.loads(pickle.dumps(ManifestError(["a.toml: x: bad", "a.toml: y: bad"])))
    assert manifest.problems == ["a.toml: x: bad", "a.toml: y: bad"]

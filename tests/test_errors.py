"""The exception family: an error about a setting is worded by each entry point its own way."""

from __future__ import annotations

import pickle

from audiogen.errors import ManifestError, VoiceError, mention
from audiogen.settings import flag


def test_an_error_names_its_setting_as_each_entry_point_calls_it():
    error = VoiceError(f"'nosuch': unknown voice; try another {mention('voice_warmth')}", "voice")
    assert error.worded(flag) == "--voice 'nosuch': unknown voice; try another --voice-warmth"  # the CLI
    assert str(error) == "voice 'nosuch': unknown voice; try another voice_warmth"  # the API's keywords
    assert error.message == "'nosuch': unknown voice; try another voice_warmth"  # after a manifest's key
    plain = VoiceError("the engine stopped")
    assert plain.setting is None and str(plain) == plain.worded(flag) == "the engine stopped"


def test_errors_survive_the_trip_from_a_worker_process():
    error = pickle.loads(pickle.dumps(VoiceError(f"400: out of range; see {mention('engine')}", "rate")))
    assert (type(error), error.setting) == (VoiceError, "rate")
    assert error.worded(flag) == "--rate 400: out of range; see --engine"
    manifest = pickle.loads(pickle.dumps(ManifestError(["a.toml: x: bad", "a.toml: y: bad"])))
    assert manifest.problems == ["a.toml: x: bad", "a.toml: y: bad"]

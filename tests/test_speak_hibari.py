"""The default neural voice (hibari): heard back by a recognizer, paced as calibrated, offline,
no pitch, and a clear stop when it cannot load."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from audiogen.errors import ManifestError, VoiceError
from audiogen.library.manifest import load_manifest
from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import synthesize_track, with_engine_defaults
from audiogen.speak.engines import HibariEngine, hibari_speed, phrases
from conftest import cli_render, decode, ffmpeg_true_peak, render_one_minute
from recognizer import read_wav, speech_span, transcribe, word_error_rate

ROOT = Path(__file__).resolve().parent.parent
CALM = [
    "Let your shoulders soften, and let the breath be easy.",
    "You might notice the weight of your body, resting where it is.",
    "There is nothing you need to fix right now.",
    "Breathe in slowly; and breathe out a little longer.",
    "Whatever you are feeling is welcome here.",
    "Be gentle with yourself, as you would be with a friend.",
]


def _render(tmp_path: Path, *args: str):
    return cli_render(tmp_path / "out", tmp_path / "cache", *args)


def test_a_rendered_session_in_the_default_voice_is_heard_back_word_for_word(tmp_path):
    result = _render(tmp_path)
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1])
    samples = decode(path)
    assert abs(len(samples) / 44100 - 60) <= 0.6, "within 1 % of the length asked for"
    import pyloudnorm

    assert pyloudnorm.Meter(44100).integrated_loudness(samples.astype(np.float64)) == pytest.approx(
        -16.0, abs=0.5
    )
    assert ffmpeg_true_peak(path) <= -1.0
    from mutagen.id3 import ID3

    assert str(ID3(path)["TPE1"]) == "audiogen (heart)"
    reference = [
        line.split("  ", 2)[-1]
        for line in path.with_suffix(".txt").read_text().splitlines()
        if line.startswith("  ") and line.strip()[:2].isdigit()
    ]
    mono = samples.mean(axis=1)
    wer = word_error_rate(" ".join(reference), transcribe(mono, 44100))
    print(f"\nrecognizer word error rate, 1-minute session with the bed: {100 * wer:.1f} %")
    assert wer <= 0.05


@pytest.mark.parametrize("rate", [100, 120, 150])
def test_the_rate_asked_is_the_pace_measured_inside_sentences(tmp_path, rate):
    track = synthesize_track([Utterance(t) for t in CALM], VoiceSettings(rate=rate), tmp_path)
    spans = [speech_span(*read_wav(c.path)) for c in track.clips]
    wpm = 60 * sum(len(t.split()) for t in CALM) / sum(spans)
    print(f"\n--rate {rate}: {wpm:.0f} words a minute inside the sentences")
    assert abs(wpm - rate) <= 0.12 * rate
    if rate == VoiceSettings.rate:
        assert 100 <= wpm <= 160


def test_the_slow_default_speed_is_still_heard_word_for_word(tmp_path):
    track = synthesize_track([Utterance(t) for t in CALM], VoiceSettings(), tmp_path)
    clips = [read_wav(c.path) for c in track.clips]
    gap = np.zeros(int(0.7 * 24000), np.float32)
    heard = transcribe(np.concatenate([part for s, _ in clips for part in (s, gap)]), 24000)
    assert word_error_rate(" ".join(CALM), heard) <= 0.03, heard


def test_speed_follows_the_calibration_and_phrases_keep_their_marks():
    assert hibari_speed(20) == 0.4 and hibari_speed(400) == 1.2  # clamped where the voice smears or rushes
    assert 0.5 < hibari_speed(120) < 0.55
    assert phrases("Breathe in, and out; slowly \u2014 there.") == [
        "Breathe in,",
        "and out;",
        "slowly \u2014",
        "there.",
    ]


def test_pitch_with_hibari_is_one_line_naming_the_engine(tmp_path):
    result = _render(tmp_path, "--pitch", "40")
    assert result.exit_code == 6
    assert result.output.strip() == (
        "audiogen: error: --pitch 40: the hibari engine has no pitch control; "
        "leave the pitch out, or choose --engine pyttsx3"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    profile = tmp_path / "sam.toml"
    profile.write_text("name = 'Sam'\npitch = 45\n")
    result = _render(tmp_path, "--profile", str(profile))
    assert result.exit_code == 6 and "--pitch 45: the hibari engine has no pitch control" in result.output
    result = _render(tmp_path, "--profile", str(profile), "--engine", "pyttsx3", "--minutes", "1")
    assert result.exit_code == 0, result.output
    with pytest.raises(VoiceError, match="hibari engine has no pitch control"):
        with_engine_defaults(VoiceSettings(pitch=50))
    assert with_engine_defaults(VoiceSettings(engine="pyttsx3")) == VoiceSettings(
        engine="pyttsx3", voice="en-us+f4", pitch=40
    )


def test_a_manifest_pitch_for_hibari_names_its_key(tmp_path):
    (tmp_path / "a.md").write_text("# Rest\n\nBe gentle with yourself when you grieve. Rest is allowed.\n")
    manifest = tmp_path / "library.toml"
    manifest.write_text("[defaults]\npitch = 45\n\n[[sessions]]\narticles = ['a.md']\nminutes = 5\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest)
    assert any(
        "defaults.pitch: 45: the hibari engine has no pitch control" in line for line in caught.value.problems
    )
    manifest.write_text(
        "[defaults]\npitch = 45\nengine = 'pyttsx3'\n\n[[sessions]]\narticles = ['a.md']\nminutes = 5\n"
    )
    assert load_manifest(manifest).sessions


def test_only_the_voice_inside_the_package_is_listed_and_nothing_is_downloaded(tmp_path, monkeypatch):
    import hibari.voices

    monkeypatch.setattr(hibari.voices, "download", hibari.voices.download)  # put back after the test
    monkeypatch.setenv("HIBARI_HOME", str(tmp_path / "hibari-home"))
    engine = HibariEngine()
    assert [v.id for v in engine.voices()] == ["heart"]
    with pytest.raises(ValueError, match="no voice 'emma' inside the package"):
        engine.synthesize("Rest now.", tmp_path / "x.wav", "emma", 120, None)
    with pytest.raises(RuntimeError, match="never downloads"):
        hibari.voices.voice_path("emma")  # what hibari itself would do: refused in an engine's process
    assert not (tmp_path / "hibari-home").exists()
    result = _render(tmp_path, "--voice", "emma")
    assert result.exit_code == 6 and "unknown voice for engine 'hibari'" in result.output


def test_a_render_without_any_network_namespace(tmp_path):
    """`unshare -n`: a new network namespace with nothing but a down loopback; hibari, a cold cache."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    assert probe.returncode == 0, f"unshare -n needs root here: {probe.stderr.decode()}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), HIBARI_HOME=str(tmp_path / "hibari-home"))
    result = render_one_minute(tmp_path, env, "unshare", "-n")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]).stat().st_size > 100_000
    assert not (tmp_path / "hibari-home").exists()


def test_a_damaged_model_stops_the_render_with_exit_8(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOGEN_TEST_ENGINE_DIR", str(tmp_path))
    result = _render(tmp_path, "--engine", "speech_test_engines:DamagedHibariEngine")
    assert result.exit_code == 8
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "cannot be loaded (InvalidProtobuf" in line
    assert "pip install --force-reinstall hibari-tts" in line and "--engine pyttsx3" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


BLOCK_ONNXRUNTIME = """
import sys

class _NoOnnxruntime:
    def find_spec(self, name, path=None, target=None):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime' (blocked by the test)")
        return None

sys.meta_path.insert(0, _NoOnnxruntime())
"""


def test_without_onnxruntime_the_render_stops_with_exit_8_and_names_the_way_out(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_ONNXRUNTIME)  # runs in the speech worker too
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    result = render_one_minute(tmp_path, env)
    assert result.returncode == 8
    assert result.stderr.strip().splitlines() == [
        "audiogen: error: --engine hibari: the neural voice cannot load (ImportError: No module named "
        "'onnxruntime' (blocked by the test)); `pip install hibari-tts`, or choose --engine pyttsx3"
    ]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_warm_track_starts_no_engine_and_the_key_names_the_model(tmp_path, monkeypatch):
    import hashlib

    from audiogen.speak.engines import hibari_model_files
    from audiogen.speak.worker import SpeechWorker

    utterances = [Utterance(t) for t in CALM[:3]]
    first = synthesize_track(utterances, VoiceSettings(), tmp_path)
    (record,) = (tmp_path / "engines").glob("*.json")
    version = json.loads(record.read_text())["version"]
    model = hibari_model_files()["heart"]
    assert (
        version.startswith("hibari-0.2.") and hashlib.sha256(model.read_bytes()).hexdigest()[:16] in version
    )
    started: list[str] = []
    original = SpeechWorker.start
    monkeypatch.setattr(
        SpeechWorker, "start", lambda self: (started.append(self.engine_name), original(self))
    )
    messages: list[str] = []
    again = synthesize_track(utterances, VoiceSettings(), tmp_path, report=messages.append)
    assert started == [] and "0 synthesised" in messages[0]
    assert [c.path for c in again.clips] == [c.path for c in first.clips]
    assert again.settings.voice == "heart" and again.settings.pitch is None


def test_transcript_cues_start_where_the_voice_starts(tmp_path):
    """The voice alone (no bed): every cue opens where the sound begins, not inside a word."""
    from test_export import parse_vtt

    result = _render(tmp_path, "--background", "none", "--format", "wav")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1])
    samples = decode(path, 24000).mean(axis=1)
    cues = parse_vtt(path.with_suffix(".vtt").read_text(encoding="utf-8"))
    assert len(cues) >= 10

    def level_db(start: float, end: float) -> float:
        part = samples[int(start * 24000) : int(end * 24000)]
        return 20 * np.log10(np.sqrt(np.mean(part**2)) + 1e-9)

    for start, _, words in cues:  # (the bells ring on: a bell's tail may precede a cue)
        before, after = level_db(start - 0.1, start - 0.01), level_db(start, start + 0.3)
        assert after - before >= 6, (words, start, before, after)  # sound begins at the cue
        assert level_db(start - 0.01, start) < after - 6, (words, start)  # not in the middle of a word

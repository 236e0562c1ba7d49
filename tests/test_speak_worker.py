"""The speech worker: hangs and crashes are recovered, bad clips refused, problems named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogen.errors import OutputError, ToolMissingError, VoiceError
from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import synthesize_track, voice_catalog, worker
from audiogen.speak.worker import SpeechWorker
from speech_test_engines import hangs, synth_calls

SENTENCES = ("You arrive here, just as you are.", "Let the breath hang softly for a moment.", "Rest now.")


@pytest.fixture
def engine_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "SECONDS_PER_WORD", 0.1)  # short time limits keep the hangs brief
    folder = tmp_path / "engine-state"
    folder.mkdir()
    monkeypatch.setenv("AUDIOGEN_TEST_ENGINE_DIR", str(folder))
    return folder


def _settings(engine: str) -> VoiceSettings:
    return VoiceSettings(engine=f"speech_test_engines:{engine}", voice="en-us")


def test_a_hung_engine_is_killed_restarted_and_the_sentence_retried(engine_dir, tmp_path):
    track = synthesize_track(
        [Utterance(t) for t in SENTENCES], _settings("HangOnceEngine"), tmp_path / "cache", timeout=2.0
    )
    assert hangs(engine_dir) == 1, "the engine really hung once"
    assert [c.utterance.text for c in track.clips] == list(SENTENCES), "no sentence lost"
    assert all(c.duration > 0.5 for c in track.clips)
    assert synth_calls(engine_dir) == list(SENTENCES)


def test_an_engine_that_always_hangs_fails_with_a_clear_message(engine_dir, tmp_path):
    with pytest.raises(VoiceError, match=r"hung or crashed 2 times on the sentence 'Let the breath hang"):
        synthesize_track(
            [Utterance(t) for t in SENTENCES],
            _settings("AlwaysHangEngine"),
            tmp_path / "cache",
            timeout=1.0,
            retries=1,
        )
    assert hangs(engine_dir) == 2, "bounded: one try and one retry"


def test_a_crashed_engine_is_restarted(engine_dir, tmp_path):
    texts = ["First, settle.", "Now the worker may crash here.", "And it carries on."]
    track = synthesize_track([Utterance(t) for t in texts], _settings("CrashOnceEngine"), tmp_path / "cache")
    assert (engine_dir / "crashed").exists()
    assert [c.utterance.text for c in track.clips] == texts
    assert synth_calls(engine_dir) == texts


def test_an_engine_error_is_retried_in_a_fresh_engine(engine_dir, tmp_path):
    texts = ["Even if words fail, rest.", "Rest again."]
    track = synthesize_track([Utterance(t) for t in texts], _settings("FailOnceEngine"), tmp_path / "cache")
    assert (engine_dir / "failed").exists()
    assert [c.utterance.text for c in track.clips] == texts


def test_an_implausible_clip_is_retried_then_refused(engine_dir, tmp_path):
    with pytest.raises(
        VoiceError, match=r"wrote .* implausible for 7 words at 120 wpm for 'You arrive.* 2 times"
    ):
        synthesize_track(
            [Utterance(SENTENCES[0])], _settings("TruncatingEngine"), tmp_path / "cache", retries=1
        )
    assert len(synth_calls(engine_dir)) == 2
    assert not list((tmp_path / "cache").rglob("*.wav")), "a refused clip is never cached"


def test_an_unwritable_target_is_refused_before_the_driver_can_hang(tmp_path):
    with SpeechWorker("pyttsx3", timeout=20) as worker:
        with pytest.raises(OutputError, match="cannot write speech clips there"):
            worker.synthesize("Hello there.", tmp_path / "missing" / "clip.wav", "en-us", 120, 50)
        # The same engine process still works afterwards.
        target = tmp_path / "clip.wav"
        worker.synthesize("Hello there.", target, "en-us", 120, 50)
        assert target.stat().st_size > 1000
        assert worker.restarts == 0


def test_an_engine_that_is_not_installed_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on this PATH
    with pytest.raises(ToolMissingError, match=r"--engine espeak-ng: espeak-ng is not installed; install it"):
        voice_catalog("espeak-ng")


@pytest.mark.parametrize("engine", ["no-such-engine", "no_such_module:Engine"])
def test_an_unknown_engine_lists_the_available_ones(engine, tmp_path):
    with pytest.raises(
        VoiceError, match=r"--engine: .*(available: espeak-ng, hibari, pyttsx3|cannot be loaded)"
    ):
        synthesize_track([Utterance("Rest now.")], VoiceSettings(engine=engine), tmp_path)


def test_the_espeak_command_line_engine_speaks(tmp_path):
    track = synthesize_track([Utterance("Rest now, gently.")], VoiceSettings(engine="espeak-ng"), tmp_path)
    assert 0.5 < track.clips[0].duration < 6
    assert track.clips[0].sample_rate == 22050


def test_the_pip_espeak_library_stands_in_for_the_system_one(tmp_path, monkeypatch):
    """espeakng-loader's libespeak-ng and data, as on a machine without the Debian package."""
    import espeakng_loader

    monkeypatch.setenv("AUDIOGEN_ESPEAK", "bundled")
    with SpeechWorker("pyttsx3", timeout=20) as speech:
        assert "EspeakDriver" in speech.version
        assert {v.id for v in speech.variants()} >= {"f3", "f4"}
        target = tmp_path / "clip.wav"
        speech.synthesize("Rest now, gently.", target, "gmw/en-us+f4", 120, 40)
        assert target.stat().st_size > 10_000
        maps = Path(f"/proc/{speech._process.pid}/maps").read_text()
    assert str(Path(espeakng_loader.get_library_path()).resolve()) in maps, (
        "the worker speaks with the pip library"
    )


def test_an_engine_interrupted_while_starting_closes_without_a_second_error(monkeypatch):
    """An interrupt inside Process.start (a session's time bound, Ctrl-C) leaves no half-made
    process for close() to join: the interrupt is what the caller sees."""
    speech = SpeechWorker("pyttsx3")

    def interrupted_start(process):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(speech._context.Process(target=print)), "start", interrupted_start)
    with pytest.raises(KeyboardInterrupt):
        speech.start()
    speech.close()  # used to fail: "can only join a started process"
    assert speech._process is None and speech._conn is None

"""A warm render starts no speech engine: the cache's engine records, with the real engines."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audiogen.errors import VoiceError
from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import SpeechCache, engine_identity, identity, synthesize_track
from audiogen.speak.identity import RECORDS_FOLDER, engine_facts
from audiogen.speak.voices import resolve_voice
from audiogen.speak.worker import SpeechWorker

TEXTS = ("Rest now.", "Breathe in.")


@pytest.fixture
def starts(monkeypatch) -> list[str]:
    """Every speech worker started (or restarted) in this process, by engine name."""
    started: list[str] = []
    original = SpeechWorker.start

    def start(self) -> None:
        started.append(self.engine_name)
        original(self)

    monkeypatch.setattr(SpeechWorker, "start", start)
    return started


@pytest.fixture(scope="module")
def cold_cache(tmp_path_factory) -> Path:
    """A speech cache after one cold pyttsx3 track of TEXTS: clips and the engine's record."""
    folder = tmp_path_factory.mktemp("cold-cache")
    _track(folder)
    return folder


@pytest.fixture
def warm(cold_cache, tmp_path, starts):
    """A copy of the cold cache and its track, made again there without the engine."""
    folder = tmp_path / "cache"
    shutil.copytree(cold_cache, folder)
    track, message = _track(folder)
    assert starts == [] and "0 synthesised" in message
    return folder, track


def _track(cache: Path, engine: str = "pyttsx3", texts=TEXTS, **settings):
    messages: list[str] = []
    track = synthesize_track(
        [Utterance(t) for t in texts], VoiceSettings(engine=engine, **settings), cache, report=messages.append
    )
    return track, messages[0]


def _records(cache: Path) -> list[Path]:
    return sorted((cache / RECORDS_FOLDER).glob("*.json"))


def _same_clips(one, other) -> None:
    assert [c.path for c in one.clips] == [c.path for c in other.clips]
    assert [c.path.read_bytes() for c in one.clips] == [c.path.read_bytes() for c in other.clips]
    assert [c.duration for c in one.clips] == [c.duration for c in other.clips]


@pytest.mark.parametrize("engine", ["pyttsx3", "espeak-ng"])
def test_a_warm_track_starts_no_engine_and_matches_the_cold_one(tmp_path, starts, engine):
    cache = tmp_path / "cache"
    cold, message = _track(cache, engine, voice="en-us+f3")
    assert starts == [engine] and "2 synthesised" in message
    assert len(_records(cache)) == 1
    starts.clear()
    warm, message = _track(cache, engine, voice="en-us+f3")
    assert starts == [] and "0 synthesised" in message
    _same_clips(warm, cold)
    # A warm voice's clip is derived from the cached plain one, still without the engine.
    _, message = _track(cache, engine, voice="en-us+f3", warmth=0.5)
    assert starts == [] and "0 synthesised" in message
    # The keys are those a cold run in an empty cache makes.
    other, _ = _track(tmp_path / "elsewhere", engine, voice="en-us+f3")
    assert [c.path.relative_to(tmp_path / "elsewhere") for c in other.clips] == [
        c.path.relative_to(cache) for c in cold.clips
    ]


def test_a_missing_clip_starts_the_engine_once_for_that_clip(warm, starts):
    cache, _ = warm
    track, message = _track(cache, texts=TEXTS + ("Soften the shoulders.",))
    assert starts == ["pyttsx3"] and "3 sentences, 1 synthesised" in message
    assert [c.utterance.text for c in track.clips] == list(TEXTS) + ["Soften the shoulders."]


def test_a_changed_engine_program_starts_the_engine_again(tmp_path, starts, monkeypatch):
    # A copy of the espeak-ng program, first on PATH: the engine the worker runs, and the file watched.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "espeak-ng"
    shutil.copy2(shutil.which("espeak-ng"), program)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    cold, _ = _track(cache, "espeak-ng")
    assert engine_facts("espeak-ng")["files"][0][0] == str(program)
    starts.clear()
    _track(cache, "espeak-ng")
    assert starts == []
    stat = program.stat()
    os.utime(program, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the program is replaced
    again, message = _track(cache, "espeak-ng")
    assert starts == ["espeak-ng"] and "0 synthesised" in message  # same version: the clips still fit
    _same_clips(again, cold)
    assert len(_records(cache)) == 2
    starts.clear()
    _track(cache, "espeak-ng")
    assert starts == []


def test_a_changed_environment_starts_the_engine_again(warm, starts, monkeypatch):
    cache, cold = warm
    data_folder = next(
        Path(f) for f, _ in json.loads(_records(cache)[0].read_text())["files"] if Path(f).is_dir()
    )
    monkeypatch.setenv("ESPEAK_DATA_PATH", str(data_folder.parent))  # the same data, named explicitly
    again, message = _track(cache)
    assert starts == ["pyttsx3"] and "0 synthesised" in message
    _same_clips(again, cold)
    assert len(_records(cache)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: json.dumps({**json.loads(text), "voices": "gmw/en-us"}),
        lambda text: json.dumps({**json.loads(text), "facts": {}}),
        lambda text: json.dumps({**json.loads(text), "files": []}),
        lambda text: json.dumps(
            {**json.loads(text), "files": [[f, "0"] for f, _ in json.loads(text)["files"]]}
        ),
        lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "version"}),
    ],
    ids=["garbage", "voices-string", "other-facts", "no-files", "changed-data", "no-version"],
)
def test_a_damaged_record_is_ignored_and_replaced(warm, starts, damage):
    cache, cold = warm
    record = _records(cache)[0]
    record.write_text(damage(record.read_text(encoding="utf-8")), encoding="utf-8")
    again, message = _track(cache)
    assert starts == ["pyttsx3"] and "0 synthesised" in message
    _same_clips(again, cold)
    starts.clear()
    _track(cache)
    assert starts == [], "the record was written afresh"


def test_a_record_that_lies_is_corrected_when_the_engine_starts(warm, starts):
    # Facts and files unchanged, but the answers wrong: every key misses, the engine starts
    # before the first clip, and its own version wins and is recorded.
    cache, cold = warm
    record = _records(cache)[0]
    data = json.loads(record.read_text(encoding="utf-8"))
    record.write_text(json.dumps({**data, "version": "an-older-engine"}), encoding="utf-8")
    again, message = _track(cache)
    assert starts == ["pyttsx3"] and "0 synthesised" in message
    _same_clips(again, cold)
    assert json.loads(record.read_text(encoding="utf-8"))["version"] == data["version"]


def test_unknown_voices_fail_the_same_with_a_record(warm, starts):
    cache, _ = warm
    voices = ["englsh-us", "en-us+f33", "english", "en-us+"]
    with SpeechWorker("pyttsx3") as worker:  # what the engine's own answers give, as before records
        before = {}
        for voice in voices:
            with pytest.raises(VoiceError) as caught:
                resolve_voice(voice, worker.voices(), worker.variants(), "pyttsx3")
            before[voice] = str(caught.value)
    starts.clear()
    for voice in voices:
        with pytest.raises(VoiceError) as caught:
            _track(cache, voice=voice)
        assert str(caught.value) == before[voice]
    assert starts == []
    assert "unknown voice for engine 'pyttsx3'; close matches" in before["englsh-us"]
    assert "unknown variant 'f33'" in before["en-us+f33"]
    assert "give one id" in before["english"]


def test_no_cache_and_plug_in_engines_start_the_engine_as_before(warm, tmp_path, starts, monkeypatch):
    cache, _ = warm
    track = synthesize_track(
        [Utterance("Rest now.")], VoiceSettings(engine="pyttsx3"), cache, use_cache=False
    )
    assert starts == ["pyttsx3"] and track.clips[0].path.exists()
    monkeypatch.setenv("AUDIOGEN_TEST_ENGINE_DIR", str(tmp_path))
    engine = "speech_test_engines:CountingEngine"
    assert engine_facts(engine) is None
    for _ in range(2):
        starts.clear()
        _track(tmp_path / "plug-in", engine, voice="en-us")
        assert starts == [engine]
    assert _records(tmp_path / "plug-in") == []


@pytest.mark.parametrize("bundled", [False, True], ids=["system", "bundled"])
def test_the_library_found_is_the_one_the_engine_loads(monkeypatch, bundled):
    if bundled:
        pytest.importorskip("espeakng_loader")
        monkeypatch.setenv("AUDIOGEN_ESPEAK", "bundled")
    with SpeechWorker("pyttsx3") as worker:
        library, data = worker.identity_files()
    assert library == identity.pyttsx3_espeak_library()
    assert Path(data, "phontab").is_file()


def test_engine_identity_and_cache_clear(tmp_path, starts):
    first = engine_identity("pyttsx3", tmp_path)
    assert starts == ["pyttsx3"]
    assert "EspeakDriver" in first.version and any(v.id == "gmw/en-us" for v in first.voices)
    starts.clear()
    assert engine_identity("pyttsx3", tmp_path) == first and starts == []
    SpeechCache(tmp_path).clear()
    assert _records(tmp_path) == []

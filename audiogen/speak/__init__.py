"""Speak stage: utterances become verified WAV clips, sentence by sentence, cached.

Each sentence is prepared for speech (numbers and abbreviations as words), looked up in
the content-addressed cache, and only on a miss synthesised by the engine in its own
spawned worker process (timeout, restart, bounded retries). Every clip is checked.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from audiogen.errors import VoiceError
from audiogen.models import Clip, Utterance, VoiceSettings, VoiceTrack
from audiogen.speak.cache import CacheInfo, SpeechCache, clip_key, default_cache_dir, variant_key
from audiogen.speak.engines import EngineUnavailable, VoiceInfo, engine_class, engine_names
from audiogen.speak.textprep import prepare_for_speech
from audiogen.speak.voices import resolve_voice
from audiogen.speak.warmth import TAIL_SECONDS, warm_file
from audiogen.speak.worker import DEFAULT_TIMEOUT, RETRIES, EngineFailed, SpeechWorker

__all__ = [
    "synthesize_track", "list_voices", "voice_catalog", "VoiceCatalog", "SpeechCache", "CacheInfo",
    "default_cache_dir", "prepare_for_speech", "engine_names",
]

MIN_RATE, MAX_RATE = 60, 260


@dataclass(frozen=True)
class VoiceCatalog:
    engine: str
    voices: tuple[VoiceInfo, ...]
    variants: tuple[VoiceInfo, ...]  # appended to a voice with '+', e.g. en-us+f3


def _check_engine(engine: str) -> None:
    """An unknown engine name fails here, in the main process, before a worker starts."""
    try:
        engine_class(engine)
    except EngineUnavailable as exc:
        raise VoiceError(f"--engine: {exc}") from None


def voice_catalog(engine: str = "pyttsx3") -> VoiceCatalog:
    _check_engine(engine)
    with SpeechWorker(engine) as worker:
        return VoiceCatalog(engine, tuple(worker.voices()), tuple(worker.variants()))


def list_voices(engine: str = "pyttsx3") -> list[VoiceInfo]:
    return list(voice_catalog(engine).voices)


def _clip_duration(path: Path) -> tuple[float, int]:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate()), wav.getframerate()


def _clip_problem(path: Path, spoken: str, rate: int, extra_seconds: float = 0.0) -> str | None:
    """Why a clip is unusable (missing, empty, a length its words cannot have), or None."""
    if not path.exists() or path.stat().st_size <= 44:
        return "no audio"
    try:
        duration, _ = _clip_duration(path)
    except (wave.Error, EOFError) as exc:
        return f"an unreadable WAV ({exc})"
    expected = len(spoken.split()) * 60.0 / rate
    if not 0.25 * expected <= duration <= 3.0 * expected + 2.5 + extra_seconds:
        return f"{duration:.2f} s of audio, implausible for {len(spoken.split())} words at {rate} wpm"
    return None


def _temporary_cache() -> Path:
    """--no-cache: clips live in a temporary folder until the process ends, then go."""
    folder = Path(tempfile.mkdtemp(prefix="audiogen-speech-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


class _Speaker:
    """Produces the clip of one sentence: from the cache, or from the engine (started on first need)."""

    def __init__(self, settings: VoiceSettings, cache: SpeechCache, timeout: float, retries: int) -> None:
        self.settings = settings
        self.cache = cache
        self.retries = retries
        self.worker = SpeechWorker(settings.engine, timeout, retries)
        self.worker.start()  # the engine version is part of every key
        try:
            self.voice = resolve_voice(settings.voice, self.worker.voices(), self.worker.variants(), settings.engine)
        except BaseException:
            self.worker.close()
            raise
        self.synthesised = 0

    def close(self) -> None:
        self.worker.close()

    def clip(self, spoken: str, rate: int) -> Path:
        s = self.settings
        key = clip_key(spoken, s.engine, self.worker.version, self.voice, rate, s.pitch)
        if s.warmth > 0:
            warm_key = variant_key(key, "warmth", s.warmth)
            path = self.cache.get(warm_key)
            if path is None:
                path = self._derive(warm_key, self._raw(key, spoken, rate), s.warmth)
            return path
        return self._raw(key, spoken, rate)

    def _raw(self, key: str, spoken: str, rate: int) -> Path:
        path = self.cache.get(key)
        if path is not None and _clip_problem(path, spoken, rate) is None:
            return path
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.worker.restart()  # a bad clip may mean a confused driver: start afresh
            temp = self.cache.temp_path(key)
            try:
                self.worker.synthesize(spoken, temp, self.voice, rate, self.settings.pitch)
                self.synthesised += 1
                problem = _clip_problem(temp, spoken, rate)
                if problem is None:
                    return self.cache.put(key, temp)
                problem = f"wrote {problem}"
            except EngineFailed as exc:  # a driver error may be passing: retried in a fresh engine
                problem = f"failed ({exc})"
            finally:
                temp.unlink(missing_ok=True)
        raise VoiceError(
            f"speech engine {self.settings.engine!r} {problem} for {spoken[:50]!r} "
            f"{self.retries + 1} times; try another --voice or --engine"
        )

    def _derive(self, key: str, raw: Path, amount: float) -> Path:
        temp = self.cache.temp_path(key)
        try:
            warm_file(raw, temp, amount)
            return self.cache.put(key, temp)
        finally:
            temp.unlink(missing_ok=True)


def synthesize_track(
    utterances: Sequence[Utterance],
    settings: VoiceSettings,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    report: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = RETRIES,
) -> VoiceTrack:
    """One checked clip per utterance; `timeout` is a sentence's base time limit in seconds."""
    if not MIN_RATE <= settings.rate <= MAX_RATE:
        raise VoiceError(f"--rate {settings.rate}: out of range; choose {MIN_RATE} to {MAX_RATE} words per minute")
    if not 0 <= settings.pitch <= 99:
        raise VoiceError(f"--pitch {settings.pitch}: out of range; choose 0 to 99")
    if not 0 <= settings.warmth <= 1:
        raise VoiceError(f"--voice-warmth {settings.warmth}: out of range; choose 0 (off) to 1")
    _check_engine(settings.engine)
    spoken_texts = []
    for utterance in utterances:
        spoken = prepare_for_speech(utterance.text)
        if not any(ch.isalnum() for ch in spoken):
            raise VoiceError(f"the sentence {utterance.text[:50]!r} has no words to speak")
        spoken_texts.append(spoken)
    folder = (Path(cache_dir) if cache_dir else default_cache_dir()) if use_cache else _temporary_cache()
    cache = SpeechCache(folder)
    speaker = _Speaker(settings, cache, timeout, retries) if utterances else None
    clips: list[Clip] = []
    try:
        for done, (utterance, spoken) in enumerate(zip(utterances, spoken_texts), 1):
            rate = max(MIN_RATE // 2, int(round(settings.rate * utterance.rate)))
            path = speaker.clip(spoken, rate)
            problem = _clip_problem(path, spoken, rate, TAIL_SECONDS if settings.warmth > 0 else 0.0)
            if problem:
                raise VoiceError(f"the cached clip {path} holds {problem}; run `audiogen cache clear`")
            duration, sample_rate = _clip_duration(path)
            clips.append(Clip(utterance, path, duration, sample_rate))
            if progress:
                progress(done, len(utterances))
    finally:
        if speaker is not None:
            speaker.close()
    if use_cache:
        cache.trim(keep={c.path for c in clips})
    if report and speaker is not None:
        report(f"speech: {len(clips)} sentences, {speaker.synthesised} synthesised, the rest from {cache.folder}")
    return VoiceTrack(tuple(clips), settings)

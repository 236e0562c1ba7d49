"""Speak stage: utterances become verified WAV clips, sentence by sentence, cached."""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from audiogen.errors import VoiceError
from audiogen.models import Clip, Utterance, VoiceSettings, VoiceTrack
from audiogen.speak.cache import SpeechCache, clip_key, default_cache_dir
from audiogen.speak.engines import VoiceInfo, known_voice, wav_duration
from audiogen.speak.worker import SpeechWorker

__all__ = ["synthesize_track", "list_voices", "SpeechCache", "default_cache_dir"]

MIN_RATE, MAX_RATE = 60, 260


def list_voices(engine: str = "pyttsx3") -> list[VoiceInfo]:
    with SpeechWorker(engine) as worker:
        return worker.voices()


def _check_voice(worker: SpeechWorker, voice: str) -> None:
    voices = worker.voices()
    if known_voice(voice, voices):
        return
    candidates = [v.id for v in voices] + [v.id.split("/")[-1] for v in voices] + [v.name for v in voices]
    close = difflib.get_close_matches(voice.split("+")[0], candidates, n=4, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise VoiceError(f"unknown voice {voice!r} for engine {worker.engine_name!r}{hint} (see `audiogen voices`)")


def _check_clip(path: Path, text: str) -> float:
    """A clip must exist, hold audio, and be about as long as its words need."""
    if not path.exists() or path.stat().st_size <= 44:
        raise VoiceError(f"the speech engine wrote no audio for {text[:50]!r}")
    duration = wav_duration(path)
    words = max(1, len(text.split()))
    if not (0.04 * words <= duration <= 3.0 * words + 5.0):
        raise VoiceError(f"the clip for {text[:50]!r} lasts {duration:.2f} s, implausible for {words} words")
    return duration


def synthesize_track(
    utterances: Sequence[Utterance],
    settings: VoiceSettings,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> VoiceTrack:
    if not MIN_RATE <= settings.rate <= MAX_RATE:
        raise VoiceError(f"rate {settings.rate} wpm is out of range; choose {MIN_RATE} to {MAX_RATE}")
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    if not use_cache:
        folder = Path(tempfile.mkdtemp(prefix="audiogen-speech-"))
    cache = SpeechCache(folder)
    clips: list[Clip] = []
    worker: SpeechWorker | None = None
    version = ""
    try:
        for done, utterance in enumerate(utterances, 1):
            rate = int(round(settings.rate * utterance.rate))
            # The engine version is part of the key, so the worker starts once up front.
            if worker is None:
                worker = SpeechWorker(settings.engine)
                worker.start()
                version = worker.version
                _check_voice(worker, settings.voice)
            key = clip_key(utterance.text, settings.engine, version, settings.voice, rate, settings.pitch)
            path = cache.get(key)
            if path is None:
                temp = cache.temp_path(key)
                try:
                    worker.synthesize(utterance.text, temp, settings.voice, rate, settings.pitch)
                    _check_clip(temp, utterance.text)
                    path = cache.put(key, temp)
                finally:
                    temp.unlink(missing_ok=True)
            duration = _check_clip(path, utterance.text)
            clips.append(Clip(utterance, path, duration, 22050))
            if progress:
                progress(done, len(utterances))
    finally:
        if worker is not None:
            worker.close()
    if use_cache:
        cache.trim()
    return VoiceTrack(tuple(clips), settings)

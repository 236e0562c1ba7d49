"""Speak stage: utterances become verified WAV clips, sentence by sentence, cached.

Each sentence is prepared for speech (numbers and abbreviations as words), looked up in
the content-addressed cache, and only on a miss synthesised by the engine in its own
spawned worker process (timeout, restart, bounded retries). Every clip is checked.
When every clip is cached and the cache has a record of the engine (identity.py), the
engine is not started at all.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from audiogen.errors import VoiceError, mention
from audiogen.models import Clip, Utterance, VoiceSettings, VoiceTrack
from audiogen.settings import BY_NAME
from audiogen.speak.cache import (
    CacheInfo,
    SpeechCache,
    cache_folder,
    clear_cache,
    clip_key,
    default_cache_dir,
    variant_key,
)
from audiogen.speak.engines import (
    DEFAULT_ENGINE,
    EngineUnavailable,
    VoiceInfo,
    engine_class,
    engine_defaults,
    engine_names,
)
from audiogen.speak.identity import EngineIdentity, EngineRecords, engine_facts
from audiogen.speak.textprep import prepare_for_speech
from audiogen.speak.voices import resolve_voice
from audiogen.speak.warmth import TAIL_SECONDS, warm_file
from audiogen.speak.worker import DEFAULT_TIMEOUT, RETRIES, EngineFailed, SpeechWorker

__all__ = [
    "synthesize_track",
    "list_voices",
    "voice_catalog",
    "VoiceCatalog",
    "SpeechCache",
    "CacheInfo",
    "default_cache_dir",
    "cache_folder",
    "clear_cache",
    "prepare_for_speech",
    "engine_names",
    "engine_identity",
    "EngineIdentity",
    "DEFAULT_ENGINE",
    "EngineUnavailable",
    "with_engine_defaults",
    "engine_defaults",
]

SETTING_RANGES = {name: BY_NAME[name] for name in ("rate", "pitch", "voice_warmth")}
MIN_RATE = int(SETTING_RANGES["rate"].low)  # a sentence's own rate may go down to half of it


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
        raise VoiceError(f"{engine}: {exc}", "engine") from None


def with_engine_defaults(settings: VoiceSettings) -> VoiceSettings:
    """`settings` with the engine's own voice and pitch where none was given; an explicit pitch
    for an engine without pitch control is an error, never silently ignored."""
    _check_engine(settings.engine)
    voice, pitch = engine_defaults(settings.engine)
    if settings.pitch is not None and pitch is None:
        raise VoiceError(
            f"{settings.pitch}: the {settings.engine} engine has no pitch control; "
            f"leave the pitch out, or choose {mention('engine')} pyttsx3",
            "pitch",
        )
    return replace(
        settings, voice=settings.voice or voice, pitch=pitch if settings.pitch is None else settings.pitch
    )


def voice_catalog(engine: str = DEFAULT_ENGINE) -> VoiceCatalog:
    _check_engine(engine)
    with SpeechWorker(engine) as worker:
        return VoiceCatalog(engine, tuple(worker.voices()), tuple(worker.variants()))


def list_voices(engine: str = DEFAULT_ENGINE) -> list[VoiceInfo]:
    return list(voice_catalog(engine).voices)


def _ask_engine(
    worker: SpeechWorker,
    facts: dict | None,
    records: EngineRecords | None,
    recorded: EngineIdentity | None = None,
) -> EngineIdentity:
    """A started engine's version, voices and variants; recorded for later runs where the engine
    has facts to key them by and the answer differs from `recorded`."""
    identity = EngineIdentity(worker.version, tuple(worker.voices()), tuple(worker.variants()))
    if records is not None and facts is not None and identity != recorded:
        try:
            files = worker.identity_files()
        except EngineFailed:  # no record then; the engine is asked again next time
            files = []
        records.save(facts, identity, files)
    return identity


def engine_identity(engine: str = DEFAULT_ENGINE, cache_dir: Path | None = None) -> EngineIdentity:
    """The engine's version, voices and variants, without starting it when the speech cache
    (`cache_dir`, default the user cache) holds a valid record of this engine build; otherwise
    from a started engine, then recorded."""
    _check_engine(engine)
    records = EngineRecords(cache_folder(cache_dir))
    facts = engine_facts(engine)
    identity = records.load(facts)
    if identity is None:
        with SpeechWorker(engine) as worker:
            identity = _ask_engine(worker, facts, records)
    return identity


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


class _IdentityChanged(Exception):
    """The engine, once started, is not what its record said: keys made from the record are stale."""


class _Speaker:
    """Produces the clip of one sentence: from the cache, or from the engine.

    The engine's version (part of every key) and its voices come from the cache's record of this
    engine build when there is a valid one (identity.py); the engine is then started only when a
    clip is missing. Without a record it is started at once, asked, and the answers recorded.
    """

    def __init__(
        self,
        settings: VoiceSettings,
        cache: SpeechCache,
        timeout: float,
        retries: int,
        records: EngineRecords | None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.retries = retries
        self.records = records
        self.facts = engine_facts(settings.engine) if records is not None else None
        self.worker = SpeechWorker(settings.engine, timeout, retries)
        self.started = False
        self.synthesised = 0
        try:
            identity = records.load(self.facts) if records is not None else None
            self._adopt(identity or self._start(None))
        except BaseException:
            self.worker.close()
            raise

    def _start(self, recorded: EngineIdentity | None) -> EngineIdentity:
        """Start the engine and ask what it is; record the answer if it differs from `recorded`."""
        self.worker.start()
        self.started = True
        return _ask_engine(self.worker, self.facts, self.records, recorded)

    def _adopt(self, identity: EngineIdentity) -> None:
        self.identity = identity
        requested = self.settings.voice or (identity.voices[0].id if identity.voices else "")
        self.voice = resolve_voice(requested, identity.voices, identity.variants, self.settings.engine)

    def start_engine(self) -> bool:
        """Start the engine if it is not running; True when it is not what the record said
        (the version and voice are then the engine's own, and keys made before are stale)."""
        if self.started:
            return False
        fresh = self._start(self.identity)
        if fresh == self.identity:
            return False
        self._adopt(fresh)
        return True

    def close(self) -> None:
        self.worker.close()

    def _keys(self, spoken: str, rate: int) -> tuple[str, str | None]:
        s = self.settings
        key = clip_key(spoken, s.engine, self.identity.version, self.voice, rate, s.pitch)
        return key, (variant_key(key, "warmth", s.warmth) if s.warmth > 0 else None)

    def needs_engine(self, spoken: str, rate: int) -> bool:
        """Whether making this sentence's clip needs the engine (the cache lacks a usable clip)."""
        key, warm_key = self._keys(spoken, rate)
        if warm_key is not None and self.cache.peek(warm_key) is not None:
            return False
        path = self.cache.peek(key)
        return path is None or _clip_problem(path, spoken, rate) is not None

    def clip(self, spoken: str, rate: int) -> Path:
        while True:
            try:
                return self._clip(spoken, rate)
            except _IdentityChanged:  # made again with the engine's own version and voice
                continue

    def _clip(self, spoken: str, rate: int) -> Path:
        key, warm_key = self._keys(spoken, rate)
        if warm_key is not None:
            path = self.cache.get(warm_key)
            if path is None:
                path = self._derive(warm_key, self._raw(key, spoken, rate), self.settings.warmth)
            return path
        return self._raw(key, spoken, rate)

    def _raw(self, key: str, spoken: str, rate: int) -> Path:
        path = self.cache.get(key)
        if path is not None and _clip_problem(path, spoken, rate) is None:
            return path
        if self.start_engine():
            raise _IdentityChanged
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
            f"{self.retries + 1} times; try another {mention('voice')} or {mention('engine')}"
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
    # The same ranges the settings table checks at every entry point: a caller of this stage may
    # hand it settings no entry point saw.
    given = {"rate": settings.rate, "pitch": settings.pitch, "voice_warmth": settings.warmth}
    for name, value in given.items():
        setting = SETTING_RANGES[name]
        if value is not None and not setting.low <= value <= setting.high:
            raise VoiceError(f"{value}: out of range; choose {setting.range_text}", name)
    settings = with_engine_defaults(settings)
    spoken_texts = []
    for utterance in utterances:
        spoken = prepare_for_speech(utterance.text)
        if not any(ch.isalnum() for ch in spoken):
            raise VoiceError(f"the sentence {utterance.text[:50]!r} has no words to speak")
        spoken_texts.append(spoken)
    rates = [max(MIN_RATE // 2, int(round(settings.rate * u.rate))) for u in utterances]
    folder = cache_folder(cache_dir) if use_cache else _temporary_cache()
    cache = SpeechCache(folder)
    records = EngineRecords(folder) if use_cache else None
    speaker = _Speaker(settings, cache, timeout, retries, records) if utterances else None
    clips: list[Clip] = []
    try:
        if speaker is not None and any(speaker.needs_engine(s, r) for s, r in zip(spoken_texts, rates)):
            speaker.start_engine()  # before the first clip: every key then has the engine's own version
        for done, (utterance, spoken, rate) in enumerate(zip(utterances, spoken_texts, rates), 1):
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
        report(
            f"speech: {len(clips)} sentences, {speaker.synthesised} synthesised, the rest from {cache.folder}"
        )
    return VoiceTrack(tuple(clips), settings)

"""A content-addressed store of synthesised clips, safe for parallel writers."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from audiogen.codec_offsets import CodecOffsets
from audiogen.errors import OutputError, mention
from audiogen.speak.identity import EngineRecords

DEFAULT_CAP_MB = 2048
CAP_ENV = "AUDIOGEN_CACHE_MAX_MB"  # the size cap in megabytes; 0 keeps nothing after a run
STALE_TEMP_SECONDS = 3600  # a half-written clip this old belongs to a process that died


def cap_bytes_from_env() -> int:
    raw = os.environ.get(CAP_ENV, "").strip()
    if not raw:
        return DEFAULT_CAP_MB * 1024**2
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if megabytes < 0:
        raise OutputError(f"{CAP_ENV}={raw!r}: give the speech cache's size cap in megabytes, e.g. 500")
    return int(megabytes * 1024**2)


@dataclass(frozen=True)
class CacheInfo:
    folder: Path
    clips: int
    size_bytes: int
    cap_bytes: int


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("audiogen")) / "speech"


def cache_folder(cache_dir: Path | None = None) -> Path:
    """The cache folder: the one given, else the user's."""
    return Path(cache_dir) if cache_dir else default_cache_dir()


def clear_cache(cache_dir: Path | None = None) -> int:
    """Empty the cache folder: speech clips, engine records and the encoders' loudness changes
    (a stale change would misplace every later session's loudness). Returns the clips removed."""
    folder = cache_folder(cache_dir)
    removed = SpeechCache(folder).clear()
    CodecOffsets(folder).clear()
    return removed


def clip_key(text: str, engine: str, engine_version: str, voice: str, rate: int, pitch: int) -> str:
    payload = json.dumps([text, engine, engine_version, voice, rate, pitch], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def variant_key(key: str, process: str, amount: float) -> str:
    """The key of a clip derived from the clip `key` by a post-process (e.g. warmth 0.5)."""
    return hashlib.sha256(json.dumps([key, process, round(amount, 4)]).encode("utf-8")).hexdigest()


def _stat(path: Path) -> os.stat_result | None:
    """A file's stat, or None when a parallel process removed it meanwhile."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None


class SpeechCache:
    def __init__(self, folder: Path, cap_bytes: int | None = None) -> None:
        self.folder = Path(folder)
        self.cap_bytes = cap_bytes_from_env() if cap_bytes is None else cap_bytes
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{self.folder}: cannot create the speech cache ({exc.strerror}); "
                f"pass {mention('cache_dir')} or {mention('cache')}"
            ) from None
        if not os.access(self.folder, os.W_OK):
            raise OutputError(
                f"{self.folder}: speech cache is not writable; "
                f"pass {mention('cache_dir')} or {mention('cache')}"
            )
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        path = self.path_for(key)
        stat = _stat(path)
        if stat is not None and stat.st_size > 44:
            try:
                os.utime(path)  # recently used clips survive trimming
            except FileNotFoundError:  # trimmed by a parallel run just now
                self.misses += 1
                return None
            self.hits += 1
            return path
        self.misses += 1
        return None

    def peek(self, key: str) -> Path | None:
        """The clip's path if the cache holds it, without counting a hit or touching it."""
        path = self.path_for(key)
        stat = _stat(path)
        return path if stat is not None and stat.st_size > 44 else None

    def temp_path(self, key: str) -> Path:
        """Where a worker writes a new clip before `put` moves it into place atomically."""
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".wav", dir=target.parent)
        os.close(fd)
        return Path(name)

    def put(self, key: str, temp: Path) -> Path:
        """Move a new clip into place; if another process got there first, its clip stays.
        The engine's output varies slightly from run to run, so a clip must never change
        once parallel sessions may have measured it."""
        target = self.path_for(key)
        try:
            os.link(temp, target)  # atomic, and fails when the clip already exists
        except FileExistsError:  # another writer's clip stays; ours is dropped
            temp.unlink(missing_ok=True)
            return target
        except OSError:  # a file system without hard links
            os.replace(temp, target)
        temp.unlink(missing_ok=True)
        return target

    def _clips(self) -> list[tuple[Path, os.stat_result, int]]:
        return self._scan()[0]

    def _scan(self) -> tuple[list[tuple[Path, os.stat_result, int]], list[Path]]:
        """Each clip, its stat, and its bytes with its companions (files beside it named like it,
        e.g. the mixer's look at it): a clip and its companions are kept and removed together.
        And the companions whose clip is gone (trimmed by another process while one was written),
        by their clip's path less its suffix: nobody's, so trim and clear remove them."""
        clips, companion_bytes = [], {}
        for path in self.folder.glob("??/*"):
            stat = _stat(path)
            if stat is None:
                continue
            if path.suffix == ".wav" or path.name.startswith("."):  # temporaries are trimmed when stale
                clips.append((path, stat))
            else:
                key = path.parent / path.name.split(".")[0]
                companion_bytes[key] = companion_bytes.get(key, 0) + stat.st_size
        found = {path.with_suffix("") for path, _ in clips}
        sized = [
            (path, stat, stat.st_size + companion_bytes.get(path.with_suffix(""), 0)) for path, stat in clips
        ]
        return sized, [key for key in companion_bytes if key not in found]

    @staticmethod
    def _remove_orphans(orphans: list[Path]) -> None:
        for key in orphans:
            for companion in key.parent.glob(f"{key.name}.*"):
                companion.unlink(missing_ok=True)

    @staticmethod
    def _remove(path: Path) -> None:
        """A clip and its companions."""
        path.unlink(missing_ok=True)
        if not path.name.startswith("."):
            for companion in path.parent.glob(f"{path.stem}.*"):
                companion.unlink(missing_ok=True)

    def size_bytes(self) -> int:
        return sum(size for _, _, size in self._clips())

    def info(self) -> CacheInfo:
        clips = [size for path, _, size in self._clips() if not path.name.startswith(".")]
        return CacheInfo(self.folder, len(clips), sum(clips), self.cap_bytes)

    def trim(self, keep: set[Path] | frozenset[Path] = frozenset()) -> int:
        """Remove least recently used clips until the cache is under its cap; returns files removed.

        Clips in `keep` (the session being rendered needs them) stay whatever the cap.
        Half-written clips of processes that died long ago go too; those of live writers stay.
        """
        now = time.time()
        removed = 0
        kept = []
        clips, orphans = self._scan()
        for path, stat, size in clips:
            if path.name.startswith(".") and now - stat.st_mtime > STALE_TEMP_SECONDS:
                path.unlink(missing_ok=True)
                removed += 1
            else:
                kept.append((path, stat, size))
        self._remove_orphans(orphans)
        kept.sort(key=lambda item: item[1].st_mtime)
        total = sum(size for _, _, size in kept)
        for path, _, size in kept:
            if total <= self.cap_bytes:
                break
            if path.name.startswith(".") or path in keep:
                continue
            self._remove(path)
            total -= size
            removed += 1
        return removed

    def clear(self) -> int:
        """Remove every clip and the engine records (identity.py); a clip another process is
        writing right now is left to it. Returns the number of clips removed."""
        EngineRecords(self.folder).clear()
        now = time.time()
        removed = 0
        clips, orphans = self._scan()
        for path, stat, _ in clips:
            if path.name.startswith(".") and now - stat.st_mtime <= STALE_TEMP_SECONDS:
                continue
            self._remove(path)
            removed += 1
        self._remove_orphans(orphans)
        return removed

"""A content-addressed store of synthesised clips, safe for parallel writers."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from audiogen.errors import OutputError

DEFAULT_CAP_BYTES = 2 * 1024**3


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("audiogen")) / "speech"


def clip_key(text: str, engine: str, engine_version: str, voice: str, rate: int, pitch: int) -> str:
    payload = json.dumps([text, engine, engine_version, voice, rate, pitch], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class SpeechCache:
    def __init__(self, folder: Path, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.folder = Path(folder)
        self.cap_bytes = cap_bytes
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create the speech cache ({exc.strerror}); pass --cache-dir or --no-cache") from None
        if not os.access(self.folder, os.W_OK):
            raise OutputError(f"{self.folder}: speech cache is not writable; pass --cache-dir or --no-cache")
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Path | None:
        path = self.path_for(key)
        if path.exists() and path.stat().st_size > 44:
            self.hits += 1
            os.utime(path)  # recently used clips survive trimming
            return path
        self.misses += 1
        return None

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
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            os.replace(temp, target)
        return target

    def _clips(self) -> list[tuple[Path, os.stat_result]]:
        """Finished clips and their stats. Other processes' temp files (hidden names) are not
        clips, and any file may vanish while we look: parallel renders share this folder."""
        found = []
        for path in self.folder.rglob("[!.]*.wav"):
            try:
                found.append((path, path.stat()))
            except FileNotFoundError:
                continue
        return found

    def size_bytes(self) -> int:
        return sum(stat.st_size for _, stat in self._clips())

    def trim(self) -> int:
        """Remove least recently used clips until the cache is under its cap; returns files removed."""
        files = sorted(self._clips(), key=lambda item: item[1].st_mtime)
        total = sum(stat.st_size for _, stat in files)
        removed = 0
        for path, stat in files:
            if total <= self.cap_bytes:
                break
            total -= stat.st_size
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def clear(self) -> int:
        removed = 0
        for path in self.folder.rglob("*.wav"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

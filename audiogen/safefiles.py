"""Small files that several stages keep with the same care: written whole or not at all, and
locked across processes. Errors are the caller's to word; every failure here is an OSError."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO


def _file_mode() -> int:
    """What a plain open() would give (mkstemp's files are private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text, with "\n" line ends on every system, written as atomic_write_bytes does."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write under a temporary name in the same folder, flush to disk, then rename into place:
    readers see the old file or the new one, never half of one. durable=False skips the flush to
    disk, for files that can be made again (a crash may then leave one empty, never half-renamed)."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp, _file_mode())
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def file_sha256(path: Path | str) -> str:
    """A file's SHA-256 (hex), read a piece at a time: audio and background files can be long."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def locked_file(path: Path, wait: bool = True) -> IO:
    """`path` opened (created if need be) under an exclusive lock, which closing it releases (so
    does the OS, even after kill -9). With wait=False, BlockingIOError if another process holds it;
    ImportError where there is no fcntl."""
    import fcntl

    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BaseException:
        handle.close()
        raise
    return handle

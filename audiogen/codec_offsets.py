"""The encoders' loudness changes and the beds' measured powers, measured once and kept beside
the speech cache.

An encoder moves a session's loudness a little (measured up to a few tenths of a LU); the
master aims off by that change. It is measured on a piece of the first session that needs it
and kept in `codec-offsets.json` in the cache folder, keyed by format, bitrate, rate, channels
and bed, so later renders and every session of a library skip the test encoding. Sessions
measuring at once (a library's workers) take turns under a lock, so all of them use the first
one's figure and a rebuild from the same cache gives the same loudness.

Planning a session measures its bed's K-weighted power in a few windows (about 0.13 s of a
render); those figures are kept too, one small file per bed and session length in
`bed-powers/`, so a warm render plans without making any bed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from audiogen import __version__, safefiles
from audiogen.models import BedKeeper, SoundSettings

if TYPE_CHECKING:
    import numpy as np

FILE_NAME = "codec-offsets.json"
BED_POWERS = "bed-powers"


class CodecOffsets:
    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / FILE_NAME
        self.lock_path = self.path.with_name(f".{FILE_NAME}.lock")

    def _read(self) -> dict:
        """The kept changes; an unreadable or damaged record counts as empty."""
        try:
            known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return known if isinstance(known, dict) else {}

    @staticmethod
    def _kept(known: dict, key: str) -> float | None:
        try:
            return float(known[key])
        except (KeyError, TypeError, ValueError):
            return None

    def _exclusive(self):
        """An exclusive lock for a with-block; where none can be had (a read-only folder, no
        fcntl), a block without one."""
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            return safefiles.locked_file(self.lock_path)
        except (ImportError, OSError):
            return contextlib.nullcontext()

    def get(self, key: str, measure: Callable[[], float]) -> float:
        """The kept change for `key`, else `measure()` once, kept for every later session."""
        change = self._kept(self._read(), key)
        if change is not None:
            return change
        with self._exclusive():
            known = self._read()  # another session may have measured it while this one waited
            change = self._kept(known, key)
            if change is not None:
                return change
            change = round(measure(), 4)  # what every later session will read
            known[key] = change
            with contextlib.suppress(OSError):  # a read-only cache only costs the next render a test encoding
                self.path.parent.mkdir(parents=True, exist_ok=True)
                safefiles.atomic_write_text(self.path, json.dumps(known, indent=1, sort_keys=True))
        return change

    def clear(self) -> None:
        for path in (self.path, self.lock_path):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.path.parent / BED_POWERS, ignore_errors=True)


def _bed_identity(background: str) -> str:
    """The bed as a key: layer names as they are, a file by its contents (the Python API writes an
    AudioSegment background to a new temporary file on every render)."""
    parts = []
    for part in (part.strip() for part in background.split("+")):
        path = Path(part)
        if not path.is_file():  # a layer's name (or a missing file, which the render reports)
            parts.append(part)
            continue
        stat = path.stat()
        parts.append(f"file:{_file_digest(part, stat.st_size, stat.st_mtime_ns, stat.st_ino)}")
    return "+".join(parts)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int, inode: int) -> str:
    """A file's SHA-256, once per process for each version of it (a library worker renders many
    sessions over the same long background file)."""
    try:
        return safefiles.file_sha256(path)[:20]
    except OSError:  # unreadable: the render reports it; the key only has to be its own
        return f"unreadable-{size}-{mtime_ns}"


def bed_keeper(folder: Path | None, sound: SoundSettings) -> BedKeeper | None:
    """Where planning keeps what it measured of this bed (a `BedKeeper`): files in the cache folder's
    `bed-powers/`, named by the bed (its layers, a file by its contents), seed, rate, channels,
    audiogen's version and what planning calls them. None (--no-cache): measured every time."""
    if folder is None:
        return None
    bed = f"{_bed_identity(sound.background)}:{sound.seed}:{sound.sample_rate}:{sound.channels}:{__version__}"

    def keep(name: str, measure: Callable[[], np.ndarray]) -> np.ndarray:
        import numpy as np  # only a render plans: the command line starts without numpy

        digest = hashlib.sha256(f"{bed}:{name}".encode()).hexdigest()[:32]
        path = Path(folder) / BED_POWERS / f"{digest}.npy"
        with contextlib.suppress(OSError, ValueError, EOFError):  # missing or damaged: measured again
            return np.load(path, allow_pickle=False)
        values = np.asarray(measure(), dtype=np.float64)
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        with contextlib.suppress(OSError):  # a read-only cache: the next render measures again
            path.parent.mkdir(parents=True, exist_ok=True)
            safefiles.atomic_write_bytes(path, buffer.getvalue(), durable=False)
        return values

    return keep


def codec_offset(
    folder: Path | None,
    format_name: str,
    kbps: int | None,
    sound: SoundSettings,
    measure: Callable[[], float],
) -> float:
    """The encoder's loudness change for this format, bitrate (kbps; None: lossless) and bed: kept in
    `folder` (the cache folder) once measured; `folder` None (--no-cache) measures it every time."""
    if folder is None:
        return measure()
    rate = f"{kbps}k" if kbps is not None else "lossless"
    key = f"{format_name}:{rate}:{sound.sample_rate}:{sound.channels}:{_bed_identity(sound.background)}"
    return CodecOffsets(folder).get(key, measure)

"""What a library folder remembers between builds: one key file beside each session's output.

A session's key hashes everything its audio depends on. The key file is written
atomically and only after the audio is in place, so a build killed at any point
leaves either a complete session with its key, or no key and a session to redo.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audiogen import __version__, safefiles
from audiogen.errors import OutputError, mention
from audiogen.library.catalog import CatalogEntry, SessionSettings

if TYPE_CHECKING:
    from audiogen.library.manifest import PlannedSession

LOCK_NAME = ".audiogen-build.lock"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """A library file written whole or not at all; a failure says which file and what to do."""
    try:
        safefiles.atomic_write_bytes(path, data)
    except OSError as exc:
        raise OutputError(
            f"{path}: cannot write the file ({exc.strerror}); check the folder and free space"
        ) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _file_digest(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return safefiles.file_sha256(path)
    except OSError:
        return None  # the render reports the unreadable file; the key only has to differ


def input_key(session: PlannedSession, known: dict | None = None) -> str:
    """A hash of the article, filter rules, templates, settings, engine and versions.

    `known` keeps the digests and fingerprints a build has already computed: its sessions
    share the templates, and often their articles (one per duration, voice, listener).
    """
    from audiogen import checks  # here, not above: `audiogen serve` reads library files without the stages

    known = {} if known is None else known

    def once(compute, argument):
        if (compute, argument) not in known:
            known[compute, argument] = compute(argument)
        return known[compute, argument]

    spec = session.spec
    payload = {
        "audiogen": __version__,
        "name": session.name,
        "article": once(_file_digest, session.article),
        "filter_words": once(_file_digest, spec.filter_words),
        "templates": once(checks.template_fingerprint, spec.templates_dir),
        "engine_version": checks.engine_info(spec.voice.engine, spec.cache_dir)[0],
        "settings": SessionSettings.of(spec).to_dict(),
        # A background file edited in place changes the session as its article would.
        "background_files": [
            once(_file_digest, Path(part.strip()))
            for part in spec.sound.background.split("+")
            if Path(part.strip()).is_file()
        ],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def key_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / f".{name}.key"


KEY_FORMAT = 2  # key files before typed catalog entries had none: read as no key, so the session renders


@dataclass(frozen=True)
class StoredKey:
    key: str
    entry: CatalogEntry


def read_key(out_dir: Path, name: str) -> StoredKey | None:
    """The stored key and catalog entry of a session; None when it has none, or one that is
    unreadable or from an older audiogen (its entry lacks what the index and feed now show)."""
    try:
        stored = json.loads(key_path(out_dir, name).read_text("utf-8"))
        if stored.get("format") != KEY_FORMAT:
            return None
        return StoredKey(str(stored["key"]), CatalogEntry.from_dict(stored["entry"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def write_key(out_dir: Path, name: str, key: str, entry: CatalogEntry) -> None:
    record = {"format": KEY_FORMAT, "key": key, "entry": entry.to_dict()}
    atomic_write_text(key_path(out_dir, name), json.dumps(record, indent=1, ensure_ascii=False))


def is_current(out_dir: Path, name: str, key: str) -> CatalogEntry | None:
    """The catalog entry of a session whose stored key matches and whose files are all present."""
    stored = read_key(out_dir, name)
    if stored is None or stored.key != key:
        return None
    files = stored.entry.files
    if not files or not all((Path(out_dir) / f).is_file() for f in files):
        return None
    return stored.entry


def session_files(out_dir: Path, name: str) -> list[str]:
    """The audio and whatever else a render put beside it (transcripts, cover), by file name."""
    return sorted(
        p.name for p in Path(out_dir).glob(f"{name}.*") if p.is_file() and ".part" not in p.suffixes
    )


def remove_leftovers(out_dir: Path) -> int:
    """Temporary files of a build that was killed: half-encoded audio and unrenamed key files."""
    removed = 0
    for path in Path(out_dir).glob(".*"):
        if path.is_file() and (".part" in path.name or path.name.endswith(".tmp")):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def stale_sessions(out_dir: Path, names: set[str]) -> list[str]:
    """Sessions with a key file in the folder that the manifest no longer names."""
    stale = []
    for path in sorted(Path(out_dir).glob(".*.key")):
        name = path.name[1 : -len(".key")]
        if name not in names:
            stale.append(name)
    return stale


def remove_files(out_dir: Path, file_names: Iterable[str]) -> list[str]:
    """Remove these files of the library folder that exist; returns the names removed."""
    removed = []
    for file_name in sorted(file_names):
        path = Path(out_dir) / file_name
        if path.is_file():
            path.unlink()
            removed.append(file_name)
    return removed


def prune(out_dir: Path, name: str) -> list[str]:
    """Remove a stale session's files and its key; returns the file names removed."""
    stored = read_key(out_dir, name)
    removed = remove_files(out_dir, stored.entry.files if stored else session_files(out_dir, name))
    key_path(out_dir, name).unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def build_lock(out_dir: Path) -> Iterator[None]:
    """One build at a time per library folder (released by the OS even after kill -9)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = safefiles.locked_file(out_dir / LOCK_NAME, wait=False)
    except BlockingIOError:
        raise OutputError(
            f"{out_dir}: another build is writing to this library; "
            f"wait for it or use another {mention('out')}"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"{out_dir}: cannot create the library folder ({exc.strerror}); choose another {mention('out')}"
        ) from None
    with handle:
        yield

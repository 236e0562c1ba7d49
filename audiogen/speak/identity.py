"""What a speech engine is, known without starting it: its version, voices and voice variants.

A render whose sentences are all cached needs no audio from the engine, only its version (part
of every clip's key) and its voices (to resolve --voice). Starting the engine to ask costs about
a second (a spawned process, pyttsx3 and its warm-up utterance), so the speech cache keeps the
answers in a small record per engine build, ``engines/<key>.json``, written when an engine was
started anyway.

The key is a hash of facts the main process reads in milliseconds without running the engine,
and that change when the engine does:

- pyttsx3 (Linux, espeak driver): pyttsx3's version and its espeak driver files, and the
  libespeak-ng it will load, found the way pyttsx3 finds it (espeakng-loader's where that
  stands in, else a dlopen of pyttsx3's own library names);
- espeak-ng: the program on PATH and the libespeak-ng the dynamic linker gives it;
- hibari: the versions of hibari-tts and onnxruntime as installed, the model file of each voice
  inside the package and the package's synthesis code (found, not imported);
- all: each file by real path, size, mtime and inode; the variables that steer them
  (AUDIOGEN_ESPEAK, ESPEAK_DATA_PATH, LD_LIBRARY_PATH, LD_PRELOAD); the source of audiogen's
  engine adapters.

The record also names the files the started engine said it used (its library or program and its
data folder, where the voices are) with a digest of each, checked again on every read. A record is
written only when the engine's library or program is the one the main process found, so a
disagreement never leaves a record to trust. A missing, corrupt or stale record is ignored and
the engine started as before. Plug-in and ``module:Class`` engines have no such facts: they are
always started.
"""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import importlib.util
import json
import os
import stat
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from audiogen import safefiles
from audiogen.speak.engines import (
    HIBARI_PACKAGE,
    EngineUnavailable,
    VoiceInfo,
    bundled_espeak_library,
    espeak_cli_executable,
    hibari_model_files,
    loaded_library_path,
)

RECORD_FORMAT = 1  # raise when a record's layout or meaning changes
RECORDS_FOLDER = "engines"  # inside the speech cache folder
STEERING_ENV = ("AUDIOGEN_ESPEAK", "ESPEAK_DATA_PATH", "LD_LIBRARY_PATH", "LD_PRELOAD")
# The Linux names pyttsx3 2.99's espeak driver (pyttsx3/drivers/_espeak.py) tries, in its order.
PYTTSX3_ESPEAK_LIBRARIES = ("libespeak-ng.so.1", "/usr/local/lib/libespeak-ng.so.1", "libespeak.so.1")
_ADAPTERS = ("engines.py", "worker.py", "identity.py")


@dataclass(frozen=True)
class EngineIdentity:
    version: str
    voices: tuple[VoiceInfo, ...]
    variants: tuple[VoiceInfo, ...]


def file_fact(path: str | Path) -> list | None:
    """[real path, size, mtime in ns, inode] of a regular file, or None."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return [real, info.st_size, info.st_mtime_ns, info.st_ino]


def path_digest(path: str | Path) -> str | None:
    """A file's fact, or a hash of every entry's path, size and mtime under a folder; None if neither."""
    real = os.path.realpath(path)
    if os.path.isfile(real):
        fact = file_fact(real)
        return json.dumps(fact) if fact else None
    if not os.path.isdir(real):
        return None
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(real):
        dirs.sort()
        for name in ["."] + sorted(files):
            entry = os.path.join(folder, name)
            try:
                info = os.lstat(entry)
            except OSError:
                continue
            digest.update(
                f"{os.path.relpath(entry, real)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode(
                    "utf-8", "replace"
                )
            )
    return digest.hexdigest()


def _dlopen_path(name: str) -> str | None:
    """The file the dynamic linker loads for `name` here (the worker inherits our environment)."""
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    try:
        path = loaded_library_path(library._handle)
    finally:
        if hasattr(_ctypes, "dlclose"):  # the main process keeps no engine library loaded
            _ctypes.dlclose(library._handle)
    return str(path) if path else None


def pyttsx3_espeak_library() -> str | None:
    """The libespeak-ng pyttsx3 will load in the speech worker, or None if none (or not Linux)."""
    try:
        bundled = bundled_espeak_library()
    except EngineUnavailable:
        return None
    if bundled is not None:
        return os.path.realpath(bundled[0])
    if not sys.platform.startswith("linux"):
        return None
    for name in PYTTSX3_ESPEAK_LIBRARIES:
        path = _dlopen_path(name)
        if path:
            return path
    return None


def _pyttsx3_facts() -> dict | None:
    if not sys.platform.startswith("linux"):  # SAPI5 or NSSpeechSynthesizer: nothing here to watch
        return None
    spec = importlib.util.find_spec("pyttsx3")  # found, not imported
    library = pyttsx3_espeak_library()
    if spec is None or not spec.origin or library is None:
        return None
    drivers = Path(spec.origin).parent / "drivers"
    files = [file_fact(library), file_fact(drivers / "espeak.py"), file_fact(drivers / "_espeak.py")]
    if None in files:
        return None
    return {"pyttsx3": metadata.version("pyttsx3"), "files": files}


def _espeak_cli_facts() -> dict | None:
    program = espeak_cli_executable()
    fact = file_fact(program) if program else None
    if fact is None:
        return None
    library = _dlopen_path("libespeak-ng.so.1") if sys.platform.startswith("linux") else None
    files = [fact] + ([file_fact(library)] if library else [])
    return {"files": [f for f in files if f]}


def _hibari_facts() -> dict | None:
    models = hibari_model_files()
    if not models or importlib.util.find_spec("onnxruntime") is None:
        return None
    package = next(iter(models.values())).parent.parent
    files = [file_fact(models[voice]) for voice in sorted(models)]
    files += [file_fact(package / "tts.py"), file_fact(package / "dsp.py")]
    if None in files:
        return None
    return {
        "hibari": metadata.version(HIBARI_PACKAGE),
        "onnxruntime": metadata.version("onnxruntime"),
        "files": files,
    }


def _adapters_digest() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256(str(RECORD_FORMAT).encode())
    for name in _ADAPTERS:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def engine_facts(engine: str) -> dict | None:
    """The facts an engine's record is keyed by, or None when the engine has none (plug-ins,
    ``module:Class``, a missing library or program): such an engine is started to be asked."""
    try:
        if engine == "pyttsx3":
            facts = _pyttsx3_facts()
        elif engine == "espeak-ng":
            facts = _espeak_cli_facts()
        elif engine == "hibari":
            facts = _hibari_facts()
        else:
            return None
        if facts is None:
            return None
        return {
            "format": RECORD_FORMAT,
            "engine": engine,
            **facts,
            "env": {name: os.environ.get(name) for name in STEERING_ENV},
            "adapters": _adapters_digest(),
        }
    except Exception:  # whatever goes wrong here, starting the engine as before is always right
        return None


def _voice_list(voices) -> list:
    return [[v.id, v.name, list(v.languages), v.gender] for v in voices]


def _voices(raw) -> tuple[VoiceInfo, ...]:
    voices = []
    for item in raw:
        vid, name, languages, gender = item
        if not (
            isinstance(vid, str)
            and isinstance(name, str)
            and isinstance(languages, list)
            and all(isinstance(lang, str) for lang in languages)
            and (gender is None or isinstance(gender, str))
        ):
            raise TypeError("not a voice")
        voices.append(VoiceInfo(vid, name, tuple(languages), gender))
    return tuple(voices)


class EngineRecords:
    """The engine records of one speech cache folder."""

    def __init__(self, cache_folder: Path) -> None:
        self.folder = Path(cache_folder) / RECORDS_FOLDER

    def path_for(self, facts: dict) -> Path:
        key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()
        return self.folder / f"{key}.json"

    def load(self, facts: dict | None) -> EngineIdentity | None:
        """The recorded identity for these facts, or None: no facts, no record, or one that is
        unreadable, of another layout, or whose engine files have changed since."""
        if facts is None:
            return None
        try:
            record = json.loads(self.path_for(facts).read_text(encoding="utf-8"))
            if record["facts"] != facts or not record["files"]:
                return None
            for path, digest in record["files"]:
                if path_digest(path) != digest:
                    return None
            if not isinstance(record["version"], str):
                return None
            return EngineIdentity(record["version"], _voices(record["voices"]), _voices(record["variants"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, facts: dict | None, identity: EngineIdentity, engine_files: list[str]) -> bool:
        """Record what a started engine said, if its library or program is the one the facts name."""
        if facts is None:
            return False
        resolved = {fact[0] for fact in facts["files"]}
        used = [os.path.realpath(f) for f in engine_files]
        used_files = [f for f in used if os.path.isfile(f)]
        if not used_files or any(f not in resolved for f in used_files):
            return False
        digests = [[f, path_digest(f)] for f in used]
        if any(d is None for _, d in digests):
            return False
        record = {
            "facts": facts,
            "version": identity.version,
            "files": digests,
            "voices": _voice_list(identity.voices),
            "variants": _voice_list(identity.variants),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            safefiles.atomic_write_text(self.path_for(facts), json.dumps(record, ensure_ascii=False))
            return True
        except OSError:
            return False

    def clear(self) -> int:
        """Remove every record (and any half-written one); returns how many files went."""
        removed = 0
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.suffix in (".json", ".tmp"):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

"""A library manifest (TOML) read, checked as a whole, and expanded into planned sessions.

Every problem is collected with its key path (``sessions[1].minutes[0]``) before any
work starts, so a person fixes the manifest in one pass.
"""

from __future__ import annotations

import difflib
import glob
import os
import string
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audiogen import pipeline
from audiogen.errors import ManifestError
from audiogen.models import SessionSpec, SoundSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
NAME_FIELDS = ("article", "minutes", "voice", "background", "listener", "template", "rate")
MIN_MINUTES, MAX_MINUTES = 1, 90
RESERVED_NAMES = ("playlist", "catalog", "index")  # the library's own files (outputs.py)


@dataclass(frozen=True)
class LibrarySettings:
    name: str
    manifest: Path
    out_dir: Path
    format: str
    session_timeout: float | None  # seconds per session; None: scaled with its length


@dataclass(frozen=True)
class PlannedSession:
    """One session of the library: its stable file name, where it came from, what to render."""

    name: str
    article: Path
    listener: str | None  # the listener profile's key
    spec: SessionSpec
    origin: str  # key path of the manifest entry, e.g. "sessions[0]"
    variant: str  # what sets it apart from the article's other sessions, e.g. "5 min, for Sam"
    timeout: float  # seconds the session may take before it is stopped and reported as failed


@dataclass(frozen=True)
class Manifest:
    settings: LibrarySettings
    sessions: tuple[PlannedSession, ...]


def default_timeout(minutes: float) -> float:
    """Generous: a session renders many times faster than real time even on a busy machine."""
    return 300.0 + 20.0 * minutes


# ------------------------------------------------------------------ schema
# key -> (accepted Python types, description used in messages)
_STR = ((str,), "a string")
_INT = ((int,), "an integer")
_NUM = ((int, float), "a number")
_PATH = ((str,), "a path (string)")

LIBRARY_KEYS = {
    "name": _STR, "out": _PATH, "format": _STR, "bitrate": _STR, "loudness": _NUM,
    "cache_dir": _PATH, "templates": _PATH, "filter_words": _PATH, "session_timeout": _NUM,
}
# Settings one session can carry; [defaults], listener profiles and session entries share them.
SETTING_KEYS = {
    "voice": _STR, "rate": _INT, "pitch": _INT, "engine": _STR, "background": _STR,
    "seed": _INT, "template": _STR, "intention": _STR,
}
DEFAULTS_KEYS = {**SETTING_KEYS, "minutes": None}
LISTENER_KEYS = {**SETTING_KEYS, "name": _STR}
# Session entries: matrix dimensions take one value or a list of values.
MATRIX_KEYS = {"articles": _PATH, "minutes": _NUM, "voices": _STR, "backgrounds": _STR, "listeners": _STR}
SESSION_KEYS = {**{k: v for k, v in SETTING_KEYS.items() if k not in ("voice", "background")},
                **{k: None for k in MATRIX_KEYS}, "name": _STR}
TOP_KEYS = ("library", "defaults", "listeners", "sessions")
RANGES = {"rate": (60, 260), "pitch": (0, 99), "loudness": (-30, -10), "minutes": (MIN_MINUTES, MAX_MINUTES),
          "session_timeout": (10, 24 * 3600)}


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


class _Problems:
    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.lines: list[str] = []

    def add(self, key_path: str, message: str) -> None:
        line = f"{self.manifest}: {key_path}: {message}"
        if line not in self.lines:
            self.lines.append(line)


def _check_value(problems: _Problems, path: str, key: str, value: Any, kind) -> bool:
    types, what = kind
    if isinstance(value, bool) or not isinstance(value, types):
        problems.add(path, f"expected {what}, got {_type_name(value)} {value!r}")
        return False
    if key in RANGES:
        low, high = RANGES[key]
        if not low <= value <= high:
            problems.add(path, f"{value!r} is out of range; choose {low} to {high}")
            return False
    return True


def _check_table(problems: _Problems, path: str, table: Any, schema: dict) -> dict:
    """The table's known, well-typed scalar keys; unknown keys and bad types become problems."""
    if not isinstance(table, dict):
        problems.add(path, f"expected a table, got {_type_name(table)}")
        return {}
    good = {}
    for key, value in table.items():
        key_path = f"{path}.{key}" if path else key
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(schema)}"
            problems.add(key_path, f"unknown key{hint}")
        elif schema[key] is not None and _check_value(problems, key_path, key, value, schema[key]):
            good[key] = value
    return good


def _as_list(problems: _Problems, path: str, key: str, value: Any, kind) -> list[tuple[str, Any]]:
    """A matrix value: one item or a non-empty list; returns (key path, item) pairs that type-check."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        problems.add(path, "must not be an empty list")
    out = []
    for i, item in enumerate(items):
        item_path = f"{path}[{i}]" if isinstance(value, list) else path
        if _check_value(problems, item_path, key, item, kind):
            out.append((item_path, item))
    return out


def _resolve(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _articles(problems: _Problems, base: Path, entries: list[tuple[str, str]]) -> list[Path]:
    found: list[Path] = []
    for key_path, text in entries:
        path = _resolve(base, text)
        if glob.has_magic(str(path)):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True)) if Path(p).is_file()]
            if not matches:
                problems.add(key_path, f"{text!r} matches no article files")
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES)
            if not matches:
                problems.add(key_path, f"{text!r}: folder holds no {'/'.join(ARTICLE_SUFFIXES)} files")
        elif not path.is_file():
            problems.add(key_path, f"article not found: {path}")
            matches = []
        else:
            matches = [path]
        found += [m for m in matches if m not in found]
    return found


def _apply(spec: SessionSpec, settings: dict) -> SessionSpec:
    """A spec with settings (manifest keys) laid over it."""
    voice = {k: settings[k] for k in ("voice", "rate", "pitch", "engine") if k in settings}
    sound = {k: settings[k] for k in ("background", "seed") if k in settings}
    rest = {k: settings[k] for k in ("template", "intention") if k in settings}
    if "listener_name" in settings:
        rest["listener"] = settings["listener_name"]
    return replace(spec, voice=replace(spec.voice, **voice), sound=replace(spec.sound, **sound), **rest)


def _slug(value: Any) -> str:
    return pipeline.slugify(f"{value:g}" if isinstance(value, float) else str(value), fallback="x")


def _variant(spec: SessionSpec, base: SessionSpec) -> str:
    parts = [f"{spec.minutes:g} min"]
    if spec.voice.voice != base.voice.voice:
        parts.append(f"voice {spec.voice.voice}")
    if spec.sound.background != base.sound.background:
        parts.append(spec.sound.background)
    if spec.listener:
        parts.append(f"for {spec.listener}")
    return ", ".join(parts)


def _session_name(pattern: str | None, article: Path, spec: SessionSpec, base: SessionSpec,
                  listener: str | None) -> str:
    fields = {
        "article": _slug(article.stem), "minutes": _slug(float(spec.minutes)), "voice": _slug(spec.voice.voice),
        "background": _slug(spec.sound.background), "listener": _slug(listener or "everyone"),
        "template": _slug(spec.template or "auto"), "rate": str(spec.voice.rate),
    }
    if pattern is None:
        # Stable names: the article and length, plus only what differs from the listener's
        # (or library's) defaults, so adding a variant never renames existing sessions.
        parts = [fields["article"], f"{fields['minutes']}min"]
        if spec.voice.voice != base.voice.voice:
            parts.append(fields["voice"])
        if spec.sound.background != base.sound.background:
            parts.append(fields["background"])
        if listener:
            parts.append(f"for-{fields['listener']}")
        return "-".join(parts)
    return pipeline.slugify(pattern.format_map(fields), fallback="session")


def _check_pattern(problems: _Problems, path: str, pattern: str) -> bool:
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None]
    except ValueError as exc:
        problems.add(path, f"bad name pattern: {exc}")
        return False
    unknown = [n for n in names if n not in NAME_FIELDS]
    if unknown:
        problems.add(path, f"unknown field {{{unknown[0]}}} in name pattern; use {', '.join('{' + f + '}' for f in NAME_FIELDS)}")
        return False
    if "article" not in names:
        problems.add(path, "name pattern must contain {article} so each article gets its own files")
        return False
    return True


SPEC_FIELD_KEYS = {"voice": "voice", "engine": "engine", "rate": "rate", "background": "background",
                   "template": "template", "format": "format", "templates": "templates"}


def load_manifest(path: Path, out_dir: Path | None = None, cache_dir: Path | None = None) -> Manifest:
    """Read and check the whole manifest; raise ManifestError listing every problem."""
    path = Path(path)
    problems = _Problems(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ManifestError([f"{path}: manifest not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError([f"{path}: cannot read the manifest ({exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError([f"{path}: not valid TOML: {exc}"]) from None
    base_dir = path.resolve().parent

    for key in data:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1)
            problems.add(key, f"unknown table{'; did you mean ' + repr(close[0]) + '?' if close else ''}"
                              f" (known: {', '.join(TOP_KEYS)})")
    library = _check_table(problems, "library", data.get("library", {}), LIBRARY_KEYS)
    defaults = _check_table(problems, "defaults", data.get("defaults", {}), DEFAULTS_KEYS)
    default_minutes = _as_list(problems, "defaults.minutes", "minutes", data.get("defaults", {}).get("minutes", 10),
                               _NUM) if isinstance(data.get("defaults", {}), dict) else []
    # A bad value was reported; a stand-in keeps the remaining settings under check.
    default_minutes = default_minutes or [("defaults.minutes", 10)]

    name = library.get("name", "audiogen library")
    spec = SessionSpec(
        article=None,
        out_dir=out_dir or _resolve(base_dir, library.get("out", "library")),
        format=library.get("format", "mp3"),
        bitrate=library.get("bitrate", "128k"),
        sound=replace(SoundSettings(), loudness=float(library.get("loudness", SoundSettings.loudness))),
        cache_dir=cache_dir or (_resolve(base_dir, library["cache_dir"]) if "cache_dir" in library else None),
        templates_dir=_resolve(base_dir, library["templates"]) if "templates" in library else None,
        filter_words=_resolve(base_dir, library["filter_words"]) if "filter_words" in library else None,
        album=name,
    )
    if spec.filter_words is not None and not spec.filter_words.is_file():
        problems.add("library.filter_words", f"file not found: {spec.filter_words}")
    origins = {"format": "library.format", "templates": "library.templates"}
    origins.update({k: f"defaults.{k}" for k in defaults})
    spec = _apply(spec, defaults)

    listeners: dict[str, tuple[dict, dict]] = {}
    raw_listeners = data.get("listeners", {})
    if not isinstance(raw_listeners, dict):
        problems.add("listeners", f"expected a table of listener profiles, got {_type_name(raw_listeners)}")
        raw_listeners = {}
    for key, table in raw_listeners.items():
        profile = _check_table(problems, f"listeners.{key}", table, LISTENER_KEYS)
        profile["listener_name"] = profile.pop("name", key)
        listeners[key] = (profile, {k: f"listeners.{key}.{k}" for k in profile})

    planned: list[PlannedSession] = []
    where: dict[str, str] = {}  # output name -> key path of its first session
    checked: dict[SessionSpec, dict[str, str]] = {}  # the problems of each distinct set of settings
    raw_sessions = data.get("sessions", [])
    if not isinstance(raw_sessions, list) or not raw_sessions:
        problems.add("sessions", "expected one or more [[sessions]] entries naming articles")
        raw_sessions = raw_sessions if isinstance(raw_sessions, list) else []
    for index, entry in enumerate(raw_sessions):
        origin = f"sessions[{index}]"
        settings = _check_table(problems, origin, entry, SESSION_KEYS)
        if not isinstance(entry, dict):
            continue
        if "articles" not in entry:
            problems.add(f"{origin}.articles", "missing: name article paths or globs (relative to the manifest)")
        matrix = {key: _as_list(problems, f"{origin}.{key}", key, entry[key], MATRIX_KEYS[key])
                  for key in MATRIX_KEYS if key in entry}
        articles = _articles(problems, base_dir, matrix.get("articles", []))
        pattern = settings.get("name")
        if pattern is not None and not _check_pattern(problems, f"{origin}.name", pattern):
            pattern = None
        for listener_path, listener in matrix.get("listeners", [(None, None)]):
            if listener is not None and listener not in listeners:
                known = ", ".join(listeners) or "none defined"
                problems.add(listener_path, f"unknown listener {listener!r}; add [listeners.{listener}] (known: {known})")
                listener = None  # still check the entry's other settings
            profile, profile_origins = listeners.get(listener, ({}, {}))
            base = _apply(spec, profile)
            entry_spec = _apply(base, settings)
            entry_origins = {**origins, **profile_origins, **{k: f"{origin}.{k}" for k in settings}}
            for minutes_path, minutes in matrix.get("minutes") or default_minutes:
                for voice_path, voice in matrix.get("voices", [(entry_origins.get("voice"), entry_spec.voice.voice)]):
                    for bg_path, background in matrix.get(
                            "backgrounds", [(entry_origins.get("background"), entry_spec.sound.background)]):
                        session_origins = {**entry_origins, "minutes": minutes_path, "voice": voice_path,
                                           "background": bg_path}
                        session_spec = _apply(replace(entry_spec, minutes=float(minutes)),
                                              {"voice": voice, "background": background})
                        if session_spec not in checked:  # entries often share their settings
                            checked[session_spec] = pipeline.validate_spec(session_spec)
                        for field, message in checked[session_spec].items():
                            problems.add(session_origins.get(SPEC_FIELD_KEYS.get(field, field)) or origin, message)
                        for article in articles:
                            file_name = _session_name(pattern, article, session_spec, base, listener)
                            session_path = f"{origin} ({article.name}, {minutes:g} min"
                            session_path += f", {listener})" if listener else ")"
                            if file_name in RESERVED_NAMES:
                                problems.add(session_path, f"output name {file_name!r} is reserved for the "
                                             "library's own files; change the name pattern")
                                continue
                            if file_name in where:
                                problems.add(session_path, f"output name {file_name!r} is already used by "
                                             f"{where[file_name]}; add a name pattern or change the matrix")
                                continue
                            where[file_name] = session_path
                            timeout = library.get("session_timeout") or default_timeout(minutes)
                            planned.append(PlannedSession(
                                file_name, article, listener, replace(session_spec, article=article), origin,
                                _variant(session_spec, base), timeout))
    if problems.lines:
        raise ManifestError(problems.lines)
    settings = LibrarySettings(name, path, Path(spec.out_dir), spec.format, library.get("session_timeout"))
    return Manifest(settings, tuple(planned))

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
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audiogen import checks, pipeline, settings
from audiogen.errors import ManifestError
from audiogen.library.catalog import PodcastSettings
from audiogen.models import SessionSpec
from audiogen.settings import LIBRARY, Setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

NAME_FIELDS = ("article", "minutes", "voice", "background", "listener", "template", "rate")
RESERVED_NAMES = ("playlist", "catalog", "index", "feed", "cover")  # the library's own files (outputs.py)


@dataclass(frozen=True)
class LibrarySettings:
    name: str
    manifest: Path
    out_dir: Path
    format: str
    session_timeout: float | None  # seconds per session; None: scaled with its length
    podcast: PodcastSettings = field(default_factory=PodcastSettings)


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
    # Where each setting the manifest wrote down for it came from: ("voice", "sessions[0].voices[1]")
    setting_origins: tuple[tuple[str, str], ...] = ()

    def key_path(self, setting: str) -> str:
        """The manifest key that set `setting` for this session, else the entry and the setting's name
        (a default nobody wrote down)."""
        return dict(self.setting_origins).get(_setting_key(setting)) or f"{self.origin}.{setting}"


@dataclass(frozen=True)
class Manifest:
    settings: LibrarySettings
    sessions: tuple[PlannedSession, ...]


def default_timeout(minutes: float) -> float:
    """Generous: a session renders many times faster than real time even on a busy machine."""
    return 300.0 + 20.0 * minutes


# ------------------------------------------------------------------ schema
# key -> the setting (audiogen/settings.py) that checks its value, or None for keys checked
# where they are used (the matrix, minutes). The library's own keys have their own Settings.
_LIBRARY_OWN = {
    "name": Setting("name", "album", str, "album tag, playlist and page title", scope=LIBRARY),
    "out": Setting("out", "out_dir", Path, "library folder", scope=LIBRARY, path_is_dir=True),
    "session_timeout": Setting(
        "session_timeout", "", float, "seconds a session may take", 10, 24 * 3600, scope=LIBRARY
    ),
    "base_url": Setting("base_url", "", str, "the library folder's public address", scope=LIBRARY),
    "description": Setting("description", "", str, "the podcast feed's description", scope=LIBRARY),
    "author": Setting("author", "", str, "the podcast feed's author and owner", scope=LIBRARY),
    "email": Setting("email", "", str, "the podcast owner's email address", scope=LIBRARY),
    "language": Setting("language", "", str, "the podcast feed's language", scope=LIBRARY),
}
LIBRARY_KEYS = {**_LIBRARY_OWN, **{s.name: s for s in settings.LIBRARY_SETTINGS}}
# Settings one session can carry; [defaults], listener profiles and session entries share them.
# The listener's name is a listener table's `name`; minutes are a matrix dimension.
SETTING_KEYS = {s.name: s for s in settings.SESSION_SETTINGS if s.name not in ("listener", "minutes")}
DEFAULTS_KEYS = {**SETTING_KEYS, "minutes": None}
LISTENER_KEYS = {**SETTING_KEYS, "name": settings.BY_NAME["listener"]}
# Session entries: matrix dimensions take one value or a list of values.
MATRIX_KEYS = {
    "articles": Setting("articles", "article", Path, "article paths or globs"),
    "minutes": settings.BY_NAME["minutes"],
    "voices": settings.BY_NAME["voice"],
    "backgrounds": settings.BY_NAME["background"],
    "listeners": Setting("listeners", "listener", str, ""),
}
SESSION_KEYS = {
    **{k: v for k, v in SETTING_KEYS.items() if k not in ("voice", "background")},
    **{k: None for k in MATRIX_KEYS},
    "name": Setting("name", "", str, "file-name pattern"),
}
TOP_KEYS = ("library", "defaults", "listeners", "sessions")


def base_url_problem(text: str) -> str | None:
    """Why `text` cannot be a library's public address, or None when it can."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{text!r} is not an http:// or https:// address, e.g. https://example.org/meditations/"
    if parts.query or parts.fragment:
        return f"{text!r}: the address of a folder has no ?query or #fragment"
    return None


def folder_url(text: str) -> str:
    """A checked public address as a folder's: ending in '/', so file names join onto it."""
    return text if text.endswith("/") else text + "/"


class _Problems:
    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.lines: list[str] = []

    def add(self, key_path: str, message: str) -> None:
        line = f"{self.manifest}: {key_path}: {message}"
        if line not in self.lines:
            self.lines.append(line)


def _check_value(problems: _Problems, path: str, value: Any, setting: Setting) -> tuple[bool, Any]:
    checked, problem = settings.check(setting, value)
    if problem is not None:
        problems.add(path, problem.describe())
        return False, None
    return True, checked


def _check_table(problems: _Problems, path: str, table: Any, schema: dict) -> dict:
    """The table's known, well-typed scalar keys; unknown keys and bad types become problems."""
    if not isinstance(table, dict):
        problems.add(path, f"expected a table, got {settings.type_name(table)}")
        return {}
    good = {}
    for key, value in table.items():
        key_path = f"{path}.{key}" if path else key
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(schema)}"
            problems.add(key_path, f"unknown key{hint}")
        elif schema[key] is not None:
            ok, checked = _check_value(problems, key_path, value, schema[key])
            if ok:
                good[key] = checked
    return good


def _as_list(problems: _Problems, path: str, value: Any, setting: Setting) -> list[tuple[str, Any]]:
    """A matrix value: one item or a non-empty list; returns (key path, item) pairs that type-check."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        problems.add(path, "must not be an empty list")
    out = []
    for i, item in enumerate(items):
        item_path = f"{path}[{i}]" if isinstance(value, list) else path
        ok, checked = _check_value(problems, item_path, item, setting)
        if ok:
            out.append((item_path, checked))
    return out


def _resolve(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _articles(problems: _Problems, base: Path, entries: list[tuple[str, Path]]) -> list[Path]:
    found: list[Path] = []
    for key_path, given in entries:
        text = str(given)
        path = _resolve(base, text)
        if glob.has_magic(str(path)):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True)) if Path(p).is_file()]
            if not matches:
                problems.add(key_path, f"{text!r} matches no article files")
        elif path.is_dir():
            suffixes = checks.article_suffixes()  # the readers' own registry
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not matches:
                problems.add(key_path, f"{text!r}: folder holds no {'/'.join(suffixes)} files")
        elif not path.is_file():
            problems.add(key_path, f"article not found: {path}")
            matches = []
        else:
            matches = [path]
        found += [m for m in matches if m not in found]
    return found


def _apply(spec: SessionSpec, values: dict) -> SessionSpec:
    """A spec with checked settings (manifest keys) laid over it."""
    return settings.apply(spec, values)


def _slug(value: Any) -> str:
    return pipeline.slugify(f"{value:g}" if isinstance(value, float) else str(value), fallback="x")


def _variant(spec: SessionSpec, base: SessionSpec) -> str:
    parts = [f"{spec.minutes:g} min"]
    if spec.voice.voice != base.voice.voice:
        parts.append(f"voice {checks.voice_name(spec.voice)}")
    if spec.sound.background != base.sound.background:
        parts.append(spec.sound.background)
    if spec.listener:
        parts.append(f"for {spec.listener}")
    return ", ".join(parts)


def _session_name(
    pattern: str | None, article: Path, spec: SessionSpec, base: SessionSpec, listener: str | None
) -> str:
    fields = {
        "article": _slug(article.stem),
        "minutes": _slug(float(spec.minutes)),
        "voice": _slug(checks.voice_name(spec.voice)),
        "background": _slug(spec.sound.background),
        "listener": _slug(listener or "everyone"),
        "template": _slug(spec.template or "auto"),
        "rate": str(spec.voice.rate),
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
        problems.add(
            path,
            f"unknown field {{{unknown[0]}}} in name pattern; "
            f"use {', '.join('{' + f + '}' for f in NAME_FIELDS)}",
        )
        return False
    if "article" not in names:
        problems.add(path, "name pattern must contain {article} so each article gets its own files")
        return False
    return True


def _setting_key(field_name: str) -> str:
    """The manifest key of a setting validate_spec names (by its name or its field)."""
    setting = settings.field_setting(field_name)
    return setting.name if setting is not None else field_name


def load_manifest(
    path: Path, out_dir: Path | None = None, cache_dir: Path | None = None, base_url: str | None = None
) -> Manifest:
    """Read and check the whole manifest; raise ManifestError listing every problem.
    `base_url` (checked by the caller) replaces the manifest's [library] base_url."""
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
            problems.add(
                key,
                f"unknown table{'; did you mean ' + repr(close[0]) + '?' if close else ''}"
                f" (known: {', '.join(TOP_KEYS)})",
            )
    library = _check_table(problems, "library", data.get("library", {}), LIBRARY_KEYS)
    defaults = _check_table(problems, "defaults", data.get("defaults", {}), DEFAULTS_KEYS)
    default_minutes = (
        _as_list(
            problems,
            "defaults.minutes",
            data.get("defaults", {}).get("minutes", 10),
            settings.BY_NAME["minutes"],
        )
        if isinstance(data.get("defaults", {}), dict)
        else []
    )
    # A bad value was reported; a stand-in keeps the remaining settings under check.
    default_minutes = default_minutes or [("defaults.minutes", 10)]

    name = library.get("name", "audiogen library")
    library_values = {s.name: library[s.name] for s in settings.LIBRARY_SETTINGS if s.name in library}
    for key, value in library_values.items():
        if settings.BY_NAME[key].kind is Path:
            library_values[key] = _resolve(base_dir, value)
    if cache_dir is not None:
        library_values["cache_dir"] = cache_dir
    spec = settings.apply(
        SessionSpec(
            article=None,
            out_dir=out_dir or _resolve(base_dir, library.get("out", "library")),
            album=name,
        ),
        library_values,
    )
    if spec.filter_words is not None and not spec.filter_words.is_file():
        problems.add("library.filter_words", f"file not found: {spec.filter_words}")
    base_url = base_url or library.get("base_url")
    if base_url is not None and base_url_problem(base_url):
        problems.add("library.base_url", base_url_problem(base_url))
        base_url = None
    podcast = PodcastSettings(
        base_url=folder_url(base_url) if base_url else None,
        **{k: library[k].strip() for k in ("description", "author", "email", "language") if k in library},
    )
    origins = {key: f"library.{key}" for key in library_values}
    origins.update({k: f"defaults.{k}" for k in defaults})
    spec = _apply(spec, defaults)

    listeners: dict[str, tuple[dict, dict]] = {}
    raw_listeners = data.get("listeners", {})
    if not isinstance(raw_listeners, dict):
        problems.add(
            "listeners", f"expected a table of listener profiles, got {settings.type_name(raw_listeners)}"
        )
        raw_listeners = {}
    for key, table in raw_listeners.items():
        profile = _check_table(problems, f"listeners.{key}", table, LISTENER_KEYS)
        profile_origins = {("listener" if k == "name" else k): f"listeners.{key}.{k}" for k in profile}
        profile["listener"] = profile.pop("name", key)
        listeners[key] = (profile, profile_origins)

    planned: list[PlannedSession] = []
    where: dict[str, str] = {}  # output name -> key path of its first session
    checked: dict[SessionSpec, dict[str, str]] = {}  # the problems of each distinct set of settings
    raw_sessions = data.get("sessions", [])
    if not isinstance(raw_sessions, list) or not raw_sessions:
        problems.add("sessions", "expected one or more [[sessions]] entries naming articles")
        raw_sessions = raw_sessions if isinstance(raw_sessions, list) else []
    for index, entry in enumerate(raw_sessions):
        origin = f"sessions[{index}]"
        entry_settings = _check_table(problems, origin, entry, SESSION_KEYS)
        if not isinstance(entry, dict):
            continue
        if "articles" not in entry:
            problems.add(
                f"{origin}.articles", "missing: name article paths or globs (relative to the manifest)"
            )
        matrix = {
            key: _as_list(problems, f"{origin}.{key}", entry[key], MATRIX_KEYS[key])
            for key in MATRIX_KEYS
            if key in entry
        }
        articles = _articles(problems, base_dir, matrix.get("articles", []))
        pattern = entry_settings.pop("name", None)
        if pattern is not None and not _check_pattern(problems, f"{origin}.name", pattern):
            pattern = None
        for listener_path, listener in matrix.get("listeners", [(None, None)]):
            if listener is not None and listener not in listeners:
                known = ", ".join(listeners) or "none defined"
                problems.add(
                    listener_path,
                    f"unknown listener {listener!r}; add [listeners.{listener}] (known: {known})",
                )
                listener = None  # still check the entry's other settings
            profile, profile_origins = listeners.get(listener, ({}, {}))
            base = _apply(spec, profile)
            entry_spec = _apply(base, entry_settings)
            entry_origins = {**origins, **profile_origins, **{k: f"{origin}.{k}" for k in entry_settings}}
            for minutes_path, minutes in matrix.get("minutes") or default_minutes:
                for voice_path, voice in matrix.get(
                    "voices", [(entry_origins.get("voice"), entry_spec.voice.voice)]
                ):
                    for bg_path, background in matrix.get(
                        "backgrounds", [(entry_origins.get("background"), entry_spec.sound.background)]
                    ):
                        session_origins = {
                            **entry_origins,
                            "minutes": minutes_path,
                            "voice": voice_path,
                            "background": bg_path,
                        }
                        session_spec = _apply(
                            replace(entry_spec, minutes=float(minutes)),
                            {"voice": voice, "background": background},
                        )
                        if session_spec not in checked:  # entries often share their settings
                            checked[session_spec] = checks.validate_spec(session_spec)
                        for setting, message in checked[session_spec].items():
                            key = _setting_key(setting)
                            if session_origins.get(key):
                                problems.add(session_origins[key], message)
                            else:  # a default nobody wrote down: the session, and the setting's name
                                problems.add(origin, f"{key} {message}")
                        for article in articles:
                            file_name = _session_name(pattern, article, session_spec, base, listener)
                            session_path = f"{origin} ({article.name}, {minutes:g} min"
                            session_path += f", {listener})" if listener else ")"
                            if file_name in RESERVED_NAMES:
                                problems.add(
                                    session_path,
                                    f"output name {file_name!r} is reserved for the "
                                    "library's own files; change the name pattern",
                                )
                                continue
                            if file_name in where:
                                problems.add(
                                    session_path,
                                    f"output name {file_name!r} is already used by "
                                    f"{where[file_name]}; add a name pattern or change the matrix",
                                )
                                continue
                            where[file_name] = session_path
                            timeout = library.get("session_timeout") or default_timeout(minutes)
                            planned.append(
                                PlannedSession(
                                    file_name,
                                    article,
                                    listener,
                                    replace(session_spec, article=article),
                                    origin,
                                    _variant(session_spec, base),
                                    timeout,
                                    tuple((k, v) for k, v in session_origins.items() if v),
                                )
                            )
    if problems.lines:
        raise ManifestError(problems.lines)
    library_settings = LibrarySettings(
        name, path, Path(spec.out_dir), spec.format, library.get("session_timeout"), podcast
    )
    return Manifest(library_settings, tuple(planned))

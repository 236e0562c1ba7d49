"""Every session setting, declared once: name, type, range or choices, help and the field it fills.

The command line's options, listener profiles, manifests and the Python API all come from
`SETTINGS`, as MkDocs' config schema drives its settings. A setting's default is the default of
the `SessionSpec` field it fills (models.py), so it too is written once. Checking a value gives a
`Problem`; each entry point words it its own way (`--rate 400: ...` on the command line,
`sessions[2].rate: ...` in a manifest, `rate must be ...` in a profile).

Adding a setting: one `Setting` here, the field in models.py, and the code that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audiogen.models import SUPPORTED_LANGUAGES, SessionSpec

SESSION, LIBRARY = "session", "library"


@dataclass(frozen=True)
class Setting:
    """One setting. `field` is a dotted path into SessionSpec (`voice.warmth`).

    `scope` SESSION: any session may set it (options, profiles, a manifest's [defaults],
    listeners and entries); LIBRARY: one value for a whole library (options, a manifest's
    [library]). A boolean whose default is True is switched off on the command line by
    `--no-<name>` and in files by `name = false`.
    """

    name: str
    field: str
    kind: type  # str, int, float, bool or Path
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    scope: str = SESSION
    short: str | None = None
    envvar: str | None = None
    path_is_dir: bool = False  # for Path settings: a folder (else a file)

    @property
    def default(self) -> Any:
        value: Any = SessionSpec(article=None)
        for part in self.field.split("."):
            value = getattr(value, part)
        return value

    @property
    def flag(self) -> str:
        """The setting as the command line names it: --voice-warmth, --cover."""
        return "--" + self.name.replace("_", "-")

    @property
    def option(self) -> str:
        """The command-line option: --voice-warmth; --no-cover for a boolean that is on by default."""
        return f"--no-{self.flag[2:]}" if self.kind is bool and self.default is True else self.flag

    @property
    def what(self) -> str:
        """What the value must be, for messages."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return {
            str: "a string",
            int: "an integer",
            float: "a number",
            bool: "true or false",
            Path: "a path (string)",
        }[self.kind]

    @property
    def range_text(self) -> str:
        return f"{self.low:g} to {self.high:g}" if self.low is not None and self.high is not None else ""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "minutes",
        "minutes",
        float,
        "Session length in minutes: 5 to 90 for listening, 1 for a quick preview.",
        1,
        90,
        short="-m",
    ),
    Setting(
        "template",
        "template",
        str,
        "Session template (see `audiogen templates`); default: chosen from the themes.",
        short="-t",
    ),
    Setting("listener", "listener", str, "The listener's name, used in the welcome and the close."),
    Setting("intention", "intention", str, "An intention to set at the start."),
    Setting(
        "engine",
        "voice.engine",
        str,
        "Speech engine: hibari (the neural voice), pyttsx3, espeak-ng (the "
        "command line), a plug-in's name, or module:Class.",
    ),
    Setting(
        "voice",
        "voice.voice",
        str,
        "Voice id, name or a fragment of one, +variant optional (see `audiogen "
        "voices`); default: the engine's own (hibari: heart; pyttsx3, espeak-ng: en-us+f4).",
    ),
    Setting("rate", "voice.rate", int, "Speech rate in words per minute inside a sentence.", 60, 260),
    Setting(
        "pitch",
        "voice.pitch",
        int,
        "Voice pitch for pyttsx3 and espeak-ng (0-99, 50 is the voice's normal; "
        "default 40); hibari has no pitch control.",
        0,
        99,
    ),
    Setting(
        "voice_warmth",
        "voice.warmth",
        float,
        "0 (off) to 1: gentle EQ and a light room make the voice less harsh.",
        0,
        1,
    ),
    Setting(
        "background",
        "sound.background",
        str,
        "Background layers joined with '+' (see `audiogen backgrounds`), an audio file, or 'none'.",
        short="-b",
    ),
    Setting(
        "background_gain", "sound.background_gain_db", float, "Raise or lower the background, dB.", -30, 12
    ),
    Setting("mono", "sound.mono", bool, "One channel (with --background none: the voice alone)."),
    Setting("seed", "sound.seed", int, "Seed for the procedural background."),
    Setting("narrator", "narrator", str, "Artist tag (default: audiogen and the voice)."),
    Setting("cover", "cover", bool, "No cover art, embedded or beside the audio."),
    Setting("transcript", "transcript", bool, "No .vtt, .lrc and .txt transcripts."),
    Setting(
        "loudness", "sound.loudness", float, "Integrated loudness target, LUFS.", -30, -10, scope=LIBRARY
    ),
    Setting(
        "format",
        "format",
        str,
        "Audio format: mp3, ogg, opus, m4a, flac or wav (see `audiogen formats`).",
        scope=LIBRARY,
        short="-f",
    ),
    Setting(
        "bitrate",
        "bitrate",
        str,
        "Bitrate of lossy formats, e.g. 96k (ignored by flac and wav).",
        scope=LIBRARY,
    ),
    Setting(
        "templates",
        "templates_dir",
        Path,
        "Your own templates folder, searched first.",
        scope=LIBRARY,
        path_is_dir=True,
    ),
    Setting(
        "language",
        "language",
        str,
        "The article's language, for an article the detector misjudges: en reads it "
        "as English. By default it is detected, and an article in a language audiogen cannot narrate yet is "
        "refused.",
        choices=tuple(SUPPORTED_LANGUAGES),
    ),
    Setting(
        "filter_words",
        "filter_words",
        Path,
        "File of extra boilerplate/spam rules (see README).",
        scope=LIBRARY,
        envvar="AUDIOGEN_FILTER_WORDS",
    ),
    Setting(
        "cache_dir",
        "cache_dir",
        Path,
        "Speech cache folder (default: your user cache folder).",
        scope=LIBRARY,
        path_is_dir=True,
    ),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
SESSION_SETTINGS = tuple(s for s in SETTINGS if s.scope == SESSION)
LIBRARY_SETTINGS = tuple(s for s in SETTINGS if s.scope == LIBRARY)


@dataclass(frozen=True)
class Problem:
    """Why a value does not fit its setting: 'type', 'range', 'choice' or 'empty'."""

    setting: Setting
    value: Any
    kind: str

    def describe(self) -> str:
        """The neutral wording: what was given and what fits."""
        if self.kind == "type":
            return f"expected {self.setting.what}, got {type_name(self.value)} {self.value!r}"
        if self.kind == "range":
            return f"{self.value!r} is out of range; choose {self.setting.range_text}"
        if self.kind == "choice":
            return f"{self.value!r} is not {self.setting.what}"
        return "must not be empty"


def type_name(value: Any) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def check(setting: Setting, value: Any) -> tuple[Any, Problem | None]:
    """`value` (from TOML, the API or the command line) as the setting's type, or the problem with it."""
    kind = setting.kind
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is Path:
        ok = isinstance(value, (str, Path)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        return None, Problem(setting, value, "type")
    if isinstance(value, str) and not value.strip():
        return None, Problem(setting, value, "empty")
    if setting.low is not None and setting.high is not None and not setting.low <= value <= setting.high:
        return None, Problem(setting, value, "range")
    if setting.choices and value not in setting.choices:
        return None, Problem(setting, value, "choice")
    if kind is Path:
        return Path(value).expanduser(), None
    return (float(value) if kind is float else value), None


def apply(spec: SessionSpec, values: Mapping[str, Any]) -> SessionSpec:
    """`spec` with checked setting values laid over it (setting name -> value)."""
    changes: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        group, _, leaf = BY_NAME[name].field.rpartition(".")
        if group:
            nested.setdefault(group, {})[leaf] = value
        else:
            changes[leaf] = value
    for group, fields in nested.items():
        changes[group] = replace(getattr(spec, group), **fields)
    return replace(spec, **changes)


def check_all(
    values: Mapping[str, Any], allowed: Iterable[Setting] = SETTINGS
) -> tuple[dict, list, list[str]]:
    """(checked values, problems, unknown names) for a mapping of setting names to values."""
    known = {s.name: s for s in allowed}
    good: dict[str, Any] = {}
    problems: list[Problem] = []
    unknown: list[str] = []
    for name, value in values.items():
        if name not in known:
            unknown.append(name)
            continue
        checked, problem = check(known[name], value)
        if problem is None:
            good[name] = checked
        else:
            problems.append(problem)
    return good, problems, unknown


# Options that are not session settings but that messages mention (the Python API's keywords).
_OTHER_OPTIONS = {"out": "--out", "cache": "--no-cache"}


def flag(name: str) -> str:
    """A setting or option as the command line names it (`voice_warmth` -> `--voice-warmth`,
    `cover` -> `--no-cover`)."""
    return BY_NAME[name].option if name in BY_NAME else _OTHER_OPTIONS[name]


def field_setting(field_name: str) -> Setting | None:
    """The setting that fills a SessionSpec field (`voice`, `voice.voice` or `background`), if one does."""
    for setting in SETTINGS:
        if field_name in (setting.field, setting.field.rpartition(".")[2], setting.name):
            return setting
    return None


__all__ = [
    "Setting",
    "SETTINGS",
    "BY_NAME",
    "SESSION_SETTINGS",
    "LIBRARY_SETTINGS",
    "Problem",
    "check",
    "check_all",
    "apply",
    "field_setting",
    "flag",
]

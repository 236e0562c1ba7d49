"""Listener profiles: a small TOML file of session settings for one listener.

    name = "Sam"          # the listener's name (the `listener` setting)
    intention = "to be kinder to myself"
    rate = 110            # words per minute
    voice_warmth = 0.4    # any session setting of audiogen/settings.py, named like its option
    cover = false         # --no-cover

A profile fills in what the command line leaves out; an option given on the
command line always wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiogen import settings
from audiogen.errors import InputError
from audiogen.models import SessionSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

MAX_TEXT = 300  # characters of a name or an intention: a sentence, not an essay
ALIASES = {"name": "listener"}  # profile key -> setting


def _wording(key: str, problem: settings.Problem) -> str:
    setting = problem.setting
    if problem.kind == "type":
        what = "a number" if setting.kind in (int, float) else setting.what
        return f"{key} must be {what}, not {problem.value!r}"
    if problem.kind == "range":
        return f"{key} must be {setting.range_text}, not {problem.value}"
    return f"{key} {problem.describe()}"


def load_profile(path: Path) -> dict[str, Any]:
    """Read and check a profile: {setting name: value}; every problem names the file and the key."""
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such profile file; check the --profile path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the profile ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    known = {s.name: s for s in settings.SESSION_SETTINGS if s.name not in ALIASES.values()}
    known.update({alias: settings.BY_NAME[name] for alias, name in ALIASES.items()})
    problems, values = [], {}
    for key, value in data.items():
        if key not in known:
            problems.append(f"unknown key {key!r} (known: {', '.join(known)})")
            continue
        checked, problem = settings.check(known[key], value)
        if problem is not None:
            problems.append(_wording(key, problem))
        elif isinstance(checked, str) and len(checked) > MAX_TEXT:
            problems.append(f"{key} must be 1 to {MAX_TEXT} characters")
        else:
            values[known[key].name] = checked
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    return values


def apply_profile(spec: SessionSpec, profile: dict[str, Any], given: set[str]) -> SessionSpec:
    """The spec with the profile's values wherever the setting was not given explicitly."""
    return settings.apply(spec, {name: value for name, value in profile.items() if name not in given})

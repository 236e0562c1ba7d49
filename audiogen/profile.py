"""Listener profiles: a small TOML file with the listener's name, intention and pace.

    name = "Sam"
    intention = "to be kinder to myself"
    rate = 110            # words per minute
    voice = "heart"       # optional
    pitch = 45            # optional; pyttsx3 and espeak-ng only (hibari has no pitch control)
    template = "sleep"    # optional
    minutes = 20          # optional

A profile fills in what the command line leaves out; an option given on the
command line always wins.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from audiogen.errors import InputError
from audiogen.models import ListenerProfile, SessionSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "intention": (str,),
    "rate": (int,),
    "voice": (str,),
    "pitch": (int,),
    "template": (str,),
    "minutes": (int, float),
}
MAX_TEXT = 300  # characters of a name or an intention: a sentence, not an essay
MINUTES_RANGE = (1, 90)

# Which SessionSpec setting each profile key fills, as the command-line option names it.
PROFILE_OPTIONS = {"name": "listener", "intention": "intention", "rate": "rate", "voice": "voice",
                   "pitch": "pitch", "template": "template", "minutes": "minutes"}


def load_profile(path: Path) -> ListenerProfile:
    """Read and check a profile; every problem names the file and the key."""
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such profile file; check the --profile path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the profile ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    problems = []
    for key, value in data.items():
        if key not in _TYPES:
            problems.append(f"unknown key {key!r} (known: {', '.join(_TYPES)})")
        elif isinstance(value, bool) or not isinstance(value, _TYPES[key]):
            kind = "a number" if key in ("rate", "pitch", "minutes") else "text"
            problems.append(f"{key} must be {kind}, not {value!r}")
        elif isinstance(value, str) and (not value.strip() or len(value) > MAX_TEXT):
            problems.append(f"{key} must be 1 to {MAX_TEXT} characters")
        elif key == "minutes" and not MINUTES_RANGE[0] <= value <= MINUTES_RANGE[1]:
            problems.append(f"minutes must be {MINUTES_RANGE[0]} to {MINUTES_RANGE[1]}, not {value}")
        elif key == "rate" and value <= 0:
            problems.append(f"rate must be a positive number of words per minute, not {value}")
        elif key == "pitch" and not 0 <= value <= 99:
            problems.append(f"pitch must be 0 to 99, not {value}")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    return ListenerProfile(**{f.name: data.get(f.name) for f in fields(ListenerProfile)})


def apply_profile(spec: SessionSpec, profile: ListenerProfile, given: set[str]) -> SessionSpec:
    """The spec with the profile's values wherever the option was not given explicitly."""
    values = {key: getattr(profile, key) for key, option in PROFILE_OPTIONS.items()
              if getattr(profile, key) is not None and option not in given}
    voice = spec.voice
    if "rate" in values:
        voice = replace(voice, rate=values["rate"])
    if "voice" in values:
        voice = replace(voice, voice=values["voice"])
    if "pitch" in values:
        voice = replace(voice, pitch=values["pitch"])
    return replace(
        spec,
        listener=values.get("name", spec.listener),
        intention=values.get("intention", spec.intention),
        template=values.get("template", spec.template),
        minutes=float(values.get("minutes", spec.minutes)),
        voice=voice,
    )

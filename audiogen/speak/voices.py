"""Voice names checked and resolved here: espeak silently ignores a name it does not know.

A user names a voice by id (``gmw/en-us``, ``en-us``), by name (``English (America)``) or
by a fragment of either (``scotland``), optionally with an espeak variant (``en-us+f3``),
which the driver accepts though it does not list it. The result is the canonical
``id[+variant]`` the engine is given and the cache is keyed by.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from audiogen.errors import VoiceError
from audiogen.speak.engines import VoiceInfo


def _short_id(voice: VoiceInfo) -> str:
    return voice.id.split("/")[-1].lower()


def _find(wanted: str, voices: Sequence[VoiceInfo]) -> list[VoiceInfo]:
    """Exact id, short id or name first; otherwise every voice whose id or name contains `wanted`."""
    wanted = wanted.strip().lower()
    exact = [v for v in voices if wanted in (v.id.lower(), _short_id(v), v.name.lower())]
    if exact:
        return exact[:1]
    # A voice's exact language (en-gb) names it before fragments do (en-gb-scotland, en-gb-x-rp);
    # of several, the one listing it first, in the engine's order.
    speaking = sorted(
        (v for v in voices if wanted in (lang.lower() for lang in v.languages)),
        key=lambda v: [lang.lower() for lang in v.languages].index(wanted),
    )
    if speaking:
        return speaking[:1]
    return [v for v in voices if wanted in v.id.lower() or wanted in v.name.lower()]


def _close(wanted: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(wanted.lower(), [c.lower() for c in choices], n=5, cutoff=0.5)
    return f"; close matches: {', '.join(close)}" if close else ""


def resolve_voice(
    requested: str, voices: Sequence[VoiceInfo], variants: Sequence[VoiceInfo], engine: str = ""
) -> str:
    """The canonical ``id[+variant]`` for `requested`, or a VoiceError naming close matches."""
    base, plus, variant = requested.partition("+")
    where = f" for engine {engine!r}" if engine else ""
    if not base.strip():
        raise VoiceError(f"{requested!r}: name a voice (see `audiogen voices`)", "voice")
    found = _find(base, voices)
    if not found:
        choices = [v.id for v in voices] + [_short_id(v) for v in voices] + [v.name for v in voices]
        raise VoiceError(
            f"{requested!r}: unknown voice{where}{_close(base, choices)} (see `audiogen voices`)", "voice"
        )
    if len(found) > 1:
        listed = ", ".join(f"{v.id} ({v.name})" for v in found[:8]) + (", ..." if len(found) > 8 else "")
        raise VoiceError(f"{requested!r} matches {len(found)} voices: {listed}; give one id", "voice")
    voice = found[0].id
    if not plus:
        return voice
    if not variants:
        raise VoiceError(
            f"{requested!r}: {engine or 'this engine'} has no voice variants; drop '+{variant}'", "voice"
        )
    by_name = {v.id.lower(): v.id for v in variants} | {v.name.lower(): v.id for v in variants}
    if variant.lower() not in by_name:
        raise VoiceError(
            f"{requested!r}: unknown variant {variant!r}{_close(variant, list(by_name))} "
            "(see `audiogen voices`)",
            "voice",
        )
    return f"{voice}+{by_name[variant.lower()]}"

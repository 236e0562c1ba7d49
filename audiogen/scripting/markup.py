"""The script markup: one line, one cue. Parsed exactly once, into typed cues.

[chapter Arrival]            a chapter mark (and a chapter in the audio file)
[bell]  [bell soft]          a singing-bowl strike
[pause 4s]                   a fixed pause
[pause 5s..40s]              an elastic pause: takes its share of the silence budget
[pause 5s..40s x2]           ... with twice the share of a plain elastic pause
[breath 4-2-6 x3]            three breath cycles: in 4 s, hold 2 s, out 6 s, with cue words
[breath 4-0-6 x4 words="In|Out"]   custom cue words (one per non-zero phase)
[voice rate=0.85 volume=0.9] slower and softer speech from here on
[voice]                      back to the session's normal voice
[optional 2] ... [/optional] cues that may be dropped when the session is short;
                             higher levels go first (see the README)
[fade 120s]                  the session ends with a long fade-out (once per script),
                             e.g. a sleep session that drifts off instead of waking up
Any other line               spoken text, one sentence at a time
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from audiogen.errors import MarkupError
from audiogen.models import Bell, Breath, Chapter, Cue, ElasticPause, Pause, Speech, Utterance

TAGS = ("chapter", "bell", "pause", "breath", "voice", "optional", "fade")
BELL_KINDS = ("bowl", "soft", "deep")
DEFAULT_BREATH_WORDS = ("Breathe in", "Hold", "Breathe out")
SENTENCE_GAP = 0.8  # seconds of silence after each spoken sentence

_TAG = re.compile(r"^\[\s*([a-z]+)\b(.*)\]$")
_SECONDS = r"(\d+(?:\.\d+)?)s"
_PAUSE_FIXED = re.compile(rf"^{_SECONDS}$")
_PAUSE_ELASTIC = re.compile(rf"^{_SECONDS}\s*\.\.\s*{_SECONDS}(?:\s+x(\d+(?:\.\d+)?))?$")
_BREATH = re.compile(r'^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\s+x(\d+)(?:\s+words="([^"]*)")?$')
_VOICE_ARG = re.compile(r"^(rate|volume)=(\d+(?:\.\d+)?)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


# Where a rendered line came from, e.g. "sleep.j2, line 12"; None when it cannot be told.
Locate = Callable[[int, str], "str | None"]


@dataclass(frozen=True)
class ParsedMarkup:
    """The cues of a script and the session-level requests made in its markup."""

    cues: tuple[Cue, ...]
    fade_out: float | None = None


def parse_markup(markup: str, template: str = "<script>", locate: Locate | None = None) -> tuple[Cue, ...]:
    """Turn rendered markup into cues; any malformed tag names template and line."""
    return parse_script_markup(markup, template, locate).cues


def parse_script_markup(
    markup: str, template: str = "<script>", locate: Locate | None = None
) -> ParsedMarkup:
    """Parse markup once into cues and session requests ([fade]).

    `locate` maps a rendered line to its template source line, so an error points
    at the line the author wrote; without it the rendered line number is given.
    """
    cues: list[Cue] = []
    rate, volume = 1.0, 1.0
    fade_out: float | None = None
    optional_stack: list[tuple[int, int, str]] = []  # (level, line number, line)

    def fail(line_no: int, line: str, why: str) -> MarkupError:
        place = (locate(line_no, line) if locate else None) or f"{template}, line {line_no}"
        return MarkupError(f"{place}: {why}: {line.strip()!r}")

    for line_no, raw in enumerate(markup.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        optional = max((level for level, _, _ in optional_stack), default=0)
        if line == "[/optional]":
            if not optional_stack:
                raise fail(line_no, line, "[/optional] without an open [optional N]")
            optional_stack.pop()
            continue
        if line.startswith("["):
            tag = _TAG.match(line)
            if not tag:
                raise fail(line_no, line, "malformed markup (a tag is one whole line in [brackets])")
            name, args = tag.group(1), tag.group(2).strip()
            if name == "optional":
                if not re.fullmatch(r"[1-9]", args):
                    raise fail(line_no, line, "optional takes a level from 1 to 9, e.g. [optional 2]")
                optional_stack.append((int(args), line_no, line))
            elif name == "chapter":
                if not args:
                    raise fail(line_no, line, "a chapter needs a title")
                cues.append(Chapter(args, line_no, optional))
            elif name == "bell":
                kind = args or "bowl"
                if kind not in BELL_KINDS:
                    raise fail(line_no, line, f"unknown bell {kind!r} (known: {', '.join(BELL_KINDS)})")
                cues.append(Bell(kind, line_no, optional))
            elif name == "pause":
                fixed, elastic = _PAUSE_FIXED.match(args), _PAUSE_ELASTIC.match(args)
                if fixed:
                    cues.append(Pause(float(fixed.group(1)), line_no, optional))
                elif elastic:
                    low, high = float(elastic.group(1)), float(elastic.group(2))
                    weight = float(elastic.group(3) or 1)
                    if high < low or weight <= 0:
                        raise fail(line_no, line, "an elastic pause needs min <= max and a positive weight")
                    cues.append(ElasticPause(low, high, weight, line_no, optional))
                else:
                    raise fail(line_no, line, "a pause is [pause 4s] or [pause 5s..40s]")
            elif name == "breath":
                breath = _BREATH.match(args)
                if not breath:
                    raise fail(
                        line_no, line, "a breath is [breath IN-HOLD-OUT xCOUNT] e.g. [breath 4-2-6 x3]"
                    )
                inhale, hold, exhale = (float(breath.group(i)) for i in (1, 2, 3))
                count = int(breath.group(4))
                if inhale <= 0 or exhale <= 0 or not 1 <= count <= 30:
                    raise fail(line_no, line, "breath phases must be positive and the count 1 to 30")
                words = _breath_words(breath.group(5), hold > 0)
                if words is None:
                    raise fail(line_no, line, 'words= needs one word per phase, e.g. words="In|Hold|Out"')
                cues.append(
                    Breath(
                        inhale,
                        hold,
                        exhale,
                        count,
                        tuple(Utterance(w, rate, volume) for w in words),
                        line_no,
                        optional,
                    )
                )
            elif name == "fade":
                fade = _PAUSE_FIXED.match(args)
                if not fade or not 1 <= float(fade.group(1)) <= 600:
                    raise fail(line_no, line, "fade takes the fade-out length, 1s to 600s, e.g. [fade 120s]")
                if fade_out is not None:
                    raise fail(line_no, line, "only one [fade] per script")
                fade_out = float(fade.group(1))
            elif name == "voice":
                rate, volume = 1.0, 1.0
                for arg in args.split():
                    match = _VOICE_ARG.match(arg)
                    if not match:
                        raise fail(line_no, line, "voice takes rate=N and volume=N (e.g. rate=0.85)")
                    value = float(match.group(2))
                    if not 0.3 <= value <= 2.0:
                        raise fail(line_no, line, f"{match.group(1)} must be between 0.3 and 2.0")
                    if match.group(1) == "rate":
                        rate = value
                    else:
                        volume = value
            else:
                raise fail(line_no, line, f"unknown markup [{name}] (known: {', '.join(TAGS)})")
            continue
        if "[" in line or "]" in line:
            raise fail(line_no, line, "brackets inside spoken text (a tag must stand alone on its line)")
        for sentence in split_sentences(line):
            cues.append(
                Speech(Utterance(sentence, rate, volume), line=line_no, optional=optional, gap=SENTENCE_GAP)
            )
    if optional_stack:
        _, line_no, line = optional_stack[-1]
        raise fail(line_no, line, "never closed with [/optional]")
    return ParsedMarkup(tuple(cues), fade_out)


def _breath_words(spec: str | None, has_hold: bool) -> tuple[str, str, str] | None:
    if spec is None:
        inhale, hold, exhale = DEFAULT_BREATH_WORDS
        return (inhale, hold if has_hold else "", exhale)
    words = [w.strip() for w in spec.split("|")]
    if has_hold and len(words) == 3:
        return (words[0], words[1], words[2])
    if not has_hold and len(words) == 2:
        return (words[0], "", words[1])
    return None

"""Timing stage: a `Script` and the real lengths of its speech become a `Timeline`.

Speech is synthesised first, so every sentence's length is known. What is left
of the target length is the silence budget, spread over the elastic pauses
(each within its min and max, by weight). When even the minimum does not fit,
optional cues are dropped, highest level first, and if that is not enough the
session fails with the shortest length that would fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from audiogen.errors import TimingError, mention
from audiogen.models import (
    Bell,
    Breath,
    Chapter,
    ChapterMark,
    Clip,
    Cue,
    ElasticPause,
    Pause,
    PlacedBell,
    PlacedClip,
    Script,
    Speech,
    Timeline,
    Utterance,
)

BREATH_WORD_MARGIN = 0.3  # a cue word needs this much room after it before the next one


def _breath_phases(cue: Breath, clips: Mapping[Utterance, Clip]) -> list[tuple[Utterance | None, float]]:
    """(cue word, phase length) for one cycle; a phase is stretched if its word is longer."""
    phases = []
    for word, seconds in zip(cue.words, (cue.inhale, cue.hold, cue.exhale)):
        if seconds <= 0:
            continue
        if word.text:
            seconds = max(seconds, clips[word].duration + BREATH_WORD_MARGIN)
            phases.append((word, seconds))
        else:
            phases.append((None, seconds))
    return phases


def _fixed_seconds(cue: Cue, clips: Mapping[Utterance, Clip]) -> float:
    if isinstance(cue, Speech):
        return clips[cue.utterance].duration + cue.gap
    if isinstance(cue, Pause):
        return cue.seconds
    if isinstance(cue, ElasticPause):
        return cue.min_seconds
    if isinstance(cue, Breath):
        return sum(seconds for _, seconds in _breath_phases(cue, clips)) * cue.count
    return 0.0


def kept_cues(cues: Sequence[Cue], drop_from: int | None) -> tuple[Cue, ...]:
    """The cues left when every optional level >= drop_from is dropped (None keeps all)."""
    if drop_from is None:
        return tuple(cues)
    return tuple(c for c in cues if c.optional == 0 or c.optional < drop_from)


def spread_budget(pauses: Sequence[ElasticPause], budget: float) -> list[float]:
    """Water-fill `budget` seconds over elastic pauses by weight, each within [min, max].

    Whatever exceeds every maximum is still spread by weight, so the session
    lands on its length rather than ending early.
    """
    lengths = [p.min_seconds for p in pauses]
    extra = budget - sum(lengths)
    open_ = [i for i, p in enumerate(pauses) if p.max_seconds > p.min_seconds]
    while extra > 1e-9 and open_:
        total_weight = sum(pauses[i].weight for i in open_)
        share = {i: extra * pauses[i].weight / total_weight for i in open_}
        extra = 0.0
        still_open = []
        for i in open_:
            room = pauses[i].max_seconds - lengths[i]
            if share[i] >= room:
                lengths[i] += room
                extra += share[i] - room
            else:
                lengths[i] += share[i]
                still_open.append(i)
        open_ = still_open
    if extra > 1e-9 and pauses:
        total_weight = sum(p.weight for p in pauses)
        lengths = [length + extra * p.weight / total_weight for length, p in zip(lengths, pauses)]
    return lengths


def plan_timeline(
    script: Script,
    clips: Mapping[Utterance, Clip],
    target_seconds: float,
    lead_in: float = 1.5,
    tail: float = 6.0,
) -> Timeline:
    levels = sorted({c.optional for c in script.cues if c.optional}, reverse=True)
    cues: tuple[Cue, ...] = ()
    needed = math.inf
    drop_from: int | None = None
    for drop_from in [None, *levels]:
        cues = kept_cues(script.cues, drop_from)
        needed = lead_in + tail + sum(_fixed_seconds(c, clips) for c in cues)
        if needed <= target_seconds:
            break
    else:
        minutes = math.ceil(needed / 60 * 10) / 10
        raise TimingError(
            f"the script {script.template!r} needs at least {needed:.0f} s of speech and pauses, "
            f"more than {target_seconds:.0f} s; choose {mention('minutes')} {minutes:g} or more"
        )

    elastic = [c for c in cues if isinstance(c, ElasticPause)]
    fixed_without_elastic = needed - sum(p.min_seconds for p in elastic)
    budget = target_seconds - fixed_without_elastic
    pause_lengths = iter(spread_budget(elastic, budget))

    placed: list[PlacedClip] = []
    bells: list[PlacedBell] = []
    chapters: list[ChapterMark] = []
    pending: list[str] = []  # chapter titles waiting for their first sound

    def sound_at(start: float) -> None:
        chapters.extend(ChapterMark(start, title) for title in pending)
        pending.clear()

    t = lead_in
    for cue in cues:
        if isinstance(cue, Speech):
            clip = clips[cue.utterance]
            sound_at(t)
            placed.append(PlacedClip(t, clip))
            t += clip.duration + cue.gap
        elif isinstance(cue, Pause):
            t += cue.seconds
        elif isinstance(cue, ElasticPause):
            t += next(pause_lengths)
        elif isinstance(cue, Breath):
            phases = _breath_phases(cue, clips)
            for _ in range(cue.count):
                for word, seconds in phases:
                    if word is not None:
                        sound_at(t)
                        placed.append(PlacedClip(t, clips[word]))
                    t += seconds
        elif isinstance(cue, Bell):
            sound_at(t)
            bells.append(PlacedBell(t, cue.kind))
        elif isinstance(cue, Chapter):
            # A chapter starts where its first sound (speech or bell) does, not before a pause.
            pending.append(cue.title)
    sound_at(t)  # a chapter with no sound after it starts at the end of the cues
    return Timeline(
        duration=float(target_seconds),
        clips=tuple(placed),
        bells=tuple(bells),
        chapters=tuple(chapters),
        dropped_levels=tuple(level for level in levels if drop_from is not None and level >= drop_from),
    )

"""Where the listener really hears things: speech onsets measured from the clips' samples.

A speech clip starts with a little silence from the engine (0-30 ms for espeak-ng) and
ends with more (about half a second), so a clip's place on the timeline is not where
its words are heard. Transcript cues and chapter starts use the measured voiced span.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from audiogen.clipfile import read_clip
from audiogen.models import ChapterMark, SpokenLine, Timeline

FRAME_SECONDS = 0.005
VOICED_BELOW_PEAK_DB = 40.0  # a frame is voiced when its RMS is within this of the loudest frame's


@functools.lru_cache(maxsize=4096)
def voiced_span(path: Path) -> tuple[float, float]:
    """(onset, end) of the voiced part of a WAV clip, in seconds from the clip's start."""
    samples, rate = read_clip(path)
    frame = max(1, int(rate * FRAME_SECONDS))
    usable = len(samples) // frame * frame
    if not usable:
        return 0.0, len(samples) / rate
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1))
    voiced = np.flatnonzero(rms > rms.max() * 10 ** (-VOICED_BELOW_PEAK_DB / 20))
    if not len(voiced):
        return 0.0, len(samples) / rate
    return voiced[0] * frame / rate, (voiced[-1] + 1) * frame / rate


def spoken_lines(timeline: Timeline) -> tuple[SpokenLine, ...]:
    """Every spoken sentence (and breath cue word) with the times its voice is heard."""
    placed = sorted(timeline.clips, key=lambda p: p.start)
    lines = []
    for i, clip in enumerate(placed):
        onset, end = voiced_span(clip.clip.path)
        stop = placed[i + 1].start if i + 1 < len(placed) else timeline.duration
        lines.append(SpokenLine(clip.start + onset, min(clip.start + end, stop), clip.clip.utterance.text))
    return tuple(lines)


def heard_chapters(timeline: Timeline) -> tuple[ChapterMark, ...]:
    """Chapter marks moved to the moment their first sound is heard.

    The timing stage starts a chapter where its first clip or bell is placed; a bell
    sounds at once, a clip after its leading silence.
    """
    bell_starts = {round(b.start, 6) for b in timeline.bells}
    clip_at = {round(p.start, 6): p.clip for p in timeline.clips}
    marks = []
    for mark in timeline.chapters:
        key = round(mark.start, 6)
        clip = clip_at.get(key)
        if clip is not None and key not in bell_starts:
            mark = ChapterMark(mark.start + voiced_span(clip.path)[0], mark.title)
        marks.append(mark)
    return tuple(sorted(marks, key=lambda m: m.start))


# A bell (the script's, or a chapter's) is heard this long after its strike: the bed's strikes ring
# for 9 s (background.Bed.bell), and export may not ask the bed.
BELL_RING_SECONDS = 10.0
QUIET_MARGIN_SECONDS = 0.5  # a quiet stretch keeps this far from the sounds around it


def quiet_stretch(timeline: Timeline, longest: float = 2.0) -> tuple[float, float] | None:
    """A stretch of at most `longest` seconds in the middle of the pause nearest the session's middle,
    within its middle half: no voice and no bell ringing, only the bed (where two encoders' pieces
    are joined). None if the middle half has no pause of a second or more."""
    sounds = sorted(
        list(timeline.speech_intervals)
        + [(b.start, b.start + BELL_RING_SECONDS) for b in timeline.bells]
        + [(m.start, m.start + BELL_RING_SECONDS) for m in timeline.chapters]
    )
    low, high = timeline.duration * 0.25, timeline.duration * 0.75
    pauses, heard_until = [], low
    for start, end in sounds + [(high, high)]:
        a, b = heard_until + QUIET_MARGIN_SECONDS, min(start, high) - QUIET_MARGIN_SECONDS
        if b - a >= 1.0:
            pauses.append((a, b))
        heard_until = max(heard_until, end)
    if not pauses:
        return None
    middle = timeline.duration / 2
    a, b = min(pauses, key=lambda pause: abs((pause[0] + pause[1]) / 2 - middle))
    centre, half = (a + b) / 2, min(longest, b - a) / 2
    return centre - half, centre + half

"""Mixing: the session as a stream of float32 blocks, voice over the ducked bed, faded, bells on top.

Nothing here grows with the session's length: each block asks the bed for its
own frames and the ducking curve for its own times, and a clip is prepared when
the stream reaches it and released when the stream has passed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import gcd

import numpy as np

from audiogen.clipfile import read_clip
from audiogen.dsp import resample
from audiogen.errors import AudioError, mention
from audiogen.mix.limiter import limited
from audiogen.models import BedFactory, BedSource, Clip, PlacedBell, PlacedClip, SoundSettings, Timeline

BLOCK_SECONDS = 2.0  # small blocks keep the working set small; larger ones are no faster
VOICE_LEVEL_DB = -20.0  # RMS of a clip's voiced part before mastering
VOICE_PEAK_DB = -7.0  # clip peaks are limited here: 13 dB above the speech level
ENVELOPE_RATE = 100  # ducking gain resolution, points per second
DUCK_PREROLL = 0.3  # the bed is fully down this long before the voice
DUCK_ATTACK = 0.7  # and takes this long to get there
DUCK_RELEASE = 0.6
RISE_DELAY, RISE_RAMP = 0.8, 2.5  # in a silence, the bed rises after this delay over this ramp
BELL_LEVEL_DB = -14.0  # bell peak before mastering
CHAPTER_BELL_GAP = 3.0  # no extra chapter bell this close to a bell the script placed


def levelled_clip(clip: Clip, sample_rate: int | None) -> np.ndarray:
    """The clip at `sample_rate` (None: its own) with its voiced part at VOICE_LEVEL_DB, times its
    volume; float32."""
    samples, rate = read_clip(clip.path)
    if sample_rate is not None and rate != sample_rate:
        g = gcd(sample_rate, rate)
        samples = resample(samples, sample_rate // g, rate // g).astype(np.float32)
    frame = max(1, int(0.02 * (sample_rate or rate)))
    usable = len(samples) // frame * frame
    if usable:
        energies = np.mean(samples[:usable].reshape(-1, frame).astype(np.float64) ** 2, axis=1)
        voiced = energies[energies > np.max(energies) * 1e-3]
        rms = float(np.sqrt(np.mean(voiced))) if len(voiced) else 0.0
    else:
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
    if rms > 0:
        samples = samples * np.float32(clip.utterance.volume * 10 ** (VOICE_LEVEL_DB / 20) / rms)
    return samples


def prepare_clip(clip: Clip, settings: SoundSettings, ceiling_db: float = VOICE_PEAK_DB) -> np.ndarray:
    """Resample (polyphase, band-limited), set the speech level, limit true peaks to `ceiling_db`;
    float32 mono.

    The limiter is the stream's own look-ahead true-peak limiter; mastering
    lowers the ceiling so that the voice's peaks fit under the output's ceiling
    at the master gain (see `plan_master`).
    """
    rate = settings.sample_rate
    samples = levelled_clip(clip, rate)
    if len(samples):
        samples = np.concatenate(list(limited(iter([samples[:, None]]), rate, 1, ceiling_db)))[:, 0]
    fade = min(len(samples) // 2, int(0.01 * rate))  # 10 ms edges: no clicks
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples


# ---------------------------------------------------------------- ducking


def speech_spans(timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """Where the bed is ducked: each sentence widened by the pre-roll and release, merged and sorted."""
    merged: list[list[float]] = []
    for a, b in sorted(
        (start - DUCK_PREROLL, end + DUCK_RELEASE) for start, end in timeline.speech_intervals
    ):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    spans = np.array(merged, dtype=np.float64).reshape(-1, 2)
    return spans[:, 0], spans[:, 1]


def bed_gain_db(
    times: np.ndarray,
    spans: tuple[np.ndarray, np.ndarray],
    settings: SoundSettings,
    bed_level_db: float = 0.0,
) -> np.ndarray:
    """Bed gain in dB at `times` (seconds): ducked under speech, rising in long silences.

    `bed_level_db` is the bed's own RMS level: the gain puts the bed
    `bed_below_voice_db` under the voice's speech level while it speaks. Each
    block asks only for its own times, so nothing here grows with the session.
    """
    starts, ends = spans
    if len(starts):
        after = np.searchsorted(starts, times, side="right")  # spans that began at or before t
        previous_end = np.where(after > 0, ends[np.maximum(after - 1, 0)], -np.inf)
        next_start = np.where(after < len(starts), starts[np.minimum(after, len(starts) - 1)], np.inf)
        inside = times < previous_end
        since, until = np.where(inside, 0.0, times - previous_end), np.where(inside, 0.0, next_start - times)
    else:
        since = until = np.full(len(times), np.inf)
    # After speech the bed waits, then rises slowly; before speech it dips quickly, just ahead of the voice.
    rise = np.minimum(
        np.clip((since - RISE_DELAY) / RISE_RAMP, 0.0, 1.0), np.clip(until / DUCK_ATTACK, 0.0, 1.0)
    )
    rise = 0.5 - 0.5 * np.cos(np.pi * rise)  # an S-curve: no audible corner
    base = VOICE_LEVEL_DB - settings.bed_below_voice_db + settings.background_gain_db - bed_level_db
    return base + settings.bed_rise_in_silence_db * rise


def fade_gain(times: np.ndarray, duration: float, fade_in: float, fade_out: float) -> np.ndarray:
    gain = np.ones_like(times)
    if fade_in > 0:
        gain *= np.clip(times / fade_in, 0, 1) ** 2
    if fade_out > 0:
        gain *= np.clip((duration - times) / fade_out, 0, 1) ** 2
    return gain


def output_channels(bed: BedSource, settings: SoundSettings) -> int:
    """Stereo when any source is stereo; mono for a mono bed (or none) or when the user asks."""
    if settings.mono and bed.needs_stereo:
        raise AudioError(
            f"binaural beats need two channels; drop {mention('mono')} "
            f"or choose another {mention('background')}"
        )
    return 1 if settings.mono or bed.channels == 1 else 2


def all_bells(timeline: Timeline, chapter_bell: str | None) -> list[PlacedBell]:
    bells = list(timeline.bells)
    if chapter_bell:
        for mark in timeline.chapters:
            if all(abs(b.start - mark.start) > CHAPTER_BELL_GAP for b in timeline.bells):
                bells.append(PlacedBell(mark.start, chapter_bell))
    return bells


# ---------------------------------------------------------------- the block stream


def _ends_before(placed: PlacedClip, seconds: float) -> bool:
    """The clip is over by `seconds`, with a second to spare (its samples may outlast its measured length)."""
    return placed.start + placed.clip.duration + 1.0 < seconds


def mix_blocks(
    timeline: Timeline,
    bed_factory: BedFactory,
    settings: SoundSettings,
    gain_db: float = 0.0,
    voice_ceiling_db: float = VOICE_PEAK_DB,
    block_seconds: float = BLOCK_SECONDS,
    first_block: int = 0,
) -> Iterator[np.ndarray]:
    """Yield the session as (frames, channels) float32 blocks; deterministic for a given seed.

    `gain_db` is the master gain; each clip's true peaks are limited to
    `voice_ceiling_db` before it (see `MasterPlan`). `first_block` > 0 starts the
    stream at that block, the same samples a whole pass gives there: the bed is
    played through the blocks before, unheard (a noise bed's next samples depend on
    every draw before them), an empty block yielded for each so that a caller feeding
    others meanwhile is not kept waiting, and no clip that ended before is read.
    """
    rate = settings.sample_rate
    total = int(round(timeline.duration * rate))
    block = int(block_seconds * rate)
    first = min(first_block * block, total)
    bed = bed_factory()
    try:
        spans = speech_spans(timeline)
        step = max(1, rate // ENVELOPE_RATE)
        gain = np.float32(10 ** (gain_db / 20))
        # The bed also makes the bells, so this stage needs no sound sources of its own.
        placed_bells = all_bells(timeline, bed.chapter_bell)
        bell_level = np.float32(10 ** (BELL_LEVEL_DB / 20))
        mono = settings.channels == 1
        bells = {kind: bed.bell(kind) * bell_level for kind in {b.kind for b in placed_bells}}
        if mono:
            bells = {kind: strike.mean(axis=1, keepdims=True) for kind, strike in bells.items()}
        # A stereo bed's two sides are unrelated: summed at equal power (not averaged) it keeps its level.
        bed_to_mono = np.float32(np.sqrt(0.5) if bed.channels == 2 else 0.5)
        placed = sorted(timeline.clips, key=lambda p: p.start)
        prepared: dict[int, np.ndarray] = {}
        next_clip = 0
        for start in range(0, first if not bed.silent else 0, block):
            bed.block(min(block, total - start))  # in the same steps as a whole pass: the same draws
            yield np.zeros((0, 1 if settings.channels == 1 else 2), dtype=np.float32)
        while next_clip < len(placed) and _ends_before(placed[next_clip], first / rate):
            next_clip += 1
        for start in range(first, total, block):
            n = min(block, total - start)
            end = start + n
            if bed.silent:
                out = np.zeros((n, 1 if mono else 2), dtype=np.float32)
            else:
                # The gain moves slowly: computed every `step` frames, interpolated in between
                # (and a plain product where it holds still, as in a long silence).
                coarse = np.arange(0, n + step, step)
                gain_curve = 10 ** (bed_gain_db((start + coarse) / rate, spans, settings, bed.level_db) / 20)
                out = bed.block(n)
                if np.ptp(gain_curve) <= 1e-6 * gain_curve[0]:
                    out *= np.float32(gain_curve[0])
                else:
                    out *= np.interp(np.arange(n), coarse, gain_curve).astype(np.float32)[:, None]
                if mono:
                    out = out.sum(axis=1, keepdims=True) * bed_to_mono
            voice = np.zeros(n, dtype=np.float32)
            # Clips are sorted by start; those that ended before this block are released.
            while next_clip < len(placed) and placed[next_clip].start * rate < end:
                clip = placed[next_clip].clip
                prepared[next_clip] = prepare_clip(clip, settings, voice_ceiling_db)
                next_clip += 1
            for index in list(prepared):
                samples = prepared[index]
                offset = int(round(placed[index].start * rate))
                a, b = max(start, offset), min(end, offset + len(samples))
                if b > a:
                    voice[a - start : b - start] += samples[a - offset : b - offset]
                if offset + len(samples) <= end:
                    del prepared[index]
            out += voice[:, None]
            for placed_bell in placed_bells:
                samples = bells[placed_bell.kind]
                offset = int(round(placed_bell.start * rate))
                a, b = max(start, offset), min(end, offset + len(samples))
                if b > a:
                    out[a - start : b - start] += samples[a - offset : b - offset]
            if start / rate < settings.fade_in or (end - 1) / rate > timeline.duration - settings.fade_out:
                times = (start + np.arange(n)) / rate
                out *= fade_gain(times, timeline.duration, settings.fade_in, settings.fade_out).astype(
                    np.float32
                )[:, None]
            yield out * gain if gain_db else out
    finally:
        bed.close()

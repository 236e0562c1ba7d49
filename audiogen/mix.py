"""Mix and master stage: voice over the bed, ducked, faded, bells on top, at a loudness target.

Everything runs in float32 blocks, so memory does not grow with the session's
length. Mastering makes one pass: the master gain is predicted from the parts
(each clip, bell and the bed K-weighted on its own, ITU-R BS.1770 gating over
their summed energies), then the session is mixed at that gain, through a
true-peak look-ahead limiter (4x oversampling), measured and encoded in the
same stream. A second pass runs only if the measurement misses the target.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from array import array
from dataclasses import dataclass, replace
from math import gcd
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import convolve1d, maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, resample_poly, sosfilt

from audiogen.clipfile import read_clip
from audiogen.errors import AudioError
from audiogen.models import Clip, MasterStats, PlacedBell, SoundSettings, Timeline
from audiogen.tools import ffmpeg_path

Codec = Callable[[Iterable[np.ndarray], Path], Path]  # writes blocks to an encoded file, returns its path

BLOCK_SECONDS = 2.0  # small blocks keep the working set small; larger ones are no faster
VOICE_LEVEL_DB = -20.0  # RMS of a clip's voiced part before mastering
VOICE_PEAK_DB = -7.0  # clip peaks are limited here: 13 dB above the speech level
PEAK_MARGIN_DB = 1.0  # voice peaks land this far under the limiter's ceiling: room for the bed
ENVELOPE_RATE = 100  # ducking gain resolution, points per second
DUCK_PREROLL = 0.3  # the bed is fully down this long before the voice
DUCK_ATTACK = 0.7  # and takes this long to get there
DUCK_RELEASE = 0.6
RISE_DELAY, RISE_RAMP = 0.8, 2.5  # in a silence, the bed rises after this delay over this ramp
BELL_LEVEL_DB = -14.0  # bell peak before mastering
CHAPTER_BELL_GAP = 3.0  # no extra chapter bell this close to a bell the script placed
# The limiter aims this far under the ceiling: MP3 encoding raises true peaks a
# little (measured up to about 0.4 dB on these sessions at 128 kbps).
ENCODER_HEADROOM_DB = 0.5
LIMITER_HOLD = 0.020  # s each side: the gain stays down this long around a peak
LIMITER_RAMP = 0.005  # s each side: attack and release ramps (the look-ahead is hold + ramp)
CODEC_PROBE_SECONDS, CODEC_PROBE_SKIP = 30.0, 10.0  # the piece of the session the encoder is measured on


# ---------------------------------------------------------------- voice clips


def levelled_clip(clip: Clip, sample_rate: int | None) -> np.ndarray:
    """The clip at `sample_rate` (None: its own) with its voiced part at VOICE_LEVEL_DB, times its volume; float32."""
    samples, rate = read_clip(clip.path)
    if sample_rate is not None and rate != sample_rate:
        g = gcd(sample_rate, rate)
        samples = resample_poly(samples, sample_rate // g, rate // g).astype(np.float32)
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
    """Resample (polyphase, band-limited), set the speech level, limit true peaks to `ceiling_db`; float32 mono.

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
    for a, b in sorted((start - DUCK_PREROLL, end + DUCK_RELEASE) for start, end in timeline.speech_intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    spans = np.array(merged, dtype=np.float64).reshape(-1, 2)
    return spans[:, 0], spans[:, 1]


def bed_gain_db(times: np.ndarray, spans: tuple[np.ndarray, np.ndarray], settings: SoundSettings,
                bed_level_db: float = 0.0) -> np.ndarray:
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
    rise = np.minimum(np.clip((since - RISE_DELAY) / RISE_RAMP, 0.0, 1.0), np.clip(until / DUCK_ATTACK, 0.0, 1.0))
    rise = 0.5 - 0.5 * np.cos(np.pi * rise)  # an S-curve: no audible corner
    base = VOICE_LEVEL_DB - settings.bed_below_voice_db + settings.background_gain_db - bed_level_db
    return base + settings.bed_rise_in_silence_db * rise


def _fade_gain(times: np.ndarray, duration: float, fade_in: float, fade_out: float) -> np.ndarray:
    gain = np.ones_like(times)
    if fade_in > 0:
        gain *= np.clip(times / fade_in, 0, 1) ** 2
    if fade_out > 0:
        gain *= np.clip((duration - times) / fade_out, 0, 1) ** 2
    return gain


def output_channels(bed, settings: SoundSettings) -> int:
    """Stereo when any source is stereo; mono for a mono bed (or none) or when the user asks."""
    if settings.mono and bed.needs_stereo:
        raise AudioError("binaural beats need two channels; drop --mono or choose another --background")
    return 1 if settings.mono or bed.channels == 1 else 2


def _all_bells(timeline: Timeline, chapter_bell: str | None) -> list[PlacedBell]:
    bells = list(timeline.bells)
    if chapter_bell:
        for mark in timeline.chapters:
            if all(abs(b.start - mark.start) > CHAPTER_BELL_GAP for b in timeline.bells):
                bells.append(PlacedBell(mark.start, chapter_bell))
    return bells


# ---------------------------------------------------------------- the block stream


def mix_blocks(
    timeline: Timeline,
    bed_factory: Callable[[], object],
    settings: SoundSettings,
    gain_db: float = 0.0,
    voice_ceiling_db: float = VOICE_PEAK_DB,
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[np.ndarray]:
    """Yield the session as (frames, channels) float32 blocks; deterministic for a given seed.

    `gain_db` is the master gain; each clip's true peaks are limited to
    `voice_ceiling_db` before it (see `MasterPlan`).
    """
    rate = settings.sample_rate
    total = int(round(timeline.duration * rate))
    block = int(block_seconds * rate)
    bed = bed_factory()
    try:
        spans = speech_spans(timeline)
        step = max(1, rate // ENVELOPE_RATE)
        gain = np.float32(10 ** (gain_db / 20))
        # The bed also makes the bells, so this stage needs no sound sources of its own.
        placed_bells = _all_bells(timeline, bed.chapter_bell)
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
        for start in range(0, total, block):
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
                out *= _fade_gain(times, timeline.duration, settings.fade_in, settings.fade_out).astype(np.float32)[:, None]
            yield out * gain if gain_db else out
    finally:
        bed.close()


# ---------------------------------------------------------------- true peak


def channel_peak(block: np.ndarray) -> np.ndarray:
    """Largest absolute value across channels at each frame (much faster than max(axis=1) on 2 columns)."""
    peak = np.abs(block[:, 0])
    for ch in range(1, block.shape[1]):
        np.maximum(peak, np.abs(block[:, ch]), out=peak)
    return peak


class TruePeakEnvelope:
    """Per-sample true-peak estimate of a block stream (ITU-R BS.1770-4 Annex 2: 4x oversampling).

    A 48-tap polyphase interpolator (flat within 0.1 dB up to 15 kHz) sees the
    last samples of the previous block, so block edges are seamless. Only blocks
    whose sample peak reaches `floor` are oversampled (elsewhere the sample peak
    stands in): inter-sample peaks of real audio stay within about 3 dB of the
    sample peak, and the callers set `floor` 6 dB below what they look for. No
    4x copy of a block is ever held. The interpolated values lag the input by
    about 6 samples (the filter's delay).
    """

    FACTOR = 4

    def __init__(self, sample_rate: int, channels: int) -> None:
        taps = firwin(48, 21000 * sample_rate / 44100, fs=self.FACTOR * sample_rate, window=("kaiser", 6.0))
        self.phases = [(taps[k :: self.FACTOR] * self.FACTOR).astype(np.float32) for k in range(self.FACTOR)]
        self.kernel = np.stack([h[::-1] for h in self.phases], axis=1)  # (taps, phases): one product per window
        self.history = np.zeros((len(self.phases[0]) - 1, channels), dtype=np.float32)

    def envelope(self, block: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """Largest absolute (interpolated) value across channels at each sample, float32 (n,).

        Each interpolated value is a weighted sum of the last `taps` samples, so
        only those next to a sample reaching `floor` are computed (a few percent
        of a loud block: speech peaks are brief); elsewhere the sample stands.
        """
        peak = channel_peak(block)
        padded = np.concatenate([self.history, block])
        lead = len(self.history)
        if len(block) and peak.max() >= floor:
            taps = len(self.phases[0])
            # Output i interpolates padded[i : i + taps] (np.convolve's "valid" alignment).
            loudest = maximum_filter1d(channel_peak(padded), taps, origin=(taps - 1) // 2 - taps + 1)[: len(block)]
            near = np.flatnonzero(loudest >= floor)
            for ch in range(block.shape[1]):
                if len(near) > len(block) // 8:  # mostly loud: whole-block convolutions are cheaper
                    column = np.ascontiguousarray(padded[:, ch])
                    for h in self.phases:  # ndimage's convolve1d; this slice is np.convolve's "valid"
                        phase = convolve1d(column, h, mode="constant")[(taps - 1) // 2 :][: len(block)]
                        np.maximum(peak, np.abs(phase), out=peak)
                else:
                    windows = sliding_window_view(padded[:, ch], taps)[near]
                    peak[near] = np.maximum(peak[near], np.abs(windows @ self.kernel).max(axis=1))
        self.history = padded[len(padded) - lead :].copy()
        return peak


def _limiter_windows(sample_rate: int) -> tuple[int, int]:
    """The limiter's hold and ramp half-widths in frames; the hold also covers the interpolator's lag."""
    return int(LIMITER_HOLD * sample_rate) + 8, int(LIMITER_RAMP * sample_rate)


def _smooth_gain(need: np.ndarray, hold: int, ramp: int) -> np.ndarray:
    """The limiter's gain from what each frame needs: held over the hold window, then ramped."""
    held = minimum_filter1d(need, 2 * hold + 1, mode="nearest")
    return uniform_filter1d(held, 2 * ramp + 1, mode="nearest")


def limiter_gain(envelope: np.ndarray, ceiling: float, hold: int, ramp: int) -> np.ndarray:
    """The gain a whole signal with this true-peak envelope needs to stay under `ceiling` (linear)."""
    need = np.minimum(np.float32(1.0), np.float32(ceiling) / np.maximum(envelope, np.float32(1e-9)))
    return _smooth_gain(need, hold, ramp)


class TruePeakLimiter:
    """A look-ahead limiter on the block stream: no true peak passes `ceiling` (linear).

    The gain each sample needs is min-filtered over the hold window and then
    averaged over the ramp window; since every averaged value includes the
    sample's own requirement, the gain never exceeds it, and it moves in smooth
    ramps that start before the peak. Output lags input by `latency` frames;
    `flush` returns the rest, so output length equals input length.
    """

    def __init__(self, sample_rate: int, channels: int, ceiling: float) -> None:
        self.ceiling = np.float32(ceiling)
        self.peaks = TruePeakEnvelope(sample_rate, channels)
        self.hold, self.ramp = _limiter_windows(sample_rate)
        self.latency = self.hold + self.ramp
        # History: `latency` frames already emitted (context) + pending frames not yet emitted.
        self.audio = np.zeros((self.latency, channels), dtype=np.float32)
        self.envelope = np.zeros(self.latency, dtype=np.float32)
        self.peak = 0.0  # the output's true peak (linear): the envelope times the gain

    def process(self, block: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self.audio, block])
        envelope = np.concatenate([self.envelope, self.peaks.envelope(block, floor=self.ceiling * 0.5)])
        c = self.latency
        out, heard = audio[c : len(audio) - c], envelope[c : len(envelope) - c]
        if envelope.max(initial=0.0) > self.ceiling:  # a peak here or within the windows around it
            need = np.minimum(np.float32(1.0), self.ceiling / np.maximum(envelope, np.float32(1e-9)))
            gain = _smooth_gain(need, self.hold, self.ramp)[c : len(need) - c]
            out, heard = out * gain[:, None], heard * gain
        if len(heard):
            self.peak = max(self.peak, float(heard.max()))
        keep = max(0, len(audio) - 2 * c)  # the last `c` emitted frames (context) and the pending ones
        self.audio, self.envelope = audio[keep:], envelope[keep:]
        return out

    def true_peak_db(self) -> float:
        return float(20 * np.log10(max(self.peak, 1e-12)))

    def flush(self) -> np.ndarray:
        return self.process(np.zeros((self.latency, self.audio.shape[1]), dtype=np.float32))


def limited(blocks: Iterable[np.ndarray], sample_rate: int, channels: int, ceiling_db: float,
            limiter: TruePeakLimiter | None = None) -> Iterator[np.ndarray]:
    """The blocks through a true-peak limiter (`limiter`, to read its figures afterwards, or a new one)."""
    limiter = limiter or TruePeakLimiter(sample_rate, channels, 10 ** (ceiling_db / 20))
    for block in blocks:
        out = limiter.process(block)
        if len(out):
            yield out
    yield limiter.flush()


# ---------------------------------------------------------------- measurement

STEP_SECONDS = 0.1  # BS.1770 gating blocks are 400 ms with 75 % overlap: four 100 ms steps


@functools.lru_cache(maxsize=4)
def k_weighting(sample_rate: int) -> np.ndarray:
    """Both K-weighting stages of ITU-R BS.1770 as second-order sections for `sample_rate`."""
    import pyloudnorm

    filters = pyloudnorm.Meter(sample_rate)._filters  # the standard's coefficients for this rate
    return np.array([np.concatenate([f.b / f.a[0], f.a / f.a[0]]) for f in filters.values()])


def gated_loudness(step_powers: np.ndarray) -> float:
    """Integrated loudness (LUFS) from K-weighted mean squares per 100 ms step, summed over channels.

    400 ms blocks are formed from four consecutive steps, then gated: absolute at
    -70 LUFS, relative at 10 LU under the mean of the blocks that passed.
    """
    if len(step_powers) < 4:
        return float("-inf")
    blocks = np.convolve(step_powers, np.ones(4) / 4, mode="valid")
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(blocks)
    gated = blocks[loudness > -70.0]
    if not len(gated):
        return float("-inf")
    relative = -0.691 + 10 * np.log10(np.mean(gated)) - 10.0
    with np.errstate(divide="ignore"):
        gated = gated[-0.691 + 10 * np.log10(gated) > relative]
    return float(-0.691 + 10 * np.log10(np.mean(gated)))


class LoudnessMeter:
    """Streaming ITU-R BS.1770-4 integrated loudness and true peak.

    K-weighting filters keep their state across blocks; mean squares are kept
    per 100 ms step (a 60-minute session is 36,000 numbers), and 400 ms gating
    blocks with 75 % overlap are formed from four consecutive steps at the end.
    """

    def __init__(self, sample_rate: int, channels: int, true_peak: bool = True) -> None:
        self.sos = k_weighting(sample_rate)  # one sosfilt call filters every channel
        self.state = np.zeros((len(self.sos), 2, channels))  # sosfilt along axis 0: (sections, 2, channels)
        self.step = int(STEP_SECONDS * sample_rate)
        self.pending = np.zeros((0, channels))
        self.steps = array("d")  # mean square per 100 ms step, summed over channels
        self.peaks = TruePeakEnvelope(sample_rate, channels) if true_peak else None
        self.peak = 0.0
        self.channels = channels

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if not len(block):
            return
        if self.peaks is not None:
            # Only the loudest stretches can hold the block's (or the stream's) true peak.
            floor = 0.5 * max(self.peak, float(np.max(np.abs(block))))
            self.peak = max(self.peak, float(np.max(self.peaks.envelope(block, floor))))
        # float64: the K-weighting's poles sit close to the unit circle.
        weighted, self.state = sosfilt(self.sos, block.astype(np.float64), axis=0, zi=self.state)
        # In digital silence the state decays into subnormal numbers, which make the filter
        # about 50x slower; far under anything audible, it is exactly zero instead.
        self.state[np.abs(self.state) < 1e-15] = 0.0
        data = np.concatenate([self.pending, weighted])
        whole = len(data) // self.step * self.step
        if whole:
            squares = np.einsum("ijk,ijk->i", *(data[:whole].reshape(-1, self.step, self.channels),) * 2)
            self.steps.extend(squares / self.step)  # channel weights are 1.0 for L, R
        self.pending = data[whole:]

    def integrated(self) -> float:
        return gated_loudness(np.frombuffer(self.steps, dtype=np.float64))

    def true_peak_db(self) -> float:
        return float(20 * np.log10(max(self.peak, 1e-12)))


def measure(blocks: Iterator[np.ndarray], sample_rate: int, channels: int) -> tuple[float, float]:
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    return meter.integrated(), meter.true_peak_db()


def metered(blocks: Iterable[np.ndarray], meter: LoudnessMeter) -> Iterator[np.ndarray]:
    """Pass the blocks through, measuring them on the way."""
    for block in blocks:
        meter.add(block)
        yield block


# ---------------------------------------------------------------- planning: the gain before the mix

BED_WINDOWS, BED_WINDOW_SECONDS = 8, 8.0  # the bed's K-weighted power is measured on this much of it
FILTER_TAIL_SECONDS = 0.2  # a part's K-weighted energy rings on this long after it ends
GAIN_TOLERANCE = 0.02  # dB: the planned gain is found to within this
MAX_LIMITING_DB = 24.0  # planning never limits the voice by more than this to reach the target


class _StepEnergies:
    """K-weighted mean square per 100 ms step of the session (summed over channels), built part by part.

    K-weighting is linear, so the weighted mix is the sum of the weighted parts;
    the voice, bells and bed are unrelated signals, so their energies add (the
    cross terms average out over a 400 ms gating block). A mean square does not
    depend on the sample rate, so parts looked at at different rates add too.
    """

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.power = np.zeros(int(np.ceil(duration / STEP_SECONDS)) + 1)

    def add_squares(self, squares: np.ndarray, start: float, sample_rate: int) -> None:
        """A K-weighted part's squares (summed over channels), starting at `start` seconds."""
        step = int(STEP_SECONDS * sample_rate)
        offset = int(round(start * sample_rate))
        lead = offset % step  # align the part to the session's step grid
        squares = np.concatenate([np.zeros(lead), squares, np.zeros(-(lead + len(squares)) % step)])
        sums = squares.reshape(-1, step).sum(axis=1) / step
        first = offset // step
        count = max(0, min(len(sums), len(self.power) - first))
        self.power[first : first + count] += sums[:count]

    def loudness(self, settings: SoundSettings, *others: "_StepEnergies") -> float:
        """Integrated loudness of these parts and `others` together, faded as the mix is."""
        centres = np.minimum((np.arange(len(self.power)) + 0.5) * STEP_SECONDS, self.duration)
        fades = _fade_gain(centres, self.duration, settings.fade_in, settings.fade_out)
        return gated_loudness(sum((o.power for o in others), self.power) * fades**2)


def k_weighted(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """A part K-weighted from rest, with FILTER_TAIL_SECONDS of its ringing after it (float64)."""
    tail = np.zeros((int(FILTER_TAIL_SECONDS * sample_rate),) + samples.shape[1:])
    return sosfilt(k_weighting(sample_rate), np.concatenate([samples.astype(np.float64), tail]), axis=0)


def _squares(weighted: np.ndarray) -> np.ndarray:
    return weighted**2 if weighted.ndim == 1 else np.sum(weighted**2, axis=1)


def _bed_step_powers(bed, count: int, settings: SoundSettings) -> np.ndarray:
    """The bed's K-weighted power at unity gain for each of `count` 100 ms steps.

    A short session is measured whole. A longer one is sampled in BED_WINDOWS
    windows spread over its length (a bed's swells and waves are slow, and one
    stretch from the start can sit a few tenths of a dB off the whole): each
    window's own steps are exact, and the steps between take the windows' steps
    in turn: a wavy bed keeps its spread of levels, which the gates respond to.
    """
    rate, channels = settings.sample_rate, settings.channels
    step = int(STEP_SECONDS * rate)
    settle = int(FILTER_TAIL_SECONDS * rate)  # the filter starts from rest in each window
    window = int(BED_WINDOW_SECONDS / STEP_SECONDS)
    if count <= BED_WINDOWS * window:
        starts, window = [0], count
    else:
        starts = [round(i * (count - window) / (BED_WINDOWS - 1)) for i in range(BED_WINDOWS)]
    powers, measured, position = np.zeros(count), np.zeros(count, dtype=bool), 0
    for first in starts:
        lead = min(settle, first * step - position)  # never back over what the last window made
        bed.skip(first * step - lead - position)
        sample = bed.block(lead + window * step)
        position = (first + window) * step
        if channels == 1:
            sample = sample.sum(axis=1) * np.float32(np.sqrt(0.5) if bed.channels == 2 else 0.5)
        squares = _squares(sosfilt(k_weighting(rate), sample.astype(np.float64), axis=0))[lead:]
        powers[first : first + window] = squares.reshape(window, step).mean(axis=1)
        measured[first : first + window] = True
    powers[~measured] = np.resize(powers[measured], np.count_nonzero(~measured))
    return powers


def _background_energies(timeline: Timeline, bed_factory: Callable[[], object], settings: SoundSettings) -> _StepEnergies:
    """Bells and bed: the bed's K-weighted power (see `_bed_step_powers`) follows the ducking."""
    rate, channels = settings.sample_rate, settings.channels
    steps = _StepEnergies(timeline.duration)
    bed = bed_factory()
    try:
        strikes = {}
        for placed_bell in _all_bells(timeline, bed.chapter_bell):
            if placed_bell.kind not in strikes:
                strike = bed.bell(placed_bell.kind) * np.float32(10 ** (BELL_LEVEL_DB / 20))
                strikes[placed_bell.kind] = _squares(k_weighted(strike.mean(axis=1) if channels == 1 else strike, rate))
            steps.add_squares(strikes[placed_bell.kind], placed_bell.start, rate)
        if not bed.silent:
            power = _bed_step_powers(bed, len(steps.power), settings)
            # The ducking gain, squared and averaged over each step.
            points = round(STEP_SECONDS * ENVELOPE_RATE)
            times = (np.arange(len(steps.power) * points) + 0.5) / ENVELOPE_RATE
            gain = 10 ** (bed_gain_db(times, speech_spans(timeline), settings, bed.level_db) / 10)
            steps.power += power * gain.reshape(-1, points).mean(axis=1)
    finally:
        bed.close()
    return steps


LOOK_FRAME_SECONDS = 0.001  # planning looks at each clip in frames this long


@dataclass(frozen=True)
class _ClipLook:
    """One clip as planning sees it, frame by frame (about 1 ms): true peak and K-weighted energy.

    Frames keep planning light: a look is a twentieth of the clip's samples, and
    the limiter's gain (20 ms hold, 5 ms ramps) barely moves within a frame.
    """

    start: float  # seconds
    frame_seconds: float
    peaks: np.ndarray  # largest true-peak estimate in each frame
    energy: np.ndarray  # K-weighted sum of squares in each frame, over every channel it fills
    peak: float
    step_samples: float  # samples in a 100 ms step at the clip's rate: a step's mean square is its sum over this

    def step_energies(self, ceiling: float, steps: "_StepEnergies") -> None:
        """Add this clip, its true peaks limited to `ceiling` (linear), to `steps`."""
        energy = self.energy
        if self.peak > ceiling:
            hold = int(np.ceil(LIMITER_HOLD / self.frame_seconds)) + 1  # and the interpolator's lag
            ramp = max(1, round(LIMITER_RAMP / self.frame_seconds))
            gain = limiter_gain(self.peaks, ceiling, hold, ramp)
            energy = energy * np.pad(gain, (0, len(energy) - len(gain)), constant_values=1.0) ** 2
        # Each frame counts in the 100 ms step its first sample falls in.
        index = ((self.start + np.arange(len(energy)) * self.frame_seconds) / STEP_SECONDS).astype(np.int64)
        keep = index < len(steps.power)
        steps.power += np.bincount(index[keep], weights=energy[keep], minlength=len(steps.power)) / self.step_samples


def _frame_reduce(values: np.ndarray, frame: int, reduce) -> np.ndarray:
    padded = np.pad(values, (0, -len(values) % frame))
    return reduce(padded.reshape(-1, frame), axis=1)


def _look_at_clips(timeline: Timeline, channels: int) -> list[_ClipLook]:
    looks = []
    for placed in timeline.clips:
        samples = levelled_clip(placed.clip, None)
        if not len(samples):
            continue
        rate = placed.clip.sample_rate
        frame = max(1, round(LOOK_FRAME_SECONDS * rate))
        envelope = TruePeakEnvelope(rate, 1).envelope(samples[:, None])
        # Each channel of the mix carries the voice: its K-weighted energy counts `channels` times.
        squares = k_weighted(samples, rate) ** 2 * channels
        looks.append(_ClipLook(placed.start, frame / rate, _frame_reduce(envelope, frame, np.max),
                               _frame_reduce(squares, frame, np.sum), float(envelope.max()), STEP_SECONDS * rate))
    return looks


def _voice_energies(looks: list[_ClipLook], duration: float, ceiling: float) -> _StepEnergies:
    """The voice's step energies with every clip's true peaks limited to `ceiling` (linear).

    The limiter's gain moves slowly next to the K-weighting's memory, so a
    limited clip's weighted energy is taken as the squared gain times the
    weighted clip's, frame by frame.
    """
    steps = _StepEnergies(duration)
    for look in looks:
        look.step_energies(ceiling, steps)
    return steps


@dataclass(frozen=True)
class MasterPlan:
    """How the session is mastered, decided before anything is mixed."""

    gain_db: float  # the master gain
    voice_ceiling_db: float  # clips are limited to this true peak before mixing (before the gain)
    predicted_lufs: float  # what the stream will measure (before the encoder)


def plan_master(timeline: Timeline, bed_factory, settings: SoundSettings, codec_change: float = 0.0) -> MasterPlan:
    """Choose the master gain and the voice's peak ceiling from the session's parts; nothing is mixed.

    The gain G must bring the integrated loudness to the target, and the voice's
    peaks, after G, must stay PEAK_MARGIN_DB under the limiter's ceiling (room
    for the bed under them), so clips are limited to (ceiling - margin - G)
    before mixing. Limiting lowers the loudness, which asks for more gain: G is
    the root of loudness(G) + G = target, found by bracketing and regula falsi
    on a look at the clips at their own rate. The stream's limiter is then left
    with almost nothing to do (`codec_change`: what the encoder will add).
    """
    target = settings.loudness - codec_change
    background = _background_energies(timeline, bed_factory, settings)
    looks = _look_at_clips(timeline, settings.channels)
    top = limiter_ceiling_db(settings) - PEAK_MARGIN_DB

    def ceiling_db(gain: float) -> float:
        return min(VOICE_PEAK_DB, top - gain)

    def loudness(gain: float) -> float:
        voice = _voice_energies(looks, timeline.duration, 10 ** (ceiling_db(gain) / 20))
        return voice.loudness(settings, background)

    @functools.lru_cache(maxsize=None)  # the chosen gain's miss is asked for again at the end
    def miss(gain: float) -> float:  # grows with the gain: limiting never takes back a whole dB per dB
        return loudness(gain) + gain - target

    unlimited = _voice_energies(looks, timeline.duration, np.inf).loudness(settings, background)
    if not np.isfinite(unlimited):
        raise AudioError("the session is silent; nothing to master")
    low = target - unlimited  # no less gain than the unlimited voice needs
    low_miss = miss(low)
    if low_miss >= -GAIN_TOLERANCE:
        gain = low
    else:
        most = low + MAX_LIMITING_DB
        high, high_miss = low + 3.0, miss(low + 3.0)
        while high_miss < 0 and high < most:
            low, low_miss, high = high, high_miss, min(most, high + 3.0)
            high_miss = miss(high)
        gain = high  # if even that falls short, the target cannot be met under the ceiling: the loudest that can
        for _ in range(20 if high_miss >= 0 else 0):  # regula falsi, Illinois variant: a handful of looks
            gain = high - high_miss * (high - low) / (high_miss - low_miss)
            result = miss(gain)
            if abs(result) < GAIN_TOLERANCE:
                break
            if (result > 0) == (high_miss > 0):
                high, high_miss, low_miss = gain, result, low_miss / 2
            else:
                low, low_miss, high_miss = gain, result, high_miss / 2
    return MasterPlan(gain, ceiling_db(gain), target + miss(gain))


# ---------------------------------------------------------------- mastering

MISS_TOLERANCE = 0.3  # LU: a second pass runs when the encoded stream misses the target by more


def limiter_ceiling_db(settings: SoundSettings) -> float:
    return settings.true_peak - ENCODER_HEADROOM_DB


def mastered_blocks(timeline: Timeline, bed_factory, settings: SoundSettings, plan: MasterPlan) -> Iterator[np.ndarray]:
    """The final stream: the mix at the planned gain through the true-peak limiter."""
    mixed = mix_blocks(timeline, bed_factory, settings, plan.gain_db, plan.voice_ceiling_db)
    return limited(mixed, settings.sample_rate, settings.channels, limiter_ceiling_db(settings))


def _excerpt(blocks: Iterator[np.ndarray], sample_rate: int, duration: float) -> np.ndarray:
    """Up to CODEC_PROBE_SECONDS of the stream, past the fade-in when the session is long enough."""
    skip = int(min(CODEC_PROBE_SKIP, max(0.0, duration - CODEC_PROBE_SECONDS)) * sample_rate)
    wanted = skip + int(CODEC_PROBE_SECONDS * sample_rate)
    parts, frames = [], 0
    for block in blocks:
        parts.append(block)
        frames += len(block)
        if frames >= wanted:
            break
    if hasattr(blocks, "close"):
        blocks.close()
    return np.concatenate(parts)[skip:wanted]


def probe_excerpt(timeline: Timeline, bed_factory, settings: SoundSettings) -> np.ndarray:
    """A piece of the mastered session for measuring what the encoder does to it."""
    plan = plan_master(timeline, bed_factory, settings)
    return _excerpt(mastered_blocks(timeline, bed_factory, settings, plan), settings.sample_rate, timeline.duration)


def _pieces(samples: np.ndarray, sample_rate: int) -> Iterator[np.ndarray]:
    step = int(BLOCK_SECONDS * sample_rate)
    return (samples[i : i + step] for i in range(0, len(samples), step))


def codec_loudness_change(excerpt: np.ndarray, sample_rate: int, codec: Codec) -> float:
    """How much the encoder changes the loudness of this audio, in LU (LAME at 128 kbps: about -0.45).

    Lossy encoders lose a little energy in quantisation; the loss depends on
    the bitrate and the material, so it is measured on a piece of the session
    itself: encode it, decode it, compare.
    """
    channels = excerpt.shape[1]
    with tempfile.TemporaryDirectory(prefix="audiogen-codec-") as folder:
        encoded = codec([excerpt], Path(folder) / "probe")
        command = [ffmpeg_path(), "-nostdin", "-v", "error", "-i", str(encoded),
                   "-f", "f32le", "-ac", str(channels), "-ar", str(sample_rate), "pipe:1"]
        result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        raise AudioError(f"ffmpeg could not decode its own test encoding: {result.stderr.decode(errors='replace').strip()}")
    decoded = np.frombuffer(result.stdout, dtype="<f4").reshape(-1, channels)
    before, _ = measure(_pieces(excerpt, sample_rate), sample_rate, channels)
    after, _ = measure(_pieces(decoded, sample_rate), sample_rate, channels)
    if not (np.isfinite(before) and np.isfinite(after)):
        return 0.0
    return after - before


Written = TypeVar("Written")


def master(
    timeline: Timeline,
    bed_factory,
    settings: SoundSettings,
    write: Callable[[Iterator[np.ndarray]], Written],
    codec_change: float = 0.0,
) -> tuple[MasterStats, Written]:
    """Master the session in one pass: planned from its parts, then mixed, limited and written once.

    `write` consumes the mastered block stream (the encoder) and returns what it
    made. The stream's loudness is measured on its way to `write`, and the
    limiter reports its true peak; `codec_change` (from `codec_loudness_change`)
    is what the encoder will add to the loudness. Only when the measurement
    misses the target by more than MISS_TOLERANCE does a second pass write it
    again at a corrected gain.
    """
    rate, channels = settings.sample_rate, settings.channels
    plan = plan_master(timeline, bed_factory, settings, codec_change)
    target = settings.loudness - codec_change  # what the PCM stream must measure
    for attempt in range(2):
        meter = LoudnessMeter(rate, channels, true_peak=False)
        limiter = TruePeakLimiter(rate, channels, 10 ** (limiter_ceiling_db(settings) / 20))
        mixed = mix_blocks(timeline, bed_factory, settings, plan.gain_db, plan.voice_ceiling_db)
        written = write(metered(limited(mixed, rate, channels, 0.0, limiter), meter))
        measured = meter.integrated()
        if abs(measured - target) <= MISS_TOLERANCE or not np.isfinite(measured):
            break
        plan = replace(plan, gain_db=plan.gain_db + target - measured, predicted_lufs=target)
    return MasterStats(measured + codec_change, limiter.true_peak_db(), plan.gain_db), written

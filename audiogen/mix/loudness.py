"""Loudness measurement: ITU-R BS.1770-4 integrated loudness (K-weighting, gating) and true peak.

The meter streams: K-weighting filters keep their state across blocks and only
a mean square per 100 ms step is kept, so measuring an hour costs what
measuring a minute does.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audiogen.dsp import IIRFilter, kaiser_lowpass, window_max


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
        taps = kaiser_lowpass(48, 21000 * sample_rate / 44100, self.FACTOR * sample_rate, 6.0)
        self.phases = [(taps[k :: self.FACTOR] * self.FACTOR).astype(np.float32) for k in range(self.FACTOR)]
        self.kernel = np.stack(
            [h[::-1] for h in self.phases], axis=1
        )  # (taps, phases): one product per window
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
            loudest = window_max(channel_peak(padded), taps)
            near = np.flatnonzero(loudest >= floor)
            for ch in range(block.shape[1]):
                if len(near) > len(block) // 8:  # mostly loud: whole-block convolutions are cheaper
                    column = np.ascontiguousarray(padded[:, ch])
                    for h in self.phases:
                        np.maximum(peak, np.abs(np.convolve(column, h, mode="valid")), out=peak)
                else:
                    windows = sliding_window_view(padded[:, ch], taps)[near]
                    peak[near] = np.maximum(peak[near], np.abs(windows @ self.kernel).max(axis=1))
        self.history = padded[len(padded) - lead :].copy()
        return peak


# ---------------------------------------------------------------- measurement

STEP_SECONDS = 0.1  # BS.1770 gating blocks are 400 ms with 75 % overlap: four 100 ms steps


@functools.lru_cache(maxsize=4)
def k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Both K-weighting stages of ITU-R BS.1770 as second-order sections (b, a) for `sample_rate`.

    The stages are pyloudnorm's (and so the reference meters'): a +4 dB high
    shelf at 1500 Hz (Q 0.707) and a 38 Hz high-pass (Q 0.5), from the audio EQ
    cookbook's biquad formulas.
    """
    w = 2.0 * np.pi * 1500.0 / sample_rate
    gain, alpha = 10 ** (4.0 / 40), np.sin(w) / (2.0 * (1 / np.sqrt(2)))
    root, cos = np.sqrt(gain), np.cos(w)
    shelf_b = gain * np.array(
        [
            (gain + 1) + (gain - 1) * cos + 2 * root * alpha,
            -2 * ((gain - 1) + (gain + 1) * cos),
            (gain + 1) + (gain - 1) * cos - 2 * root * alpha,
        ]
    )
    shelf_a = np.array(
        [
            (gain + 1) - (gain - 1) * cos + 2 * root * alpha,
            2 * ((gain - 1) - (gain + 1) * cos),
            (gain + 1) - (gain - 1) * cos - 2 * root * alpha,
        ]
    )
    w = 2.0 * np.pi * 38.0 / sample_rate
    alpha, cos = np.sin(w) / (2.0 * 0.5), np.cos(w)
    pass_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    pass_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return [(shelf_b / shelf_a[0], shelf_a / shelf_a[0]), (pass_b / pass_a[0], pass_a / pass_a[0])]


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
        self.filter = IIRFilter(k_weighting(sample_rate), channels, np.float32)
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
        weighted = self.filter(block.T).T
        data = np.concatenate([self.pending, weighted], dtype=np.float64)  # squares summed in float64
        whole = len(data) // self.step * self.step
        if whole:
            squares = np.einsum("ijk,ijk->i", *(data[:whole].reshape(-1, self.step, self.channels),) * 2)
            self.steps.extend(squares / self.step)  # channel weights are 1.0 for L, R
        self.pending = data[whole:]

    def step_powers(self) -> np.ndarray:
        """The K-weighted mean square of each whole 100 ms step so far, summed over channels."""
        return np.frombuffer(self.steps, dtype=np.float64)

    def integrated(self) -> float:
        return gated_loudness(self.step_powers())

    def true_peak_db(self) -> float:
        return float(20 * np.log10(max(self.peak, 1e-12)))


def measure(blocks: Iterator[np.ndarray], sample_rate: int, channels: int) -> tuple[float, float]:
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    return meter.integrated(), meter.true_peak_db()


FILTER_TAIL_SECONDS = 0.2  # a part's K-weighted energy rings on this long after it ends


def k_filtered(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Samples (frames, or frames x channels) K-weighted from rest, float32, in the same shape."""
    rows = samples.reshape(len(samples), -1).T
    return IIRFilter(k_weighting(sample_rate), len(rows), np.float32)(rows).T.reshape(samples.shape)


def k_weighted(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """A part K-weighted from rest, with FILTER_TAIL_SECONDS of its ringing after it (float32)."""
    tail = np.zeros((int(FILTER_TAIL_SECONDS * sample_rate),) + samples.shape[1:], dtype=np.float32)
    return k_filtered(np.concatenate([samples.astype(np.float32), tail]), sample_rate)

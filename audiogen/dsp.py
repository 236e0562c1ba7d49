"""Signal processing in numpy alone: filter designs, IIR filtering, resampling, running extremes.

A render needs six functions of scipy.signal and scipy.ndimage, and importing
scipy.signal costs about 80 MB and most of a second (it pulls in scipy.stats).
These are the same designs and the same arithmetic (tests/test_dsp.py checks
them against scipy's to float precision), shaped for the block stream: an IIR
filter keeps its state from one block to the next.
"""

from __future__ import annotations

import functools
import math
import statistics

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# A matrix product of m·n·k up to 2^18 runs on the calling thread (OpenBLAS's threshold); a bigger one
# wakes BLAS worker threads, which on these small products burn several times the CPU they save.
SMALL_PRODUCT = 1 << 18


# ---------------------------------------------------------------- designs


def kaiser_lowpass(numtaps: int, cutoff: float, fs: float, beta: float) -> np.ndarray:
    """A linear-phase FIR lowpass, unity gain at DC: scipy.signal.firwin(numtaps, cutoff, fs=fs,
    window=("kaiser", beta))."""
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    c = cutoff / (0.5 * fs)
    taps = c * np.sinc(c * m) * np.kaiser(numtaps, beta)
    return taps / taps.sum()


def butter(
    order: int, freqs: float | tuple[float, float], kind: str, fs: float
) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth (b, a) for kind 'lowpass', 'highpass' or 'bandpass': scipy.signal.butter's design
    (analog prototype, prewarped band edges, bilinear transform)."""
    warped = 4.0 * np.tan(
        np.pi * np.atleast_1d(np.asarray(freqs, dtype=np.float64)) / fs
    )  # at fs = 2, as scipy
    poles = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    zeros, gain = np.zeros(0, dtype=complex), 1.0
    if kind == "lowpass":
        poles, gain = poles * warped[0], warped[0] ** order
    elif kind == "highpass":
        gain = float(np.real(1.0 / np.prod(-poles)))
        poles, zeros = warped[0] / poles, np.zeros(order, dtype=complex)
    elif kind == "bandpass":
        width, centre = warped[1] - warped[0], np.sqrt(warped[0] * warped[1])
        half = poles * width / 2
        root = np.sqrt(half**2 - centre**2)
        poles, zeros, gain = (
            np.concatenate([half + root, half - root]),
            np.zeros(order, dtype=complex),
            width**order,
        )
    else:
        raise ValueError(f"unknown filter kind {kind!r}")
    # Bilinear transform at fs = 2; zeros at infinity land at Nyquist.
    gain = gain * float(np.real(np.prod(4.0 - zeros) / np.prod(4.0 - poles)))
    zeros_z = np.concatenate([(4.0 + zeros) / (4.0 - zeros), -np.ones(len(poles) - len(zeros))])
    poles_z = (4.0 + poles) / (4.0 - poles)
    return np.real(gain * np.poly(zeros_z)), np.real(np.poly(poles_z))


@functools.cache
def normal_quantiles(count: int) -> np.ndarray:
    """The standard normal distribution's quantiles at the midpoints of `count` equal steps (float64)."""
    quantile = statistics.NormalDist().inv_cdf
    return np.array([quantile((i + 0.5) / count) for i in range(count)])


# ---------------------------------------------------------------- IIR filtering


class IIRFilter:
    """scipy.signal.lfilter (one section) or sosfilt (several) along the rows of (channels, frames)
    blocks, its state carried across blocks.

    The recursion runs chunk by chunk in matrix form: a CHUNK-frame chunk's output is its own
    input through the impulse response (a Toeplitz product) plus the state it starts from
    through the filter's free response, and the states at the chunk edges come from a prefix
    scan with the chunk's transition matrix. Exact (no truncated impulse response); small
    matrix products do the work of lfilter's scalar loop.
    """

    CHUNK = 32

    def __init__(self, sections: list[tuple], channels: int, dtype=np.float64) -> None:
        """`sections`: (b, a) pairs applied in turn (second-order sections keep poles near the unit
        circle accurate, as with sosfilt)."""
        design = _chunk_design(
            tuple((tuple(map(float, b)), tuple(map(float, a))) for b, a in sections), self.CHUNK
        )
        self.b, self.a, self.powers, self.free, self.toeplitz, self.into_state = design
        self.typed = [m.astype(dtype) for m in (self.toeplitz, self.into_state, self.free)]
        self.dtype, self.order = dtype, len(self.free)
        self.state = np.zeros((channels, self.order))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Filter (channels, frames); returns (channels, frames) in the filter's dtype."""
        channels, n = rows.shape
        chunk, order = self.CHUNK, self.order
        toeplitz, into_state, free = self.typed
        whole = n // chunk
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        y = np.empty((channels, n), dtype=self.dtype)
        if whole:
            x3 = rows[:, : whole * chunk].reshape(channels, whole, chunk)
            y3 = y[:, : whole * chunk].reshape(channels, whole, chunk)
            states = np.empty((channels, whole + 1, order))
            states[:, 0] = self.state
            piece = max(1, SMALL_PRODUCT // (chunk * chunk))
            for c in range(channels):
                for i in range(0, whole, piece):
                    np.matmul(x3[c, i : i + piece], toeplitz, out=y3[c, i : i + piece])
            states[:, 1:] = x3 @ into_state  # what each chunk's inputs add to the state at its end
            # The state before each chunk: s[c+1] = A^chunk s[c] + e[c], by a Hillis-Steele scan (rows: s^T).
            step, power = 1, self.powers[chunk].T
            while step <= whole:
                states[:, step:] = states[:, step:] + states[:, :-step] @ power
                power = power @ power
                power[np.abs(power) < 1e-30] = 0.0  # decayed: spare the arithmetic on subnormal numbers
                step *= 2
            for c in range(channels):
                y3[c] += states[c, :whole].astype(self.dtype) @ free
            self.state = states[:, whole]
        rest = n - whole * chunk
        if rest:
            tail = rows[:, whole * chunk :].astype(np.float64)
            y[:, whole * chunk :] = tail @ self.toeplitz[:rest, :rest] + self.state @ self.free[:, :rest]
            # Input j of `rest` reaches the end through A^(rest-1-j): the last `rest` rows of the table.
            self.state = self.state @ self.powers[rest].T + tail @ self.into_state[chunk - rest :]
        self.state[np.abs(self.state) < 1e-30] = 0.0  # 600 dB down: exact silence, never subnormal
        return y


@functools.lru_cache(maxsize=64)  # a bed makes the same few filters for every pass and every session
def _chunk_design(sections: tuple, chunk: int) -> tuple:
    """The whole filter's (b, a), then A^0..A^chunk, the free response, the Toeplitz impulse
    response and each input's share of the end state (see IIRFilter), all float64."""
    transition, drive, out, direct = np.zeros((0, 0)), np.zeros(0), np.zeros(0), 1.0
    whole_b, whole_a = np.ones(1), np.ones(1)  # a[0] = 1
    for b, a in sections:
        whole_b, whole_a = np.convolve(whole_b, np.divide(b, a[0])), np.convolve(whole_a, np.divide(a, a[0]))
        A, B, C, D = _state_space(b, a)
        # This section takes the previous output (out·z + direct·x) as its input.
        n, m = len(transition), len(A)
        joined = np.zeros((n + m, n + m))
        joined[:n, :n], joined[n:, :n], joined[n:, n:] = transition, np.outer(B, out), A
        transition, drive = joined, np.concatenate([drive, B * direct])
        out, direct = np.concatenate([D * out, C]), D * direct
    powers = [np.eye(len(transition))]  # A^k, k = 0..chunk
    for _ in range(chunk):
        powers.append(transition @ powers[-1])
    free = np.array(
        [out @ power for power in powers[:chunk]]
    ).T  # (order, chunk): output per unit of start state
    impulse = np.concatenate([[direct], drive @ free[:, : chunk - 1]])
    lags = np.subtract.outer(np.arange(chunk), np.arange(chunk))  # [input j, output k]: j - k
    toeplitz = np.where(lags <= 0, impulse[np.clip(-lags, 0, None)], 0.0)  # [input j, output k]
    into_state = np.array([powers[chunk - 1 - j] @ drive for j in range(chunk)])  # (chunk, order)
    design = (whole_b, whole_a, *powers, free, toeplitz, into_state)
    for array in design:
        array.flags.writeable = False  # shared by every filter made from these coefficients
    return whole_b, whole_a, powers, free, toeplitz, into_state


def _state_space(b, a) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(A, B, C, D) of lfilter's transposed direct form II: y = C·z + D·x, then z <- A·z + B·x."""
    b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
    b, a = b / a[0], a / a[0]
    order = max(len(a), len(b)) - 1
    b, a = np.pad(b, (0, order + 1 - len(b))), np.pad(a, (0, order + 1 - len(a)))
    # y = z0 + b0·x, then z_i <- z_(i+1) + b_(i+1)·x - a_(i+1)·y.
    transition = np.zeros((order, order))
    transition[:, 0] = -a[1:]
    transition[np.arange(order - 1), np.arange(1, order)] = 1.0
    out = np.zeros(order)
    out[:1] = 1.0
    return transition, b[1:] - a[1:] * b[0], out, float(b[0])


# ---------------------------------------------------------------- resampling


def resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """1-D `x` resampled by up/down: scipy.signal.resample_poly(x, up, down) (Kaiser window, beta 5,
    zeros beyond the ends), float64. Each output sample is one of `up` short polyphase filters
    applied to the input samples around it; outputs of one phase step through the input evenly."""
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return np.asarray(x, dtype=np.float64).copy()
    n_in = len(x)
    n_out = -(-n_in * up // down)
    half_len = 10 * max(up, down)
    h = kaiser_lowpass(2 * half_len + 1, 1.0 / max(up, down), 2.0, 5.0) * up
    pre_pad = down - half_len % down
    h = np.concatenate([np.zeros(pre_pad), h])
    first = (half_len + pre_pad) // down  # scipy's first kept output of the full polyphase convolution
    taps = -(-len(h) // up)
    phases = np.zeros((up, taps))
    for r in range(up):
        phases[r, : len(h[r::up])] = h[r::up]
    # Output k of the full convolution is sum_t phases[k % up, t] * x[k // up - t].
    last_base = ((first + n_out - 1) * down) // up
    padded = np.concatenate(
        [np.zeros(taps - 1), np.asarray(x, dtype=np.float64), np.zeros(max(0, last_base - n_in + 1))]
    )
    windows = sliding_window_view(padded, taps)  # windows[s] holds x[s - taps + 1 .. s]
    y = np.empty(n_out)
    for i in range(min(up, n_out)):
        k = (first + i) * down
        count = len(range(i, n_out, up))
        y[i::up] = windows[k // up :: down][:count] @ phases[k % up, ::-1]
    return y


# ---------------------------------------------------------------- running extremes and means


def window_max(x: np.ndarray, width: int) -> np.ndarray:
    """out[i] = max(x[i : i + width]) for every full window."""
    return _window_extreme(x, width, np.maximum)


def window_min(x: np.ndarray, width: int) -> np.ndarray:
    """out[i] = min(x[i : i + width]) for every full window."""
    return _window_extreme(x, width, np.minimum)


def _window_extreme(x: np.ndarray, width: int, op: np.ufunc) -> np.ndarray:
    """By doubling: spans of 1, 2, 4, ... frames, each from two of the last; a window is two
    overlapping spans (a max or min does not mind the overlap). log2(width) whole-array passes."""
    count = len(x) - width + 1
    if count <= 0:
        return np.zeros(0, dtype=x.dtype)
    spans, size = x, 1
    while 2 * size <= width:
        spans = op(spans[:-size], spans[size:])  # spans[i] covers x[i : i + 2 * size]
        size *= 2
    return op(spans[:count], spans[width - size : width - size + count])


def centred_min(x: np.ndarray, width: int) -> np.ndarray:
    """scipy.ndimage.minimum_filter1d(x, width, mode="nearest") for odd `width`."""
    half = width // 2
    return window_min(np.pad(x, half, mode="edge"), width)


def centred_mean(x: np.ndarray, width: int) -> np.ndarray:
    """scipy.ndimage.uniform_filter1d(x, width, mode="nearest") for odd `width`, in x's dtype."""
    half = width // 2
    sums = np.concatenate([[0.0], np.cumsum(np.pad(x.astype(np.float64), half, mode="edge"))])
    return ((sums[width:] - sums[:-width]) / width).astype(x.dtype)

"""Background stage: seeded, reproducible sound beds generated block by block.

A bed is one or more layers joined with '+', e.g. ``pink+drone``, ``rain+theta``,
``binaural:200:6`` or ``music.ogg+bells``. Every layer keeps its own state
(filter memory, phase, read position) across blocks, so a bed of any length
costs the memory of one block, and the same seed gives the same samples.
Blocks are float32, (frames, 2); `Bed.channels` says whether the bed is really
stereo (1 when every layer is mono, e.g. a mono music file or ``none``).
"""

from __future__ import annotations

import abc
import copy
import functools
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogen.dsp import SMALL_PRODUCT, IIRFilter, butter, normal_quantiles
from audiogen.errors import AudioError
from audiogen.tools import decode_command

# Pink-noise filter (J. O. Smith, "Spectral Audio Signal Processing": a 3-pole/3-zero fit to 1/f).
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
LAYER_RMS = 0.1  # every layer is scaled to this RMS before the mixer sets the bed level
BINAURAL_PRESETS = {  # name: (carrier Hz, beat Hz, what the beat range is associated with)
    "delta": (180.0, 2.5, "delta, deep sleep"),
    "theta": (200.0, 6.0, "theta, deep relaxation"),
    "alpha": (220.0, 10.0, "alpha, calm wakefulness"),
}
CARRIER_RANGE, BEAT_RANGE = (40.0, 1500.0), (0.5, 40.0)
HOLD_SECONDS = 60.0  # a background file up to this long is decoded once and kept; longer ones stream
CROSSFADE_SECONDS = 3.0  # the loop seam of a background file (at most a quarter of the file)
SEAM_SEARCH_SECONDS = 0.25  # the loop may end up to this much early, where it best matches its start


@dataclass(frozen=True)
class LayerInfo:
    name: str
    description: str


# Gaussian white noise: 16-bit random numbers index a table of the normal distribution's quantiles.
# A sixth of the CPU of rng.standard_normal, which was most of a noise layer's cost; the tails end at
# 4.3 sigma, a difference no filter here and no listener can tell.
_QUANTILES = normal_quantiles(1 << 16)
_QUANTILES = (_QUANTILES / np.sqrt(np.mean(_QUANTILES**2))).astype(np.float32)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gaussian white noise, float32: each raw 64-bit draw gives four table indices."""
    size = int(np.prod(shape))
    return _QUANTILES.take(rng.bit_generator.random_raw(-(-size // 4)).view(np.uint16)[:size].reshape(shape))


def _float32_filter(b, a, channels: int = 2) -> IIRFilter:
    """An IIR filter over (channels, n) blocks, its memory carried from block to block, in float32
    (twice as fast as float64; rounding moves these responses by under 0.02 dB)."""
    return IIRFilter([(b, a)], channels, np.float32)


def _frames(rows: np.ndarray, gain: float) -> np.ndarray:
    """(channels, n) times `gain`, as (n, channels) C-ordered: channel by channel into the columns,
    three times faster than one multiply across the transposed array."""
    out = np.empty(rows.shape[::-1], dtype=np.float32)
    for channel, row in enumerate(rows):
        np.multiply(row, np.float32(gain), out=out[:, channel])
    return out


class _Layer(abc.ABC):
    channels = 2
    note = ""

    @abc.abstractmethod
    def block(self, n: int, sample_rate: int) -> np.ndarray:
        """The next `n` frames, (n, channels) float32, an array of its own the caller may change."""

    def skip(self, n: int, sample_rate: int) -> None:
        """Move on `n` frames without making them (planning samples a bed here and there)."""
        self.block(n, sample_rate)

    # A hook with a default that does nothing (the base class is not abstract): subclasses may override.
    def close(self) -> None:  # noqa: B027
        """Release what the layer holds open; procedural layers hold nothing."""


class _ClockedLayer(_Layer):
    """A layer whose sound is a function of the frame number (`offset`): skipping is counting."""

    offset = 0

    def skip(self, n: int, sample_rate: int) -> None:
        self.offset += n


class _NoiseLayer(_Layer):
    """White noise through a fixed filter (none for white), independent per channel (a wide stereo image)."""

    def __init__(self, rng: np.random.Generator, norm: float, b=None, a=None) -> None:
        self.rng, self.norm = rng, np.float32(norm)
        self.filter = _float32_filter(b, a) if b is not None else None

    def skip(self, n: int, sample_rate: int) -> None:
        pass  # steady: any stretch is like any other

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        out = _normal(self.rng, (2, n))
        if self.filter:
            out = self.filter(out)
        return _frames(out, self.norm)


class _Sines:
    """A fixed sum of sinusoids per channel, rendered for any run of frames without phase drift.

    Frames are cut into segments of SEGMENT frames, counted from the block's start. A sinusoid's phase at
    a segment's first frame is reduced in float64 from the absolute frame index, so it is exact after
    hours; within the segment sin(a + j·d) = sin a·cos(j·d) + cos a·sin(j·d), with cos(j·d) and sin(j·d)
    tabled once. A block is then a matrix product per channel, (segments x 2·sinusoids) by
    (2·sinusoids x SEGMENT), instead of an np.sin over every frame of every sinusoid.
    """

    SEGMENT = 882  # 20 ms

    def __init__(self, sides: list[list[tuple[float, float, float]]], sample_rate: int) -> None:
        """`sides`: per channel, its sinusoids as (Hz, radians at frame 0, amplitude)."""
        freqs, phases, amps = np.moveaxis(
            np.array(sides, dtype=np.float64), 2, 0
        )  # each (channels, sinusoids)
        self.steps = 2 * np.pi * freqs / sample_rate  # radians per frame
        self.phases, self.amps = (
            phases,
            np.concatenate([amps, amps], axis=1),
        )  # for the sin and the cos weights
        angle = self.steps[:, :, None] * np.arange(self.SEGMENT)
        self.table = np.concatenate([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
        self.rows = max(1, SMALL_PRODUCT // (self.table.shape[1] * self.SEGMENT))  # segments per product

    def render(self, start: int, n: int) -> np.ndarray:
        """Frames [start, start + n) as (n, channels) float32."""
        segments = -(-n // self.SEGMENT)
        firsts = start + self.SEGMENT * np.arange(segments)
        a = (self.steps[:, :, None] * firsts + self.phases[:, :, None]) % (
            2 * np.pi
        )  # (channels, sines, segments)
        weights = (np.concatenate([np.sin(a), np.cos(a)], axis=1) * self.amps[:, :, None]).astype(np.float32)
        out = np.empty((segments, self.SEGMENT, len(self.table)), dtype=np.float32)
        for channel, (w, table) in enumerate(zip(weights, self.table)):
            for i in range(0, segments, self.rows):
                out[i : i + self.rows, :, channel] = w[:, i : i + self.rows].T @ table
        return out.reshape(-1, len(self.table))[:n]


class _DroneLayer(_ClockedLayer):
    """A soft pad: a low root, its fifth and octave, each breathing at its own slow rate."""

    PARTIALS = ((110.0, 1.0, 0.050), (164.81, 0.5, 0.070), (220.0, 0.35, 0.031), (329.63, 0.12, 0.043))

    def __init__(self, rng: np.random.Generator, sample_rate: int) -> None:
        self.offset = 0
        self.phases = rng.uniform(0, 2 * np.pi, size=(len(self.PARTIALS), 2))
        total = np.sqrt(sum(a * a for _, a, _ in self.PARTIALS) / 2 * (0.6**2 + 0.4**2 / 2))
        # Each partial is amp·(0.6 + 0.4·sin swell)·sin carrier. The swell is a sine too, so the product
        # is three steady sines: 0.6·amp·sin c + 0.2·amp·sin(c - s + π/2) + 0.2·amp·sin(c + s - π/2).
        sides = []
        for detune in (-0.15, 0.15):  # a slight detune per side adds width
            sines = []
            for (freq, amp, lfo), (carrier, swell) in zip(self.PARTIALS, self.phases):
                f, a = freq + detune, amp * LAYER_RMS / total
                sines += [
                    (f, carrier, 0.6 * a),
                    (f - lfo, carrier - swell + np.pi / 2, 0.2 * a),
                    (f + lfo, carrier + swell - np.pi / 2, 0.2 * a),
                ]
            sides.append(sines)
        self.sines = _Sines(sides, sample_rate)

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        start, self.offset = self.offset, self.offset + n
        return self.sines.render(start, n)


KNOT = 441  # slow curves (swells, waves) are computed every 10 ms and joined by straight lines


def _slow_curve(curve: Callable, start: int, n: int, sample_rate: int) -> np.ndarray:
    """`curve` (seconds -> (rows, times)) for frames [start, start + n), as float32 (rows, n).

    The curves it serves move at a fraction of a hertz: evaluated every KNOT frames and joined by
    straight lines they stay within 1e-4 of themselves, for a fraction of the cost of every frame. The
    knots sit at multiples of KNOT frames from the session's start, wherever blocks begin.
    """
    first, last = start // KNOT, -(-(start + n) // KNOT)
    values = np.atleast_2d(curve(np.arange(first, last + 1) * KNOT / sample_rate)).astype(np.float32)
    ramp = np.arange(KNOT, dtype=np.float32) / np.float32(KNOT)
    lines = values[:, :-1, None] + (values[:, 1:] - values[:, :-1])[:, :, None] * ramp
    skip = start - first * KNOT
    return lines.reshape(len(values), -1)[:, skip : skip + n]


def _slow_swell(t: np.ndarray, rates: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """A smooth, irregular 0..1 curve: a sum of slow sines at unrelated rates."""
    curve = sum(np.sin(2 * np.pi * r * t + p) for r, p in zip(rates, phases)) / len(rates)
    return 0.5 + 0.5 * curve


class _RainLayer(_ClockedLayer):
    """Rain: a band of hiss that swells slowly, with drops pattering on top."""

    def __init__(self, rng: np.random.Generator, sample_rate: int) -> None:
        self.rng, self.offset = rng, 0
        self.hiss = _float32_filter(*butter(2, (600, 7000), "bandpass", sample_rate))
        self.patter = _float32_filter(*butter(2, 2500, "highpass", sample_rate))
        self.decay = np.exp(-1 / (0.012 * sample_rate))  # each drop rings ~12 ms
        self.powers = np.ones(0, dtype=np.float32)  # decay ** k, grown to the longest block
        self.drop_level = [0.0, 0.0]  # per side, the drops' envelope at the next block's first frame
        self.drop_rate = 40.0 / sample_rate  # drops per frame and side
        self.rates = rng.uniform(0.03, 0.15, 3)
        self.phases = rng.uniform(0, 2 * np.pi, 3)

    def _drops(self, n: int) -> np.ndarray:
        """The drops' envelope, (2, n): each drop jumps up by its size (0..1), then dies away by
        `decay` a frame.

        Drops are sparse, so each side draws how many fall in the block and where, rather than a random
        number per frame; between two drops the envelope is the level after the first times a power of
        `decay` (from a table), rather than a filter run over frames that are nearly all zero.
        """
        if len(self.powers) < n:
            self.powers = (self.decay ** np.arange(n)).astype(np.float32)
        env = np.empty((2, n), dtype=np.float32)
        for side in range(2):
            count = self.rng.poisson(self.drop_rate * n)
            at, sizes = np.sort(self.rng.integers(0, n, count)).tolist(), self.rng.random(count).tolist()
            level, begin = self.drop_level[side], 0
            for frame, size in zip(
                at + [n], sizes + [0.0]
            ):  # each stretch up to the next drop, then the drop
                np.multiply(self.powers[: frame - begin], level, out=env[side, begin:frame])
                level = level * self.decay ** (frame - begin) + size
                begin = frame
            self.drop_level[side] = level
        return env

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        start, self.offset = self.offset, self.offset + n
        # Band-limited unit noise has RMS ~0.6 here, the drop envelope ~0.35.
        out = self.hiss(_normal(self.rng, (2, n)))
        out *= np.float32(0.75 / 0.6)
        patter = self.patter(_normal(self.rng, (2, n)))
        patter *= self._drops(n)
        patter *= np.float32(0.6 / (0.35 * 0.7))
        out += patter
        # The slow swell, and 1/6 ahead of a soft ceiling at 6x the RMS: a cluster of loud drops must
        # not crackle over the voice.
        out *= _slow_curve(
            lambda t: (0.7 + 0.3 * _slow_swell(t, self.rates, self.phases)) / 6, start, n, sample_rate
        )
        np.tanh(out, out=out)
        return _frames(
            out, 6 * LAYER_RMS / 0.885
        )  # the RMS under the ceiling is 0.885 (measured: 6 seeds x 20 min)


class _OceanLayer(_ClockedLayer):
    """Ocean: a low rumble under a brighter wash that rises and falls like waves (~7-13 s)."""

    def __init__(self, rng: np.random.Generator, sample_rate: int) -> None:
        self.rng, self.offset = rng, 0
        self.low = _float32_filter(*butter(2, 350, "lowpass", sample_rate))
        self.wash = _float32_filter(*butter(2, (300, 2500), "bandpass", sample_rate))
        self.wave_rate = rng.uniform(1 / 13, 1 / 7)
        self.drift_rates = rng.uniform(0.005, 0.02, 2)
        self.phases = rng.uniform(0, 2 * np.pi, 4)

    def _wash_gain(self, t: np.ndarray) -> np.ndarray:
        """The wash's gain on each side at times `t`, (2, len(t)): the waves, over the wash's noise gain."""
        # The wave rate drifts by up to 15 % around its own, so no two waves are quite alike; the two
        # sides lag a little. The phase is the integral of that rate (rate * t * (1 + drift) would
        # speed the waves up with the time since the start: a flutter of several hertz after an hour).
        rate, drift_rate = self.wave_rate, self.drift_rates[0]
        phase = (
            2 * np.pi * rate * t
            - 0.15 * rate / drift_rate * np.cos(2 * np.pi * drift_rate * t + self.phases[0])
            + self.phases[1]
        )
        waves = np.stack([(0.5 - 0.5 * np.cos(phase + lag)) ** 2 for lag in (0.0, 0.35)])
        return (0.1 + 1.4 * waves) / 0.32

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        start, self.offset = self.offset, self.offset + n
        # Each part scaled to unit RMS (its filter's noise gain); the sum's RMS is then about 1.0 (measured).
        out = self.low(_normal(self.rng, (2, n)))
        out *= np.float32(0.55 / 0.13)
        wash = self.wash(_normal(self.rng, (2, n)))
        wash *= _slow_curve(self._wash_gain, start, n, sample_rate)
        out += wash
        return _frames(out, LAYER_RMS)


class _BinauralLayer(_ClockedLayer):
    """Binaural beats: a pure carrier in the left ear, carrier + beat in the right."""

    def __init__(self, carrier: float, beat: float, label: str, sample_rate: int) -> None:
        self.offset = 0
        amplitude = LAYER_RMS * np.sqrt(2)
        self.sines = _Sines([[(carrier, 0.0, amplitude)], [(carrier + beat, 0.0, amplitude)]], sample_rate)
        self.note = (
            f"Binaural beats ({label}: {carrier:g} Hz left, {carrier + beat:g} Hz right, "
            f"a {beat:g} Hz beat) work only through headphones."
        )

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        start, self.offset = self.offset, self.offset + n
        return self.sines.render(start, n)


class _SilentLayer(_Layer):
    """No continuous sound: `none` (voice only) and `bells` (strikes placed by the mixer)."""

    channels = 1

    def skip(self, n: int, sample_rate: int) -> None:
        pass  # steady: any stretch is like any other

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        return np.zeros((n, 2), dtype=np.float32)


# ---------------------------------------------------------------- the user's own file


@dataclass(frozen=True)
class _FileAnalysis:
    frames: int
    rms: float
    mono: bool
    head: np.ndarray  # the first `crossfade` frames
    tail: np.ndarray  # the `crossfade` frames that follow the loop's end, frames [period, period + crossfade)
    period: int  # frames in one pass of the loop
    held: np.ndarray | None  # the whole file when it is short enough to keep


def _decoder(path: Path, sample_rate: int, errors=subprocess.DEVNULL) -> subprocess.Popen:
    """ffmpeg decoding the file's first audio stream to stereo float32 at the session's rate.

    Its messages go to a file, never to a pipe nobody reads while the samples are read.
    """
    command = decode_command(path, "f32le", 2, sample_rate)
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)


def _read_frames(process: subprocess.Popen, frames: int) -> np.ndarray:
    data = process.stdout.read(frames * 8)
    return np.frombuffer(data[: len(data) // 8 * 8], dtype="<f4").reshape(-1, 2)


def _file_error(path: Path, reason: str) -> AudioError:
    return AudioError(
        f"{path}: cannot use this background file ({reason}); "
        "give a readable audio file or a name from `audiogen backgrounds`"
    )


@functools.lru_cache(maxsize=2)
def _analyse(path: Path, mtime: float, sample_rate: int) -> _FileAnalysis:
    """One streaming pass over the file: length, level, mono or not, the seam's two ends."""
    with tempfile.TemporaryFile() as errors:
        process = _decoder(path, sample_rate, errors)
        try:
            result = _scan(process, sample_rate)
        finally:
            process.stdout.close()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()
    frames, rms, mono, head, tail, held = result
    if process.returncode != 0 or frames == 0:
        raise _file_error(path, message.splitlines()[-1] if message else "no audio in it")
    if frames < sample_rate // 2:
        raise _file_error(path, "shorter than half a second")
    if rms < 1e-5:
        raise _file_error(path, "it is silent")
    crossfade_max, search_max = int(CROSSFADE_SECONDS * sample_rate), int(SEAM_SEARCH_SECONDS * sample_rate)
    crossfade = min(crossfade_max, frames // 4)
    head = head[:crossfade]
    shift = _best_seam_shift(tail[len(tail) - crossfade - min(search_max, frames // 8) :], head)
    end = len(tail) - shift
    return _FileAnalysis(
        frames, rms, mono, head, tail[end - crossfade : end], frames - shift - crossfade, held
    )


def _scan(process: subprocess.Popen, sample_rate: int):
    """Read the decoder to its end, keeping only running sums, the two ends, and a short file whole."""
    chunk = sample_rate * 5
    crossfade_max = int(CROSSFADE_SECONDS * sample_rate)
    search_max = int(SEAM_SEARCH_SECONDS * sample_rate)
    frames, squares, mono = 0, 0.0, True
    head = np.zeros((0, 2), dtype=np.float32)
    tail = np.zeros((0, 2), dtype=np.float32)
    held: list[np.ndarray] | None = []
    while True:
        block = _read_frames(process, chunk)
        if not len(block):
            break
        frames += len(block)
        squares += float(np.sum(block.astype(np.float64) ** 2))
        mono = mono and bool(np.array_equal(block[:, 0], block[:, 1]))
        if len(head) < crossfade_max:
            head = np.concatenate([head, block[: crossfade_max - len(head)]])
        tail = np.concatenate([tail, block])[-(crossfade_max + search_max) :]
        if held is not None and frames > HOLD_SECONDS * sample_rate:
            held = None  # too long to keep: it will be decoded again for every pass
        if held is not None:
            held.append(block)
    process.wait()
    rms = float(np.sqrt(squares / (2 * frames))) if frames else 0.0
    return frames, rms, mono, head, tail, np.concatenate(held) if held else None


def _best_seam_shift(tail: np.ndarray, head: np.ndarray) -> int:
    """How many frames to drop from the file's end so that its last stretch best matches its start.

    Normalised cross-correlation of the (mono) ends over every shift, by FFT:
    a loop that ends in step with its start crossfades without a dip.
    """
    n, c = len(tail), len(head)
    if n <= c:
        return 0
    a, b = tail.astype(np.float64).sum(axis=1), head.astype(np.float64).sum(axis=1)
    size = 1 << int(np.ceil(np.log2(n + c)))
    # dot[k] = sum_i a[k + i] * b[i] for every start k of a c-frame window in a.
    dot = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)[: n - c + 1]
    energy = np.concatenate([[0.0], np.cumsum(a * a)])
    window = energy[c:] - energy[: n - c + 1]
    score = dot / np.sqrt(np.maximum(window * float(np.sum(b * b)), 1e-20))
    start = int(np.argmax(score))
    return n - c - start


def seam_crossfade(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Blend the end of a loop into its start with constant power for their correlation.

    Gains g_out, g_in keep g_out² + g_in² + 2·r·g_out·g_in = 1: linear for
    identical material (r = 1, no bump), equal-power for unrelated material (r = 0, no dip).
    """
    x = ((np.arange(len(head)) + 0.5) / len(head))[:, None]
    energy = float(np.sqrt(np.sum(tail.astype(np.float64) ** 2) * np.sum(head.astype(np.float64) ** 2)))
    r = float(np.clip(np.sum(tail.astype(np.float64) * head) / energy, 0.0, 1.0)) if energy > 0 else 0.0
    x = 0.5 - 0.5 * np.cos(np.pi * x)  # an S-curve: the gains start and end without a corner
    norm = np.sqrt(x**2 + (1 - x) ** 2 + 2 * r * x * (1 - x))
    return ((tail * (1 - x) + head * x) / norm).astype(np.float32)


class _FileLayer(_Layer):
    """The user's own audio file, looped to any length with a crossfaded seam.

    The loop is the file's frames [0, P), P = length - crossfade - a small
    shift that puts the seam where the file's end best matches its start; from
    the second pass on, its first `crossfade` frames are the ones that follow P
    blended into the file's first ones. Short files are held in memory; long ones are decoded
    again for every pass, so memory stays bounded whatever their length.
    """

    def __init__(self, path: Path, sample_rate: int, info: _FileAnalysis, seam: np.ndarray) -> None:
        self.path, self.sample_rate, self.info = path, sample_rate, info
        self.channels = 1 if info.mono else 2
        self.gain = np.float32(LAYER_RMS / info.rms)
        self.period = info.period
        self.seam = seam
        self.passes = 0
        self.position = 0  # in the current pass
        self.process: subprocess.Popen | None = None

    @classmethod
    def maker(cls, path: Path, sample_rate: int) -> Callable[[], _FileLayer]:
        """Makes the layer from its first frame; the file is analysed here, once, not per layer."""
        if not path.is_file():
            raise _file_error(path, "no such file")
        try:
            info = _analyse(path.resolve(), path.stat().st_mtime, sample_rate)
        except OSError as exc:
            raise _file_error(path, exc.strerror or str(exc)) from None
        seam = seam_crossfade(info.tail, info.head)
        return lambda: cls(path, sample_rate, info, seam)

    def _chunk(self, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) of the current pass, stop <= period."""
        info = self.info
        if info.held is not None:
            out = info.held[start:stop].copy()
        else:
            if self.process is None:
                self.process = _decoder(self.path, self.sample_rate)
            out = _read_frames(self.process, stop - start).copy()
            if len(out) < stop - start:  # the decoder gave less than the analysis: pad, never loop early
                out = np.concatenate([out, np.zeros((stop - start - len(out), 2), dtype=np.float32)])
        if self.passes and start < len(self.seam):
            end = min(stop, len(self.seam))
            out[: end - start] = self.seam[start:end]
        return out

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        parts = []
        while n:
            take = min(n, self.period - self.position)
            parts.append(self._chunk(self.position, self.position + take))
            self.position += take
            n -= take
            if self.position == self.period:
                self.close()
                self.passes, self.position = self.passes + 1, 0
        return np.concatenate(parts) * self.gain

    def skip(self, n: int, sample_rate: int) -> None:
        if self.info.held is None:  # a streamed file is decoded through
            super().skip(n, sample_rate)
            return
        total = self.position + n
        self.passes, self.position = self.passes + total // self.period, total % self.period

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process.stdout.close()
            self.process = None


# ---------------------------------------------------------------- the catalogue


def _white(rng, rate):
    return _NoiseLayer(rng, LAYER_RMS)


def _pink(rng, rate):
    # The filter's noise gain, sqrt(sum h^2) of its impulse response, is 0.0862.
    return _NoiseLayer(rng, LAYER_RMS / 0.0862, _PINK_B, _PINK_A)


def _brown(rng, rate):
    # A leaky integrator: 1/f^2 below a few hertz without drifting off.
    return _NoiseLayer(rng, LAYER_RMS / 0.316, [0.02], [1.0, -0.998])


def _binaural(carrier: float, beat: float, label: str) -> Callable:
    return lambda rng, rate: _BinauralLayer(carrier, beat, label, rate)


LAYERS: dict[str, tuple[str, Callable]] = {
    "white": ("white noise: even hiss across all frequencies", _white),
    "pink": ("pink noise: a soft, balanced hush, like distant wind", _pink),
    "brown": ("brown noise: a deep, low rumble", _brown),
    "rain": ("steady rain: a swelling hiss with drops pattering", lambda rng, rate: _RainLayer(rng, rate)),
    "ocean": (
        "ocean waves: a low rumble under a wash that rises and falls",
        lambda rng, rate: _OceanLayer(rng, rate),
    ),
    "drone": ("a soft harmonic drone on A, slowly breathing", lambda rng, rate: _DroneLayer(rng, rate)),
    **{
        name: (
            f"binaural beats, {label} ({carrier:g} Hz carrier, {beat:g} Hz beat; headphones)",
            _binaural(carrier, beat, name),
        )
        for name, (carrier, beat, label) in BINAURAL_PRESETS.items()
    },
    "bells": (
        "a soft singing-bowl strike at every chapter change (start and end bells come from the script)",
        lambda rng, rate: _SilentLayer(),
    ),
    "none": ("no background: the voice alone, in mono", lambda rng, rate: _SilentLayer()),
}
# Relative levels of layers in a bed, in dB (the drone and the beats sit under the texture).
LAYER_GAIN_DB = {"drone": -6.0, "binaural": -4.0, "file": 0.0}


def list_backgrounds() -> list[LayerInfo]:
    infos = [LayerInfo(name, description) for name, (description, _) in LAYERS.items()]
    return infos + [
        LayerInfo(
            "binaural:C:B", "binaural beats with your own carrier C and beat B in Hz, e.g. binaural:200:6"
        ),
        LayerInfo("PATH", "your own audio file (any format ffmpeg reads), looped with a crossfade"),
    ]


def _binaural_from(name: str) -> Callable:
    """`binaural`, `binaural:C:B` (carrier, beat) or `binaural:PRESET`."""
    parts = name.split(":")[1:]
    if len(parts) == 1 and parts[0] in BINAURAL_PRESETS:
        carrier, beat, _ = BINAURAL_PRESETS[parts[0]]
        return _binaural(carrier, beat, parts[0])
    if not parts:
        return LAYERS["theta"][1]
    try:
        carrier, beat = (float(p) for p in parts)
    except ValueError:
        raise AudioError(
            f"background {name!r}: write binaural:CARRIER:BEAT in Hz, e.g. binaural:200:6"
        ) from None
    if not (CARRIER_RANGE[0] <= carrier <= CARRIER_RANGE[1] and BEAT_RANGE[0] <= beat <= BEAT_RANGE[1]):
        raise AudioError(
            f"background {name!r}: the carrier must be {CARRIER_RANGE[0]:g}-{CARRIER_RANGE[1]:g} Hz and "
            f"the beat {BEAT_RANGE[0]:g}-{BEAT_RANGE[1]:g} Hz, e.g. binaural:200:6"
        )
    label = next(
        (
            n
            for n, (_, (lo, hi)) in zip(
                ("delta", "theta", "alpha", "beta"), enumerate(((0, 4), (4, 8), (8, 13), (13, 99)))
            )
            if lo <= beat < hi
        ),
        "beat",
    )
    return _binaural(carrier, beat, label)


def _looks_like_file(name: str) -> bool:
    return "/" in name or os.sep in name or Path(name).suffix != "" or Path(name).is_file()


def _layer_kind(name: str) -> str:
    if name.startswith("binaural") or name in BINAURAL_PRESETS:
        return "binaural"
    return name


def _layer_maker(part: str, stream: np.random.SeedSequence, sample_rate: int) -> tuple[Callable, str]:
    """A function making one layer from its first frame, and the layer's kind; a bad name fails."""
    name = part.lower()
    if name.startswith("binaural"):
        make = _binaural_from(name)
    elif name in LAYERS:
        make = LAYERS[name][1]
    elif _looks_like_file(part):
        return _FileLayer.maker(Path(part).expanduser(), sample_rate), "file"
    else:
        raise _unknown(part)
    # PCG64 (what default_rng picks) by name: _normal takes 64 random bits from each raw draw.
    # A SeedSequence gives the same state each time, so every layer made here plays the same sound.
    return lambda: make(np.random.Generator(np.random.PCG64(stream)), sample_rate), _layer_kind(name)


def _unknown(part: str) -> AudioError:
    return AudioError(
        f"unknown background {part!r}; choose from {', '.join(LAYERS)}, binaural:CARRIER:BEAT or an audio "
        "file path (join layers with '+', see `audiogen backgrounds`)"
    )


def _parts(spec: str) -> list[str]:
    parts = [part.strip() for part in spec.split("+") if part.strip()]
    if not parts:
        raise AudioError(
            f"empty background {spec!r}; choose from `audiogen backgrounds` (join layers with '+')"
        )
    return parts


def check_background(spec: str) -> None:
    """Fail as `Bed` would on an unknown name, bad binaural figures or a missing file, without
    building a layer or decoding a file (a damaged file is found when a session plays it)."""
    for part in _parts(spec):
        name = part.lower()
        if name.startswith("binaural"):
            _binaural_from(name)
        elif name in LAYERS:
            continue
        elif not _looks_like_file(part):
            raise _unknown(part)
        elif not Path(part).expanduser().is_file():
            raise _file_error(Path(part).expanduser(), "no such file")


class Bed:
    """A background of any length, produced block by block ((frames, 2) float32, RMS about LAYER_RMS).

    Building one checks the spec and analyses any file once; `fresh()` gives the same bed again from
    its first frame without doing either again (the codec probe, the master plan and the mix each
    play it through).
    """

    def __init__(self, spec: str, seed: int, sample_rate: int) -> None:
        parts = _parts(spec)
        self.sample_rate = sample_rate
        # One independent random stream per layer, all derived from the seed.
        streams = np.random.SeedSequence(seed).spawn(len(parts))
        makers = [_layer_maker(part, stream, sample_rate) for part, stream in zip(parts, streams)]
        self._makers = tuple(make for make, _ in makers)
        kinds = [kind for _, kind in makers]
        self.layers: list[_Layer] = [make() for make in self._makers]
        # Layers that make no continuous sound take no share of the bed's level.
        gains = np.array(
            [
                0.0 if isinstance(layer, _SilentLayer) else 10 ** (LAYER_GAIN_DB.get(k, 0.0) / 20)
                for layer, k in zip(self.layers, kinds)
            ]
        )
        total = np.sqrt(np.sum(gains**2))
        self.gains = gains / total if total else gains
        self.silent = not total
        self.channels = max(layer.channels for layer in self.layers)
        self.needs_stereo = "binaural" in kinds
        # The mixer adds a soft strike at each chapter change when the bed asks for one.
        self.chapter_bell = "soft" if "bells" in kinds else None
        self.notes = tuple(layer.note for layer in self.layers if layer.note)
        self.level_db = float(20 * np.log10(LAYER_RMS))  # the bed's RMS, what the mixer sets its level from

    def fresh(self) -> Bed:
        """This bed again from its first frame (a BedFactory), sharing what was parsed and analysed."""
        bed = copy.copy(self)
        bed.layers = [make() for make in self._makers]
        return bed

    def bell(self, kind: str) -> np.ndarray:
        return bell(kind, self.sample_rate)

    def block(self, n: int) -> np.ndarray:
        out = None
        for layer, gain in zip(self.layers, self.gains):
            if gain:
                part = layer.block(n, self.sample_rate)
                if out is None:  # the first layer is scaled straight into the result: no zeros to add to
                    out = np.multiply(part, np.float32(gain), out=np.empty((n, 2), dtype=np.float32))
                else:
                    part *= np.float32(gain)
                    out += part
        return np.zeros((n, 2), dtype=np.float32) if out is None else out

    def skip(self, n: int) -> None:
        """Move on `n` frames; the next block is the one that would follow them."""
        for layer, gain in zip(self.layers, self.gains):
            if gain:
                layer.skip(n, self.sample_rate)

    def close(self) -> None:
        for layer in self.layers:
            layer.close()


@functools.lru_cache(maxsize=8)
def bell(kind: str, sample_rate: int) -> np.ndarray:
    """A singing-bowl strike: inharmonic partials, each beating gently and decaying slowly (read-only)."""
    root = {"bowl": 261.6, "soft": 329.6, "deep": 174.6}.get(kind, 261.6)
    seconds = 9.0
    t = np.arange(int(seconds * sample_rate), dtype=np.float32) / np.float32(sample_rate)
    out = np.zeros((len(t), 2), dtype=np.float32)
    for ratio, amp, decay in ((1.0, 1.0, 3.2), (2.71, 0.45, 2.2), (5.15, 0.22, 1.3), (8.4, 0.1, 0.8)):
        freq = root * ratio
        partial = amp * np.exp(-t / np.float32(decay)) * np.sin(np.float32(2 * np.pi * freq) * t)
        for ch, beat in enumerate((0.0, 0.7)):
            out[:, ch] += partial * (0.8 + 0.2 * np.cos(np.float32(2 * np.pi * (1.3 + beat)) * t))
    out *= np.minimum(np.float32(1.0), t / np.float32(0.004))[:, None]  # a 4 ms strike
    out = (out / np.max(np.abs(out))).astype(np.float32)
    out.flags.writeable = False  # shared by every caller through the cache
    return out

"""Background stage: seeded, reproducible sound beds generated block by block.

A bed is one or more layers joined with '+', e.g. ``pink+drone``. Every layer
keeps its own state (filter memory, phase) across blocks, so a bed of any
length costs the memory of one block, and the same seed gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.signal import lfilter

from audiogen.errors import AudioError

# Pink-noise filter (J. O. Smith, "Spectral Audio Signal Processing": a 3-pole/3-zero fit to 1/f).
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
LAYER_RMS = 0.1  # every layer is scaled to this RMS before the mixer sets the bed level


@dataclass(frozen=True)
class LayerInfo:
    name: str
    description: str


class _NoiseLayer:
    """White noise through a fixed filter, independent per channel (a wide stereo image)."""

    def __init__(self, rng: np.random.Generator, b: np.ndarray, a: np.ndarray, norm: float) -> None:
        self.rng, self.b, self.a, self.norm = rng, b, a, norm
        self.state = np.zeros((2, max(len(a), len(b)) - 1))

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        white = self.rng.standard_normal((2, n))
        out = np.empty((2, n))
        for ch in range(2):
            out[ch], self.state[ch] = lfilter(self.b, self.a, white[ch], zi=self.state[ch])
        return (out * self.norm).T


class _DroneLayer:
    """A soft pad: a low root, its fifth and octave, each breathing at its own slow rate."""

    PARTIALS = ((110.0, 1.0, 0.050), (164.81, 0.5, 0.070), (220.0, 0.35, 0.031), (329.63, 0.12, 0.043))

    def __init__(self, rng: np.random.Generator) -> None:
        self.offset = 0
        self.phases = rng.uniform(0, 2 * np.pi, size=(len(self.PARTIALS), 2))

    def block(self, n: int, sample_rate: int) -> np.ndarray:
        t = (self.offset + np.arange(n)) / sample_rate
        self.offset += n
        out = np.zeros((n, 2))
        for (freq, amp, lfo), phase in zip(self.PARTIALS, self.phases):
            swell = 0.6 + 0.4 * np.sin(2 * np.pi * lfo * t + phase[1])
            for ch, detune in enumerate((-0.15, 0.15)):  # a slight detune per side adds width
                out[:, ch] += amp * swell * np.sin(2 * np.pi * (freq + detune) * t + phase[0])
        total = np.sqrt(sum(a * a for _, a, _ in self.PARTIALS) / 2 * (0.6**2 + 0.4**2 / 2))
        return out * (LAYER_RMS / total)


def _white(rng):
    return _NoiseLayer(rng, np.array([1.0]), np.array([1.0]), LAYER_RMS)


def _pink(rng):
    # The filter's output RMS for unit white noise is about 0.095 at this gain.
    return _NoiseLayer(rng, _PINK_B, _PINK_A, LAYER_RMS / 0.095)


def _brown(rng):
    # A leaky integrator: 1/f^2 below a few hertz without drifting off.
    return _NoiseLayer(rng, np.array([0.02]), np.array([1.0, -0.998]), LAYER_RMS / 0.316)


LAYERS: dict[str, tuple[str, Callable]] = {
    "white": ("white noise: even hiss across all frequencies", _white),
    "pink": ("pink noise: a soft, balanced hush, like distant wind", _pink),
    "brown": ("brown noise: a deep, low rumble", _brown),
    "drone": ("a soft harmonic drone on A, slowly breathing", lambda rng: _DroneLayer(rng)),
}
# Relative levels of layers in a bed, in dB (the drone sits under the noise).
LAYER_GAIN_DB = {"drone": -6.0}


def list_backgrounds() -> list[LayerInfo]:
    return [LayerInfo(name, description) for name, (description, _) in LAYERS.items()]


class Bed:
    """A background of any length, produced block by block (stereo float64, RMS about LAYER_RMS)."""

    channels = 2

    def __init__(self, spec: str, seed: int, sample_rate: int) -> None:
        names = [part.strip().lower() for part in spec.split("+") if part.strip()]
        unknown = [n for n in names if n not in LAYERS]
        if not names or unknown:
            raise AudioError(
                f"unknown background {'+'.join(unknown) or spec!r}; choose from {', '.join(LAYERS)} "
                "(join layers with '+', see `audiogen backgrounds`)"
            )
        self.sample_rate = sample_rate
        # One independent random stream per layer, all derived from the seed.
        streams = np.random.SeedSequence(seed).spawn(len(names))
        self.layers = [LAYERS[name][1](np.random.default_rng(s)) for name, s in zip(names, streams)]
        gains = np.array([10 ** (LAYER_GAIN_DB.get(n, 0.0) / 20) for n in names])
        self.gains = gains / np.sqrt(np.sum(gains**2))

    def bell(self, kind: str) -> np.ndarray:
        return bell(kind, self.sample_rate)

    def block(self, n: int) -> np.ndarray:
        out = np.zeros((n, 2))
        for layer, gain in zip(self.layers, self.gains):
            out += gain * layer.block(n, self.sample_rate)
        return out


def bell(kind: str, sample_rate: int) -> np.ndarray:
    """A singing-bowl strike: inharmonic partials, each beating gently and decaying slowly."""
    root = {"bowl": 261.6, "soft": 329.6, "deep": 174.6}.get(kind, 261.6)
    seconds = 9.0
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    out = np.zeros((len(t), 2))
    for ratio, amp, decay in ((1.0, 1.0, 3.2), (2.71, 0.45, 2.2), (5.15, 0.22, 1.3), (8.4, 0.1, 0.8)):
        freq = root * ratio
        envelope = amp * np.exp(-t / decay)
        for ch, beat in enumerate((0.0, 0.7)):
            out[:, ch] += envelope * np.sin(2 * np.pi * freq * t) * (0.8 + 0.2 * np.cos(2 * np.pi * (1.3 + beat) * t))
    attack = np.minimum(1.0, t / 0.004)[:, None]
    out *= attack
    return out / np.max(np.abs(out))

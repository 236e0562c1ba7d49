"""The true-peak limiter: a look-ahead limiter on the block stream that lets no true peak past its ceiling."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from audiogen.dsp import centred_mean, centred_min
from audiogen.mix.loudness import TruePeakEnvelope
from audiogen.models import SoundSettings

# The limiter aims this far under the ceiling: MP3 encoding raises true peaks a
# little (measured up to about 0.4 dB on these sessions at 128 kbps).
ENCODER_HEADROOM_DB = 0.5
LIMITER_HOLD = 0.020  # s each side: the gain stays down this long around a peak
LIMITER_RAMP = 0.005  # s each side: attack and release ramps (the look-ahead is hold + ramp)


def _limiter_windows(sample_rate: int) -> tuple[int, int]:
    """The limiter's hold and ramp half-widths in frames; the hold also covers the interpolator's lag."""
    return int(LIMITER_HOLD * sample_rate) + 8, int(LIMITER_RAMP * sample_rate)


def _smooth_gain(need: np.ndarray, hold: int, ramp: int) -> np.ndarray:
    """The limiter's gain from what each frame needs: held over the hold window, then ramped."""
    return centred_mean(centred_min(need, 2 * hold + 1), 2 * ramp + 1)


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


def limited(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channels: int,
    ceiling_db: float,
    limiter: TruePeakLimiter | None = None,
) -> Iterator[np.ndarray]:
    """The blocks through a true-peak limiter (`limiter`, to read its figures afterwards, or a new one)."""
    limiter = limiter or TruePeakLimiter(sample_rate, channels, 10 ** (ceiling_db / 20))
    for block in blocks:
        out = limiter.process(block)
        if len(out):
            yield out
    yield limiter.flush()


def limiter_ceiling_db(settings: SoundSettings) -> float:
    """The limiter's ceiling: the output's true-peak limit less the encoder's headroom."""
    return settings.true_peak - ENCODER_HEADROOM_DB

"""Mix and master stage: voice over the bed, ducked, faded, bells on top, at a loudness target.

Everything runs in blocks, so memory does not grow with the session's length.
Mastering takes two passes over the same deterministic block stream: the first
measures integrated loudness (ITU-R BS.1770: K-weighting, 400 ms blocks,
absolute and relative gating) and true peak; the second applies the gain and
is what the encoder receives.
"""

from __future__ import annotations

import wave
from typing import Callable, Iterator

import numpy as np
from scipy.ndimage import binary_dilation, distance_transform_edt, minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter, resample_poly

from audiogen.errors import AudioError
from audiogen.models import Clip, MasterStats, SoundSettings, Timeline

BLOCK_SECONDS = 10.0
VOICE_LEVEL_DB = -20.0  # RMS of a clip's voiced part before mastering
VOICE_PEAK_DB = -7.0  # clip peaks are limited here: 13 dB above the speech level
ENVELOPE_RATE = 100  # ducking envelope resolution, frames per second
DUCK_PREROLL = 0.3  # the bed starts ducking this long before the voice
DUCK_RELEASE = 0.6
RISE_DELAY, RISE_RAMP = 0.8, 2.5  # in a silence, the bed rises after this delay over this ramp
BELL_LEVEL_DB = -14.0  # bell peak before mastering


# ---------------------------------------------------------------- voice clips


def _read_wav(path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"{path}: unreadable speech clip ({exc}); run `audiogen cache clear`") from None
    if width != 2:
        raise AudioError(f"{path}: speech clip is not 16-bit PCM")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def limit_peaks(x: np.ndarray, ceiling: float, window: int) -> np.ndarray:
    """Look-ahead limiter for a whole (short) signal: no sample exceeds `ceiling`.

    The required gain is min-filtered and then averaged over the same window,
    which keeps it at or below the requirement everywhere while staying smooth.
    """
    magnitude = np.abs(x) if x.ndim == 1 else np.max(np.abs(x), axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-12))
    smooth = uniform_filter1d(minimum_filter1d(need, window, mode="nearest"), window, mode="nearest")
    return x * (smooth if x.ndim == 1 else smooth[:, None])


def prepare_clip(clip: Clip, sample_rate: int, volume: float = 1.0) -> np.ndarray:
    """Resample (polyphase, band-limited), set the speech level, limit peaks."""
    samples, rate = _read_wav(clip.path)
    if rate != sample_rate:
        from math import gcd

        g = gcd(sample_rate, rate)
        samples = resample_poly(samples, sample_rate // g, rate // g)
    frame = max(1, int(0.02 * sample_rate))
    usable = len(samples) // frame * frame
    if usable:
        energies = np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1)
        voiced = energies[energies > np.max(energies) * 1e-3]
        rms = float(np.sqrt(np.mean(voiced))) if len(voiced) else 0.0
    else:
        rms = float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
    if rms > 0:
        samples = samples * (10 ** (VOICE_LEVEL_DB / 20) / rms)
    samples = limit_peaks(samples, 10 ** (VOICE_PEAK_DB / 20), max(1, int(0.005 * sample_rate)))
    fade = min(len(samples) // 2, int(0.01 * sample_rate))  # 10 ms edges: no clicks
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples * volume


# ---------------------------------------------------------------- ducking


def bed_envelope_db(timeline: Timeline, settings: SoundSettings) -> np.ndarray:
    """Bed gain in dB at ENVELOPE_RATE: ducked under speech, rising in long silences."""
    frames = int(np.ceil(timeline.duration * ENVELOPE_RATE)) + 2
    speaking = np.zeros(frames, dtype=bool)
    for start, end in timeline.speech_intervals:
        a = max(0, int((start - DUCK_PREROLL) * ENVELOPE_RATE))
        b = min(frames, int(np.ceil((end + DUCK_RELEASE) * ENVELOPE_RATE)))
        speaking[a:b] = True
    if speaking.any():
        distance = distance_transform_edt(~speaking) / ENVELOPE_RATE
    else:
        distance = np.full(frames, np.inf)
    rise = np.clip((distance - RISE_DELAY) / RISE_RAMP, 0.0, 1.0)
    rise = 0.5 - 0.5 * np.cos(np.pi * rise)  # an S-curve: no audible corner
    base = VOICE_LEVEL_DB - settings.bed_below_voice_db
    return base + settings.bed_rise_in_silence_db * rise


def _fade_gain(times: np.ndarray, duration: float, fade_in: float, fade_out: float) -> np.ndarray:
    gain = np.ones_like(times)
    if fade_in > 0:
        gain *= np.clip(times / fade_in, 0, 1) ** 2
    if fade_out > 0:
        gain *= np.clip((duration - times) / fade_out, 0, 1) ** 2
    return gain


# ---------------------------------------------------------------- the block stream


def mix_blocks(
    timeline: Timeline,
    bed_factory: Callable[[], object],
    settings: SoundSettings,
    gain_db: float = 0.0,
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[np.ndarray]:
    """Yield the session as (frames, channels) float64 blocks; deterministic for a given seed."""
    rate = settings.sample_rate
    total = int(round(timeline.duration * rate))
    block = int(block_seconds * rate)
    bed = bed_factory()
    envelope = bed_envelope_db(timeline, settings)
    env_times = np.arange(len(envelope)) / ENVELOPE_RATE
    gain = 10 ** (gain_db / 20)
    # The bed also makes the bells, so this stage needs no sound sources of its own.
    bells = {kind: bed.bell(kind) for kind in {b.kind for b in timeline.bells}}
    placed = sorted(timeline.clips, key=lambda p: p.start)
    prepared: dict[int, np.ndarray] = {}
    next_clip = 0
    for start in range(0, total, block):
        n = min(block, total - start)
        end = start + n
        times = (start + np.arange(n)) / rate
        out = bed.block(n)
        out *= (10 ** (np.interp(times, env_times, envelope) / 20))[:, None]
        voice = np.zeros(n)
        # Clips are sorted by start; those that ended before this block are released.
        while next_clip < len(placed) and placed[next_clip].start * rate < end:
            prepared[next_clip] = prepare_clip(placed[next_clip].clip, rate, placed[next_clip].clip.utterance.volume)
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
        for placed_bell in timeline.bells:
            samples = bells[placed_bell.kind] * 10 ** (BELL_LEVEL_DB / 20)
            offset = int(round(placed_bell.start * rate))
            a, b = max(start, offset), min(end, offset + len(samples))
            if b > a:
                out[a - start : b - start] += samples[a - offset : b - offset]
        out *= _fade_gain(times, timeline.duration, settings.fade_in, settings.fade_out)[:, None]
        if settings.channels == 1:
            out = out.mean(axis=1, keepdims=True)
        yield out * gain


# ---------------------------------------------------------------- measurement


class LoudnessMeter:
    """Streaming ITU-R BS.1770-4 integrated loudness and true peak.

    K-weighting filters keep their state across blocks; mean squares are kept
    per 100 ms step (a 60-minute session is 36,000 numbers), and 400 ms gating
    blocks with 75 % overlap are formed from four consecutive steps at the end.
    """

    def __init__(self, sample_rate: int, channels: int) -> None:
        import pyloudnorm

        filters = pyloudnorm.Meter(sample_rate)._filters  # the standard's coefficients for this rate
        self.stages = [(f.b, f.a) for f in filters.values()]
        self.states = [np.zeros((channels, max(len(a), len(b)) - 1)) for b, a in self.stages]
        self.step = int(0.1 * sample_rate)
        self.pending = np.zeros((0, channels))
        self.steps: list[float] = []
        self.peak = 0.0
        self.channels = channels

    def add(self, block: np.ndarray) -> None:
        upsampled = resample_poly(block, 4, 1, axis=0)  # 4x oversampling for true peak
        self.peak = max(self.peak, float(np.max(np.abs(upsampled))) if len(upsampled) else 0.0)
        weighted = block.T.copy()
        for (b, a), state in zip(self.stages, self.states):
            for ch in range(self.channels):
                weighted[ch], state[ch] = lfilter(b, a, weighted[ch], zi=state[ch])
        data = np.concatenate([self.pending, weighted.T])
        whole = len(data) // self.step * self.step
        if whole:
            squares = (data[:whole] ** 2).reshape(-1, self.step, self.channels).mean(axis=1)
            self.steps.extend(squares.sum(axis=1).tolist())  # channel weights are 1.0 for L, R
        self.pending = data[whole:]

    def integrated(self) -> float:
        steps = np.asarray(self.steps)
        if len(steps) < 4:
            return float("-inf")
        blocks = np.convolve(steps, np.ones(4) / 4, mode="valid")
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(blocks)
        gated = blocks[loudness > -70.0]
        if not len(gated):
            return float("-inf")
        relative = -0.691 + 10 * np.log10(np.mean(gated)) - 10.0
        with np.errstate(divide="ignore"):
            gated = gated[-0.691 + 10 * np.log10(gated) > relative]
        return float(-0.691 + 10 * np.log10(np.mean(gated)))

    def true_peak_db(self) -> float:
        return 20 * np.log10(max(self.peak, 1e-12))


def measure(blocks: Iterator[np.ndarray], sample_rate: int, channels: int) -> tuple[float, float]:
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    return meter.integrated(), meter.true_peak_db()


def master_gain(timeline: Timeline, bed_factory, settings: SoundSettings) -> MasterStats:
    """First pass: the gain that brings the session to its loudness target without passing the peak ceiling."""
    loudness, peak = measure(mix_blocks(timeline, bed_factory, settings), settings.sample_rate, settings.channels)
    if not np.isfinite(loudness):
        raise AudioError("the session is silent; nothing to master")
    # 0.3 dB margin: true peak after encoding can rise a little above the PCM's.
    gain = min(settings.loudness - loudness, settings.true_peak - 0.3 - peak)
    return MasterStats(integrated_lufs=loudness + gain, true_peak_dbtp=peak + gain, gain_db=gain)

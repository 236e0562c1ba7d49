"""Mix and master stage: voice over the bed, ducked, faded, bells on top, at a loudness target.

Everything runs in float32 blocks, so memory does not grow with the session's
length. Mastering passes over the same deterministic block stream more than
once: the first measures integrated loudness (ITU-R BS.1770: K-weighting,
400 ms blocks, absolute and relative gating) and true peak (4x oversampling);
the last applies the gain and a true-peak look-ahead limiter, and is what the
encoder receives. When the limiter has work to do, a middle pass measures its
effect on the loudness and corrects the gain, so both the target and the peak
ceiling hold.
"""

from __future__ import annotations

import subprocess
import tempfile
from array import array
from math import gcd
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from scipy.ndimage import convolve1d, minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, resample_poly, sosfilt

from audiogen.clipfile import read_clip
from audiogen.errors import AudioError
from audiogen.models import Clip, MasterStats, PlacedBell, SoundSettings, Timeline
from audiogen.tools import ffmpeg_path

Codec = Callable[[Iterable[np.ndarray], Path], Path]  # writes blocks to an encoded file, returns its path

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
# The limiter aims this far under the ceiling: MP3 encoding raises true peaks a
# little (measured up to about 0.4 dB on these sessions at 128 kbps).
ENCODER_HEADROOM_DB = 0.5
LIMITER_HOLD = 0.020  # s each side: the gain stays down this long around a peak
LIMITER_RAMP = 0.005  # s each side: attack and release ramps (the look-ahead is hold + ramp)
CODEC_PROBE_SECONDS, CODEC_PROBE_SKIP = 30.0, 10.0  # the piece of the session the encoder is measured on
LOUDNESS_TOLERANCE = 0.1  # LU: a correction pass runs when the limiter moves loudness more than this
MASTER_ATTEMPTS = 4  # passes at most to meet the target through the limiter


# ---------------------------------------------------------------- voice clips


def limit_peaks(x: np.ndarray, ceiling: float, window: int) -> np.ndarray:
    """Look-ahead limiter for a whole (short) signal: no sample exceeds `ceiling`.

    The required gain is min-filtered and then averaged over the same window,
    which keeps it at or below the requirement everywhere while staying smooth.
    """
    magnitude = np.abs(x) if x.ndim == 1 else np.max(np.abs(x), axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(magnitude, 1e-12))
    smooth = uniform_filter1d(minimum_filter1d(need, window, mode="nearest"), window, mode="nearest")
    return x * (smooth if x.ndim == 1 else smooth[:, None]).astype(x.dtype)


def prepare_clip(clip: Clip, sample_rate: int, volume: float = 1.0) -> np.ndarray:
    """Resample (polyphase, band-limited), set the speech level, limit peaks; float32 mono."""
    samples, rate = read_clip(clip.path)
    if rate != sample_rate:
        g = gcd(sample_rate, rate)
        samples = resample_poly(samples, sample_rate // g, rate // g).astype(np.float32)
    frame = max(1, int(0.02 * sample_rate))
    usable = len(samples) // frame * frame
    if usable:
        energies = np.mean(samples[:usable].reshape(-1, frame).astype(np.float64) ** 2, axis=1)
        voiced = energies[energies > np.max(energies) * 1e-3]
        rms = float(np.sqrt(np.mean(voiced))) if len(voiced) else 0.0
    else:
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
    if rms > 0:
        samples = samples * np.float32(10 ** (VOICE_LEVEL_DB / 20) / rms)
    samples = limit_peaks(samples, 10 ** (VOICE_PEAK_DB / 20), max(1, int(0.005 * sample_rate)))
    fade = min(len(samples) // 2, int(0.01 * sample_rate))  # 10 ms edges: no clicks
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples * np.float32(volume)


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
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[np.ndarray]:
    """Yield the session as (frames, channels) float32 blocks; deterministic for a given seed."""
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
            times = (start + np.arange(n)) / rate
            if bed.silent:
                out = np.zeros((n, 1 if mono else 2), dtype=np.float32)
            else:
                # The gain moves slowly: computed every `step` frames, interpolated in between.
                coarse = np.arange(0, n + step, step)
                gain_curve = 10 ** (bed_gain_db((start + coarse) / rate, spans, settings, bed.level_db) / 20)
                out = bed.block(n)
                out *= np.interp(np.arange(n), coarse, gain_curve).astype(np.float32)[:, None]
                if mono:
                    out = out.sum(axis=1, keepdims=True) * bed_to_mono
            voice = np.zeros(n, dtype=np.float32)
            # Clips are sorted by start; those that ended before this block are released.
            while next_clip < len(placed) and placed[next_clip].start * rate < end:
                clip = placed[next_clip].clip
                prepared[next_clip] = prepare_clip(clip, rate, clip.utterance.volume)
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
            if times[0] < settings.fade_in or times[-1] > timeline.duration - settings.fade_out:
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
        self.history = np.zeros((len(self.phases[0]) - 1, channels), dtype=np.float32)

    def envelope(self, block: np.ndarray, floor: float = 0.0) -> np.ndarray:
        """Largest absolute (interpolated) value across channels at each sample, float32 (n,)."""
        peak = channel_peak(block)
        padded = np.concatenate([self.history, block])
        lead = len(self.history)
        if len(block) and peak.max() >= floor:
            # One convolution per phase and channel over the whole block: a few C calls, no 4x copy.
            # (ndimage's convolve1d is about twice as fast as np.convolve on float32; the slice
            # below picks the same samples as np.convolve's "valid" mode.)
            start = (len(self.phases[0]) - 1) // 2
            for ch in range(block.shape[1]):
                column = np.ascontiguousarray(padded[:, ch])
                for h in self.phases:
                    phase = convolve1d(column, h, mode="constant")[start : start + len(block)]
                    np.maximum(peak, np.abs(phase), out=peak)
        self.history = padded[len(padded) - lead :].copy()
        return peak


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
        delay = 8  # frames: covers the interpolator's lag
        self.hold = int(LIMITER_HOLD * sample_rate) + delay
        self.ramp = int(LIMITER_RAMP * sample_rate)
        self.latency = self.hold + self.ramp
        # History: `latency` frames already emitted (context) + pending frames not yet emitted.
        self.audio = np.zeros((self.latency, channels), dtype=np.float32)
        self.need = np.ones(self.latency, dtype=np.float32)
        self.reduced = 0  # frames whose gain was lowered, for reporting

    def process(self, block: np.ndarray) -> np.ndarray:
        envelope = self.peaks.envelope(block, floor=self.ceiling * 0.5)
        need = np.minimum(np.float32(1.0), self.ceiling / np.maximum(envelope, np.float32(1e-9)))
        audio = np.concatenate([self.audio, block])
        need = np.concatenate([self.need, need])
        c = self.latency
        if np.all(need == 1.0):
            gain = None
        else:
            held = minimum_filter1d(need, 2 * self.hold + 1, mode="nearest")
            gain = uniform_filter1d(held, 2 * self.ramp + 1, mode="nearest")[c : len(need) - c]
        out = audio[c : len(audio) - c]
        if gain is not None:
            self.reduced += int(np.count_nonzero(gain < 1.0))
            out = out * gain[:, None]
        keep = max(0, len(audio) - 2 * c)  # the last `c` emitted frames (context) and the pending ones
        self.audio, self.need = audio[keep:], need[keep:]
        return out

    def flush(self) -> np.ndarray:
        return self.process(np.zeros((self.latency, self.audio.shape[1]), dtype=np.float32))


def limited(blocks: Iterator[np.ndarray], sample_rate: int, channels: int, ceiling_db: float) -> Iterator[np.ndarray]:
    limiter = TruePeakLimiter(sample_rate, channels, 10 ** (ceiling_db / 20))
    for block in blocks:
        out = limiter.process(block)
        if len(out):
            yield out
    yield limiter.flush()


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
        # Both K-weighting stages as second-order sections: one call filters every channel.
        self.sos = np.array([np.concatenate([f.b / f.a[0], f.a / f.a[0]]) for f in filters.values()])
        self.state = np.zeros((len(self.sos), 2, channels))  # sosfilt along axis 0: (sections, 2, channels)
        self.step = int(0.1 * sample_rate)
        self.pending = np.zeros((0, channels))
        self.steps = array("d")  # mean square per 100 ms step, summed over channels
        self.peaks = TruePeakEnvelope(sample_rate, channels)
        self.peak = 0.0
        self.channels = channels

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        if not len(block):
            return
        # Only the loudest stretches can hold the block's (or the stream's) true peak.
        floor = 0.5 * max(self.peak, float(np.max(np.abs(block))))
        self.peak = max(self.peak, float(np.max(self.peaks.envelope(block, floor))))
        # float64: the K-weighting's poles sit close to the unit circle.
        weighted, self.state = sosfilt(self.sos, block.astype(np.float64), axis=0, zi=self.state)
        data = np.concatenate([self.pending, weighted])
        whole = len(data) // self.step * self.step
        if whole:
            squares = (data[:whole] ** 2).reshape(-1, self.step, self.channels).mean(axis=1)
            self.steps.extend(squares.sum(axis=1))  # channel weights are 1.0 for L, R
        self.pending = data[whole:]

    def integrated(self) -> float:
        steps = np.frombuffer(self.steps, dtype=np.float64)
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
        return float(20 * np.log10(max(self.peak, 1e-12)))


def measure(blocks: Iterator[np.ndarray], sample_rate: int, channels: int) -> tuple[float, float]:
    meter = LoudnessMeter(sample_rate, channels)
    for block in blocks:
        meter.add(block)
    return meter.integrated(), meter.true_peak_db()


# ---------------------------------------------------------------- mastering


def limiter_ceiling_db(settings: SoundSettings) -> float:
    return settings.true_peak - ENCODER_HEADROOM_DB


class MixSpool:
    """The mix written once to a temporary file, then replayed at any gain.

    Mastering measures the mix, may measure it again through the limiter, and
    finally streams it to the encoder: replaying the spool (a read and a multiply
    per block) replaces mixing the session again each time. Memory stays at one
    block; the file takes 4 bytes a sample on disk (about 635 MB for 60 stereo minutes).
    Replays run one after another, never interleaved.
    """

    def __init__(self, sample_rate: int, channels: int, folder: Path | None = None) -> None:
        self.channels = channels
        self.block_bytes = int(BLOCK_SECONDS * sample_rate) * channels * 4
        self.file = tempfile.TemporaryFile(prefix="audiogen-mix-", dir=folder)
        self.recorded = False

    def __enter__(self) -> "MixSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def record(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass the blocks through, keeping a copy."""
        self.file.seek(0)
        self.file.truncate()
        try:
            for block in blocks:
                self.file.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
                yield block
        except OSError as exc:
            raise AudioError(f"cannot keep the mix in a temporary file ({exc.strerror}); free some space") from None
        self.recorded = True

    def replay(self, gain_db: float = 0.0) -> Iterator[np.ndarray]:
        gain = np.float32(10 ** (gain_db / 20))
        self.file.seek(0)
        while data := self.file.read(self.block_bytes):
            block = np.frombuffer(data, dtype="<f4").reshape(-1, self.channels)
            yield block * gain if gain_db else block.copy()


def mastered_blocks(
    timeline: Timeline, bed_factory, settings: SoundSettings, gain_db: float, spool: MixSpool | None = None
) -> Iterator[np.ndarray]:
    """The final stream: the mix at the master gain (`MasterStats.gain_db`) through the true-peak limiter.

    With a recorded `spool` the mix is replayed from it instead of being made again.
    """
    if spool is not None and spool.recorded:
        mixed = spool.replay(gain_db)
    else:
        mixed = mix_blocks(timeline, bed_factory, settings, gain_db)
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


def master_gain(
    timeline: Timeline, bed_factory, settings: SoundSettings, codec: Codec | None = None, spool: MixSpool | None = None
) -> MasterStats:
    """The gain that brings the session to its loudness target, and the result's loudness and peak.

    With `codec` (a function writing blocks to an encoded file, returning its
    path) the target is met in the encoded file, not only in the PCM stream.
    When the gained mix would pass the ceiling, the limiter lowers some peaks
    (and the loudness with them): further passes measure the limited stream and
    correct the gain (secant steps: a hard-limited stream gains less than 1 LU a dB).
    With a `spool`, the first pass records the mix and every later pass replays it.
    """
    rate, channels = settings.sample_rate, settings.channels
    first = mix_blocks(timeline, bed_factory, settings)
    loudness, peak = measure(spool.record(first) if spool is not None else first, rate, channels)
    if not np.isfinite(loudness):
        raise AudioError("the session is silent; nothing to master")
    ceiling = limiter_ceiling_db(settings)

    def attempt(gain: float) -> MasterStats:
        """The limited stream's PCM loudness and true peak at this gain."""
        if peak + gain <= ceiling:  # the limiter will not touch the stream: the prediction is exact
            return MasterStats(loudness + gain, peak + gain, gain)
        result, limited_peak = measure(mastered_blocks(timeline, bed_factory, settings, gain, spool), rate, channels)
        return MasterStats(result, limited_peak, gain)

    codec_change = 0.0
    if codec is not None:
        probe = mastered_blocks(timeline, bed_factory, settings, settings.loudness - loudness, spool)
        codec_change = codec_loudness_change(_excerpt(probe, rate, timeline.duration), rate, codec)
    target = settings.loudness - codec_change  # what the PCM stream must measure
    tried = [attempt(target - loudness)]
    for _ in range(MASTER_ATTEMPTS - 1):
        last = tried[-1]
        if abs(last.integrated_lufs - target) <= LOUDNESS_TOLERANCE:
            break
        slope = 1.0
        if len(tried) > 1 and tried[-1].gain_db != tried[-2].gain_db:
            slope = (tried[-1].integrated_lufs - tried[-2].integrated_lufs) / (tried[-1].gain_db - tried[-2].gain_db)
        slope = min(1.0, max(0.2, slope))
        tried.append(attempt(last.gain_db + (target - last.integrated_lufs) / slope))
    best = min(tried, key=lambda s: abs(s.integrated_lufs - target))
    return MasterStats(best.integrated_lufs + codec_change, best.true_peak_dbtp, best.gain_db)

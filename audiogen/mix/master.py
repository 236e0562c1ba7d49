"""Mastering: the master gain planned from the session's parts, then one pass that mixes, limits,
measures and encodes.

The master gain is predicted from the parts (each clip, bell and the bed
K-weighted on its own, ITU-R BS.1770 gating over their summed energies), then
the session is mixed at that gain, through the true-peak look-ahead limiter,
measured and encoded in the same stream. A second pass runs only if the
measurement misses the target.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from audiogen import safefiles
from audiogen.errors import AudioError
from audiogen.mix.blocks import (
    BELL_LEVEL_DB,
    BLOCK_SECONDS,
    ENVELOPE_RATE,
    VOICE_PEAK_DB,
    all_bells,
    bed_gain_db,
    fade_gain,
    levelled_clip,
    mix_blocks,
    speech_spans,
)
from audiogen.mix.limiter import (
    LIMITER_HOLD,
    LIMITER_RAMP,
    TruePeakLimiter,
    limiter_ceiling_db,
    limiter_gain,
)
from audiogen.mix.loudness import (
    FILTER_TAIL_SECONDS,
    STEP_SECONDS,
    LoudnessMeter,
    TruePeakEnvelope,
    gated_loudness,
    k_weighted,
    measure,
)
from audiogen.models import BedFactory, BedKeeper, BedSource, Clip, MasterStats, SoundSettings, Timeline
from audiogen.tools import decode_command

Codec = Callable[[Iterable[np.ndarray], Path], Path]  # writes blocks to an encoded file, returns its path

CODEC_PROBE_SECONDS, CODEC_PROBE_SKIP = 30.0, 10.0  # the piece of the session the encoder is measured on
PEAK_MARGIN_DB = 1.0  # voice peaks land this far under the limiter's ceiling: room for the bed

# ---------------------------------------------------------------- planning: the gain before the mix

BED_WINDOWS, BED_WINDOW_SECONDS = 8, 8.0  # the bed's K-weighted power is measured on this much of it
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

    def loudness(self, settings: SoundSettings, *others: _StepEnergies) -> float:
        """Integrated loudness of these parts and `others` together, faded as the mix is."""
        centres = np.minimum((np.arange(len(self.power)) + 0.5) * STEP_SECONDS, self.duration)
        fades = fade_gain(centres, self.duration, settings.fade_in, settings.fade_out)
        return gated_loudness(sum((o.power for o in others), self.power) * fades**2)


def _squares(weighted: np.ndarray) -> np.ndarray:
    return weighted**2 if weighted.ndim == 1 else np.sum(weighted**2, axis=1)


BED_POWERS_VERSION = 1  # raised whenever what `_bed_step_powers` keeps changes meaning


def _bed_step_powers(
    bed: BedSource, count: int, settings: SoundSettings, keep: BedKeeper | None = None
) -> np.ndarray:
    """The bed's K-weighted power at unity gain for each of `count` 100 ms steps.

    A short session is measured whole. A longer one is sampled in BED_WINDOWS
    windows spread over its length (a bed's swells and waves are slow, and one
    stretch from the start can sit a few tenths of a dB off the whole): each
    window's own steps are exact, and the steps between take the windows' steps
    in turn: a wavy bed keeps its spread of levels, which the gates respond to.
    `keep` (name, measure) gives the windows' powers kept from an earlier session with
    the same bed and length, or measures them and keeps them.
    """
    rate, channels = settings.sample_rate, settings.channels
    step = int(STEP_SECONDS * rate)
    settle = int(FILTER_TAIL_SECONDS * rate)  # the filter starts from rest in each window
    window = int(BED_WINDOW_SECONDS / STEP_SECONDS)
    if count <= BED_WINDOWS * window:
        starts, window = [0], count
    else:
        starts = [round(i * (count - window) / (BED_WINDOWS - 1)) for i in range(BED_WINDOWS)]
    powers, measured = np.zeros(count), np.zeros(count, dtype=bool)
    for first in starts:
        measured[first : first + window] = True

    def measure() -> np.ndarray:
        """The windows' step powers, in order."""
        windows, position = [], 0
        piece = int(BLOCK_SECONDS * rate) // step * step  # made and filtered a mix block at a time
        to_mono = np.float32(np.sqrt(0.5) if bed.channels == 2 else 0.5)
        for first in starts:
            lead = min(settle, first * step - position)  # never back over what the last window made
            bed.skip(first * step - lead - position)
            position = (first + window) * step
            meter = LoudnessMeter(rate, channels, true_peak=False)  # from rest; whole steps throughout
            for done in range(0, lead + window * step, piece):
                sample = bed.block(min(piece, lead + window * step - done))
                meter.add(sample.sum(axis=1, keepdims=True) * to_mono if channels == 1 else sample)
            windows.append(meter.step_powers()[lead // step :])
        return np.concatenate(windows)

    name = f"{count}:{len(starts)}x{window}:v{BED_POWERS_VERSION}"
    values = keep(name, measure) if keep is not None else measure()
    if len(values) != np.count_nonzero(measured):  # kept for another layout: measured again
        values = measure()
    powers[measured] = values
    powers[~measured] = np.resize(powers[measured], np.count_nonzero(~measured))
    return powers


def _background_energies(
    timeline: Timeline, bed_factory: BedFactory, settings: SoundSettings, keep: BedKeeper | None = None
) -> _StepEnergies:
    """Bells and bed: the bed's K-weighted power (see `_bed_step_powers`) follows the ducking."""
    rate, channels = settings.sample_rate, settings.channels
    steps = _StepEnergies(timeline.duration)
    bed = bed_factory()
    try:
        strikes = {}
        for placed_bell in all_bells(timeline, bed.chapter_bell):
            if placed_bell.kind not in strikes:
                strike = bed.bell(placed_bell.kind) * np.float32(10 ** (BELL_LEVEL_DB / 20))
                strikes[placed_bell.kind] = _squares(
                    k_weighted(strike.mean(axis=1) if channels == 1 else strike, rate)
                )
            steps.add_squares(strikes[placed_bell.kind], placed_bell.start, rate)
        if not bed.silent:
            power = _bed_step_powers(bed, len(steps.power), settings, keep)
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
    step_samples: (
        float  # samples in a 100 ms step at the clip's rate: a step's mean square is its sum over this
    )

    def step_energies(self, ceiling: float, steps: _StepEnergies) -> None:
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
        steps.power += (
            np.bincount(index[keep], weights=energy[keep], minlength=len(steps.power)) / self.step_samples
        )


def _frame_reduce(values: np.ndarray, frame: int, reduce) -> np.ndarray:
    padded = np.pad(values, (0, -len(values) % frame))
    return reduce(padded.reshape(-1, frame), axis=1)


LOOK_SUFFIX = ".look.npz"  # a clip's look, kept beside the clip
LOOK_VERSION = 2  # raised whenever a look's arrays change meaning: older files are made again


def look_path(clip_path: Path) -> Path:
    """Where the look of the clip at `clip_path` is kept: beside it, so the speech cache's trimming
    removes it with its clip."""
    return clip_path.with_name(clip_path.stem + LOOK_SUFFIX)


def _unit_look(clip: Clip) -> tuple[np.ndarray, np.ndarray, float]:
    """A clip's 1 ms frames at volume 1: true-peak maxima and K-weighted sums of squares (one
    channel), float32, and the frame length in samples.

    Looking costs about 10 ms per second of speech (true-peak interpolation and K-weighting), the
    largest part of planning, so the look is kept beside its clip: a cached clip never changes,
    and a warm render plans without reading its clips. A look that cannot be read or written is
    simply made again.
    """
    kept = look_path(clip.path)
    try:  # the clip as a file: a clip made again (a new file, however alike) is looked at again
        stat = clip.path.stat()
        identity = np.array([stat.st_size, stat.st_ino], dtype=np.int64)
    except OSError:  # reading the clip below says what is wrong with it
        identity = None
    with contextlib.suppress(OSError, ValueError, KeyError):  # missing, damaged or old: look again
        with np.load(kept) as stored:
            if int(stored["version"]) == LOOK_VERSION and np.array_equal(stored["clip"], identity):
                return stored["peaks"], stored["energy"], int(stored["frame"])
    samples = levelled_clip(replace(clip, utterance=replace(clip.utterance, volume=1.0)), None)
    frame = max(1, round(LOOK_FRAME_SECONDS * clip.sample_rate))
    if len(samples):
        envelope = TruePeakEnvelope(clip.sample_rate, 1).envelope(samples[:, None])
        peaks = _frame_reduce(envelope, frame, np.max).astype(np.float32)
        energy = _frame_reduce(k_weighted(samples, clip.sample_rate) ** 2, frame, np.sum).astype(np.float32)
    else:
        peaks = energy = np.zeros(0, dtype=np.float32)
    if identity is not None:
        buffer = io.BytesIO()
        np.savez(buffer, version=LOOK_VERSION, clip=identity, frame=frame, peaks=peaks, energy=energy)
        with contextlib.suppress(OSError):  # a read-only cache: planning looks again next time
            safefiles.atomic_write_bytes(kept, buffer.getvalue(), durable=False)
    return peaks, energy, frame


def _look_at_clips(timeline: Timeline, channels: int) -> list[_ClipLook]:
    looks = []
    for placed in timeline.clips:
        peaks, energy, frame = _unit_look(placed.clip)
        if not len(peaks):
            continue
        rate, volume = placed.clip.sample_rate, placed.clip.utterance.volume
        # Each channel of the mix carries the voice: its K-weighted energy counts `channels` times.
        looks.append(
            _ClipLook(
                placed.start,
                frame / rate,
                peaks.astype(np.float64) * abs(volume),
                energy.astype(np.float64) * (volume**2 * channels),
                float(peaks.max()) * abs(volume),
                STEP_SECONDS * rate,
            )
        )
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


def plan_master(
    timeline: Timeline,
    bed_factory: BedFactory,
    settings: SoundSettings,
    codec_change: float = 0.0,
    keep_bed: BedKeeper | None = None,
) -> MasterPlan:
    """Choose the master gain and the voice's peak ceiling from the session's parts; nothing is mixed.

    The gain G must bring the integrated loudness to the target, and the voice's
    peaks, after G, must stay PEAK_MARGIN_DB under the limiter's ceiling (room
    for the bed under them), so clips are limited to (ceiling - margin - G)
    before mixing. Limiting lowers the loudness, which asks for more gain: G is
    the root of loudness(G) + G = target, found by bracketing and regula falsi
    on a look at the clips at their own rate. The stream's limiter is then left
    with almost nothing to do (`codec_change`: what the encoder will add). `keep_bed`
    keeps what is measured of the bed for later sessions (see `_bed_step_powers`).
    """
    target = settings.loudness - codec_change
    background = _background_energies(timeline, bed_factory, settings, keep_bed)
    looks = _look_at_clips(timeline, settings.channels)
    top = limiter_ceiling_db(settings) - PEAK_MARGIN_DB

    def ceiling_db(gain: float) -> float:
        return min(VOICE_PEAK_DB, top - gain)

    def loudness(gain: float) -> float:
        voice = _voice_energies(looks, timeline.duration, 10 ** (ceiling_db(gain) / 20))
        return voice.loudness(settings, background)

    @functools.cache  # the chosen gain's miss is asked for again at the end
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
        gain = (
            high  # if even that falls short, the target cannot be met under the ceiling: the loudest that can
        )
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


def mastered_blocks(
    timeline: Timeline, bed_factory: BedFactory, settings: SoundSettings, plan: MasterPlan
) -> Iterator[np.ndarray]:
    """The final stream: the mix at the planned gain through the true-peak limiter."""
    return iter(MasteredStream(timeline, bed_factory, settings, plan))


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


def probe_excerpt(timeline: Timeline, bed_factory: BedFactory, settings: SoundSettings) -> np.ndarray:
    """A piece of the mastered session for measuring what the encoder does to it."""
    plan = plan_master(timeline, bed_factory, settings)
    return _excerpt(
        mastered_blocks(timeline, bed_factory, settings, plan), settings.sample_rate, timeline.duration
    )


def _blocks_of(samples: np.ndarray, sample_rate: int) -> Iterator[np.ndarray]:
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
        result = subprocess.run(decode_command(encoded, "f32le", channels, sample_rate), capture_output=True)
    if result.returncode != 0:
        raise AudioError(
            f"ffmpeg could not decode its own test encoding: {result.stderr.decode(errors='replace').strip()}"
        )
    decoded = np.frombuffer(result.stdout, dtype="<f4").reshape(-1, channels)
    before, _ = measure(_blocks_of(excerpt, sample_rate), sample_rate, channels)
    after, _ = measure(_blocks_of(decoded, sample_rate), sample_rate, channels)
    if not (np.isfinite(before) and np.isfinite(after)):
        return 0.0
    return after - before


class MasteredStream:
    """The mastered session as a block stream: whole, or in pieces made side by side.

    Iterating it gives the whole session; `pieces` gives overlapping stretches of it,
    each mixed, limited and metered on its own, so that two encoders can work at once
    (on two cores). A piece that starts inside the session first mixes the block
    before its start, unheard: the limiter's look-ahead and the meter's filters settle
    there, and the piece's samples are those of a whole pass (the mix is a function of
    the block, the bed is played through from its start). Loudness and true peak are
    those of the latest pass; each piece is measured from its start's block to the
    next piece's, so every 100 ms step counts once.
    """

    def __init__(
        self, timeline: Timeline, bed_factory: BedFactory, settings: SoundSettings, plan: MasterPlan
    ) -> None:
        self.timeline, self.bed_factory, self.settings, self.plan = timeline, bed_factory, settings, plan
        self.frames = int(round(timeline.duration * settings.sample_rate))
        self.block = int(BLOCK_SECONDS * settings.sample_rate)
        self.step = int(STEP_SECONDS * settings.sample_rate)
        self._parts: list[_Part] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.pieces([(0, self.frames)])[0]

    def pieces(self, spans: list[tuple[int, int]]) -> list[Generator[np.ndarray, None, None]]:
        """Generators of the session's frames [start, stop) for each span, in order of their starts
        (with an empty block for each block of bed a piece plays through before its own); each may
        run in a thread of its own. The first span starts at 0 and the last ends at the end."""
        if len(spans) > 1 and self.block % self.step:  # pieces are measured in whole 100 ms steps
            raise ValueError(
                f"{self.settings.sample_rate} Hz: a mix block is not a whole number of 100 ms steps"
            )
        starts = [start for start, _ in spans]
        if starts != sorted(starts) or starts[0] != 0 or spans[-1][1] != self.frames:
            raise ValueError(f"pieces must start at 0, in order, and the last end at {self.frames}: {spans}")
        measured = [start // self.block * self.block for start in starts[1:]] + [self.frames]
        self._parts = [
            _Part(
                self.settings,
                max(0, start // self.block - 1) * self.block,
                start // self.block * self.block,
                until,
            )
            for (start, _), until in zip(spans, measured)
        ]
        return [self._piece(part, start, stop) for part, (start, stop) in zip(self._parts, spans)]

    def _piece(self, part: _Part, start: int, stop: int) -> Generator[np.ndarray, None, None]:
        warm_block = part.origin // self.block  # the block before the piece's own, or 0
        position = part.origin  # the session frame of the limiter's next output
        warm = warm_block > 0
        plan = self.plan
        mixed = mix_blocks(
            self.timeline,
            self.bed_factory,
            self.settings,
            plan.gain_db,
            plan.voice_ceiling_db,
            first_block=warm_block,
        )
        try:
            for block in itertools.chain(mixed, [None]):
                if block is not None and not len(block):  # the bed played through, unheard
                    yield block
                    continue
                out = part.limiter.process(block) if block is not None else part.limiter.flush()
                if warm:  # the first call's output is all warm-up; from the next on, a whole pass's
                    part.limiter.peak, warm = 0.0, False
                part.meter.add(out[: max(0, part.measured_to - position)])
                if position + len(out) > start and position < stop:
                    yield out[max(0, start - position) : stop - position]
                position += len(out)
                if position >= stop and position >= part.measured_to:
                    break
        finally:
            mixed.close()

    def integrated(self) -> float:
        """The integrated loudness (LUFS) of the latest pass, before the encoder."""
        return gated_loudness(np.concatenate([part.step_powers(self.step) for part in self._parts] or [[]]))

    def true_peak_db(self) -> float:
        """The latest pass's true peak after the limiter (dBTP)."""
        return float(20 * np.log10(max([part.limiter.peak for part in self._parts] + [1e-12])))


class _Part:
    """One piece's limiter and meter: both start at frame `origin` (the warm-up block's, or 0), and the
    meter's steps count for the session's frames [measured_from, measured_to)."""

    def __init__(self, settings: SoundSettings, origin: int, measured_from: int, measured_to: int) -> None:
        rate, channels = settings.sample_rate, settings.channels
        self.limiter = TruePeakLimiter(rate, channels, 10 ** (limiter_ceiling_db(settings) / 20))
        self.meter = LoudnessMeter(rate, channels, true_peak=False)
        self.origin, self.measured_from, self.measured_to = origin, measured_from, measured_to

    def step_powers(self, step: int) -> np.ndarray:
        return self.meter.step_powers()[(self.measured_from - self.origin) // step :]


Written = TypeVar("Written")


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on the calling thread only while a session is mastered: the IIR filters' and the
    interpolators' products are just large enough to wake OpenBLAS's worker threads, which spin on
    the cores the encoders need (a 5-minute render: 1.6 s of CPU less). The limit is the process's:
    two renders on threads of one process share it, and the first to finish lifts it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def master(
    timeline: Timeline,
    bed_factory: BedFactory,
    settings: SoundSettings,
    write: Callable[[MasteredStream], Written],
    codec_change: float = 0.0,
    keep_bed: BedKeeper | None = None,
) -> tuple[MasterStats, Written]:
    """Master the session in one pass: planned from its parts, then mixed, limited and written once.

    `write` consumes the mastered stream (the encoder: whole, or in pieces side by
    side) and returns what it made. The stream's loudness is measured on its way to
    `write`, and the limiter reports its true peak; `codec_change` (from
    `codec_loudness_change`) is what the encoder will add to the loudness. Only when
    the measurement misses the target by more than MISS_TOLERANCE does a second pass
    write it again at a corrected gain. `keep_bed` keeps what planning measures of the
    bed (see `plan_master`).
    """
    with _one_blas_thread():
        plan = plan_master(timeline, bed_factory, settings, codec_change, keep_bed)
        target = settings.loudness - codec_change  # what the PCM stream must measure
        for _attempt in range(2):
            stream = MasteredStream(timeline, bed_factory, settings, plan)
            written = write(stream)
            measured = stream.integrated()
            if abs(measured - target) <= MISS_TOLERANCE or not np.isfinite(measured):
                break
            plan = replace(plan, gain_db=plan.gain_db + target - measured, predicted_lufs=target)
    return MasterStats(measured + codec_change, stream.true_peak_db(), plan.gain_db), written

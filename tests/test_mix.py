"""Mixing and mastering, measured: loudness, true peak, ducking, bells, channels, reproducibility, memory."""

from __future__ import annotations

import importlib
import os
import subprocess
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
from click.testing import CliRunner
from scipy.signal import resample_poly

from audiogen.background import Bed
from audiogen.cli import main
from audiogen.errors import AudioError
from audiogen.export import encode
from audiogen.mix import (
    LoudnessMeter,
    MasteredStream,
    TruePeakEnvelope,
    TruePeakLimiter,
    bed_gain_db,
    codec_loudness_change,
    limited,
    master,
    mastered_blocks,
    measure,
    mix_blocks,
    output_channels,
    plan_master,
    probe_excerpt,
    speech_spans,
)
from audiogen.models import ChapterMark, Clip, PlacedBell, PlacedClip, SoundSettings, Timeline, Utterance
from audiogen.settings import flag
from conftest import cli_render, decode, ffmpeg_true_peak, probe

RATE = 44100
SENTENCES = [
    "Let your shoulders soften as you breathe out.",
    "Notice the weight of your body, held by the ground.",
    "There is nothing you need to fix right now.",
    "Breathe in slowly, and feel the air fill your chest.",
]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Clip]:
    """Real speech: espeak-ng sentences at its native 22050 Hz."""
    folder = tmp_path_factory.mktemp("clips")
    made = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"clip{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "130", "-w", str(path), text], check=True)
        import wave

        with wave.open(str(path)) as w:
            made.append(Clip(Utterance(text), path, w.getnframes() / w.getframerate(), w.getframerate()))
    return made


def session(clips: list[Clip], seconds: float = 75.0) -> Timeline:
    """Sentences with short gaps, one long silence (to see the bed rise), bells, chapters."""
    placed, t = [], 2.0
    for i in range(40):
        clip = clips[i % len(clips)]
        if t + clip.duration > seconds - 8:
            break
        placed.append(PlacedClip(t, clip))
        t += clip.duration + ((20.0 if seconds >= 60 else 6.0) if i == 3 else 1.0)
    bells = (PlacedBell(0.5, "bowl"), PlacedBell(seconds - 7.0, "deep"))
    chapters = (ChapterMark(0.0, "Arrival"), ChapterMark(placed[min(4, len(placed) - 1)].start - 0.5, "Rest"))
    return Timeline(seconds, tuple(placed), bells, chapters)


def _factory(settings: SoundSettings):
    return lambda: Bed(settings.background, settings.seed, settings.sample_rate)


def render(timeline: Timeline, settings: SoundSettings, target: Path) -> tuple[Path, object]:
    settings = replace(settings, channels=output_channels(_factory(settings)(), settings))
    factory = _factory(settings)

    def codec(blocks, path):
        return encode(blocks, path.with_suffix(".mp3"), RATE, settings.channels)

    change = codec_loudness_change(probe_excerpt(timeline, factory, settings), RATE, codec)
    stats, _ = master(
        timeline, factory, settings, lambda blocks: encode(blocks, target, RATE, settings.channels), change
    )
    return target, stats


def reference_true_peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(x.astype(np.float64), 8, 1, axis=0)))))


# ---------------------------------------------------------------- measurement


@pytest.mark.parametrize("block", [4410, 44100, 100000])
def test_streaming_loudness_matches_pyloudnorm(block):
    rng = np.random.default_rng(3)
    t = np.arange(RATE * 12) / RATE
    signal = np.stack([0.2 * np.sin(2 * np.pi * 440 * t), 0.05 * rng.standard_normal(len(t))], axis=1)
    signal[RATE * 4 : RATE * 6] *= 0.01  # a quiet stretch the gate must drop
    meter = LoudnessMeter(RATE, 2)
    for start in range(0, len(signal), block):
        meter.add(signal[start : start + block])
    assert meter.integrated() == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(signal), abs=0.1)


def test_streaming_loudness_matches_pyloudnorm_on_a_real_mix(clips):
    settings = SoundSettings(background="rain+drone")
    mixed = np.concatenate(list(mix_blocks(session(clips, 40), _factory(settings), settings)))
    meter = LoudnessMeter(RATE, 2)
    for start in range(0, len(mixed), 30000):
        meter.add(mixed[start : start + 30000])
    assert meter.integrated() == pytest.approx(
        pyloudnorm.Meter(RATE).integrated_loudness(mixed.astype(np.float64)), abs=0.1
    )


def test_true_peak_finds_peaks_between_samples_across_block_edges():
    t = np.arange(RATE * 2) / RATE
    # A 11025 Hz sine sampled 45 degrees off its crests: sample peak 0.707, true peak 1.0 (about +3 dB).
    tone = np.stack([0.5 * np.sin(2 * np.pi * 11025 * t + np.pi / 4)] * 2, axis=1).astype(np.float32)
    envelope = TruePeakEnvelope(RATE, 2)
    found = max(float(envelope.envelope(tone[i : i + 777], 0.1).max()) for i in range(0, len(tone), 777))
    assert 20 * np.log10(np.max(np.abs(tone))) == pytest.approx(-9.03, abs=0.05)
    assert 20 * np.log10(found) == pytest.approx(reference_true_peak_db(tone), abs=0.3)


# ---------------------------------------------------------------- the limiter


def test_limiter_holds_the_ceiling_and_leaves_the_rest_alone():
    rng = np.random.default_rng(5)
    quiet = (0.1 * rng.standard_normal((RATE * 6, 2))).astype(np.float32)
    loud = quiet.copy()
    for at in (RATE, RATE * 3, RATE * 3 + 500, RATE * 5):  # short bursts far over the ceiling
        loud[at : at + 300] += np.float32(1.5) * np.sin(np.linspace(0, 40, 300, dtype=np.float32))[:, None]
    ceiling_db = -3.0
    out = np.concatenate(list(limited(iter(np.array_split(loud, 17)), RATE, 2, ceiling_db)))
    assert out.shape == loud.shape
    assert reference_true_peak_db(out) <= ceiling_db + 0.3  # 4x-oversampled detection, checked at 8x
    # Far from the bursts nothing changes; the gain ramps, it does not jump.
    assert np.array_equal(out[: RATE // 2], loud[: RATE // 2])
    assert np.array_equal(out[RATE * 2 : RATE * 2 + RATE // 2], loud[RATE * 2 : RATE * 2 + RATE // 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(np.abs(loud) > 0.02, out / loud, np.nan)[:, 0]
    steps = np.abs(np.diff(gain))
    assert np.nanmax(steps) < 0.05


def test_limiter_latency_is_flushed():
    limiter = TruePeakLimiter(RATE, 1, 0.5)
    block = np.ones((100, 1), dtype=np.float32) * 0.25
    total = sum(len(limiter.process(block)) for _ in range(30)) + len(limiter.flush())
    assert total == 3000


# ---------------------------------------------------------------- a mastered session, decoded


@pytest.mark.parametrize(
    "background, loudness", [("pink+drone", -16.0), ("rain+theta", -16.0), ("ocean", -20.0), ("pink", -13.0)]
)
def test_mastered_mp3_meets_loudness_and_true_peak(clips, tmp_path, background, loudness):
    settings = SoundSettings(background=background, loudness=loudness)
    path, stats = render(session(clips, 50), settings, tmp_path / "session.mp3")
    decoded = decode(path)
    assert decoded.shape[1] == 2
    measured = pyloudnorm.Meter(RATE).integrated_loudness(decoded.astype(np.float64))
    assert measured == pytest.approx(loudness, abs=0.5)
    assert stats.integrated_lufs == pytest.approx(loudness, abs=0.15)
    assert ffmpeg_true_peak(path) <= -1.0
    assert reference_true_peak_db(decoded) <= -1.0


def _voice_and_bed(clips, settings: SoundSettings, timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """The mix split into its parts: the same mix without a bed is the voice; the difference is the bed."""
    full = np.concatenate(list(mix_blocks(timeline, _factory(settings), settings)))
    voice_only = replace(settings, background="none")
    voice = np.concatenate(list(mix_blocks(timeline, _factory(voice_only), voice_only)))
    return voice, full - voice


def _levels(x: np.ndarray, frame: float = 0.05) -> np.ndarray:
    n = int(frame * RATE)
    usable = len(x) // n * n
    rms = np.sqrt(np.mean(x[:usable].astype(np.float64).reshape(-1, n, x.shape[1]) ** 2, axis=(1, 2)))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def test_bed_ducks_under_the_voice_and_rises_in_long_silences(clips):
    settings = SoundSettings(background="pink+drone")
    timeline = session(clips)
    voice, bed = _voice_and_bed(clips, settings, timeline)
    voice_db, bed_db = _levels(voice), _levels(bed)
    speaking = voice_db > voice_db.max() - 20
    body = np.zeros_like(speaking)
    body[int(5 / 0.05) : -int(8 / 0.05)] = True  # away from the fades
    difference = np.median(voice_db[speaking & body]) - np.median(bed_db[speaking & body])
    assert difference >= 15.0, difference
    assert 17.0 <= difference <= 23.0  # designed: 20 dB
    # The bed is there in every pause, and rises by several dB in the long one.
    pauses = ~speaking & body
    assert np.min(bed_db[pauses]) > -65
    long_gap = max(zip(timeline.clips, timeline.clips[1:]), key=lambda pair: pair[1].start - pair[0].start)
    middle = int((long_gap[0].start + long_gap[0].clip.duration + long_gap[1].start) / 2 / 0.05)
    assert np.median(bed_db[middle - 20 : middle + 20]) - np.median(bed_db[speaking & body]) >= 4.0
    # The ramp down starts before the voice does.
    start = long_gap[1].start
    before, waiting, at = bed_gain_db(
        np.array([start - 4.0, start - 1.5, start - 0.05]), speech_spans(timeline), settings
    )
    assert before - at >= 4.0
    assert waiting == pytest.approx(
        before, abs=0.1
    )  # the dip starts just before the voice, not seconds ahead


def test_mono_keeps_the_bed_where_stereo_has_it(clips):
    timeline = session(clips, 40)
    differences = []
    for channels in (2, 1):
        settings = SoundSettings(background="pink", channels=channels, mono=channels == 1)
        voice, bed = _voice_and_bed(clips, settings, timeline)
        assert voice.shape[1] == channels
        differences.append(
            10 * np.log10(np.mean(voice.astype(np.float64) ** 2) / np.mean(bed.astype(np.float64) ** 2))
        )
    assert differences[1] == pytest.approx(differences[0], abs=0.5)


def test_fades_at_both_ends_and_bells_on_top(clips):
    settings = SoundSettings(background="pink", fade_in=4.0, fade_out=6.0)
    timeline = session(clips)
    mixed = np.concatenate(list(mix_blocks(timeline, _factory(settings), settings)))
    levels = _levels(mixed)
    body = np.median(levels[int(5 / 0.05) : -int(8 / 0.05)])
    assert levels[:4].max() < body - 20  # the first 0.2 s
    assert levels[-4:].max() < body - 30  # the last 0.2 s
    # With `bells` in the bed, a strike marks the chapter change the script gave no bell.
    with_bells = replace(settings, background="pink+bells")
    rung = np.concatenate(list(mix_blocks(timeline, _factory(with_bells), with_bells)))
    mark = int(timeline.chapters[1].start * RATE)
    added = rung[mark : mark + RATE] - mixed[mark : mark + RATE]
    spectrum = np.abs(np.fft.rfft(added[:, 0]))
    assert np.fft.rfftfreq(RATE, 1 / RATE)[np.argmax(spectrum)] == pytest.approx(
        329.6, abs=2
    )  # the soft bowl
    assert np.array_equal(rung[: mark - 10], mixed[: mark - 10])


def test_same_seed_same_pcm_bytes(clips):
    timeline = session(clips, 30)

    def pcm(seed: int) -> bytes:
        settings = SoundSettings(background="rain+ocean+theta", seed=seed)
        plan = plan_master(timeline, _factory(settings), settings)
        return b"".join(
            block.tobytes() for block in mastered_blocks(timeline, _factory(settings), settings, plan)
        )

    first = pcm(11)
    assert first == pcm(11)
    assert first != pcm(12)


@pytest.mark.parametrize(
    "background, loudness",
    [("pink+drone", -16.0), ("ocean", -18.0), ("rain+bells", -16.0), ("none", -16.0), ("pink", -13.0)],
)
def test_the_plan_predicts_the_mastered_stream(clips, background, loudness):
    """One pass: the gain chosen before mixing gives the target, and the clips' peaks fit under the
    ceiling."""
    timeline = session(clips, 60)
    settings = SoundSettings(background=background, loudness=loudness)
    settings = replace(settings, channels=output_channels(_factory(settings)(), settings))
    plan = plan_master(timeline, _factory(settings), settings)
    assert plan.predicted_lufs == pytest.approx(loudness, abs=0.05)
    mixed = list(mix_blocks(timeline, _factory(settings), settings, plan.gain_db, plan.voice_ceiling_db))
    measured, _ = measure(iter(mixed), RATE, settings.channels)
    assert measured == pytest.approx(loudness, abs=0.15)  # the plan, checked by the streaming meter
    # The voice alone, at the planned gain, leaves the limiter's margin free for the bed.
    voice_only, words = replace(settings, background="none"), replace(timeline, bells=())
    voice = np.concatenate(
        list(mix_blocks(words, _factory(voice_only), voice_only, plan.gain_db, plan.voice_ceiling_db))
    )
    assert reference_true_peak_db(voice) <= settings.true_peak - 0.5 - 1.0 + 0.2


@pytest.mark.parametrize("background", ["rain+ocean+theta", "pink+drone", "none"])
def test_pieces_made_side_by_side_are_the_whole_pass(clips, background):
    """Overlapping pieces, each mixed in a thread of its own from the block before it, give a whole
    pass's samples, and the pieces' loudness and true peak are the whole pass's."""
    timeline = session(clips, 60)
    settings = SoundSettings(background=background)
    settings = replace(settings, channels=output_channels(_factory(settings)(), settings))
    plan = plan_master(timeline, _factory(settings), settings)
    whole_stream = MasteredStream(timeline, _factory(settings), settings, plan)
    whole = np.concatenate(list(whole_stream))
    frames = len(whole)
    assert frames == whole_stream.frames == 60 * RATE
    # Pieces starting in the first block (no warm-up) and the second (warmed up from the start).
    spans = [(0, 3 * RATE), (RATE, 5 * RATE), (3 * RATE, 31 * RATE + 1000)]
    spans += [(29 * RATE + 1152 * 7, 41 * RATE), (40 * RATE, frames)]
    stream = MasteredStream(timeline, _factory(settings), settings, plan)
    with ThreadPoolExecutor(3) as pool:
        pieces = list(pool.map(lambda blocks: np.concatenate(list(blocks)), stream.pieces(spans)))
    for (start, stop), piece in zip(spans, pieces):
        assert len(piece) == stop - start
        assert np.array_equal(piece, whole[start:stop])
    assert stream.integrated() == pytest.approx(whole_stream.integrated(), abs=1e-6)
    assert stream.true_peak_db() == pytest.approx(whole_stream.true_peak_db(), abs=1e-6)
    with pytest.raises(ValueError, match="must start at 0"):
        stream.pieces([(RATE, frames)])


def test_mastering_keeps_numpy_blas_on_one_thread(clips):
    """Its worker threads would spin on the cores the encoders need; afterwards the limit is lifted."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    settings = SoundSettings(background="pink")
    seen, before = [], blas_threads()
    master(session(clips, 20), _factory(settings), settings, lambda blocks: seen.append(blas_threads()))
    assert seen[0] and set(seen[0]) == {1}
    assert blas_threads() == before


def test_master_writes_once_and_reports_what_it_measured(clips):
    timeline = session(clips, 40)
    settings = SoundSettings(background="pink+drone")
    passes = []

    def write(blocks):
        passes.append(np.concatenate(list(blocks)))
        return "written"

    stats, written = master(timeline, _factory(settings), settings, write)
    assert written == "written" and len(passes) == 1
    measured, _ = measure(iter([passes[0]]), RATE, 2)
    assert stats.integrated_lufs == pytest.approx(measured, abs=0.01)
    assert stats.integrated_lufs == pytest.approx(-16.0, abs=0.15)
    assert stats.true_peak_dbtp == pytest.approx(reference_true_peak_db(passes[0]), abs=0.3)
    assert stats.true_peak_dbtp <= settings.true_peak


@pytest.mark.parametrize("seconds", [40, 300])  # measured whole, and in sampled windows
def test_a_warm_plan_uses_the_bed_powers_kept_in_the_cache(clips, tmp_path, seconds):
    """The bed's measured windows are kept (codec_offsets.bed_keeper); the next plan with the same bed
    and length makes no bed sound and chooses the same gain. Damaged, or from another bed, seed or
    length: measured again. Clearing the cache removes them."""
    from audiogen.codec_offsets import BED_POWERS, CodecOffsets, bed_keeper

    timeline = session(clips, seconds)
    settings = SoundSettings(background="rain+drone")
    made = []

    def counted_bed():
        bed = _factory(settings)()
        real = bed.block
        bed.block = lambda n: made.append(n) or real(n)
        return bed

    cold = plan_master(timeline, counted_bed, settings, keep_bed=bed_keeper(tmp_path, settings))
    kept = list((tmp_path / BED_POWERS).iterdir())
    assert made and len(kept) == 1
    made.clear()
    warm = plan_master(timeline, counted_bed, settings, keep_bed=bed_keeper(tmp_path, settings))
    assert made == [] and warm == cold
    assert plan_master(timeline, counted_bed, settings) == cold  # nothing kept: the same plan
    made.clear()
    kept[0].write_bytes(b"damaged")
    assert plan_master(timeline, counted_bed, settings, keep_bed=bed_keeper(tmp_path, settings)) == cold
    assert made
    for other in (replace(settings, seed=2), replace(settings, background="rain")):
        plan_master(timeline, _factory(other), other, keep_bed=bed_keeper(tmp_path, other))
    plan_master(session(clips, seconds + 20), counted_bed, settings, keep_bed=bed_keeper(tmp_path, settings))
    assert len(list((tmp_path / BED_POWERS).iterdir())) == 4
    CodecOffsets(tmp_path).clear()
    assert not (tmp_path / BED_POWERS).exists()


def test_a_warm_plan_uses_the_looks_kept_beside_the_clips(clips, tmp_path, monkeypatch):
    """Planning keeps its look at each clip beside it; the next plan reads those instead of the
    clips, and chooses the same gain. A damaged or outdated look is made again."""
    # The module (the package exports a function of the same name).
    module = importlib.import_module("audiogen.mix.master")
    levelled = module.levelled_clip
    copies = []
    for clip in clips:
        copy = tmp_path / clip.path.name
        copy.write_bytes(clip.path.read_bytes())
        copies.append(replace(clip, path=copy, utterance=replace(clip.utterance, volume=0.8)))
    timeline = session(copies, 40)
    settings = SoundSettings(background="pink+drone")
    cold = plan_master(timeline, _factory(settings), settings)
    looks = [module.look_path(clip.path) for clip in copies]
    assert all(look.exists() for look in looks)

    def no_clip_read(*args, **kwargs):
        raise AssertionError("a warm plan read a clip")

    monkeypatch.setattr(module, "levelled_clip", no_clip_read)
    warm = plan_master(timeline, _factory(settings), settings)
    assert warm.gain_db == pytest.approx(cold.gain_db, abs=1e-6)
    assert warm.voice_ceiling_db == pytest.approx(cold.voice_ceiling_db, abs=1e-6)
    monkeypatch.undo()
    looks[0].write_bytes(b"damaged")
    again = plan_master(timeline, _factory(settings), settings)
    assert again.gain_db == pytest.approx(cold.gain_db, abs=1e-6)
    with np.load(looks[0]) as stored:
        assert int(stored["version"]) == module.LOOK_VERSION
    # A clip made again is a new file, however alike: its look is made again too.
    remade = copies[1].path.with_name("remade.tmp")
    remade.write_bytes(copies[1].path.read_bytes())
    os.replace(remade, copies[1].path)
    looked = []
    monkeypatch.setattr(module, "levelled_clip", lambda *a: looked.append(a) or levelled(*a))
    plan_master(timeline, _factory(settings), settings)
    monkeypatch.undo()
    assert len(looked) == 1
    # The volume is applied to the kept look, not baked into it: a quieter clip plans louder.
    quiet = replace(
        timeline,
        clips=tuple(
            replace(p, clip=replace(p.clip, utterance=replace(p.clip.utterance, volume=0.4)))
            for p in timeline.clips
        ),
    )
    assert plan_master(quiet, _factory(settings), settings).gain_db > cold.gain_db + 3


def test_channels_follow_the_sources_and_the_users_choice():
    settings = SoundSettings()
    assert output_channels(Bed("pink", 1, RATE), settings) == 2
    assert output_channels(Bed("none", 1, RATE), settings) == 1
    assert output_channels(Bed("pink", 1, RATE), replace(settings, mono=True)) == 1
    with pytest.raises(AudioError) as caught:
        output_channels(Bed("rain+theta", 1, RATE), replace(settings, mono=True))
    assert "drop --mono or choose another --background" in caught.value.worded(flag)  # the command line
    assert "drop mono or choose another background" in str(caught.value)  # the Python API


def test_voice_only_mono_session(clips, tmp_path):
    settings = SoundSettings(background="none")
    path, _ = render(session(clips, 40), settings, tmp_path / "voice.mp3")
    decoded = decode(path)
    assert decoded.shape[1] == 1
    assert pyloudnorm.Meter(RATE).integrated_loudness(decoded.astype(np.float64)) == pytest.approx(
        -16, abs=0.5
    )
    levels = _levels(decoded)
    assert np.min(levels[int(3 / 0.05) : -int(8 / 0.05)]) < -70  # true silence between sentences


def test_background_gain_moves_the_bed_only(clips):
    timeline = session(clips, 40)
    base = SoundSettings(background="pink")
    voice, bed = _voice_and_bed(clips, base, timeline)
    louder_voice, louder_bed = _voice_and_bed(clips, replace(base, background_gain_db=6.0), timeline)
    assert np.array_equal(voice, louder_voice)
    ratio = np.sqrt(np.mean(louder_bed.astype(np.float64) ** 2) / np.mean(bed.astype(np.float64) ** 2))
    assert 20 * np.log10(ratio) == pytest.approx(6.0, abs=0.1)


def test_memory_does_not_grow_with_the_length_of_the_session(clips):
    """Traced allocations of a whole measuring pass: 5 minutes cost what 1 minute costs."""

    def peak(minutes: float) -> int:
        seconds = minutes * 60
        placed = tuple(
            PlacedClip(t, clips[i % len(clips)]) for i, t in enumerate(np.arange(2.0, seconds - 10, 12.0))
        )
        timeline = Timeline(seconds, placed, (PlacedBell(1.0, "bowl"),), ())
        settings = SoundSettings(background="pink")
        tracemalloc.start()
        meter = LoudnessMeter(RATE, 2)
        for block in limited(mix_blocks(timeline, _factory(settings), settings), RATE, 2, -1.5):
            meter.add(block)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(1), peak(5)
    assert long < short * 1.15 + 2_000_000, (short, long)
    assert long < 60_000_000


# ---------------------------------------------------------------- the real thing


def test_real_render_with_rain_and_binaural_beats(tmp_path, speech_cache):
    result = cli_render(
        tmp_path, speech_cache, "--background", "rain+binaural:210:7", "--background-gain", "3", "--seed", "4"
    )
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1])
    info = probe(path)
    assert int(info["streams"][0]["channels"]) == 2
    assert "headphones" in info["format"]["tags"]["comment"]
    decoded = decode(path).astype(np.float64)
    assert pyloudnorm.Meter(RATE).integrated_loudness(decoded) == pytest.approx(-16, abs=0.5)
    assert ffmpeg_true_peak(path) <= -1.0
    # The two carriers, one in each ear, 7 Hz apart.
    window = decoded[RATE * 10 : RATE * 50]
    freqs = np.fft.rfftfreq(len(window), 1 / RATE)
    band = (freqs > 180) & (freqs < 240)
    found = [
        freqs[band][np.argmax(np.abs(np.fft.rfft(window[:, ch] * np.hanning(len(window))))[band])]
        for ch in (0, 1)
    ]
    assert found == [pytest.approx(210, abs=0.1), pytest.approx(217, abs=0.1)]


def test_real_render_voice_only_is_mono(tmp_path, speech_cache):
    result = cli_render(tmp_path, speech_cache, "--background", "none")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1])
    assert int(probe(path)["streams"][0]["channels"]) == 1
    assert pyloudnorm.Meter(RATE).integrated_loudness(decode(path).astype(np.float64)) == pytest.approx(
        -16, abs=0.5
    )


def test_mono_with_binaural_beats_is_refused_before_any_work(tmp_path):
    result = CliRunner().invoke(
        main, ["render", "--background", "theta", "--mono", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 7
    assert "--mono" in result.output


def test_a_target_beyond_reach_under_the_ceiling_ends_the_plan_and_is_reported(clips):
    """Voice alone at -10 LUFS under -1 dBTP asks for more limiting than planning allows: it stops."""
    timeline = replace(session(clips, 30), bells=())
    settings = SoundSettings(background="none", loudness=-10.0, channels=1)
    plan = plan_master(timeline, _factory(settings), settings)
    assert plan.voice_ceiling_db >= -1.5 - 1.0 - plan.gain_db - 0.01
    stats, _ = master(timeline, _factory(settings), settings, lambda blocks: sum(len(b) for b in blocks))
    assert stats.true_peak_dbtp <= settings.true_peak
    assert np.isfinite(stats.integrated_lufs) and stats.integrated_lufs <= -10.0 + 0.3

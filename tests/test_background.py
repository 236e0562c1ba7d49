"""Backgrounds: every layer, seeds, binaural carriers, the user's own file looped without a click."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from click.testing import CliRunner

from audiogen import background
from audiogen.background import LAYER_RMS, LAYERS, Bed, check_background, seam_crossfade
from audiogen.cli import main
from audiogen.errors import AudioError

RATE = 44100


def _take(bed: Bed, seconds: float, block: float = 2.0) -> np.ndarray:
    n, size = int(seconds * RATE), int(block * RATE)
    return np.concatenate([bed.block(min(size, n - i)) for i in range(0, n, size)])


def _short_rms_db(x: np.ndarray, seconds: float = 0.5) -> np.ndarray:
    frame = int(seconds * RATE)
    usable = len(x) // frame * frame
    rms = np.sqrt(np.mean(x[:usable].astype(np.float64).reshape(-1, frame, x.shape[1]) ** 2, axis=(1, 2)))
    return 20 * np.log10(rms)


@pytest.mark.parametrize("name", [n for n in LAYERS if n not in ("bells", "none")])
def test_every_layer_is_a_steady_stereo_bed_at_the_layer_level(name):
    x = _take(Bed(name, 3, RATE), 30)
    assert x.dtype == np.float32 and x.shape == (30 * RATE, 2)
    assert np.all(np.isfinite(x))
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert 0.7 * LAYER_RMS < rms < 1.3 * LAYER_RMS, rms
    assert np.max(np.abs(x)) < 1.0
    # Both sides carry sound.
    assert np.all(np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=0)) > 0.5 * LAYER_RMS)


def test_rain_and_ocean_move_slowly_while_white_noise_does_not():
    spread = {
        name: np.std(_short_rms_db(_take(Bed(name, 5, RATE), 40))) for name in ("white", "rain", "ocean")
    }
    assert spread["white"] < 0.2
    assert spread["rain"] > 0.4  # the hiss swells and the drops patter
    assert spread["ocean"] > 2.0  # waves rise and fall by several dB
    # Ocean waves: the level envelope has most of its movement below 0.2 Hz.
    levels = _short_rms_db(_take(Bed("ocean", 5, RATE), 120))
    spectrum = np.abs(np.fft.rfft(levels - levels.mean())) ** 2
    freqs = np.fft.rfftfreq(len(levels), 0.5)
    assert spectrum[freqs < 0.2].sum() > 0.8 * spectrum.sum()


@pytest.mark.parametrize("spec", ["pink+drone", "rain+theta", "ocean+bells", "brown+white+alpha"])
def test_same_seed_same_samples_other_seed_other_samples(spec):
    first = _take(Bed(spec, 7, RATE), 6)
    assert first.tobytes() == _take(Bed(spec, 7, RATE), 6).tobytes()
    assert first.tobytes() != _take(Bed(spec, 8, RATE), 6).tobytes()


def _peak_frequency(x: np.ndarray) -> float:
    window = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * window))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    "spec, left, right",
    [
        ("binaural:200:6", 200.0, 206.0),
        ("binaural:432:3.5", 432.0, 435.5),
        ("theta", 200.0, 206.0),
        ("alpha", 220.0, 230.0),
        ("delta", 180.0, 182.5),
        ("binaural:alpha", 220.0, 230.0),
    ],
)
def test_binaural_carriers_sit_in_the_two_channels_at_the_set_difference(spec, left, right):
    bed = Bed(spec, 1, RATE)
    x = _take(bed, 20).astype(np.float64)  # 20 s: 0.05 Hz resolution
    assert _peak_frequency(x[:, 0]) == pytest.approx(left, abs=0.06)
    assert _peak_frequency(x[:, 1]) == pytest.approx(right, abs=0.06)
    assert bed.needs_stereo and bed.channels == 2
    assert any("headphones" in note for note in bed.notes)


def test_binaural_in_a_layered_bed_keeps_its_carriers():
    x = _take(Bed("rain+binaural:300:8", 2, RATE), 20).astype(np.float64)
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    band = (freqs > 250) & (freqs < 350)
    for channel, carrier in ((0, 300.0), (1, 308.0)):
        spectrum = np.abs(np.fft.rfft(x[:, channel] * np.hanning(len(x))))
        assert freqs[band][np.argmax(spectrum[band])] == pytest.approx(carrier, abs=0.06)


@pytest.mark.parametrize(
    "spec", ["binaural:200", "binaural:20:6", "binaural:200:90", "binaural:x:y", "thunder", "pink+"]
)
def test_bad_background_names_are_one_line_errors(spec):
    if spec == "pink+":
        assert Bed(spec, 1, RATE).layers  # a trailing '+' is forgiven
        return
    with pytest.raises(AudioError) as error:
        Bed(spec, 1, RATE)
    assert "\n" not in str(error.value)


def test_bells_and_none_make_no_continuous_sound():
    assert Bed("bells", 1, RATE).chapter_bell == "soft"
    none = Bed("none", 1, RATE)
    assert none.silent and none.channels == 1 and not np.any(none.block(1000))
    assert Bed("pink+bells", 1, RATE).gains.tolist() == [1.0, 0.0]


def test_bell_is_a_decaying_strike():
    strike = background.bell("bowl", RATE)
    assert np.max(np.abs(strike)) == pytest.approx(1.0)
    start, end = np.abs(strike[: RATE // 2]).max(), np.abs(strike[-RATE // 2 :]).max()
    assert end < start / 10


# ---------------------------------------------------------------- the user's own file


def _music(path, seconds: float, mono: bool = False) -> None:
    """A chord with a slow vibrato and some noise: its start and end do not line up, so a bare loop clicks."""
    rate = 48000  # not the session's rate: the decoder resamples
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(4)
    voice = sum(
        a * np.sin(2 * np.pi * f * t + 0.3 * np.sin(2 * np.pi * 0.5 * t))
        for f, a in ((220, 0.3), (277, 0.2), (330, 0.2))
    )
    left = voice + 0.002 * rng.standard_normal(len(t))
    right = voice * 0.8 + 0.002 * rng.standard_normal(len(t))
    data = np.stack([left, left] if mono else [left, right], axis=1)
    raw = path.with_suffix(".f32")
    data.astype("<f4").tofile(raw)
    codec = ["-c:a", "libvorbis", "-q:a", "6"] if path.suffix == ".ogg" else []
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            str(rate),
            "-ac",
            "2",
            "-i",
            str(raw),
            *(["-ac", "1"] if mono else []),
            *codec,
            str(path),
        ],
        check=True,
    )
    raw.unlink()


def _decoded(path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "-ar", str(RATE), "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2)


def _largest_jump(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x.astype(np.float64), axis=0))))


def test_a_looped_file_has_no_click_at_its_seams(tmp_path):
    music = tmp_path / "music.flac"  # lossless: the file's own jumps are exactly the reference
    _music(music, 7.3)
    source = _decoded(music)
    bed = Bed(str(music), 1, RATE)
    layer = bed.layers[0]
    looped = _take(bed, 30, block=1.3) / bed.gains[0]  # > 4 passes, blocks that straddle the seams
    period = layer.period
    seams = [k * period for k in range(1, 4)]
    crossfade = len(layer.seam)
    gain = float(layer.gain)
    elsewhere = _largest_jump(source) * gain
    for seam in seams:
        around = looped[seam - 100 : seam + crossfade + 100]
        assert _largest_jump(around) <= elsewhere * 1.001, seam
    # Without the crossfade the same loop would click: the test can tell the difference.
    naive = np.concatenate([source[-2000:], source[:2000]]) * gain
    assert _largest_jump(naive) > 1.5 * elsewhere
    # The loop keeps the file's level through the seam (no dip or bump over 1.5 dB).
    levels = _short_rms_db(looped[: 4 * period], 0.25)
    assert levels[2:].max() - levels[2:].min() < 1.5


def test_seam_crossfade_is_linear_for_identical_ends_and_equal_power_for_unrelated_ones():
    rng = np.random.default_rng(1)
    tone = np.sin(np.linspace(0, 200, 4000))[:, None].repeat(2, axis=1).astype(np.float32)
    assert np.allclose(seam_crossfade(tone, tone), tone, atol=1e-5)  # no bump for a matching loop
    a, b = (rng.standard_normal((40000, 2)).astype(np.float32) for _ in range(2))
    mixed = seam_crossfade(a, b)
    middle = mixed[15000:25000]
    assert np.sqrt(np.mean(middle.astype(np.float64) ** 2)) == pytest.approx(1.0, abs=0.05)  # no dip


def test_a_long_file_streams_and_gives_the_same_samples_as_a_held_one(tmp_path, monkeypatch):
    music = tmp_path / "long.flac"
    _music(music, 4.0)
    held = _take(Bed(str(music), 1, RATE), 13, block=0.7)
    background._analyse.cache_clear()
    monkeypatch.setattr(background, "HOLD_SECONDS", 1.0)
    bed = Bed(str(music), 1, RATE)
    assert bed.layers[0].info.held is None
    streamed = _take(bed, 13, block=0.7)
    bed.close()
    assert np.array_equal(held, streamed)
    background._analyse.cache_clear()


def test_file_level_gain_and_mono(tmp_path):
    music = tmp_path / "mono.wav"
    _music(music, 3.0, mono=True)
    bed = Bed(str(music), 1, RATE)
    assert bed.channels == 1 and not bed.needs_stereo
    x = _take(bed, 8)
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(LAYER_RMS, rel=0.1)
    stereo = tmp_path / "stereo.ogg"
    _music(stereo, 3.0)
    assert Bed(f"{stereo}+pink", 1, RATE).channels == 2


@pytest.mark.parametrize(
    "content", [b"", b"this is not audio at all" * 100, b"OggS" + bytes(range(256)) * 20]
)
def test_unreadable_background_file_is_one_line_naming_it(tmp_path, content):
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(content)
    with pytest.raises(AudioError) as error:
        Bed(str(bad), 1, RATE)
    message = str(error.value)
    assert str(bad) in message and "\n" not in message


def test_missing_background_file_fails_in_the_cli_before_any_work(tmp_path):
    result = CliRunner().invoke(
        main, ["render", "--background", str(tmp_path / "nope.mp3"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 7
    assert "nope.mp3" in result.output and "no such file" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_backgrounds_command_lists_every_layer_with_a_description():
    output = CliRunner().invoke(main, ["backgrounds"]).output
    for name in (
        "white",
        "pink",
        "brown",
        "rain",
        "ocean",
        "drone",
        "delta",
        "theta",
        "alpha",
        "bells",
        "none",
        "binaural:C:B",
        "PATH",
    ):
        line = next(line for line in output.splitlines() if line.startswith(name))
        assert len(line.split(None, 1)[1]) > 10


def test_real_render_over_your_own_music(tmp_path, speech_cache):
    import pyloudnorm

    from conftest import cli_render, decode, probe

    music = tmp_path / "music.ogg"
    _music(music, 9.0)
    out = tmp_path / "out"
    result = cli_render(out, speech_cache, "--background", str(music), "--background-gain", "-3")
    assert result.exit_code == 0, result.output
    path = out / result.output.strip().splitlines()[-1].split("/")[-1]
    assert int(probe(path)["streams"][0]["channels"]) == 2
    decoded = decode(path).astype(np.float64)
    assert pyloudnorm.Meter(RATE).integrated_loudness(decoded) == pytest.approx(-16, abs=0.5)
    # The music plays under the whole session: its chord is there in the longest pause of the
    # second half too (from the transcript: no voice there, whatever the voice's own pitch).
    from test_export import parse_vtt

    cues = parse_vtt(path.with_suffix(".vtt").read_text(encoding="utf-8"))
    duration = len(decoded) / RATE
    pauses = [
        (start - end, end)
        for (_, end, _), (start, _, _) in zip(cues, cues[1:] + [(duration - 6, 0, "")])
        if end > duration / 2
    ]
    length, begin = max(pauses)
    assert length > 2.5
    tail = decoded[int((begin + 0.5) * RATE) : int((begin + min(length, 6) - 0.5) * RATE), 0]
    freqs = np.fft.rfftfreq(len(tail), 1 / RATE)
    spectrum = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    assert freqs[np.argmax(spectrum[freqs < 400])] == pytest.approx(220, abs=3)


# ---------------------------------------------------------------- what generating faster must not change


def _blocks(bed: Bed, sizes) -> np.ndarray:
    return np.concatenate([bed.block(size) for size in sizes])


IRREGULAR = [1, 4410, 88200, 12345, 2, 30870, 88199, 7]  # 231034 frames; edges land anywhere


@pytest.mark.parametrize("spec", ["drone", "theta", "binaural:432:3.5"])
def test_sine_layers_do_not_depend_on_where_blocks_begin(spec):
    """One unbroken wave: the same frames in irregular blocks as in 2-s blocks (a phase jump at an
    edge would show)."""
    total = sum(IRREGULAR)
    regular = _blocks(Bed(spec, 5, RATE), [2 * RATE, total - 2 * RATE])
    irregular = _blocks(Bed(spec, 5, RATE), IRREGULAR)
    assert np.max(np.abs(irregular - regular)) < 1e-5


def _drone_reference(layer, frames: np.ndarray) -> np.ndarray:
    """The drone's definition evaluated in float64: each partial's two detuned sides times its slow swell."""
    t = frames / RATE
    out = np.zeros((len(frames), 2))
    for (freq, amp, lfo), phase in zip(layer.PARTIALS, layer.phases):
        swell = amp * (0.6 + 0.4 * np.sin(2 * np.pi * lfo * t + phase[1]))
        for ch, detune in enumerate((-0.15, 0.15)):
            out[:, ch] += swell * np.sin(2 * np.pi * (freq + detune) * t + phase[0])
    total = np.sqrt(sum(a * a for _, a, _ in layer.PARTIALS) / 2 * (0.6**2 + 0.4**2 / 2))
    return out * LAYER_RMS / total


@pytest.mark.parametrize("hours", [0, 3, 30])
def test_drone_and_binaural_keep_their_phase_after_hours(hours):
    """Samples hours into a session are still the exact wave: no phase drift, no float32 phase wander."""
    start = int(hours * 3600 * RATE)
    frames = start + np.arange(3 * RATE)
    drone = Bed("drone", 9, RATE).layers[0]
    drone.offset = start
    got = np.concatenate([drone.block(n, RATE) for n in (2 * RATE, RATE)])
    assert np.max(np.abs(got - _drone_reference(drone, frames))) < 1e-5
    beats = Bed("binaural:200:6", 9, RATE).layers[0]
    beats.offset = start
    got = np.concatenate([beats.block(n, RATE) for n in (2 * RATE, RATE)])
    t = frames / RATE
    expected = (
        LAYER_RMS * np.sqrt(2) * np.stack([np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 206 * t)], axis=1)
    )
    assert np.max(np.abs(got - expected)) < 1e-5


@pytest.mark.parametrize("spec", ["drone", "theta", "pink+drone", "rain", "ocean"])
def test_no_click_at_block_edges(spec):
    """Over 100 half-second blocks the largest step between neighbouring samples at an edge is no
    larger than inside."""
    size = RATE // 2
    x = _take(Bed(spec, 4, RATE), 50, block=0.5).astype(np.float64)
    steps = np.abs(np.diff(x, axis=0)).max(axis=1)
    at_edges = steps[size - 1 :: size]
    inside = np.delete(steps, np.arange(size - 1, len(steps), size))
    assert at_edges.max() <= inside.max()
    if spec in ("drone", "theta"):  # a pure tone's steps are regular: an edge step must look like any other
        assert at_edges.max() <= np.percentile(inside, 99.9) * 1.001


@pytest.mark.parametrize("name", [n for n in LAYERS if n not in ("bells", "none")])
def test_every_layer_reproduces_from_its_seed_and_has_independent_sides(name):
    first = _take(Bed(name, 11, RATE), 6)
    assert np.array_equal(first, _take(Bed(name, 11, RATE), 6))
    if name not in ("drone", "delta", "theta", "alpha"):  # tones are correlated by design; noise is not
        correlation = np.corrcoef(first[:, 0].astype(np.float64), first[:, 1].astype(np.float64))[0, 1]
        assert abs(correlation) < 0.05, correlation


def test_ocean_waves_keep_their_pace_after_an_hour():
    """The wave rate drifts around its ~7-13 s, it does not speed up with the time since the start."""
    bed = Bed("ocean", 5, RATE)
    bed.layers[0].offset = 3600 * RATE
    levels = _short_rms_db(_take(bed, 120))
    spectrum = np.abs(np.fft.rfft(levels - levels.mean())) ** 2
    freqs = np.fft.rfftfreq(len(levels), 0.5)
    assert spectrum[freqs < 0.2].sum() > 0.8 * spectrum.sum()


def test_beds_run_on_the_calling_thread():
    """The sines' matrix products stay small enough for BLAS to run them inline: worker threads
    would spin for more CPU than the products take (the cost the bed was made cheaper to avoid)."""
    bed = Bed("pink+drone+theta", 1, RATE)
    process, thread = time.process_time(), time.thread_time()
    for _ in range(300):
        bed.block(2 * RATE)
    process, thread = time.process_time() - process, time.thread_time() - thread
    # The process's CPU is the calling thread's plus any other thread's.
    assert process - thread <= 0.1 * thread + 0.01


@pytest.mark.parametrize("name", ["white", "pink", "brown"])
def test_noise_layers_have_their_filter_spectrum_and_level(name):
    """Gaussian white noise through the layer's filter: octave-band levels within 0.5 dB of |H(f)|²."""
    from scipy.signal import freqz, welch

    layer = Bed(name, 2, RATE).layers[0]
    x = np.concatenate([layer.block(2 * RATE, RATE) for _ in range(20)]).astype(np.float64)
    freqs, measured = welch(x, RATE, nperseg=8192, axis=0)
    measured = measured.mean(axis=1)
    b, a = (layer.filter.b, layer.filter.a) if layer.filter else ([1.0], [1.0])
    _, response = freqz(b.astype(np.float64) if layer.filter else b, a, worN=freqs, fs=RATE)
    expected = float(layer.norm) ** 2 * np.abs(response) ** 2 * 2 / RATE  # one-sided PSD of unit white noise
    bands = [(f, 2 * f) for f in 62.5 * 2.0 ** np.arange(8)]  # 62.5 Hz to 16 kHz
    levels = []
    for lo, hi in bands:
        band = (freqs >= lo) & (freqs < hi)
        assert 10 * np.log10(measured[band].sum() / expected[band].sum()) == pytest.approx(0, abs=0.5), (
            lo,
            hi,
        )
        levels.append(10 * np.log10(measured[band].sum()))
    slope = np.diff(levels)  # dB per octave
    assert np.all(np.abs(slope - {"white": 3.0, "pink": 0.0, "brown": -3.0}[name]) < 0.8), slope
    if (
        name == "white"
    ):  # and Gaussian: the excess kurtosis of a normal distribution is 0 (uniform noise: -1.2)
        from scipy.stats import kurtosis

        assert abs(kurtosis(x.ravel())) < 0.05


@pytest.mark.parametrize("name", [n for n in LAYERS if n not in ("bells", "none")])
def test_every_layer_sits_within_half_a_decibel_of_the_layer_level(name):
    """The mixer sets the bed's level from LAYER_RMS, so each layer must be there: over 4 minutes, 3 seeds."""
    for seed in (1, 2, 3):
        layer = Bed(name, seed, RATE).layers[0]
        squares = sum(float(np.sum(layer.block(2 * RATE, RATE).astype(np.float64) ** 2)) for _ in range(120))
        level = 10 * np.log10(squares / (120 * 2 * RATE * 2) / LAYER_RMS**2)
        assert abs(level) < 0.5, (seed, level)


def test_rain_drops_ring_on_across_blocks_like_a_filter():
    """The drops' envelope, built stretch by stretch, equals a one-pole filter over the same impulses,
    whatever the block sizes (the same random draws are replayed for the reference)."""
    from scipy.signal import lfilter

    layer = background._RainLayer(np.random.default_rng(3), RATE)
    layer.rng = np.random.default_rng(99)
    sizes = [2 * RATE, 1000, 37, 1, 2 * RATE, 5000]
    envelopes = [layer._drops(n) for n in sizes]
    replay, state = np.random.default_rng(99), np.zeros((2, 1))
    for n, envelope in zip(sizes, envelopes):
        impulses = np.zeros((2, n))
        for side in range(2):
            count = replay.poisson(layer.drop_rate * n)
            np.add.at(impulses[side], np.sort(replay.integers(0, n, count)), replay.random(count))
        expected, state = lfilter([1.0], [1.0, -layer.decay], impulses, axis=1, zi=state)
        assert np.max(np.abs(envelope - expected)) < 1e-6


@pytest.mark.parametrize("spec", ["drone", "theta", "file", "streamed-file"])
def test_skipping_lands_where_making_the_frames_would(spec, tmp_path, monkeypatch):
    """Planning samples a bed here and there: after skip(n), a block is the one after n frames."""
    if spec.endswith("file"):
        music = tmp_path / "loop.flac"
        _music(music, 3.0)
        if spec == "streamed-file":
            background._analyse.cache_clear()
            monkeypatch.setattr(background, "HOLD_SECONDS", 1.0)
        spec = str(music)
    made = Bed(spec, 4, RATE)
    made.block(7 * RATE + 13_230)  # 7.3 s: across more than two passes of the file
    expected = made.block(RATE)
    skipped = Bed(spec, 4, RATE)
    skipped.skip(4 * RATE + 4_410)
    skipped.skip(3 * RATE + 8_820)
    assert np.allclose(skipped.block(RATE), expected, atol=1e-5)
    made.close()
    skipped.close()
    background._analyse.cache_clear()


@pytest.mark.parametrize("spec", ["pink", "rain", "ocean"])
def test_skipping_a_noise_bed_keeps_its_character(spec):
    """Noise is drawn afresh after a skip, but the level and the slow swells are those of that moment."""
    made, skipped = Bed(spec, 2, RATE), Bed(spec, 2, RATE)
    made.block(600 * RATE)  # ten minutes in: the swells have moved on
    skipped.skip(600 * RATE)
    a, b = made.block(20 * RATE), skipped.block(20 * RATE)
    assert not np.array_equal(a, b)
    level = lambda x: 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
    assert level(b) == pytest.approx(level(a), abs=0.3)
    if spec == "ocean":  # the waves rise and fall at the same moments
        assert np.corrcoef(_short_rms_db(a, 1.0), _short_rms_db(b, 1.0))[0, 1] > 0.8


def test_a_background_is_checked_by_name_and_file_without_decoding(tmp_path, monkeypatch):
    """A manifest's check of every session: names, binaural figures and files exist; nothing is decoded."""
    monkeypatch.setattr(background, "_decoder", lambda *args, **kwargs: pytest.fail("decoded a file"))
    music = tmp_path / "loop.ogg"
    music.write_bytes(b"not decoded here")
    check_background(f"pink+binaural:200:6+{music}")
    for spec, words in [
        ("pink+thunderstorm", "unknown background 'thunderstorm'"),
        ("binaural:9999:6", "the carrier must be"),
        (f"rain+{tmp_path / 'missing.wav'}", "no such file"),
        (" + ", "empty background"),
    ]:
        with pytest.raises(AudioError, match=words):
            check_background(spec)


def test_a_fresh_bed_plays_the_same_frames_without_analysing_again(tmp_path, monkeypatch):
    music = tmp_path / "loop.flac"
    _music(music, 3.0)
    bed = Bed(f"{music}+rain+theta", 6, RATE)
    first = _take(bed, 8)
    monkeypatch.setattr(background, "_analyse", lambda *args: pytest.fail("analysed again"))
    again = bed.fresh()
    assert again.layers is not bed.layers and again.notes == bed.notes
    assert _take(again, 8).tobytes() == first.tobytes()
    bed.close()
    again.close()

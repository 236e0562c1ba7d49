"""The real engines (hibari, the default, and pyttsx3) at volume, the cache on re-render, and voice
warmth, measured."""

from __future__ import annotations

import time

import numpy as np
import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import SpeechCache, synthesize_track
from audiogen.speak.warmth import TAIL_SECONDS, _biquad, read_wav, warm
from speech_test_engines import synth_calls

COLOURS = "amber blue green silver golden quiet gentle warm soft clear".split()
PLACES = "river garden meadow shore forest valley hillside harbour lake field".split()


ENGINES = pytest.mark.parametrize("engine", ["hibari", "pyttsx3"])
SAMPLE_RATES = {"hibari": 24000, "pyttsx3": 22050}


def _sentences(count: int) -> list[str]:
    """Short, distinct sentences: one sentence per clip, nothing shared to hide a loss."""
    return [
        f"Rest by the {COLOURS[i % 10]} {PLACES[(i // 10) % 10]}, breath {i // 100 + 1}."
        for i in range(count)
    ]


@ENGINES
def test_three_hundred_sentences_none_lost(tmp_path, engine):
    texts = _sentences(300)
    assert len(set(texts)) == 300
    messages: list[str] = []
    started = time.monotonic()
    track = synthesize_track(
        [Utterance(t) for t in texts], VoiceSettings(engine=engine), tmp_path, report=messages.append
    )
    seconds = time.monotonic() - started
    print(f"\n300 sentences synthesised in {seconds:.1f} s ({seconds / 300 * 1000:.0f} ms a sentence)")
    assert [c.utterance.text for c in track.clips] == texts
    assert len({c.path for c in track.clips}) == 300
    for clip in track.clips:
        samples, rate = read_wav(clip.path)
        assert rate == clip.sample_rate == SAMPLE_RATES[engine]
        assert 1.5 < clip.duration < 8, clip.utterance.text
        assert np.sqrt(np.mean(samples**2)) > 0.01, f"audible speech in {clip.utterance.text!r}"
    assert messages == [f"speech: 300 sentences, 300 synthesised, the rest from {tmp_path}"]


@ENGINES
def test_the_cache_returns_identical_audio_and_is_hit_on_re_render(tmp_path, engine):
    utterances = [Utterance(t) for t in _sentences(6)] + [Utterance("Slower now.", rate=0.85)]
    first_messages: list[str] = []
    first = synthesize_track(utterances, VoiceSettings(engine=engine), tmp_path, report=first_messages.append)
    audio = {c.utterance: c.path.read_bytes() for c in first.clips}
    messages: list[str] = []
    again = synthesize_track(utterances, VoiceSettings(engine=engine), tmp_path, report=messages.append)
    assert messages == [f"speech: 7 sentences, 0 synthesised, the rest from {tmp_path}"]
    assert [c.path.read_bytes() for c in again.clips] == [audio[u] for u in utterances]
    assert [c.duration for c in again.clips] == [c.duration for c in first.clips]
    # Another rate is another clip.
    other = synthesize_track(utterances[:1], VoiceSettings(engine=engine, rate=100), tmp_path)
    assert other.clips[0].path != first.clips[0].path
    assert other.clips[0].duration > first.clips[0].duration


def test_no_cache_keeps_nothing_in_the_cache_folder(tmp_path):
    track = synthesize_track([Utterance("Rest now.")], VoiceSettings(), tmp_path / "cache", use_cache=False)
    assert track.clips[0].path.exists()
    assert not (tmp_path / "cache").exists()


def test_a_re_render_with_another_background_and_length_synthesises_nothing(tmp_path, monkeypatch):
    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    monkeypatch.setenv("AUDIOGEN_TEST_ENGINE_DIR", str(engine_dir))
    cache = tmp_path / "cache"
    common = [
        "-q",
        "render",
        "--engine",
        "speech_test_engines:CountingEngine",
        "--voice",
        "en-us+f3",
        "--voice-warmth",
        "0.5",
        "--cache-dir",
        str(cache),
    ]
    runner = CliRunner()
    first = runner.invoke(
        main, [*common, "--minutes", "1", "--background", "pink", "--out", str(tmp_path / "a")]
    )
    assert first.exit_code == 0, first.output
    calls = synth_calls(engine_dir)
    assert len(calls) > 10 and len(set(calls)) == len(calls), "each sentence synthesised once"
    # Every sentence is cached twice: the engine's clip and its warm variant.
    assert SpeechCache(cache).info().clips == 2 * len(calls)
    second = runner.invoke(
        main, [*common, "--minutes", "2", "--background", "brown+drone", "--out", str(tmp_path / "b")]
    )
    assert second.exit_code == 0, second.output
    assert synth_calls(engine_dir) == calls, "the re-render synthesised nothing"


def _band_energy_db(samples: np.ndarray, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return 10 * np.log10(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())


@ENGINES
def test_voice_warmth_is_a_separate_cached_variant_with_less_harshness(tmp_path, engine):
    utterance = Utterance("Let your shoulders soften, and let the breath be easy.")
    plain = synthesize_track([utterance], VoiceSettings(engine=engine), tmp_path).clips[0]
    plain_bytes = plain.path.read_bytes()
    warm_clip = synthesize_track([utterance], VoiceSettings(engine=engine, warmth=1.0), tmp_path).clips[0]
    assert warm_clip.path != plain.path and plain.path.read_bytes() == plain_bytes, (
        "the engine's clip is kept as it was"
    )
    assert warm_clip.duration == pytest.approx(plain.duration + TAIL_SECONDS, abs=0.01)
    dry, rate = read_wav(plain.path)
    wet, _ = read_wav(warm_clip.path)
    harsh_dry = _band_energy_db(dry, rate, 2500, 11025)
    harsh_wet = _band_energy_db(wet, rate, 2500, 11025)
    print(f"\nshare of energy above 2.5 kHz: {harsh_dry:.1f} dB dry, {harsh_wet:.1f} dB warm")
    assert harsh_wet < harsh_dry - 1.5
    assert np.max(np.abs(wet)) <= np.max(np.abs(dry)) + 1e-4, "never louder at the peak"
    messages: list[str] = []
    again = synthesize_track(
        [utterance], VoiceSettings(engine=engine, warmth=1.0), tmp_path, report=messages.append
    ).clips[0]
    assert again.path == warm_clip.path and "0 synthesised" in messages[0]


def test_warmth_filters_have_the_gains_they_claim():
    rate = 22050
    for kind, freq, gain, probe_hz in (
        ("low", 250, 3.0, 20),
        ("high", 6000, -4.0, 10_500),
        ("peak", 3200, -3.0, 3200),
    ):
        b, a = _biquad(kind, freq, gain, rate)
        z = np.exp(1j * 2 * np.pi * probe_hz / rate)
        response = abs(np.polyval(b[::-1], 1 / z) / np.polyval(a[::-1], 1 / z))
        assert 20 * np.log10(response) == pytest.approx(gain, abs=0.4), kind
    assert np.array_equal(warm(np.ones(10), rate, 0.0), np.ones(10)), "amount 0 leaves the clip alone"


@ENGINES
def test_rate_changes_between_sentences_are_never_dropped(tmp_path, engine):
    """pyttsx3 2.99's stop() used to cancel queued rate changes: alternate rates in one engine."""
    texts = [f"Let the breath settle, count {n}, and rest." for n in range(8)]
    rates = [1.3, 0.7] * 4
    track = synthesize_track(
        [Utterance(t, rate=r) for t, r in zip(texts, rates)], VoiceSettings(engine=engine), tmp_path
    )
    fast = [c.duration for c in track.clips if c.utterance.rate > 1]
    slow = [c.duration for c in track.clips if c.utterance.rate < 1]
    assert max(fast) * 1.4 < min(slow), (fast, slow)


def test_the_driver_prints_nothing_on_our_stdout(tmp_path, capfd):
    synthesize_track([Utterance("Rest now, quietly.")], VoiceSettings(engine="pyttsx3"), tmp_path)
    captured = capfd.readouterr()
    assert "Audio saved" not in captured.out and captured.out == ""

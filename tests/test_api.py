"""The Python API: real renders and builds, pydub in and out, errors as exceptions (never SystemExit)."""

from __future__ import annotations

import numpy as np
import pytest
from pydub import AudioSegment
from pydub.generators import Sine

import audiogen
from audiogen.errors import InputError, ManifestError, SettingError, VoiceError
from conftest import ARTICLES, decode, probe


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, speech_cache):
    out = tmp_path_factory.mktemp("api")
    return audiogen.render(ARTICLES[0], out=out, minutes=1, cache_dir=speech_cache, voice_warmth=0.3)


def test_render_returns_what_it_wrote_and_measured(rendered):
    assert rendered.path.suffix == ".mp3" and rendered.path.exists()
    assert {p.suffix for p in rendered.files} == {".mp3", ".jpg", ".vtt", ".lrc", ".txt"}
    assert all(p.exists() for p in rendered.files)
    assert set(rendered.path.parent.iterdir()) == set(rendered.files)
    assert rendered.duration == pytest.approx(float(probe(rendered.path)["format"]["duration"]), abs=0.1)
    assert rendered.master.integrated_lufs == pytest.approx(-16, abs=0.5)
    assert rendered.master.true_peak_dbtp <= -1.0
    assert [c["tags"]["title"] for c in probe(rendered.path)["chapters"]] == [
        c.title for c in rendered.chapters
    ]
    assert (
        rendered.themes is not None and rendered.themes.labels and rendered.labels == rendered.themes.labels
    )


def test_a_result_carries_the_lines_its_transcripts_hold(rendered):
    """What the library's index and feed show comes from here, not from reading the files back."""
    lines = rendered.transcript_lines
    assert lines and all(line.text and line.start < line.end for line in lines)
    vtt = rendered.path.with_suffix(".vtt").read_text("utf-8")
    assert [c.split("\n")[2] for c in vtt.strip().split("\n\n")[1:]] == [line.text for line in lines]
    assert all(line.text in rendered.path.with_suffix(".txt").read_text("utf-8") for line in lines)


def test_a_result_loads_as_an_audio_segment(rendered):
    segment = audiogen.audio_segment(rendered.path)
    assert isinstance(segment, AudioSegment)
    assert (segment.channels, segment.frame_rate, segment.sample_width) == (2, 44100, 2)
    assert len(segment) == pytest.approx(rendered.duration * 1000, abs=60)
    samples = np.array(segment.get_array_of_samples(), dtype=np.float64).reshape(-1, 2) / 32768
    reference = decode(rendered.path)
    frames = min(len(samples), len(reference))
    assert np.max(np.abs(samples[:frames] - reference[:frames])) < 1e-3, "the same samples ffmpeg decodes"


def test_an_audio_segment_is_a_background(tmp_path, speech_cache):
    """A 3-second 440 Hz loop made in a notebook plays under the whole session."""
    loop = Sine(440).to_audio_segment(duration=3000, volume=-20).set_channels(2)
    result = audiogen.render(ARTICLES[0], out=tmp_path, minutes=1, background=loop, cache_dir=speech_cache)
    samples = decode(result.path).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / 44100)
    peak = spectrum[np.argmin(np.abs(freqs - 440))]
    around = spectrum[(np.abs(freqs - 440) > 5) & (np.abs(freqs - 440) < 60)]
    assert peak > 20 * np.median(around), "the loop's tone stands out of the mix"
    assert list(tmp_path.iterdir()) and all(p.stem == result.path.stem for p in tmp_path.iterdir())


def test_themes_and_script_return_data():
    found = audiogen.themes(ARTICLES[0])
    assert found.title and found.labels
    made = audiogen.script(ARTICLES[0], minutes=5, listener="Sam")
    assert "Sam" in made.markup and made.cues


def test_errors_are_exceptions_never_system_exit(tmp_path):
    with pytest.raises(SettingError, match="unknown setting 'voice_warmt'; did you mean 'voice_warmth'"):
        audiogen.render(ARTICLES[0], out=tmp_path, voice_warmt=0.5)
    with pytest.raises(SettingError, match="minutes: 500 is out of range; choose 1 to 90"):
        audiogen.script(ARTICLES[0], minutes=500)
    with pytest.raises(SettingError, match="background: the AudioSegment is shorter"):
        audiogen.render(ARTICLES[0], out=tmp_path, background=AudioSegment.silent(100))
    with pytest.raises(InputError, match="no such file"):
        audiogen.themes(tmp_path / "missing.md")
    (tmp_path / "library.toml").write_text("[library]\nnmae = 'x'\n")
    with pytest.raises(ManifestError) as caught:
        audiogen.build(tmp_path / "library.toml")
    assert any("library.nmae: unknown key; did you mean 'name'?" in line for line in caught.value.problems)
    assert list(tmp_path.iterdir()) == [tmp_path / "library.toml"], "nothing written"


def test_build_returns_its_summary(tmp_path, speech_cache):
    (tmp_path / "a.txt").write_bytes(ARTICLES[1].read_bytes())
    (tmp_path / "library.toml").write_text(
        "[library]\nout = 'lib'\n[defaults]\nminutes = 1\n[[sessions]]\narticles = 'a.txt'\n"
    )
    summary = audiogen.build(tmp_path / "library.toml", workers=1, cache_dir=speech_cache)
    assert [o.status for o in summary.outcomes] == ["built"]
    assert (tmp_path / "lib" / "a-1min.mp3").exists() and summary.outputs[-1].name == "index.html"


def test_a_stage_error_names_the_keyword(tmp_path, speech_cache):
    with pytest.raises(VoiceError) as caught:
        audiogen.render(
            ARTICLES[0],
            out=tmp_path,
            minutes=1,
            engine="pyttsx3",
            voice="nosuchvoice",
            cache_dir=speech_cache,
        )
    assert caught.value.setting == "voice"
    assert str(caught.value).startswith("voice 'nosuchvoice': unknown voice")

"""The whole path with the real engine and real ffmpeg: article in, playable MP3 out, measured."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from audiogen.cli import main
from conftest import ARTICLES, decode, frame_levels_db, probe


def _render(args, tmp_path, speech_cache):
    result = CliRunner().invoke(
        main,
        ["-q", "render", *args, "--minutes", "1", "--out", str(tmp_path), "--cache-dir", str(speech_cache)],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / result.output.strip().splitlines()[-1].split("/")[-1]
    assert path.exists()
    return path


@pytest.mark.parametrize("article", ARTICLES + [None], ids=[a.stem for a in ARTICLES] + ["built-in-sample"])
def test_one_minute_session_is_a_valid_measured_mp3(article, tmp_path, speech_cache):
    path = _render([str(article)] if article else [], tmp_path, speech_cache)
    assert path.suffix == ".mp3"
    companions = {path.with_suffix(s) for s in (".jpg", ".vtt", ".lrc", ".txt")}
    assert set(tmp_path.iterdir()) == {path, *companions}, "no temporary files are left behind"

    info = probe(path)
    stream = info["streams"][0]
    assert stream["codec_name"] == "mp3"
    assert int(stream["sample_rate"]) == 44100
    # ffmpeg decodes the file to its end without an error.
    check = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    assert check.returncode == 0 and not check.stderr.strip()

    samples = decode(path)
    duration = len(samples) / 44100
    assert abs(duration - 60) <= 60 * 0.02
    assert np.max(np.abs(samples)) < 0.99, "no clipping"

    levels = frame_levels_db(samples)
    body = levels[int(4 / 0.05) : -int(4 / 0.05)]  # leave out the fades
    speech = body > np.percentile(body, 90) - 12
    assert speech.mean() > 0.15, "speech fills a fair part of the session"
    # Speech sits well above the bed; the bed is audible in the pauses, not silence.
    pauses = body[body < np.percentile(body, 10)]
    assert np.median(body[speech]) - np.median(pauses) > 15
    assert np.median(pauses) > -65, "the background is present in the pauses"
    # Several separate spoken stretches (sentences), not one block of sound.
    starts = np.flatnonzero(np.diff(speech.astype(int)) == 1)
    assert len(starts) >= 5


def test_file_is_named_after_the_title(tmp_path, speech_cache):
    path = _render([], tmp_path, speech_cache)
    assert path.name == "making-room-for-a-gentle-heart.mp3"
    tags = probe(path)["format"]["tags"]
    assert tags["title"] == "Making Room for a Gentle Heart"
    assert tags["genre"] == "Meditation"


def _integrated_lufs(path) -> float:
    import pyloudnorm

    return pyloudnorm.Meter(44100).integrated_loudness(decode(path).astype(np.float64))


def test_the_encoders_loudness_change_is_measured_once_and_kept(tmp_path, tmp_path_factory, speech_cache):
    """The first render measures what the encoder takes; later ones (other articles too) reuse it."""
    import json
    import shutil

    cache = tmp_path_factory.mktemp("codec-cache")
    for clip_folder in speech_cache.iterdir():  # the clips, without the shared cache's codec record
        if clip_folder.is_dir():
            shutil.copytree(clip_folder, cache / clip_folder.name)
    record = cache / "codec-offsets.json"

    def render(out, *args):
        result = CliRunner().invoke(
            main, ["-q", "render", *args, "--minutes", "1", "--out", str(out), "--cache-dir", str(cache)]
        )
        assert result.exit_code == 0, result.output
        return out / result.output.strip().splitlines()[-1].split("/")[-1]

    first = render(tmp_path / "a")
    kept = json.loads(record.read_text())
    assert list(kept) == ["mp3:128k:44100:2:pink+drone"]
    assert -1.0 < kept["mp3:128k:44100:2:pink+drone"] < 0.0  # LAME at 128 kbps takes a little loudness
    second = render(tmp_path / "b", str(ARTICLES[0]))
    assert json.loads(record.read_text()) == kept
    for path in (first, second):
        assert _integrated_lufs(path) == pytest.approx(-16.0, abs=0.3)
    record.write_text("{not json")  # a damaged record is measured again and rewritten
    render(tmp_path / "c", "--background", "rain")
    assert set(json.loads(record.read_text())) == {"mp3:128k:44100:2:rain"}
    cleared = CliRunner().invoke(main, ["cache", "clear", "--cache-dir", str(cache)])
    assert cleared.exit_code == 0 and cleared.output.startswith("removed ")
    # Hidden names are clips being written (a copied leftover here), which clear leaves to their writer.
    assert (
        not record.exists()
        and [p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    )


def test_sessions_measuring_the_encoders_change_at_once_all_use_the_first_figure(tmp_path):
    """A library's workers may all find no record; they take turns, so one measures and all agree."""
    import json
    import threading
    import time

    from audiogen.codec_offsets import codec_offset
    from audiogen.models import SessionSpec, SoundSettings

    spec, sound = SessionSpec(article=None, cache_dir=tmp_path), SoundSettings()
    measured, results = [], []

    def session(figure: float) -> None:
        def measure() -> float:
            measured.append(figure)
            time.sleep(0.3)  # the test encoding takes a while; the other session arrives meanwhile
            return figure

        results.append(codec_offset(tmp_path, spec.format, 128, sound, measure))

    threads = [threading.Thread(target=session, args=(figure,)) for figure in (-0.41, -0.47, -0.52)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(measured) == 1 and results == measured * 3
    assert list(json.loads((tmp_path / "codec-offsets.json").read_text()).values()) == measured


def test_a_background_file_is_keyed_by_its_contents_not_its_path(tmp_path):
    """The Python API writes an AudioSegment background to a new temporary file each render: the
    same sound keeps one encoder measurement; different sound, or another bitrate, gets its own."""
    from dataclasses import replace

    from audiogen.codec_offsets import codec_offset
    from audiogen.models import SoundSettings

    first, second, other = tmp_path / "a" / "loop.wav", tmp_path / "b" / "loop.wav", tmp_path / "other.wav"
    for path, data in ((first, b"RIFF same"), (second, b"RIFF same"), (other, b"RIFF different")):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    measured = []

    def offset(background, kbps: int = 128) -> float:
        sound = replace(SoundSettings(), background=f"{background}+theta")
        return codec_offset(tmp_path, "mp3", kbps, sound, lambda: measured.append(len(measured)) or -0.4)

    offset(first)
    offset(second)
    assert len(measured) == 1
    offset(other)
    offset(first, 96)
    assert len(measured) == 3

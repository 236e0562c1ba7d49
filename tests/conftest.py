from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiogen.library.catalog import CatalogEntry, SessionSettings
from audiogen.models import SessionSpec, SoundSettings, VoiceSettings

ROOT = Path(__file__).resolve().parent.parent
SHARED_ARTICLES = ROOT.parent / "shared" / "articles"
ARTICLES = sorted(SHARED_ARTICLES.glob("*.txt"))


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory) -> Path:
    """One speech cache for the whole run: sessions share their sentences."""
    return tmp_path_factory.mktemp("speech-cache")


def cli_render(out: Path, cache: Path, *args: str):
    """`audiogen -q render --minutes 1` through Click's test runner, into `out` with `cache`."""
    from click.testing import CliRunner

    from audiogen.cli import main

    return CliRunner().invoke(
        main, ["-q", "render", "--minutes", "1", "--out", str(out), "--cache-dir", str(cache), *args]
    )


def ffmpeg_true_peak(path: Path) -> float:
    """True peak by ffmpeg's own BS.1770 meter (dBTP): an implementation independent of ours."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    summary = out[out.rindex("Summary:") :]
    return float(re.search(r"Peak:\s+(-?[\d.]+|-inf)", summary).group(1))


def render_one_minute(tmp_path: Path, env: dict, *wrapper: str) -> subprocess.CompletedProcess:
    """`audiogen -q render --minutes 1` in its own process, as a user runs it, into tmp_path/out with
    a cache of its own; `wrapper` is a command it runs under (`unshare -n`)."""
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "audiogen", "-q", "render", "--minutes", "1"]
        + ["--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def decode(path: Path, sample_rate: int = 44100) -> np.ndarray:
    """The whole file decoded by ffmpeg to float samples, (frames, channels)."""
    info = probe(path)
    channels = int(info["streams"][0]["channels"])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ar", str(sample_rate), "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels)


def probe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-show_chapters",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def frame_levels_db(samples: np.ndarray, sample_rate: int = 44100, frame_seconds: float = 0.05) -> np.ndarray:
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    frame = int(sample_rate * frame_seconds)
    usable = len(mono) // frame * frame
    rms = np.sqrt(np.mean(mono[:usable].reshape(-1, frame) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


PODCAST_MANIFEST = """
[library]
name = "Phone Library"
out = "out"
base_url = "https://example.org/meditations"
author = "Test Author"
email = "owner@example.org"
description = "Two short sessions for the podcast tests."

[defaults]
minutes = 1

[[sessions]]
articles = "articles/{first}"

[[sessions]]
articles = "articles/{second}"
seed = {seed}
"""


@pytest.fixture(scope="session")
def podcast_library(tmp_path_factory, speech_cache) -> Path:
    """A two-session library of 1-minute sessions with a public address, built once per test run
    (the feed and serve tests share it; tests that change it work on copies). Returns the folder
    holding library.toml, articles/ and out/."""
    from click.testing import CliRunner

    from audiogen.cli import main

    folder = tmp_path_factory.mktemp("podcast-library")
    (folder / "articles").mkdir()
    for article in ARTICLES:
        (folder / "articles" / article.name).write_bytes(article.read_bytes())
    write_podcast_manifest(folder, seed=1)
    result = CliRunner().invoke(
        main,
        ["build", str(folder / "library.toml"), "--workers", "2", "--cache-dir", str(speech_cache), "-q"],
    )
    assert result.exit_code == 0, result.output
    return folder


def write_podcast_manifest(folder: Path, seed: int) -> Path:
    manifest = folder / "library.toml"
    manifest.write_text(
        PODCAST_MANIFEST.format(first=ARTICLES[0].name, second=ARTICLES[1].name, seed=seed), "utf-8"
    )
    return manifest


def catalog_entry(
    name: str, duration: float, title: str, files: list[str] | None = None, **changes
) -> CatalogEntry:
    """A library's record of a session, as a build makes it, with `changes` to its fields."""
    spec = SessionSpec(
        None, voice=VoiceSettings(voice="en-us+f3"), sound=SoundSettings(background="pink+drone")
    )
    made = CatalogEntry(
        name=name,
        title=title,
        article_title=title.split(" (")[0],
        article=f"articles/{name}.md",
        file=f"{name}.mp3",
        files=tuple(files or [f"{name}.mp3"]),
        duration=duration,
        loudness_lufs=-16.0,
        true_peak_dbtp=-1.2,
        themes=("grief", "trust"),
        template="gentle-reflection",
        listener=None,
        chapters=(),
        settings=SessionSettings.of(spec),
        key="k",
        built="2026-01-02T03:04:05+00:00",
        bytes=1000,
        audio_sha256="ab" * 32,
        transcript=(),
    )
    return dataclasses.replace(made, **changes)

"""audiogen as a user installs it: a wheel built from this checkout, installed into a fresh
virtual environment outside the checkout, run from another folder, once with the system's
ffmpeg hidden from PATH. Nothing here may import from the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import tomllib

from conftest import ARTICLES, ROOT, decode, probe

MANIFEST = """
[library]
name = "Installed"
out = "library"

[defaults]
minutes = 1

[[sessions]]
articles = ["articles/*.txt"]
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """An sdist and a wheel, built from a copy of the checkout's tracked files (a clean checkout)."""
    clean = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = clean / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(clean)], check=True, capture_output=True
    )
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (no editable install, no checkout)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("*.whl"))
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def _run(venv: Path, args: list[str], cwd: Path, hide_ffmpeg: bool = False, cache: Path | None = None):
    """The installed `audiogen` command, from `cwd`; with `hide_ffmpeg`, PATH holds only the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUDIOGEN_FFMPEG", "VIRTUAL_ENV")}
    env["PATH"] = str(venv / "bin") if hide_ffmpeg else f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run(
        [str(venv / "bin" / "audiogen"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def test_sdist_and_wheel_pass_twine_and_carry_the_package_data(dist):
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    names = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    templates = {
        Path(n).name for n in names if n.startswith("audiogen/scripts_templates/") and n.endswith(".j2")
    }
    assert templates == {p.name for p in (ROOT / "scripts_templates").glob("*.j2")}
    for data in (
        "audiogen/data/boilerplate.txt",
        "audiogen/data/taxonomy.toml",
        "audiogen/data/english.toml",
        "audiogen/samples/sample_article.md",
    ):
        assert data in names


def test_every_subpackage_is_declared_for_the_wheel():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "audiogen").rglob("__init__.py")}
    assert on_disk <= declared, f"add {sorted(on_disk - declared)} to [tool.setuptools] packages"


def test_the_version_is_declared_once_and_shown(installed, tmp_path):
    import audiogen

    assert "version" not in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = _run(installed, ["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"audiogen, version {audiogen.__version__}"


def test_installed_wheel_lists_and_reads_from_any_folder(installed, tmp_path):
    templates = _run(installed, ["templates"], tmp_path)
    assert templates.returncode == 0, templates.stderr
    listed = {line.split()[0] for line in templates.stdout.splitlines()}
    assert listed == {p.stem for p in (ROOT / "scripts_templates").glob("*.j2") if not p.stem.startswith("_")}
    backgrounds = _run(installed, ["backgrounds"], tmp_path)
    assert backgrounds.returncode == 0 and "pink" in backgrounds.stdout
    voices = _run(installed, ["voices"], tmp_path, cache=tmp_path / "cache")
    assert voices.returncode == 0 and voices.stdout.strip(), voices.stderr
    themes = _run(installed, ["themes", str(ARTICLES[0]), "--json"], tmp_path)
    assert themes.returncode == 0, themes.stderr
    assert '"labels"' in themes.stdout
    script = _run(installed, ["script", str(ARTICLES[0]), "--minutes", "5"], tmp_path)
    assert script.returncode == 0, script.stderr
    assert "[chapter" in script.stdout


def _integrated_lufs(path: Path) -> float:
    return pyloudnorm.Meter(44100).integrated_loudness(decode(path).astype(np.float64))


def test_installed_wheel_renders_without_a_system_ffmpeg(installed, tmp_path):
    """PATH holds only the virtual environment: ffmpeg comes from the imageio-ffmpeg package."""
    env = {"PATH": str(installed / "bin")}
    where = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "from audiogen.tools import ffmpeg_path; print(ffmpeg_path())",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "imageio_ffmpeg" in where and where.startswith(str(installed))

    result = _run(
        installed,
        ["-q", "render", "--minutes", "1", "--out", "sessions"],
        tmp_path,
        hide_ffmpeg=True,
        cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    audio = tmp_path / "sessions" / Path(result.stdout.strip().splitlines()[-1]).name
    assert audio.suffix == ".mp3" and audio.exists()
    assert {p.suffix for p in audio.parent.iterdir()} == {".mp3", ".jpg", ".vtt", ".lrc", ".txt"}
    duration = float(probe(audio)["format"]["duration"])
    assert duration == pytest.approx(60, abs=2)
    assert _integrated_lufs(audio) == pytest.approx(-16, abs=1)
    assert len(probe(audio)["chapters"]) >= 3


def test_installed_wheel_builds_a_two_session_library(installed, tmp_path):
    (tmp_path / "articles").mkdir()
    for article in ARTICLES[:2]:
        (tmp_path / "articles" / article.name).write_bytes(article.read_bytes())
    (tmp_path / "library.toml").write_text(MANIFEST)
    result = _run(
        installed, ["-q", "build", "library.toml", "--workers", "2"], tmp_path, cache=tmp_path / "cache"
    )
    assert result.returncode == 0, result.stderr
    library = tmp_path / "library"
    audio = sorted(library.glob("*.mp3"))
    assert [p.stem for p in audio] == sorted(f"{a.stem}-1min" for a in ARTICLES[:2])
    playlist = (library / "playlist.m3u8").read_text()
    assert playlist.startswith("#EXTM3U") and all(p.name in playlist for p in audio)
    for path in audio:
        assert float(probe(path)["format"]["duration"]) == pytest.approx(60, abs=2)
    assert re.search(r"<audio[^>]+src=", (library / "index.html").read_text())

"""Bad input of every kind: one clear line, a documented exit code, no traceback, nothing left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real command in its own process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "audiogen", *args],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=env or dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip() and line.strip() != "speaking"]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("audiogen: error:"), lines[0]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _article(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_ARTICLES = {
    "missing": (None, "no such file"),
    "empty": (b"", "empty"),
    "whitespace": (b" \n\n\t \n", "empty"),
    "binary": (bytes(range(256)) * 50, "binary"),
    "png-named-txt": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "png image"),
    "huge": (b"word " * (11 * 1024 * 1024), "limit"),
    "html-without-article": (
        b"<html><body><nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
        b"<footer>Copyright 2024</footer></body></html>",
        "no article text",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ARTICLES), ids=list(BAD_ARTICLES))
def test_bad_article(tmp_path: Path, case: str):
    data, needle = BAD_ARTICLES[case]
    suffix = ".html" if case.startswith("html") else ".txt"
    article = tmp_path / f"article{suffix}" if data is None else _article(tmp_path, f"article{suffix}", data)
    out = tmp_path / "out"
    result = run_cli("render", str(article), "--minutes", "1", "--out", str(out))
    assert_one_line_error(result, 3, needle, str(article.name))
    assert files_in(out) == []


def test_non_utf8_article_is_read_with_a_fallback(tmp_path: Path):
    text = (
        "Grief asks for patience. "
        * 3
        + "You are allowed to rest, and to let the café of old memories close "
        "for a while. Healing is not a straight line, and you can be gentle with every turn it takes. "
    ) * 3
    article = _article(tmp_path, "latin1.txt", ("Letting Go Gently\n\n" + text).encode("cp1252"))
    result = run_cli("themes", str(article), "--json")
    assert result.returncode == 0, result.stderr
    assert "café" in result.stdout or "Letting Go Gently" in result.stdout


def test_unknown_voice_lists_close_matches(tmp_path: Path):
    result = run_cli(
        "render",
        "--minutes",
        "1",
        "--voice",
        "en-uss",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert_one_line_error(result, 6, "unknown voice", "en-uss")
    assert files_in(tmp_path / "out") == []


def test_unknown_template(tmp_path: Path):
    result = run_cli("render", "--minutes", "1", "--template", "nonesuch", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, 4, "nonesuch")
    assert files_in(tmp_path / "out") == []


def test_unknown_background(tmp_path: Path):
    result = run_cli(
        "render", "--minutes", "1", "--background", "thunderstorm", "--out", str(tmp_path / "out")
    )
    assert_one_line_error(result, 7, "thunderstorm")


def test_output_folder_cannot_be_created(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(
        "render", "--minutes", "1", "--out", str(blocker / "sub"), "--cache-dir", str(tmp_path / "cache")
    )
    assert_one_line_error(result, 9, "sub")


@contextlib.contextmanager
def tiny_filesystem(tmp_path: Path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mount_point, mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_disk_full_leaves_no_partial_file(tmp_path: Path):
    with tiny_filesystem(tmp_path) as (folder, mounted):
        assert mounted, "a tiny tmpfs is needed (the tests run as root in CI)"
        result = run_cli(
            "render", "--minutes", "1", "--out", str(folder), "--cache-dir", str(tmp_path / "cache")
        )
        assert_one_line_error(result, 9, "space", folder.name)
        assert files_in(folder) == []


def test_missing_ffmpeg(tmp_path: Path):
    # A PATH with python and espeak-ng but no ffmpeg, and imageio-ffmpeg's own ffmpeg missing too
    # (IMAGEIO_FFMPEG_EXE names where it would be).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("espeak-ng",):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = dict(os.environ, PATH=str(bin_dir), PYTHONPATH=str(ROOT))
    env.pop("AUDIOGEN_FFMPEG", None)
    env["IMAGEIO_FFMPEG_EXE"] = str(tmp_path / "no-such-ffmpeg")
    result = run_cli(
        "render",
        "--minutes",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        env=env,
    )
    assert_one_line_error(result, 8, "ffmpeg")
    assert files_in(tmp_path / "out") == []


def test_missing_espeak_for_the_command_line_engine(tmp_path: Path):
    # ffmpeg is there, espeak-ng is not.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = dict(os.environ, PATH=str(bin_dir), PYTHONPATH=str(ROOT))
    result = run_cli(
        "render",
        "--minutes",
        "1",
        "--engine",
        "espeak-ng",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        env=env,
    )
    assert_one_line_error(result, 8, "espeak-ng")
    assert files_in(tmp_path / "out") == []


def test_words_do_not_fit(tmp_path: Path):
    article = ROOT / "audiogen" / "samples" / "sample_article.md"
    result = run_cli("render", str(article), "--minutes", "0.5", "--out", str(tmp_path / "out"))
    assert result.returncode == 2  # Click rejects the range itself
    assert "Traceback" not in result.stderr

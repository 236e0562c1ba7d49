from __future__ import annotations

import pytest
from click.testing import CliRunner

from audiogen import __version__
from audiogen.cli import main

COMMANDS = [
    [],
    ["render"],
    ["themes"],
    ["script"],
    ["voices"],
    ["templates"],
    ["backgrounds"],
    ["cache"],
    ["cache", "clear"],
]


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_help_everywhere(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_main_help_documents_exit_codes():
    result = CliRunner().invoke(main, ["--help"])
    assert "Exit codes" in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        (b"", "empty"),
        (b"\x00\x01\x02\x03binary" * 100, "binary"),
        (b"Too short.", "words of article text"),
    ],
    ids=["missing", "empty", "binary", "too-short"],
)
def test_bad_article_gives_one_line_and_exit_code(tmp_path, content, expected):
    article = tmp_path / "article.txt"
    if content is not None:
        article.write_bytes(content)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(article), "--out", str(out)])
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(article) in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_unknown_background_fails_before_any_work(tmp_path):
    result = CliRunner().invoke(main, ["render", "--background", "thunder", "--out", str(tmp_path)])
    assert result.exit_code == 7
    assert "unknown background" in result.output
    assert not any(tmp_path.iterdir())


def test_debug_shows_traceback(tmp_path):
    result = CliRunner().invoke(main, ["--debug", "render", str(tmp_path / "nope.txt")])
    assert result.exit_code == 3


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_before_or_after_the_subcommand(tmp_path, where):
    """`audiogen -q script` and `audiogen script -q` are the same; so are --debug and -v."""
    quiet = ["-q", "script", "--minutes", "5"] if where == "before" else ["script", "--minutes", "5", "-q"]
    result = CliRunner().invoke(main, quiet)
    assert result.exit_code == 0, result.output
    assert "[chapter Arrival]" in result.output
    debug = ["--debug", "render", str(tmp_path / "nope.txt")]
    if where == "after":
        debug = ["render", str(tmp_path / "nope.txt"), "--debug"]
    failed = CliRunner().invoke(main, debug)
    assert failed.exit_code == 3
    assert "Traceback" in failed.output  # --debug shows it; without, one line
    assert "Traceback" not in CliRunner().invoke(main, [a for a in debug if a != "--debug"]).output


def test_script_prints_markup_and_timeline():
    result = CliRunner().invoke(main, ["script", "--minutes", "5"])
    assert result.exit_code == 0, result.output
    assert "[chapter Arrival]" in result.output
    assert "planned timeline" in result.output
    assert "05:00.0  (end)" in result.output


def test_themes_json():
    import json

    result = CliRunner().invoke(main, ["themes", "--json"])
    data = json.loads(result.output)
    assert data["title"] == "Making Room for a Gentle Heart"
    for key in ("labels", "insights", "questions", "affirmations", "practices", "keywords"):
        assert data[key], key


def test_listing_commands():
    runner = CliRunner()
    assert "gentle-reflection" in runner.invoke(main, ["templates"]).output
    assert "pink" in runner.invoke(main, ["backgrounds"]).output


def test_closed_pipe_stops_quietly():
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "audiogen", "script", "--minutes", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader goes away before the first line, like `| head -0`
    stderr = process.stderr.read().decode()
    assert process.wait() == 141
    assert "Traceback" not in stderr and "error" not in stderr

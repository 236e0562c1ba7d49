"""Manifest reading and validation: no audio is rendered here."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.errors import ManifestError
from audiogen.library import load_manifest
from conftest import ROOT

SAMPLES = ROOT / "audiogen" / "samples"


def write(folder: Path, text: str) -> Path:
    path = folder / "library.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return caught.value.problems


def test_example_manifest_plans_its_sessions():
    manifest = load_manifest(ROOT / "examples" / "library.toml")
    names = [s.name for s in manifest.sessions]
    assert len(names) == 7 == len(set(names))
    assert "learning-to-trust-again-5min-for-sam" in names
    assert "small-rituals-for-grief-10min" in names
    assert manifest.settings.name == "A Gentle Heart"
    assert manifest.settings.out_dir == (ROOT / "output" / "a-gentle-heart")
    sam = next(s for s in manifest.sessions if s.listener == "sam")
    # The listener's pace and background replace the library defaults.
    assert (sam.spec.voice.rate, sam.spec.sound.background, sam.spec.listener) == (105, "brown", "Sam")
    assert sam.spec.album == "A Gentle Heart"
    assert all(s.spec.article.is_file() for s in manifest.sessions)


def test_matrix_expands_and_names_are_stable_and_readable(tmp_path):
    path = write(
        tmp_path,
        f"""
[library]
name = "Matrix"
[defaults]
minutes = 1
[listeners.ada]
rate = 100
[[sessions]]
articles = ["{SAMPLES}/*.md"]
minutes = [1, 2.5]
backgrounds = ["pink+drone", "brown"]
listeners = ["ada"]
""",
    )
    manifest = load_manifest(path)
    assert len(manifest.sessions) == 3 * 2 * 2
    names = {s.name for s in manifest.sessions}
    # Only what differs from the defaults shows in a name; listeners are named.
    assert "sample-article-2-5min-for-ada" in names
    assert "sample-article-1min-brown-for-ada" in names
    assert all(s.spec.listener == "ada" and s.spec.voice.rate == 100 for s in manifest.sessions)
    assert manifest.settings.out_dir == tmp_path / "library"
    # Each session knows which key set each of its settings (a failure while rendering names it).
    brown = next(s for s in manifest.sessions if s.name == "sample-article-2-5min-brown-for-ada")
    assert brown.key_path("background") == "sessions[0].backgrounds[1]"
    assert brown.key_path("minutes") == "sessions[0].minutes[1]"
    assert brown.key_path("rate") == "listeners.ada.rate"
    assert brown.key_path("seed") == "sessions[0].seed"  # nobody wrote it down: the entry's


def test_every_problem_is_reported_at_once_with_its_key_path(tmp_path):
    path = write(
        tmp_path,
        f"""
[library]
name = 5
colour = "blue"
[defaults]
minutes = "ten"
voice = "no-such-voice"
[listeners.sam]
pace = 100
[[sessions]]
articles = ["{SAMPLES}/sample_article.md", "missing/*.md", "nowhere.txt"]
template = "no-such-template"
backgrounds = ["thunderstorm"]
rate = 400
listeners = ["bob"]
[[sessions]]
articles = "{SAMPLES}/sample_article.md"
minutes = [1, 1]
[[sessions]]
""",
    )
    found = problems(path)
    text = "\n".join(found)
    expected = [
        "library.name: expected a string, got an integer 5",
        "library.colour: unknown key",
        "defaults.minutes: expected a number, got a string 'ten'",
        "listeners.sam.pace: unknown key",
        "sessions[0].articles[1]: 'missing/*.md' matches no article files",
        "sessions[0].articles[2]: article not found",
        "sessions[0].rate: 400 is out of range",
        "sessions[0].listeners[0]: unknown listener 'bob'",
        "sessions[1]",  # a duplicate output name
        "already used by sessions[1]",
        "sessions[2].articles: missing",
        "defaults.voice: 'no-such-voice': unknown voice",
        # still checked although the entry's listener and the default minutes are bad:
        "sessions[0].template: unknown template 'no-such-template'",
        "sessions[0].backgrounds[0]: unknown background 'thunderstorm'",
    ]
    for piece in expected:
        assert piece in text, piece
    assert all(line.startswith(f"{path}: ") and "\n" not in line for line in found)


def test_unknown_template_and_background_name_their_keys(tmp_path):
    path = write(
        tmp_path,
        f"""
[[sessions]]
articles = "{SAMPLES}/sample_article.md"
template = "no-such-template"
backgrounds = ["pink", "thunderstorm"]
""",
    )
    found = problems(path)
    assert any(
        "sessions[0].template: unknown template 'no-such-template'; known: " in line
        and "gentle-reflection" in line
        for line in found
    ), found
    assert any(": sessions[0].backgrounds[1]: unknown background 'thunderstorm'" in line for line in found), (
        found
    )
    assert not any("backgrounds[0]" in line for line in found)


def test_name_pattern_fields_and_reserved_names(tmp_path):
    path = write(
        tmp_path,
        f"""
[[sessions]]
articles = "{SAMPLES}/sample_article.md"
name = "{{article}}-{{mood}}"
[[sessions]]
articles = "{SAMPLES}/learning-to-trust-again.md"
name = "index"
""",
    )
    found = "\n".join(problems(path))
    assert "sessions[0].name: unknown field {mood}" in found
    assert "sessions[1].name: name pattern must contain {article}" in found

    path = write(
        tmp_path,
        f"""
[[sessions]]
articles = "{SAMPLES}/sample_article.md"
minutes = [1, 2]
name = "{{article}}-{{voice}}"
""",
    )
    assert "is already used by" in "\n".join(problems(path))


def test_toml_syntax_error_is_one_problem(tmp_path):
    path = write(tmp_path, "[library\nname = 'x'\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: not valid TOML") and "line 1" in line


def test_cli_prints_one_line_per_problem_and_exits_for_bad_input(tmp_path):
    path = write(
        tmp_path,
        """
[library]
nmae = "typo"
[[sessions]]
articles = "gone.md"
minutes = 0
""",
    )
    result = CliRunner().invoke(main, ["build", str(path)])
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"audiogen: error: {path}: ") for line in lines)
    assert "library.nmae: unknown key; did you mean 'name'?" in lines[0]
    assert not (tmp_path / "library").exists()  # nothing was started


def test_cli_missing_manifest(tmp_path):
    result = CliRunner().invoke(main, ["build", str(tmp_path / "none.toml")])
    assert result.exit_code == 3
    assert "manifest not found" in result.stderr


def test_build_help_lists_its_options():
    result = CliRunner().invoke(main, ["build", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--workers", "--scheduler", "--prune", "--cache-dir", "--quiet"):
        assert option in result.output


def test_a_folder_of_articles_finds_every_suffix_the_readers_take(tmp_path):
    from audiogen.read import READERS

    folder = tmp_path / "articles"
    folder.mkdir()
    text = (SAMPLES / "sample_article.md").read_text()
    for index, suffix in enumerate(READERS):
        (folder / f"a{index}{suffix}").write_text(text)
    (folder / "notes.docx").write_text(text)
    manifest = write(tmp_path, "[[sessions]]\narticles = 'articles'\nminutes = 5\n")
    found = {s.article.suffix for s in load_manifest(manifest).sessions}
    assert found == set(READERS), "a manifest's folder takes .text, .mdown, .mkd and .xhtml too"


def test_a_stage_error_names_the_manifest_key_not_the_command_line_flag(tmp_path):
    path = write(
        tmp_path,
        f"""
[library]
bitrate = "999k"
[[sessions]]
articles = "{SAMPLES}/sample_article.md"
engine = "pyttsx3"
voices = ["no-such-voice"]
""",
    )
    found = problems(path)
    assert any(": sessions[0].voices[0]: 'no-such-voice': unknown voice" in line for line in found), found
    assert any(": library.bitrate: '999k' does not suit mp3; choose" in line for line in found), found
    assert not any("--voice" in line or "--bitrate" in line for line in found), found

"""One settings table: the command line, profiles, manifests (and the Python API) all take every
setting, check it the same way and word the problem their own way."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audiogen import settings
from audiogen.cli import main, render, script
from audiogen.errors import InputError, ManifestError
from audiogen.library import load_manifest
from audiogen.models import SessionSpec
from audiogen.profile import load_profile
from audiogen.speak.engines import VoiceInfo
from audiogen.speak.voices import resolve_voice
from conftest import ROOT

SAMPLE = ROOT / "audiogen" / "samples" / "sample_article.md"
# A value other than the default for each setting a profile or a manifest entry may carry.
OTHER_VALUES = {
    "minutes": 7,
    "template": "sleep",
    "listener": "Sam",
    "intention": "to rest",
    "engine": "espeak-ng",
    "voice": "en-gb",
    "rate": 101,
    "pitch": 33,
    "voice_warmth": 0.5,
    "background": "brown",
    "background_gain": -3.5,
    "mono": True,
    "seed": 9,
    "narrator": "Ada",
    "cover": False,
    "transcript": False,
    "language": "en",
}


def _field(spec: SessionSpec, setting: settings.Setting):
    value = spec
    for part in setting.field.split("."):
        value = getattr(value, part)
    return value


def test_every_session_setting_has_a_test_value_and_every_setting_an_option():
    assert set(OTHER_VALUES) == {s.name for s in settings.SESSION_SETTINGS}
    options = {opt for param in render.params for opt in param.opts}
    for setting in settings.SETTINGS:
        assert setting.option in options, f"render lacks {setting.option}"
        # None: no value (a path, a name) or the speech engine's own default (voice, pitch)
        assert (
            setting.default is not None
            or setting.kind is str
            or setting.kind is Path
            or setting.name == "pitch"
        )


def test_a_profile_can_set_every_session_setting(tmp_path):
    lines = []
    for name, value in OTHER_VALUES.items():
        key = "name" if name == "listener" else name
        lines.append(f"{key} = {value!r}".replace("True", "true").replace("False", "false"))
    profile = tmp_path / "all.toml"
    profile.write_text("\n".join(lines) + "\n")
    loaded = load_profile(profile)
    spec = settings.apply(SessionSpec(article=None), loaded)
    for name, value in OTHER_VALUES.items():
        assert _field(spec, settings.BY_NAME[name]) == value, name


def test_a_manifest_can_set_every_session_setting_as_a_default(tmp_path):
    defaults = {
        k: v for k, v in OTHER_VALUES.items() if k not in ("listener", "minutes", "voice")
    }  # pitch: espeak-ng
    body = "\n".join(
        f"{k} = {v!r}".replace("True", "true").replace("False", "false") for k, v in defaults.items()
    )
    (tmp_path / "a.md").write_text(SAMPLE.read_text())
    manifest = tmp_path / "library.toml"
    manifest.write_text(f"[defaults]\n{body}\n\n[[sessions]]\narticles = 'a.md'\n")
    spec = load_manifest(manifest).sessions[0].spec
    for name, value in defaults.items():
        assert _field(spec, settings.BY_NAME[name]) == value, name


def test_a_manifest_reports_each_bad_setting_with_its_key_path(tmp_path):
    (tmp_path / "a.md").write_text(SAMPLE.read_text())
    manifest = tmp_path / "library.toml"
    manifest.write_text(
        "[defaults]\nvoice_warmth = 5\nmono = 'yes'\n\n[listeners.kim]\nbackground_gain = 40\n\n"
        "[[sessions]]\narticles = 'a.md'\ncover = 1\n"
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest)
    lines = [line.split(": ", 1)[1] for line in caught.value.problems]
    assert "defaults.voice_warmth: 5 is out of range; choose 0 to 1" in lines
    assert "defaults.mono: expected true or false, got a string 'yes'" in lines
    assert "listeners.kim.background_gain: 40 is out of range; choose -30 to 12" in lines
    assert "sessions[0].cover: expected true or false, got an integer 1" in lines


def test_a_profile_words_a_bad_setting_its_own_way(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text("voice_warmth = 3\nmono = 'yes'\n")
    with pytest.raises(InputError) as caught:
        load_profile(profile)
    message = str(caught.value)
    assert str(profile) in message
    assert (
        "voice_warmth must be 0 to 1, not 3" in message and "mono must be true or false, not 'yes'" in message
    )


def test_script_checks_the_rate_as_render_does():
    for command in ("script", "render"):
        result = CliRunner().invoke(main, [command, "--rate", "5000"])
        assert result.exit_code == 2 and "'--rate'" in result.output and "60<=x<=260" in result.output
    assert {p.name for p in script.params} >= {"rate", "minutes", "template"}


@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "--debug"])
def test_global_options_are_accepted_after_the_subcommand(flag):
    before = CliRunner().invoke(main, [flag, "script", str(SAMPLE), "--minutes", "5"])
    after = CliRunner().invoke(main, ["script", str(SAMPLE), "--minutes", "5", flag])
    assert before.exit_code == after.exit_code == 0, after.output
    assert before.output == after.output


def test_quiet_after_render_silences_progress(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(SAMPLE),
            "-m",
            "1",
            "--engine",
            "espeak-ng",
            "--background",
            "none",
            "-o",
            str(tmp_path),
            "-q",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stderr == "" and result.stdout.strip().endswith(".mp3")


def test_an_exact_voice_language_wins_over_fragments():
    voices = [
        VoiceInfo("gmw/en", "English (Great Britain)", ("en-gb", "en"), "Male"),
        VoiceInfo("gmw/en-gb-scotland", "English (Scotland)", ("en-gb-scotland", "en"), "Male"),
        VoiceInfo("gmw/en-gb-x-rp", "English (Received Pronunciation)", ("en-gb-x-rp", "en-gb"), "Male"),
        VoiceInfo("mb/mb-en1", "english-mb-en1", ("en-uk", "en-gb", "en"), "Male"),
    ]
    assert resolve_voice("en-gb", voices, [VoiceInfo("f3", "female3", (), "Female")]) == "gmw/en"
    assert resolve_voice("en-gb+f3", voices, [VoiceInfo("f3", "female3", (), "Female")]) == "gmw/en+f3"

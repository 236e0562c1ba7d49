"""Voices: ids, names and fragments resolve to one voice; unknown or ambiguous names are clear errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.errors import VoiceError
from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import synthesize_track, voice_catalog
from audiogen.speak.engines import Pyttsx3Engine, VoiceInfo
from audiogen.speak.voices import resolve_voice

VOICES = [
    VoiceInfo("gmw/en-us", "English (America)", ("en-us",), "Male"),
    VoiceInfo("gmw/en-us-nyc", "English (America, New York City)", ("en-us-nyc",), "Male"),
    VoiceInfo("gmw/en-gb-scotland", "English (Scotland)", ("en-gb-scotland",), "Male"),
    VoiceInfo("roa/fr", "French (France)", ("fr-fr",), "Male"),
]
VARIANTS = [VoiceInfo("f3", "female3", (), "Female"), VoiceInfo("Alicia", "Alicia", (), "Female")]


@pytest.mark.parametrize(
    "requested, resolved",
    [
        ("gmw/en-us", "gmw/en-us"),
        ("en-us", "gmw/en-us"),  # the short id
        ("English (America)", "gmw/en-us"),  # the name
        ("scotland", "gmw/en-gb-scotland"),  # a fragment of one voice
        ("FRENCH", "roa/fr"),
        ("en-us+f3", "gmw/en-us+f3"),  # a variant the driver accepts though it does not list it
        ("en-us+female3", "gmw/en-us+f3"),
        ("en-us+alicia", "gmw/en-us+Alicia"),
    ],
)
def test_voice_names_resolve_to_one_canonical_id(requested, resolved):
    assert resolve_voice(requested, VOICES, VARIANTS) == resolved


def test_an_ambiguous_fragment_lists_the_matches():
    with pytest.raises(
        VoiceError, match=r"'america' matches 2 voices: gmw/en-us \(English \(America\)\), gmw/en-us-nyc"
    ):
        resolve_voice("america", VOICES, VARIANTS)


def test_an_unknown_voice_names_close_matches():
    with pytest.raises(VoiceError, match=r"unknown voice.*close matches: .*en-us"):
        resolve_voice("en-uss", VOICES, VARIANTS)


def test_an_unknown_variant_names_close_matches():
    with pytest.raises(VoiceError, match=r"unknown variant 'f33'.*close matches: f3"):
        resolve_voice("en-us+f33", VOICES, VARIANTS)


def test_a_variant_needs_an_engine_with_variants():
    with pytest.raises(VoiceError, match="has no voice variants"):
        resolve_voice("en-us+f3", VOICES, [])


def test_the_real_engine_lists_voices_and_variants():
    catalog = voice_catalog("pyttsx3")
    ids = {v.id for v in catalog.voices}
    assert "gmw/en-us" in ids and len(ids) > 20
    assert all(v.name and v.languages for v in catalog.voices)
    assert {"f3", "m3", "whisper"} <= {v.id for v in catalog.variants}
    assert resolve_voice(Pyttsx3Engine.default_voice, catalog.voices, catalog.variants) == "gmw/en-us+f4"


def test_an_unknown_voice_fails_before_any_speech(tmp_path):
    # espeak itself would silently fall back to its default voice.
    with pytest.raises(VoiceError, match=r"unknown voice for engine 'pyttsx3'; close matches"):
        synthesize_track(
            [Utterance("Rest now.")], VoiceSettings(engine="pyttsx3", voice="englsh-us"), tmp_path
        )
    assert not list(tmp_path.rglob("*.wav"))


def test_voices_command_lists_id_name_languages_gender():
    result = CliRunner().invoke(main, ["voices", "--engine", "pyttsx3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "engine pyttsx3" and lines[1].split() == ["ID", "NAME", "LANGUAGES", "GENDER"]
    us = next(line for line in lines if line.startswith("* gmw/en-us "))  # * marks the default voice
    assert "English (America)" in us and "en-us" in us and "Male" in us
    assert "  default: --voice en-us+f4, pitch 40" in lines
    assert "variants, added to a voice with '+'" in result.output and " f3 " in result.output


def test_voices_command_lists_every_engine_and_marks_the_defaults():
    result = CliRunner().invoke(main, ["voices"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    engines = [line for line in lines if line.startswith("engine ")]
    assert engines == ["engine hibari (the default engine)", "engine pyttsx3", "engine espeak-ng"]
    heart = next(line for line in lines if " heart " in line)
    assert heart.startswith("* heart ") and "American" in heart and "Female" in heart
    assert "  default: --voice heart" in lines  # no pitch: hibari has no pitch control
    assert sum(line.startswith("* ") for line in lines) == 3  # one default voice per engine


def test_render_with_an_unknown_voice_is_one_line_and_exit_6(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "render",
            "--voice",
            "nosuchvoice",
            "--minutes",
            "1",
            "--out",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 6
    assert result.output.strip().startswith("audiogen: error: --voice 'nosuchvoice': unknown voice")
    assert len(result.output.strip().splitlines()) == 1

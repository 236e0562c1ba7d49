"""Every built-in template, for every article, at listener lengths; and real audio for a few short ones."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.models import Bell, Breath, Chapter, ElasticPause, SessionSpec, Speech
from audiogen.pipeline import article_themes, estimated_timeline, fitted_sound
from audiogen.scripting import build_script, list_templates
from conftest import ARTICLES, decode, frame_levels_db

TEMPLATES = [t.name for t in list_templates()]
SOURCES = ARTICLES + [None]
SOURCE_IDS = [a.stem for a in ARTICLES] + ["built-in-sample"]
PHASES = ("Arrival", "Breath", "Affirmations")


@cache
def _themes(article: Path | None):
    return article_themes(SessionSpec(article=article))[1]


def test_at_least_six_practice_templates_besides_the_general_one():
    assert {
        "self-compassion-break",
        "rain",
        "loving-kindness",
        "grief-body-scan",
        "letting-go",
        "sleep",
        "gentle-reflection",
    } <= set(TEMPLATES)
    for info in list_templates():
        assert info.description, info.name
        assert info.labels, f"{info.name} declares the theme labels it is made for"


@pytest.mark.parametrize("minutes", [5, 10, 30])
@pytest.mark.parametrize("article", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_renders_and_fits(template, article, minutes):
    spec = SessionSpec(article=article, minutes=minutes, template=template)
    script = build_script(_themes(article), minutes, template)
    timeline = estimated_timeline(script, spec)
    assert timeline.duration == minutes * 60
    titles = [c.title for c in timeline.chapters]
    assert titles[0] == "Arrival" and all(p in titles for p in PHASES), titles
    starts = [c.start for c in timeline.chapters]
    assert starts == sorted(starts)
    # The words end before the fade-out begins, and nothing spoken carries markup.
    last = timeline.clips[-1]
    assert last.start + last.clip.duration <= timeline.duration - fitted_sound(spec, script).fade_out + 1e-6
    spoken = [c.utterance.text for c in script.cues if isinstance(c, Speech)]
    assert spoken and not any(ch in text for text in spoken for ch in "[]{}")
    # Listener lengths keep the practice itself: nothing below level 2 is dropped.
    assert all(level > 2 for level in timeline.dropped_levels), timeline.dropped_levels


@pytest.mark.parametrize("template", TEMPLATES)
def test_phases_scale_with_the_length(template):
    """A longer session has more practice in it, and every phase grows, not only one pause."""
    article = SOURCES[0]
    plans = {}
    for minutes in (5, 30, 90):
        spec = SessionSpec(article=article, minutes=minutes, template=template)
        script = build_script(_themes(article), minutes, template)
        timeline = estimated_timeline(script, spec)
        ends = [c.start for c in timeline.chapters[1:]] + [timeline.duration]
        plans[minutes] = (
            len(timeline.clips),
            {c.title: end - c.start for c, end in zip(timeline.chapters, ends)},
        )
    assert plans[5][0] < plans[30][0] < plans[90][0]
    for title, seconds in plans[5][1].items():
        assert plans[30][1][title] > seconds, title


def test_one_minute_still_fits_every_template():
    """Very short sessions (tests, previews) keep the heart of each practice."""
    for template in TEMPLATES:
        spec = SessionSpec(article=None, minutes=1, template=template)
        script = build_script(_themes(None), 1, template)
        timeline = estimated_timeline(script, spec)
        assert timeline.duration == 60 and len(timeline.clips) >= 4, template


def test_sleep_slows_softens_fades_long_and_never_wakes_you():
    script = build_script(_themes(None), 20, "sleep")
    assert script.fade_out == 180
    speech = [c.utterance for c in script.cues if isinstance(c, Speech)]
    rates = [u.rate for u in speech]
    volumes = [u.volume for u in speech]
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0]
    assert volumes == sorted(volumes, reverse=True) and volumes[-1] < volumes[0]
    tail = script.cues[[i for i, c in enumerate(script.cues) if isinstance(c, Chapter)][-1] :]
    assert not any(isinstance(c, Bell) for c in tail), "no closing bell"
    assert not any("open your eyes" in c.utterance.text for c in tail if isinstance(c, Speech))
    spec = SessionSpec(article=None, minutes=20, template="sleep")
    assert fitted_sound(spec, script).fade_out == 180
    assert fitted_sound(SessionSpec(article=None, minutes=5), script).fade_out == 60, "at most a fifth"
    assert fitted_sound(spec).fade_out == 6, "other sessions keep the short fade"


def test_practice_templates_carry_their_practice():
    """Each template is built on its practice: the steps are in the words."""
    expected = {
        "self-compassion-break": ["moment of pain", "not alone", "May I be kind to myself"],
        "rain": ["recognise", "allow", "investigate", "nurture"],
        "loving-kindness": ["May I be safe", "May you be safe", "May all beings"],
        "grief-body-scan": ["your feet", "your chest", "your throat", "your face"],
        "letting-go": ["let your grip soften", "leaf", "And let go"],
        "sleep": ["heavy and warm", "count your breaths down", "drift into sleep"],
    }
    for template, phrases in expected.items():
        script = build_script(_themes(None), 30, template)
        text = script.markup.lower()
        for phrase in phrases:
            assert phrase.lower() in text, (template, phrase)
        assert any(isinstance(c, Breath) for c in script.cues)
        assert sum(isinstance(c, ElasticPause) for c in script.cues) >= 8


def _render(tmp_path, speech_cache, *args):
    result = CliRunner().invoke(
        main,
        ["-q", "render", *args, "--minutes", "1", "--out", str(tmp_path), "--cache-dir", str(speech_cache)],
    )
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


@pytest.mark.parametrize("template", ["sleep", "loving-kindness"])
def test_rendered_audio_lands_within_tolerance(template, tmp_path, speech_cache):
    path = _render(tmp_path, speech_cache, str(ARTICLES[0]), "--template", template)
    samples = decode(path)
    duration = len(samples) / 44100
    assert abs(duration - 60) <= max(0.01 * 60, 2.0), duration
    levels = frame_levels_db(samples)
    if template == "sleep":
        # The long fade (a fifth of a one-minute session: 12 s) is audible in the last seconds.
        frames_per_second = 20
        before_fade = np.median(levels[-14 * frames_per_second : -12 * frames_per_second])
        last = np.median(levels[-2 * frames_per_second :])
        assert before_fade - last > 12


def test_script_command_prints_markup_plan_and_what_was_dropped():
    result = CliRunner().invoke(main, ["script", str(ARTICLES[0]), "--minutes", "5", "--template", "rain"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "template rain, 5 minutes" in out.splitlines()[0]
    assert "[chapter RAIN]" in out and "== RAIN ==" in out
    assert "optional levels dropped:" in out and "# speech " in out
    assert out.rstrip().endswith("05:00.0  (end)")

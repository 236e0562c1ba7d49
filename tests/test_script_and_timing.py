from __future__ import annotations

from pathlib import Path

import pytest

from audiogen.errors import MarkupError, TimingError
from audiogen.models import Bell, Breath, Chapter, Clip, ElasticPause, Pause, Script, Speech, Utterance
from audiogen.script import parse_markup
from audiogen.timing import plan_timeline, spread_budget


def test_markup_parses_every_cue():
    cues = parse_markup(
        "[chapter Arrival]\n[bell]\nHello there. Breathe.\n[pause 4s]\n[pause 5s..40s x2]\n"
        "[voice rate=0.8 volume=0.9]\nSlowly now.\n[voice]\n[breath 4-2-6 x3]\n[optional 2]\nMaybe.\n[/optional]\n"
    )
    kinds = [type(c) for c in cues]
    assert kinds == [Chapter, Bell, Speech, Speech, Pause, ElasticPause, Speech, Breath, Speech]
    assert cues[6].utterance == Utterance("Slowly now.", 0.8, 0.9)
    assert cues[5] == ElasticPause(5, 40, 2, line=5)
    assert cues[7].count == 3 and cues[7].words[0].text == "Breathe in"
    assert cues[8].optional == 2


@pytest.mark.parametrize(
    "markup, line",
    [("Hi.\n[pause soon]", 2), ("[whistle]", 1), ("[breath 4-2 x3]", 1), ("ok\n\n[voice rate=9]", 3),
     ("[chapter Arrival", 1), ("Say [this] aloud.", 1), ("[/optional]", 1)],
)
def test_malformed_markup_names_template_and_line(markup, line):
    with pytest.raises(MarkupError, match=rf"demo\.j2, line {line}:"):
        parse_markup(markup, "demo.j2")


def test_spread_budget_respects_bounds_and_weights():
    pauses = [ElasticPause(1, 5), ElasticPause(1, 100, 2), ElasticPause(2, 2)]
    lengths = spread_budget(pauses, 30)
    assert sum(lengths) == pytest.approx(30)
    assert lengths[0] == pytest.approx(5) and lengths[2] == pytest.approx(2)


def _clips(script, seconds=2.0):
    return {u: Clip(u, Path("x.wav"), seconds, 22050) for u in script.utterances()}


def test_timeline_lands_on_target_and_drops_optional_cues():
    markup = "[chapter A]\nOne.\n[pause 1s..30s]\n[optional 3]\nTwo.\n[pause 10s]\n[/optional]\nThree.\n[pause 1s..30s]\n"
    script = Script("t", "demo", markup, parse_markup(markup))
    clips = _clips(script)
    full = plan_timeline(script, clips, 60, lead_in=1, tail=2)
    assert full.duration == 60 and len(full.clips) == 3
    last = full.clips[-1]
    assert last.start + last.clip.duration <= 58
    short = plan_timeline(script, clips, 12, lead_in=1, tail=2)
    assert len(short.clips) == 2
    with pytest.raises(TimingError, match="choose --minutes"):
        plan_timeline(script, clips, 5, lead_in=1, tail=2)


def test_chapter_starts_at_its_first_sound_not_before_a_pause():
    markup = "[chapter A]\n[pause 3s]\nOne.\n[chapter B]\n[pause 2s..20s]\n[bell]\n[pause 1s]\nTwo.\n[chapter C]\n[pause 2s]\n[breath 4-0-6 x1]\n"
    script = Script("t", "demo", markup, parse_markup(markup))
    timeline = plan_timeline(script, _clips(script, 1.0), 40, lead_in=1, tail=2)
    starts = {c.title: c.start for c in timeline.chapters}
    first_speech = timeline.clips[0].start
    assert starts["A"] == pytest.approx(first_speech) == pytest.approx(1 + 3)
    assert starts["B"] == pytest.approx(timeline.bells[0].start)
    breath_word = timeline.clips[2]
    assert breath_word.clip.utterance.text == "Breathe in"
    assert starts["C"] == pytest.approx(breath_word.start)

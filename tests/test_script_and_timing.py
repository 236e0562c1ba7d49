from __future__ import annotations

from pathlib import Path

import pytest

from audiogen.errors import MarkupError, TimingError
from audiogen.models import Bell, Breath, Chapter, Clip, ElasticPause, Pause, Script, Speech, Utterance
from audiogen.scripting import parse_markup
from audiogen.settings import flag
from audiogen.timing import plan_timeline, spread_budget


def test_markup_parses_every_cue():
    cues = parse_markup(
        "[chapter Arrival]\n[bell]\nHello there. Breathe.\n[pause 4s]\n[pause 5s..40s x2]\n"
        "[voice rate=0.8 volume=0.9]\nSlowly now.\n[voice]\n[breath 4-2-6 x3]\n"
        "[optional 2]\nMaybe.\n[/optional]\n"
    )
    kinds = [type(c) for c in cues]
    assert kinds == [Chapter, Bell, Speech, Speech, Pause, ElasticPause, Speech, Breath, Speech]
    assert cues[6].utterance == Utterance("Slowly now.", 0.8, 0.9)
    assert cues[5] == ElasticPause(5, 40, 2, line=5)
    assert cues[7].count == 3 and cues[7].words[0].text == "Breathe in"
    assert cues[8].optional == 2


@pytest.mark.parametrize(
    "markup, line",
    [
        ("Hi.\n[pause soon]", 2),
        ("[whistle]", 1),
        ("[breath 4-2 x3]", 1),
        ("ok\n\n[voice rate=9]", 3),
        ("[chapter Arrival", 1),
        ("Say [this] aloud.", 1),
        ("[/optional]", 1),
    ],
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
    markup = (
        "[chapter A]\nOne.\n[pause 1s..30s]\n[optional 3]\nTwo.\n[pause 10s]\n[/optional]\n"
        "Three.\n[pause 1s..30s]\n"
    )
    script = Script("t", "demo", markup, parse_markup(markup))
    clips = _clips(script)
    full = plan_timeline(script, clips, 60, lead_in=1, tail=2)
    assert full.duration == 60 and len(full.clips) == 3
    last = full.clips[-1]
    assert last.start + last.clip.duration <= 58
    short = plan_timeline(script, clips, 12, lead_in=1, tail=2)
    assert len(short.clips) == 2
    with pytest.raises(TimingError) as caught:
        plan_timeline(script, clips, 5, lead_in=1, tail=2)
    assert "choose --minutes" in caught.value.worded(flag) and "choose minutes" in str(caught.value)


# ---------------------------------------------------------------- templates: errors, sandbox, user folder

from click.testing import CliRunner  # noqa: E402

from audiogen.cli import main  # noqa: E402
from audiogen.errors import InputError, TemplateError  # noqa: E402
from audiogen.models import Bell as BellCue  # noqa: E402
from audiogen.models import SessionSpec, Themes  # noqa: E402
from audiogen.profile import apply_profile, load_profile  # noqa: E402
from audiogen.scripting import build_script  # noqa: E402
from audiogen.scripting.templating import scaled_count, speakable_text  # noqa: E402

THEMES = Themes(
    title="A Test",
    labels=("grief",),
    insights=("You can carry this gently.", "Loss shows what mattered."),
    questions=("What do you miss most?",),
    affirmations=("You are allowed to rest.", "You are doing enough."),
    practices=("a slow walk",),
    keywords=("loss",),
)


def _user_template(tmp_path, body: str, name: str = "mine") -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.j2").write_text(body, "utf-8")
    return folder


def test_missing_variable_names_template_line_and_variable(tmp_path):
    folder = _user_template(
        tmp_path,
        '{% extends "_base.j2" %}\n{% block core %}\n[chapter Core]\n{{ nothing_here }}\n{% endblock %}\n',
    )
    with pytest.raises(TemplateError, match=r"mine\.j2, line 4: 'nothing_here' is undefined"):
        build_script(THEMES, 5, "mine", templates_dir=folder)


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "title.__class__",
        "scaled.__globals__",
        "().__class__.__base__.__subclasses__()",
        "themes.__class__.__init__.__globals__",
        "'{0.__class__}'.format(title)",
        "themes.labels.append('x')",
    ],
)
def test_sandbox_escape_attempts_are_refused(tmp_path, expression):
    folder = _user_template(tmp_path, "[chapter A]\nHello.\n{{ " + expression + " }}\n")
    with pytest.raises(TemplateError, match=r"mine\.j2, line 3: not allowed in a template"):
        build_script(THEMES, 5, "mine", templates_dir=folder)


def test_malformed_markup_points_at_the_template_source_line(tmp_path):
    body = (
        '{% extends "_base.j2" %}\n{% block core %}\n[chapter Core]\nBreathe here.\n'
        "[pause {{ minutes }} soon]\n{% endblock %}\n"
    )
    folder = _user_template(tmp_path, body)
    with pytest.raises(MarkupError, match=r"mine\.j2, line 5 \(script line \d+\): a pause is"):
        build_script(THEMES, 5, "mine", templates_dir=folder)
    folder = _user_template(tmp_path, "Hello.\n[optional 2]\nMaybe.\n", "open")
    with pytest.raises(MarkupError, match=r"open\.j2, line 2 .*never closed"):
        build_script(THEMES, 5, "open", templates_dir=folder)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("Hello.\n{{ nothing_here }}\n", "'nothing_here' is undefined"),
        ("Hello.\n{{ ''.__class__ }}\n", "not allowed in a template"),
        ("Hello.\n[whistle loudly]\n", "unknown markup [whistle]"),
        ("Hello.\n{% if %}\n", "template syntax error"),
    ],
    ids=["missing-variable", "sandbox", "markup", "syntax"],
)
def test_cli_template_errors_are_one_line_with_exit_code_4(tmp_path, body, expected):
    folder = _user_template(tmp_path, body)
    result = CliRunner().invoke(
        main, ["script", "--templates", str(folder), "--template", "mine", "--minutes", "5"]
    )
    assert result.exit_code == 4, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "mine.j2, line 2" in lines[0] and expected in lines[0], lines
    assert "Traceback" not in result.output


def test_user_template_extends_the_builtin_base_and_is_searched_first(tmp_path):
    folder = _user_template(
        tmp_path,
        '{#- description: mine -#}\n{#- labels: grief -#}\n{% extends "_base.j2" %}\n'
        "{% block core %}\n[chapter Walking]\nFeel each step.\n[pause 2s..30s]\n{% endblock %}\n",
        name="grief-body-scan",  # shadows the built-in template of the same name
    )
    script = build_script(THEMES, 5, templates_dir=folder)
    assert script.template == "grief-body-scan"
    chapters = [c.title for c in script.cues if isinstance(c, Chapter)]
    assert "Walking" in chapters and "Body scan" not in chapters and chapters[0] == "Arrival"
    result = CliRunner().invoke(main, ["templates", "--templates", str(folder)])
    assert "grief-body-scan        mine (themes: grief)" in result.output
    with pytest.raises(TemplateError, match="templates folder not found"):
        build_script(THEMES, 5, templates_dir=tmp_path / "nowhere")


def test_names_and_intentions_cannot_break_the_markup():
    listener = "Ann]\n[bell deep]\n[chapter Owned"
    intention = "{{ 7 * 7 }} [pause 99s] to rest."
    script = build_script(THEMES, 10, "gentle-reflection", listener=listener, intention=intention)
    plain = build_script(THEMES, 10, "gentle-reflection")
    count = lambda s, kind: sum(isinstance(c, kind) for c in s.cues)  # noqa: E731
    assert count(script, BellCue) == count(plain, BellCue)
    assert count(script, Chapter) == count(plain, Chapter)
    assert count(script, Pause) == count(plain, Pause)
    spoken = " ".join(c.utterance.text for c in script.cues if isinstance(c, Speech))
    assert "Welcome, Ann) (bell deep) (chapter Owned." in spoken
    assert "Your intention for this time: {{ 7 * 7 }} (pause 99s) to rest." in spoken
    assert speakable_text("a\n[b]\tc") == "a (b) c"


def test_scaled_counts_grow_with_the_session():
    assert [scaled_count(m)(2, 6) for m in (1, 5, 17.5, 30, 55)] == [2, 2, 4, 6, 10]


# ---------------------------------------------------------------- timing: fit, drop order, shortest length


def test_shortest_length_named_in_the_error_really_fits():
    markup = (
        "Hello there, welcome.\n[pause 2s..30s]\n[optional 1]\nA longer part that can go.\n"
        "[/optional]\nGoodbye.\n"
    )
    script = Script("t", "demo", markup, parse_markup(markup))
    clips = _clips(script, 5.0)
    with pytest.raises(TimingError) as error:
        plan_timeline(script, clips, 12, lead_in=1, tail=2)
    minutes = float(error.value.worded(flag).split("--minutes ")[1].split()[0])
    fitted = plan_timeline(script, clips, minutes * 60, lead_in=1, tail=2)
    assert fitted.dropped_levels == (1,) and fitted.duration == minutes * 60


def test_drop_order_is_highest_level_first():
    markup = (
        "".join(f"[optional {n}]\nLevel {n}.\n[/optional]\n" for n in (1, 2, 3, 4))
        + "Always.\n[pause 1s..60s]\n"
    )
    script = Script("t", "demo", markup, parse_markup(markup))
    clips = _clips(script, 2.0)  # each sentence takes 2 s + 0.8 s gap
    kept = lambda timeline: [p.clip.utterance.text for p in timeline.clips]  # noqa: E731
    assert kept(plan_timeline(script, clips, 20, lead_in=0, tail=0)) == [
        "Level 1.",
        "Level 2.",
        "Level 3.",
        "Level 4.",
        "Always.",
    ]
    two = plan_timeline(script, clips, 10, lead_in=0, tail=0)
    assert kept(two) == ["Level 1.", "Level 2.", "Always."] and two.dropped_levels == (4, 3)


def test_fade_markup_is_read_once_and_checked():
    parsed = parse_markup("[fade 90s]\nHello.\n")
    assert [type(c) for c in parsed] == [Speech]
    from audiogen.scripting.markup import parse_script_markup

    assert parse_script_markup("[fade 90s]\nHello.\n").fade_out == 90
    with pytest.raises(MarkupError, match="line 2: only one"):
        parse_markup("[fade 90s]\n[fade 30s]\n", "demo.j2")
    with pytest.raises(MarkupError, match="fade takes"):
        parse_markup("[fade forever]\n", "demo.j2")


# ---------------------------------------------------------------- listener profiles


def test_profile_fills_in_what_the_command_line_leaves_out(tmp_path):
    profile = tmp_path / "sam.toml"
    profile.write_text(
        'name = "Sam"\nintention = "to rest"\nrate = 100\nvoice = "en-gb"\ntemplate = "sleep"\nminutes = 7\n'
    )
    loaded = load_profile(profile)
    assert loaded == {
        "listener": "Sam",
        "intention": "to rest",
        "rate": 100,
        "voice": "en-gb",
        "template": "sleep",
        "minutes": 7,
    }
    spec = apply_profile(SessionSpec(article=None, minutes=10, listener="Kim"), loaded, given={"listener"})
    assert spec.listener == "Kim" and spec.intention == "to rest" and spec.template == "sleep"
    assert spec.minutes == 7 and spec.voice.rate == 100 and spec.voice.voice == "en-gb"

    result = CliRunner().invoke(main, ["script", "--profile", str(profile), "--minutes", "5"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "template sleep, 5 minutes" in first, "--minutes on the command line wins"
    assert "Welcome, Sam." in result.output and "Your intention for tonight: to rest." in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        ('name = "Sam"\ncolour = "blue"\n', "unknown key 'colour'"),
        ("rate = 'slow'\n", "rate must be a number"),
        ("minutes = 200\n", "minutes must be 1 to 90"),
        ("name = [\n", "not valid TOML"),
    ],
)
def test_bad_profile_names_file_and_key(tmp_path, content, expected):
    profile = tmp_path / "p.toml"
    profile.write_text(content)
    with pytest.raises(InputError, match=expected):
        load_profile(profile)
    result = CliRunner().invoke(main, ["script", "--profile", str(profile)])
    assert result.exit_code == 3 and str(profile) in result.output and expected in result.output


def test_chapter_starts_at_its_first_sound_not_before_a_pause():
    markup = (
        "[chapter A]\n[pause 3s]\nOne.\n[chapter B]\n[pause 2s..20s]\n[bell]\n[pause 1s]\nTwo.\n"
        "[chapter C]\n[pause 2s]\n[breath 4-0-6 x1]\n"
    )
    script = Script("t", "demo", markup, parse_markup(markup))
    timeline = plan_timeline(script, _clips(script, 1.0), 40, lead_in=1, tail=2)
    starts = {c.title: c.start for c in timeline.chapters}
    first_speech = timeline.clips[0].start
    assert starts["A"] == pytest.approx(first_speech) == pytest.approx(1 + 3)
    assert starts["B"] == pytest.approx(timeline.bells[0].start)
    breath_word = timeline.clips[2]
    assert breath_word.clip.utterance.text == "Breathe in"
    assert starts["C"] == pytest.approx(breath_word.start)


@pytest.mark.parametrize("minutes", [1, 5, 20])
def test_no_word_or_bell_is_faded_in(minutes):
    """The first word and bell come once the fade-in is over, the last before the fade-out."""
    from audiogen.pipeline import estimated_timeline, fitted_sound, session_script

    spec = SessionSpec(article=None, minutes=minutes)
    script = session_script(spec)
    sound = fitted_sound(spec, script)
    timeline = estimated_timeline(script, spec)
    starts = [p.start for p in timeline.clips] + [b.start for b in timeline.bells]
    assert min(starts) >= sound.fade_in
    assert max(p.start + p.clip.duration for p in timeline.clips) <= timeline.duration - sound.fade_out + 1e-6

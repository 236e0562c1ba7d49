"""Every article of the corpus (tests/corpus/, written for these tests to look like what people
save from the web) and every shared article goes through `themes`, and every line chosen is
checked against a rubric of what a meditation teacher would never say aloud.

The rubric is written here, apart from audiogen/theming.py, with its own word lists, so that a
selection rule that stops working makes these tests fail instead of agreeing with itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.read import read_article
from audiogen.theming import extract_themes
from conftest import ARTICLES

CORPUS = Path(__file__).parent / "corpus"
CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file())


def _words(*words: str) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


# ---------------------------------------------------------------- the rubric

# What is left out, each with its reason (the README's Themes section says the same).
NEVER_SAID = {
    "studies and statistics": re.compile(
        r"\d|%|"
        + _words(
            r"stud(?:y|ies)",
            r"research\w*",
            r"survey\w*",
            r"participants?",
            r"respondents?",
            r"volunteers?",
            r"findings",
            r"found that",
            r"meta-analysis",
            r"journal of",
            r"published",
            r"data",
            r"evidence\w*",
            r"scientists?",
            r"experiments?",
            r"trials?",
            r"predict\w*",
            r"associated with",
            r"correlat\w*",
            r"percent",
            r"per cent",
            r"on average",
            r"an average",
            r"statistic\w*",
            r"aged",
        ).pattern,
        re.I,
    ),
    "quotes and attributions": re.compile(
        r"[\"“”]|"
        + _words(
            r"(?-i:[A-Z])\w+ (?:says|said)",
            r"(?:says|said|tells|told) (?:that|the|a|an|(?-i:[A-Z])\w*)",
            r"explains",
            r"explained",
            r"according to",
            r"notes",
            r"noted",
            r"writes",
            r"wrote",
            r"adds",
            r"added",
            r"recalls",
            r"weigh in",
            r"author",
            r"columnist",
            r"editor",
            r"reporter",
            r"coach",
            r"experts?",
            r"Dr",
            r"Mrs?",
            r"Ms",
            r"the saying goes",
        ).pattern,
        re.I,
    ),
    "bylines, dates and calls to action": _words(
        r"posted",
        r"updated",
        r"min read",
        r"subscribe\w*",
        r"sign up",
        r"download\w*",
        r"click",
        r"share",
        r"comments?",
        r"follow",
        r"reply",
        r"e-?mail\w*",
        r"newsletter",
        r"enrol\w*",
        r"buy",
        r"order",
        r"quiz",
        r"app",
        r"link",
        r"website",
        r"blog",
        r"article",
        r"podcast",
        r"episode",
        r"course",
        r"program(?:me)?",
        r"workbook",
        r"consultation",
        r"appointments?",
        r"sessions are",
        r"meets",
        r"edited",
        r"january",
        r"february",
        r"march",
        r"april",
        r"june",
        r"july",
        r"august",
        r"september",
        r"october",
        r"november",
        r"december",
        r"monday",
        r"tuesday",
        r"wednesday",
        r"thursday",
        r"friday",
        r"saturday",
        r"sunday",
        r"forum",
        r"page \d",
    ),
    "graphic or violent images": _words(
        r"stab\w*",
        r"gouge\w*",
        r"knife",
        r"knives",
        r"blood\w*",
        r"bleed\w*",
        r"kill\w*",
        r"punch\w*",
        r"guns?",
        r"shot",
        r"slash\w*",
        r"ripped",
        r"rip\w* out",
        r"stomp\w*",
        r"gutter",
        r"curb",
        r"booted",
        r"butcher\w*",
        r"smash\w*",
        r"crush\w*",
        r"strangl\w*",
        r"chok\w*",
        r"suicid\w*",
        r"violen\w*",
        r"murder\w*",
        r"beaten",
        r"tortur\w*",
        r"twisting",
    ),
    "clinical third person": _words(
        r"individuals?",
        r"patients?",
        r"clients?",
        r"participants?",
        r"subjects",
        r"adults",
        r"one's",
        r"people (?:need|should|must|tend|who|may|with)",
        r"those who",
        r"symptoms?",
        r"disorders?",
        r"dissolution",
        r"psychological",
        r"clinical",
        r"distress",
        r"ruminat\w*",
        r"healthcare",
        r"diagnos\w*",
        r"couples?",
        r"recommended",
        r"professional",
    ),
    "marketing": re.compile(
        r"[$£€™]|"
        + _words(
            r"proven",
            r"science-backed",
            r"life-changing",
            r"unlock\w*",
            r"guarantee\w*",
            r"students",
            r"lifetime access",
            r"shop",
            r"store",
            r"discount",
            r"code",
            r"(?:special|limited|exclusive) offer",
            r"free",
            r"join",
            r"best .* we tested",
            r"evidence-based",
            r"therapy",
            r"our",
            r"we",
            r"us",
        ).pattern,
        re.I,
    ),
    "the author's own story": re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|mine|myself)\b|\b(?i:we|our|us)\b"),
}
# Lines that are the author's present-tense "I" are fine only as affirmations ("I am learning").
FIRST_PERSON_OK_IN_AFFIRMATIONS = "the author's own story"

SCARS = {
    "pronouns that disagree": re.compile(
        r"\byour (?:minds|bodies|hearts|lives|selves|shoulders)\b.*\b(?:you|your)\b(?!.*\b(?:all|both)\b)|"
        r"\byour (?:minds|bodies|selves)\b",
        re.I,
    ),
    "a contraction undone": re.compile(
        r"\b(?:who|what|that|there|it|he|she) (?:going|coming|trying|feeling|being|got|been)\b|"
        r"\b(?:you|your) (?:is|was|has|does)\b|\byou (?:am)\b",
        re.I,
    ),
    "a word said twice": re.compile(r"\b(\w+) \1\b", re.I),
    "a dangling connective": re.compile(
        r"^(?:However|But|So|And|Yet|Also|Then|Still|Plus|Or|Because|Thus|Therefore|Instead|Although|Though)\b"
    ),
    "leans on another sentence": re.compile(
        r"^(?:This|These|That|Those|It|It's|They|They're|He|She|His|Her|Their|Its|Not|Just|Only)\b"
    ),
    "an unfinished line": re.compile(
        r"^[^A-Z]|[^.!?]$|\s[,.;:!?]|[,;:]{2}|\.\.|\b(?:St|Dr|Mr|Mrs|Ms|Approx|etc|e\.g|i\.e)\.(?:\s|$)"
    ),
    "a name or a place": re.compile(
        r"(?<!^)(?<![.!?] )\b(?!I\b|I'm\b|I've\b|(?:Japanese|Spanish|French|English)\b)[A-Z][a-z]+"
    ),
}


def _merged_heading(line: str) -> bool:
    """A list heading run into its item: "Question the harsh voice, Question the harsh voice and ..."."""
    words = re.findall(r"[\w']+", line.lower())
    return any(words[:size] == words[size : 2 * size] for size in range(1, 7))


def rubric_violations(themes) -> list[str]:
    """Every line the themes chose that breaks the rubric, with the rule it breaks."""
    found = []

    def flag(kind: str, line: str, rule: str) -> None:
        found.append(f"{kind}: {rule}: {line!r}")

    lines = (
        [("insight", s) for s in themes.insights]
        + [("question", s) for s in themes.questions]
        + [("affirmation", s) for s in themes.affirmations]
    )
    for kind, line in lines:
        for rule, pattern in {**NEVER_SAID, **SCARS}.items():
            if rule == FIRST_PERSON_OK_IN_AFFIRMATIONS and kind == "affirmation":
                continue
            if pattern.search(line):
                flag(kind, line, rule)
        if _merged_heading(line):
            flag(kind, line, "a heading merged into its item")
        words = line.split()
        if len(words) > 30:
            flag(kind, line, "too long to say in one breath")
        if kind == "insight" and len(words) < 6:
            flag(kind, line, "too short to stand on its own")
        if kind == "question":
            if (
                not line.endswith("?")
                or not re.search(r"\byou(?:r|rself)?\b", line, re.I)
                and not re.match(r"What (?:would|might) it", line)
            ):
                flag(kind, line, "not a question to the listener")
            if len(words) < 5:
                flag(kind, line, "too short to stand on its own")
        if kind == "affirmation":
            if len(words) < 4:
                flag(kind, line, "an affirmation of fewer than four words")
            if line.endswith("?"):
                flag(kind, line, "an affirmation that asks")
            if not re.search(r"\b(?:you|your|yourself|I|my|me|myself)\b", line, re.I):
                flag(kind, line, "an affirmation in no one's person")
            if re.match(
                r"(?:You|I|Your \w+) (?:were|was|had|did|cared|gave|loved|tried|went|felt|knew|spent)\b"
                r"|I've been\b",
                line,
            ):
                flag(kind, line, "an affirmation in the past tense")
            if re.search(r"\b(?:should|must|have to try|need to)\b", line, re.I) and not re.search(
                r"\b(?:not|don't|do not) (?:have|need) to\b", line, re.I
            ):
                flag(kind, line, "an affirmation that is an order")
            if re.search(
                r"\b(?:pathetic|stupid|worthless|hopeless|failure|(?:you|you'll|you will) never)\b",
                line,
                re.I,
            ):
                flag(kind, line, "an affirmation that is not positive")
    return found


# ---------------------------------------------------------------- per article

# Each corpus article: the title it must get, and lines (or parts of lines) that must never be
# chosen. Articles in a language audiogen cannot narrate yet name it instead.
EXPECTED = {
    "abbreviations-dr-and-e-g-letting-go.txt": dict(
        title="Letting Go of the Life You Planned",
        never=("Osei", "St.", "Louis", "Approx", "Alvarez", "clients", "the saying goes"),
    ),
    "blog-with-comments-heartbreak-at-forty.html": dict(
        title="Heartbreak at Forty", never=("Maureen", "22 years", "Check out my blog", "Liz", "mortgage")
    ),
    "call-to-action-anger-newsletter.html": dict(
        title="When Anger Visits",
        never=("Hit reply", "forward it", "coffee", "Unsubscribe", "most of us were taught"),
    ),
    "clinical-guide-coping-with-breakup.txt": dict(
        title="Coping With the End of a Relationship: A Guide",
        never=(
            "Individuals may experience",
            "People need to understand",
            "However",
            "So you should",
            "But the most",
            "It is recommended",
            "One's sense",
            "consult",
            "dissolution",
        ),
    ),
    "coach-says-trust-again.html": dict(
        title="Can You Learn to Trust Again After Being Cheated On? Experts Weigh In",
        never=(
            "Ravi Menon",
            "Joanna Wells",
            "According to Wells",
            "Couples Today",
            "reviewed by",
            "couples who",
        ),
    ),
    "dear-ruth-grief-column.html": dict(
        title="Dear Ruth: My Sister Died and I Can't Stop Replaying Our Last Fight",
        never=(
            "Haunted",
            "Letters may be edited",
            "Email ruth",
            "I am so sorry",
            "my sister died",
            "Have a question",
        ),
    ),
    "diary-the-winter-i-was-nineteen.md": dict(
        title="The Winter I Was Nineteen",
        never=(
            "I was nineteen",
            "ripped out",
            "stomped",
            "gutter",
            "I've been there",
            "kitchen floor",
            "My mother",
            "leave a comment",
        ),
    ),
    "duelo-despues-de-una-ruptura.html": dict(language="Spanish"),
    "forum-thread-cant-stop-checking-his-instagram.txt": dict(
        title="Can't stop checking his instagram, 4 months later",
        never=(
            "broke up in April",
            "How did you stop",
            "therapist says",
            "lol",
            "block him",
            "Reply",
            "thirty days",
            "Page 1 of 3",
        ),
    ),
    "front-matter-forgiving-yourself.md": dict(
        title="Forgiving Yourself, Slowly",
        never=("Open Door Notes", "You can learn from it.", "you made one"),
    ),
    "gentle-practice-rest-for-a-tired-heart.md": dict(
        title="Rest for a Tired Heart", never=("Not broken, not lost",), min_insights=4
    ),
    "interview-living-alone-after-divorce.html": dict(
        title='Interview: "I Had to Learn to Like My Own Company"',
        never=("Sundays", "pasta", "second plate", "I bought flowers", "Second Spring", "Subscribe"),
    ),
    "lacher-prise-apres-un-deuil.md": dict(language="French"),
    "listicle-seven-ways-after-a-breakup.html": dict(
        title="7 Ways to Be Gentle With Yourself After a Breakup",
        never=(
            "Question the harsh voice, Question",
            "your minds",
            "You can journal.",
            "Whitfield",
            "Brightside",
            "tells Brightside",
            "reset course",
            "Share on Facebook",
        ),
    ),
    "masthead-first-line-letting-go.txt": dict(
        title="Letting Go of What You Cannot Change",
        never=("QUIET HOUR", "Nora Blake", "Happy People", "Comments", "The words someone else chose"),
    ),
    "medium-style-shame-and-the-inner-critic.md": dict(
        title="The Inner Critic Is Not the Boss of You",
        never=(
            "Ella Martin",
            "Unsplash",
            "claps",
            "For years I thought",
            "I was lazy",
            "give it a clap",
            "this is hard, and I am here for me",
        ),
    ),
    "mostly-english-wabi-sabi-and-self-kindness.md": dict(
        title="Wabi-Sabi and the Art of Being Kind to Yourself",
        never=("poco a poco", "As a Spanish friend", "the same way"),
    ),
    "news-report-widow-finds-comfort-in-garden.html": dict(
        title="Widow, 72, Finds Comfort in Late Husband's Garden",
        never=(
            "Margaret",
            "Frank",
            "Mrs Holt",
            "Anne Patel",
            "Bereavement Group",
            "St. Luke",
            "heart attack",
            "trowel",
            "Gazette",
        ),
    ),
    "numbered-list-self-care-after-heartbreak.txt": dict(
        title="10 Small Acts of Self-Care After Heartbreak",
        never=("Rest Rest", "Cry Cry", "Breathe Breathe", "Unfollow", "Drink water Drink"),
    ),
    "pdf-handout-healing-after-loss.txt": dict(
        title="Healing After Loss: A Handout for Support Groups",
        never=(
            "Page 1",
            "Page 2",
            "Riverside",
            "knife",
            "bleeds",
            "concentrat",
            "Room 4B",
            "Tuesdays",
            "Common reactions",
        ),
    ),
    "reddit-style-sleep-after-loss.txt": dict(
        title="Anyone else unable to sleep since losing a parent?",
        never=("u/", "r/GriefSupport", "My dad passed", "four hours", "punched", "gold", "It did for me"),
    ),
    "sales-page-sleep-reset-course.html": dict(
        title="The 21-Day Deep Sleep Reset",
        never=(
            "12,000",
            "students",
            "program",
            "life-changing",
            "Enrol",
            "40%",
            "Karen",
            "money-back",
            "Most people think",
            "Like many people, you think",
        ),
    ),
    "share-bar-loneliness-in-a-new-city.html": dict(
        title="Lonely in a New City? You Are Not the Only One",
        never=("Priya", "Luca", "Hearth Journal", "survey", "61%", "Marco", "Turin", "brutal", "Instagram"),
    ),
    "sponsored-gratitude-journal-review.md": dict(
        title="The Evening Gratitude Habit That Changed How I Sleep",
        never=(
            "affiliate",
            "Glow Journal",
            "$34.99",
            "Amazon",
            "SLEEPWELL",
            "I started keeping",
            "best gratitude journal",
        ),
    ),
    "study-self-compassion-after-separation.html": dict(
        title="Self-Compassion Helps People Recover From a Breakup, Study Finds",
        never=(
            "Decades of findings",
            "As the study found",
            "28 percent",
            "4.2 months",
            "Volunteers",
            "Helena Marsh",
            "individuals",
            "people need to",
            "However",
            "Journal of",
            "Mind Matters",
        ),
    ),
    "survey-findings-gratitude.md": dict(
        title="The Science of Gratitude: What the Numbers Say",
        never=(
            "survey",
            "3,000",
            "18%",
            "meta-analysis",
            "aged 18",
            "Half of respondents",
            "quiz",
            "Editorial Team",
        ),
    ),
    "therapist-practice-anxiety-counselling.html": dict(
        title="Anxiety Counselling",
        never=(
            "Harbour Lane",
            "evidence-based",
            "individuals",
            "BACP",
            "£65",
            "50 minutes",
            "You offer",
            "Clients often",
            "consultation",
            "0113",
        ),
    ),
    "who-is-going-through-heartbreak.md": dict(
        title="How to Comfort a Heart That's Going Through a Breakup",
        never=(
            "your minds",
            "your bodies",
            "who going",
            "Who's going",
            "Let them cry",
            "someone who's going through",
            "Whether it's your own",
        ),
    ),
}
ENGLISH = [p for p in CORPUS_FILES if "language" not in EXPECTED[p.name]] + list(ARTICLES)
FOREIGN = [p for p in CORPUS_FILES if "language" in EXPECTED[p.name]]


def test_every_corpus_article_has_expectations():
    assert {p.name for p in CORPUS_FILES} == set(EXPECTED)
    assert len(CORPUS_FILES) >= 25
    kinds = {p.suffix for p in CORPUS_FILES}
    assert {".html", ".md", ".txt"} <= kinds


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.name)
def test_every_chosen_line_passes_the_rubric(path):
    themes = extract_themes(read_article(path))
    assert rubric_violations(themes) == []
    chosen = themes.insights + themes.questions + themes.affirmations
    for part in EXPECTED.get(path.name, {}).get("never", ()):
        assert not any(part.lower() in line.lower() for line in chosen), part
    # Saying less is fine; the templates fill in. But an article full of gentle lines keeps them.
    assert len(themes.insights) >= EXPECTED.get(path.name, {}).get("min_insights", 0)
    assert len(themes.questions) >= 2 and len(themes.affirmations) >= 4


@pytest.mark.parametrize("path", ENGLISH, ids=lambda p: p.name)
def test_title_is_the_articles_own_headline(path):
    expected = (
        EXPECTED[path.name]["title"]
        if path.name in EXPECTED
        else path.read_text("utf-8").splitlines()[0].strip()
    )
    assert read_article(path).title == expected


@pytest.mark.parametrize("path", FOREIGN, ids=lambda p: p.name)
def test_an_article_in_another_language_is_refused_by_name(path):
    result = CliRunner().invoke(main, ["themes", str(path)])
    assert result.exit_code == 3
    assert EXPECTED[path.name]["language"] in result.output
    assert "English" in result.output
    assert len(result.output.strip().splitlines()) == 1


# ---------------------------------------------------------------- the rubric itself


@pytest.mark.parametrize(
    "line, rule",
    [
        (
            "As the study found, volunteers reported 28 percent fewer unwanted thoughts.",
            "studies and statistics",
        ),
        ("Coach Ravi Menon says couples should set clear agreements.", "quotes and attributions"),
        ("Sign up for the course and get daily tips.", "bylines, dates and calls to action"),
        ("It feels as though your heart had been stabbed with a knife.", "graphic or violent images"),
        ("Self-compassion is a tool that can help individuals heal.", "clinical third person"),
        ("This life-changing method will unlock deep rest.", "marketing"),
        ("I was nineteen when the first person I loved left.", "the author's own story"),
        ("When you are in pain your minds get caught in a loop.", "pronouns that disagree"),
        ("How do you relate to someone who going through heartbreak?", "a contraction undone"),
        ("However, one thing you can do is rest.", "a dangling connective"),
        (
            "Challenge negative thoughts, Challenge negative thoughts and beliefs.",
            "a heading merged into its item",
        ),
    ],
)
def test_the_rubric_catches_what_it_names(line, rule):
    from audiogen.models import Themes

    themes = Themes("t", (), (line,), (), (), (), ())
    assert any(f": {rule}: " in v for v in rubric_violations(themes)), rubric_violations(themes)


def test_the_rubric_lets_gentle_lines_through():
    from audiogen.models import Themes

    themes = Themes(
        "t",
        (),
        (
            "You can let the sadness be here without deciding what it means about you.",
            "Your heart has worked hard to love and to protect you.",
        ),
        ("What do you need most right now?", "What would it feel like to rest without earning it?"),
        ("You are allowed to be held.", "I am learning, and I can begin again.", "You can rest now, gently."),
        (),
        (),
    )
    assert rubric_violations(themes) == []

"""Text prepared for speech: numbers, times, abbreviations and symbols come out as words."""

from __future__ import annotations

import re

import pytest

from audiogen.models import Utterance, VoiceSettings
from audiogen.speak import synthesize_track
from audiogen.speak.textprep import cardinal, clock_time, ordinal, prepare_for_speech, year

CASES = [
    ("Wake at 7:30 and rest.", "Wake at seven thirty and rest."),
    ("Meet at 12:05, or at 9:00.", "Meet at twelve oh five, or at nine o'clock."),
    ("It was 7 p.m.", "It was seven P M."),
    (
        "On the 21st day, the 3rd week, the 100th time.",
        "On the twenty-first day, the third week, the one hundredth time.",
    ),
    ("About 45% of us, 2.5% of them.", "About forty-five percent of us, two point five percent of them."),
    (
        "Feelings, e.g. grief, i.e. loss, etc. pass.",
        "Feelings, for example grief, that is loss, et cetera pass.",
    ),
    (
        "We spoke with Dr. Lee, Mr. Hart and Mrs. Moss.",
        "We spoke with Doctor Lee, Mister Hart and Missus Moss.",
    ),
    ("Keep tea, blankets, etc.", "Keep tea, blankets, et cetera."),
    ("You & me, 10 + 2 = 12.", "You and me, ten plus two equals twelve."),
    ("Wait... then breathe — slowly - now.", "Wait, then breathe, slowly, now."),
    (
        "In 1990 and since 2023, through the 1980s and '90s.",
        "In nineteen ninety and since twenty twenty-three, through the nineteen eighties and nineties.",
    ),
    ("On May 5, 2021 we met.", "On May fifth, twenty twenty-one we met."),
    (
        "Take 3-5 breaths, 1/2 as long, 3x a day.",
        "Take three to five breaths, one half as long, three times a day.",
    ),
    ("Rest for 20 min.", "Rest for twenty minutes."),
    (
        "It costs $5.50 for 1,250 people.",
        "It costs five dollars and fifty cents for one thousand two hundred and fifty people.",
    ),
    ("The #1 rule: care 24/7.", "The number one rule: care twenty-four seven."),
    ("YOU ARE ENOUGH, AS YOU ARE.", "You are enough, as you are."),
    ("Say it with LOVE, not FEAR.", "Say it with love, not fear."),
    ("Living with ADHD and PTSD is OK.", "Living with ADHD and PTSD is okay."),
    ("Breathe *slowly* 🙂 now", "Breathe slowly now"),
    ("St. Francis and No. 4", "Saint Francis and Number four"),
]


@pytest.mark.parametrize("raw, spoken", CASES, ids=[c[0][:30] for c in CASES])
def test_text_is_written_out_for_speech(raw, spoken):
    assert prepare_for_speech(raw) == spoken


@pytest.mark.parametrize("raw", [c[0] for c in CASES])
def test_no_digits_symbols_or_abbreviations_reach_the_engine(raw):
    spoken = prepare_for_speech(raw)
    assert not re.search(r"[0-9&%+=#*@$]", spoken), spoken
    assert not re.search(r"\b(e\.g|i\.e|etc|Dr|Mr|Mrs|St|No)\.", spoken), spoken
    assert prepare_for_speech(raw) == spoken, "deterministic"


def test_capitals_are_words_unless_they_are_known_acronyms():
    words = prepare_for_speech("HOLD this MOMENT, NHS and CBT help.").split()
    assert words[0] == "Hold" and words[2] == "moment,"
    assert "NHS" in words and "CBT" in words


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (42, "forty-two"),
        (105, "one hundred and five"),
        (2000, "two thousand"),
        (1_000_001, "one million and one"),
        (-3, "minus three"),
    ],
)
def test_cardinal(n, words):
    assert cardinal(n) == words


@pytest.mark.parametrize(
    "n, words", [(1, "first"), (2, "second"), (12, "twelfth"), (20, "twentieth"), (43, "forty-third")]
)
def test_ordinal(n, words):
    assert ordinal(n) == words


@pytest.mark.parametrize(
    "n, words",
    [
        (1905, "nineteen oh five"),
        (1900, "nineteen hundred"),
        (2008, "two thousand eight"),
        (2024, "twenty twenty-four"),
    ],
)
def test_year(n, words):
    assert year(n) == words


def test_clock_time():
    assert clock_time(7, 0) == "seven o'clock"
    assert clock_time(19, 45) == "nineteen forty-five"


def test_the_engine_speaks_the_words_not_the_symbols(tmp_path):
    """The clip of the raw sentence is the clip of its written-out words, from the real engine."""
    raw = "Dr. Lee said 45% of us wake at 7:30, e.g. on the 21st."
    words = "Doctor Lee said forty-five percent of us wake at seven thirty, for example on the twenty-first."
    track = synthesize_track([Utterance(raw), Utterance(words)], VoiceSettings(), tmp_path)
    spoken_raw, spoken_words = track.clips
    assert spoken_raw.path == spoken_words.path, "one cache entry: the engine got the same words"
    # 17 spoken words at 120 wpm: a real clip of about that length, not a letter-by-letter reading.
    assert 17 * 60 / 120 * 0.6 < spoken_raw.duration < 17 * 60 / 120 * 1.6

"""Lines that look back for fault are left out: reflection, not self-blame."""

from __future__ import annotations

import pytest

from audiogen.theming import extract_themes, leave_out_reason, normalise_for_speech, speakable_form
from conftest import ARTICLES


@pytest.mark.parametrize(
    "sentence",
    [
        "Were there signs you ignored?",
        "Were there moments when you ignored red flags?",
        "What should you have done differently?",
        "Ask yourself what you did wrong.",
        "Looking back, the warning signs were all there.",
    ],
)
def test_lines_that_look_for_fault_are_left_out(sentence):
    assert leave_out_reason(normalise_for_speech(sentence)) == "blame"
    assert speakable_form(sentence) is None


@pytest.mark.parametrize(
    "sentence",
    [
        "It was not your fault.",
        "You did nothing wrong by loving someone.",
        "You do not need to blame yourself tonight.",
        "What did you learn about your needs?",
    ],
)
def test_kind_lines_about_fault_stay(sentence):
    assert leave_out_reason(normalise_for_speech(sentence)) is None


def test_the_shared_articles_ask_no_question_that_looks_for_fault():
    from audiogen.read import read_article

    for article in ARTICLES:
        for question in extract_themes(read_article(article)).questions:
            assert leave_out_reason(question) is None, (article.name, question)

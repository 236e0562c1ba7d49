from __future__ import annotations

import pytest

from audiogen.read import read_article
from audiogen.themes import extract_themes, is_speakable
from conftest import ARTICLES

SPAM = ("escort", "back to top", "begin typing", "press esc")


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.stem)
def test_shared_articles_read_clean(path):
    article = read_article(path)
    assert article.title and len(article.title.split()) >= 4
    assert len(article.sections) >= 2
    text = article.text.lower()
    for phrase in SPAM:
        assert phrase not in text


@pytest.mark.parametrize("path", ARTICLES, ids=lambda p: p.stem)
def test_themes_are_speakable(path):
    themes = extract_themes(read_article(path))
    assert themes.labels
    assert len(themes.insights) >= 3
    for sentence in themes.insights + themes.questions:
        assert is_speakable(sentence), sentence
    assert all(q.endswith("?") for q in themes.questions)


def test_sample_article_is_ours_and_rich():
    article = read_article(None)
    assert article.title == "Making Room for a Gentle Heart"
    themes = extract_themes(article)
    assert "self-compassion" in themes.labels
    assert themes.questions and themes.practices


def test_deterministic():
    path = ARTICLES[0]
    assert extract_themes(read_article(path)) == extract_themes(read_article(path))

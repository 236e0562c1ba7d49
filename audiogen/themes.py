"""Themes stage: an `Article` becomes `Themes`, offline and deterministically.

Sentences are scored by how much of the article's own vocabulary they carry
(a frequency model, as in classic extractive summarising), filtered to those a
narrator can speak on their own, and grouped into insights, questions,
affirmations, practices and keywords.
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

from audiogen.models import Article, Themes

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_WORDS = 30
MIN_WORDS = 6

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even ever every few for from
    further had has have having he her here hers herself him himself his how i if in into is it its itself
    just like may me might more most much must my myself no nor not now of off often on once one only or
    other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us very was we were
    what when where which while who whom why will with would you your yours yourself yourselves it's
    don't doesn't isn't you're you'll you've i'm can't won't that's there's what's let's""".split()
)
# A sentence opening with these leans on the one before it and cannot stand alone.
_DANGLING = re.compile(
    r"^(this|these|that|those|it|its|it's|they|them|their|he|she|his|her|such|and|but|so|or|also|"
    r"because|however|then|thus|therefore|instead|yet|here|there|which|both|one of)\b",
    re.IGNORECASE,
)
_UNSPEAKABLE = re.compile(r"https?://|www\.|[\[\]{}()<>@#|*_=~^\\/]|\.com\b|\d{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")
_WORD = re.compile(r"[a-z][a-z'-]*")

_PRACTICES = (
    ("journaling", r"\bjournal|\bwrit(e|ing) (down|one thing|about)|expressive writing"),
    ("writing a letter you do not send", r"\bletter"),
    ("a slow walk", r"\bwalk"),
    ("mindful breathing", r"\bbreath|\bbreathe"),
    ("a quiet cup of tea", r"\bcup of tea|\btea\b"),
    ("a gratitude list", r"\bgrateful|\bgratitude"),
    ("a hand on your heart", r"hand on (your|my) (heart|chest)"),
    ("kinder self-talk", r"self-talk|inner critic|reframe"),
    ("a small daily ritual", r"\britual"),
    ("resting without your phone", r"without (your|a) phone|screen"),
)

_KIND_OPENERS = re.compile(
    r"^(you are|you're|you can|you deserve|you did|you cared|you gave|you matter|you have|"
    r"i am|i can|i deserve|may i|may you|i gave|i choose|i allow)\b",
    re.IGNORECASE,
)
_GENERAL_AFFIRMATIONS = (
    "You are allowed to feel what you feel.",
    "You are worthy of kindness, especially your own.",
    "You can take this one breath at a time.",
    "Your heart is still open, and that is a strength.",
)


def _load_taxonomy() -> dict[str, dict]:
    text = resources.files("audiogen.data").joinpath("taxonomy.toml").read_text("utf-8")
    return tomllib.loads(text)


TAXONOMY = _load_taxonomy()


def normalise_for_speech(sentence: str) -> str:
    """Typographic quotes and dashes become plain punctuation a voice reads naturally."""
    s = sentence.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"\s*[—–]\s*", ", ", s)
    s = s.replace('"', "")
    s = re.sub(r"\s+,", ",", s)
    s = re.sub(r",\s*([.!?])", r"\1", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def is_speakable(sentence: str) -> bool:
    words = sentence.split()
    return (
        MIN_WORDS <= len(words) <= MAX_WORDS
        and sentence[-1] in ".!?"
        and sentence[0].isupper()
        and not _UNSPEAKABLE.search(sentence)
        and not _DANGLING.match(sentence)
        and ":" not in sentence
        and not re.search(r"(^|\s)'|'(\s|$)", sentence)  # a quotation, not an apostrophe
    )


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2]


def _labels(article: Article) -> tuple[str, ...]:
    text = " " + " ".join([article.title, *article.paragraphs]).lower() + " "
    words = max(1, len(text.split()))
    scores: dict[str, float] = {}
    for label, entry in TAXONOMY.items():
        hits = sum(len(re.findall(r"(?<![a-z])" + re.escape(stem), text)) for stem in entry["stems"])
        # The title says what the article is about: its signals weigh more.
        hits += 3 * sum(1 for stem in entry["stems"] if stem in article.title.lower())
        scores[label] = hits * 1000 / words
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [label for label, score in ranked if score >= 2.5][:4]
    return tuple(chosen or [ranked[0][0]])


def extract_themes(article: Article, max_insights: int = 6) -> Themes:
    sentences: list[tuple[int, str]] = []
    for paragraph in article.paragraphs:
        for sentence in split_sentences(paragraph):
            sentences.append((len(sentences), normalise_for_speech(sentence)))

    frequencies = Counter(_content_words(" ".join(s for _, s in sentences)))
    top = frequencies.most_common(1)[0][1] if frequencies else 1

    def score(sentence: str) -> float:
        words = _content_words(sentence)
        if not words:
            return 0.0
        base = sum(frequencies[w] / top for w in words) / len(words) ** 0.6
        if re.search(r"\byou(r)?\b", sentence, re.IGNORECASE):
            base *= 1.15  # already addressed to the listener
        return base

    statements = [(i, s) for i, s in sentences if s.endswith((".", "!")) and is_speakable(s)]
    ranked = sorted(statements, key=lambda item: (-score(item[1]), item[0]))
    insights = tuple(s for _, s in ranked[:max_insights])

    questions = tuple(
        dict.fromkeys(s for _, s in sentences if s.endswith("?") and is_speakable(s) and re.search(r"\byou", s, re.I))
    )[:4]

    found_affirmations = [
        s for _, s in sentences if s.endswith(".") and len(s.split()) <= 14 and _KIND_OPENERS.match(s) and is_speakable(s)
    ]
    affirmations = tuple(dict.fromkeys(found_affirmations + list(_GENERAL_AFFIRMATIONS)))[:5]

    lowered = article.text.lower()
    practices = tuple(name for name, pattern in _PRACTICES if re.search(pattern, lowered))

    keywords = tuple(w for w, _ in frequencies.most_common(40) if len(w) > 3)[:10]
    return Themes(
        title=normalise_for_speech(article.title),
        labels=_labels(article),
        insights=insights,
        questions=questions,
        affirmations=affirmations,
        practices=practices,
        keywords=keywords,
    )

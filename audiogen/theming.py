"""Themes stage: an `Article` becomes `Themes`, offline and deterministically.

Every sentence is first made speakable for a meditation (plain punctuation, second
person, present tense where it fits) or set aside when it cannot stand on its own
(quoted speech, a dangling "this", a URL, too long). From what is left:
insights are ranked by how much of the article's own vocabulary they carry (a
frequency model, as in classic extractive summarising); questions and affirmations
are those the article offers; labels and practices come from the documented
taxonomy in audiogen/data/taxonomy.toml.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources

from audiogen.models import Article, Themes

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_WORDS = 30
MIN_WORDS = 6  # an insight; questions and affirmations may be shorter
MIN_SHORT_WORDS = 2  # "You're human." is a whole affirmation
MAX_AFFIRMATION_WORDS = 16
MAX_INSIGHTS = 6
MAX_QUESTIONS = 5
MIN_QUESTIONS = 2
MAX_AFFIRMATIONS = 6
MIN_AFFIRMATIONS = 4
MAX_LABELS = 4
LABEL_THRESHOLD = 5.0  # signal hits per 1000 words (title and headings count extra)
LABEL_MIN_HITS = 3

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even ever every few for from
    further had has have having he her here hers herself him himself his how i if in into is it its itself
    just like may me might more most much must my myself no nor not now of off often on once one only or
    other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us very was we were
    what when where which while who whom why will with would you your yours yourself yourselves it's
    don't doesn't isn't you're you'll you've you'd i'm i've can't won't that's there's what's let's
    didn't wasn't aren't weren't haven't hasn't shouldn't wouldn't couldn't
    never without around everything something someone anything anyone nothing everyone thing things way
    ways make makes made get gets got going goes come comes came take takes took give gives gave
    feel feels felt know knows knew see sees saw want wants need needs means mean say says said
    really still yet already always sometimes many another back long little lot lots well much
    first last next new time times day days rather instead whether though although within
    become becomes became begin begins began keep keeps kept let lets help helps part just simply
    truly deeply often quite allowed allow allows create creates help helping look looks looking return
    returns longer better choose choosing learn learning notice noticing person people hours part parts
    able maybe perhaps whole single simple small happen happens happened find finds found""".split()
)

# ---------------------------------------------------------------- speakable sentences

_UNSPEAKABLE = re.compile(
    r"https?://|www\.|\.(com|org|net|io)\b|[\[\]{}()<>@#|*_=~^\\/%$€£+]|\d{3,}|&|\.\.|…|"
    r"\b(click|tap|scroll|below|above|the following|this (article|post|page|guide|blog|site|list|video|episode)|"
    r"read on|link|subscribe|newsletter)\b",
    re.IGNORECASE,
)
# A sentence opening with these leans on the one before it and cannot stand alone.
_DANGLING = re.compile(
    r"^(this|these|that|those|it|its|it's|they|they're|them|their|he|she|his|her|such|also|"
    r"because|then|thus|therefore|hence|instead|here|there's|which|both|one of (these|those|them)|"
    r"others|another|the same|likewise|similarly|in (this|that) (way|case|sense)|for (example|instance)|first|second|third|next|finally|"
    r"afterwards|after that|later|meanwhile|at first|in turn)\b|^(in|at|on|from|with|by|for) the \w+,",
    re.IGNORECASE,
)
# Pointing words that need the sentence before, unless they point at something speakable here.
_POINTER = re.compile(r"\b(this|these|those|such)\b(\s+\w+)?", re.IGNORECASE)
_POINTER_FINE = re.compile(
    r"^(this|these|those|such) (moment|breath|day|evening|morning|night|time|very|much|way|world|life|"
    r"who|days|moments|as|that)$",
    re.IGNORECASE,
)
# "this loss" means "your loss" in a meditation about loss; other pointers disqualify.
_POINTER_TO_YOUR = re.compile(
    r"\b(this|these) (loss|grief|heartbreak|heartache|pain|hurt|sadness|sorrow|anger|guilt|shame|"
    r"feelings?|emotions?|experience|mistake|wound|wounds|fear|fears|longing|loneliness|ache|regret)\b",
    re.IGNORECASE,
)
_DROP_OPENER = re.compile(
    r"^(?:(?:but|and|so|or|yet|still|plus|now|again|remember|ultimately|interestingly|in fact|of course|"
    r"finally|overall|additionally|moreover|furthermore|indeed|after all|in the end|in short|above all|"
    r"at the same time|most importantly|importantly|in other words|over time),\s+|(?:but|and)\s+)",
    re.IGNORECASE,
)
_HARSH = re.compile(r"\b(stupid|foolish|idiot\w*|worthless|pathetic|unlovable|hate yourself|kill\w*|suicid\w*)\b", re.I)
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'll|I'd|(?i:me|my|mine|myself))\b")
_QUOTE = re.compile(r"[“”\"]|(^|\s)[‘']|[’'](\s|$|[,.!?])")

# Generalisations about people turned towards the listener: (subject, new subject,
# whether the sentence's later they/them/their meant those people and follow).
_GENERAL_SUBJECTS = (
    (re.compile(r"^(?:most|many|all) of us\b", re.I), "Like many people, you", True),
    (re.compile(r"^(?:many|most) people\b", re.I), "Like many people, you", True),
    (re.compile(r"^some people\b", re.I), "You might", True),
    (re.compile(r"^people\b(?! who)", re.I), "You", True),
    (re.compile(r"^one (?=(can|could|may|might|must|should|will|would)\b)", re.I), "You ", False),
)
_MIGHT_VERB = {"are": "be", "is": "be", "has": "have", "does": "do"}
_WE_TO_YOU = (
    (r"\bwe're\b", "you're"), (r"\bwe've\b", "you've"), (r"\bwe'll\b", "you'll"), (r"\bwe'd\b", "you'd"),
    (r"\bwe\b", "you"), (r"\bourselves\b", "yourself"), (r"\bours\b", "yours"), (r"\bour\b", "your"),
    (r"\b(?:all|many|most|each|some) of us\b", "you"), (r"\blet us\b", "let yourself"), (r"\bus\b", "you"),
)
_THEY_TO_YOU = (
    (r"\bthey're\b", "you're"), (r"\bthey've\b", "you've"), (r"\bthey'll\b", "you'll"), (r"\bthey\b", "you"),
    (r"\bthemselves\b", "yourself"), (r"\bthem\b", "you"), (r"\btheirs\b", "yours"), (r"\btheir\b", "your"),
)
# "you will notice" reads as a prediction; "you notice" keeps the listener in the present.
_FUTURE = re.compile(r"\b(you)(?: will|'ll) (?!(not|never|always|still|need|have to|want|be able|find it)\b)(\w+)", re.I)


def normalise_for_speech(sentence: str) -> str:
    """Typographic quotes and dashes become plain punctuation a voice reads naturally."""
    s = sentence.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"\s*[—–]\s*|\s+-\s+", ", ", s)
    s = s.replace('"', "")
    s = re.sub(r"\be\.g\.,?\s*", "for example, ", s)
    s = re.sub(r"\bi\.e\.,?\s*", "that is, ", s)
    s = re.sub(r",?\s*\betc\.", ", and so on.", s)
    s = re.sub(r"\s+,", ",", s)
    s = re.sub(r",\s*([.!?;])", r"\1", s)
    s = re.sub(r",(\s*,)+", ",", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def _sub_all(text: str, rules: tuple[tuple[str, str], ...]) -> str:
    for pattern, replacement in rules:
        text = re.sub(pattern, lambda m, r=replacement: _match_case(m.group(0), r), text, flags=re.I)
    return text


def _match_case(original: str, replacement: str) -> str:
    return replacement[0].upper() + replacement[1:] if original[:1].isupper() else replacement


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def to_second_person(sentence: str) -> str:
    """Deterministic rewrites so a sentence speaks to the listener, in the present."""
    s = sentence
    while True:
        stripped = _DROP_OPENER.sub("", s, count=1)
        if stripped == s:
            break
        s = _capitalise(stripped)
    for pattern, replacement, they_follow in _GENERAL_SUBJECTS:
        match = pattern.match(s)
        if not match:
            continue
        rest = s[match.end():]
        if replacement.startswith("Like many") and re.match(r"\s+(find|notice|discover|feel|realise|realize|struggle|wonder)\b", rest):
            rest = " may" + rest  # "Like many people, you may find that ..."
        if replacement == "You might":
            # "Some people are" -> "You might be"; other verbs keep their plain form.
            verb = re.match(r"\s+(\w+)", rest)
            if verb and verb.group(1).lower() in _MIGHT_VERB:
                rest = " " + _MIGHT_VERB[verb.group(1).lower()] + rest[verb.end():]
        if they_follow:
            rest = _sub_all(rest, _THEY_TO_YOU)
        s = replacement + rest
        break
    s = _sub_all(s, _WE_TO_YOU)
    s = re.sub(r"\byou will be\b", "you are", s, flags=re.I)
    s = re.sub(r"\byou'll be\b", "you're", s, flags=re.I)
    s = _FUTURE.sub(lambda m: f"{m.group(1)} {m.group(3)}", s)
    # "is also a mirror" leans on a sentence before; without "also" it stands alone.
    s = re.sub(r"(?<=\w) also\b", "", s)
    s = re.sub(r",? too([.!?])$", r"\1", s)
    s = _POINTER_TO_YOUR.sub(lambda m: _match_case(m.group(1), "your") + " " + m.group(2), s)
    s = re.sub(r"\byour (\w+) of your\b", r"the \1 of your", s)
    return _capitalise(s)


_THAT_POINTER = re.compile(r"\b(in|at|of|from|with|by|for|on|after|during|through|like) that (?!is\b|was\b|you\b|your\b)\w+", re.I)


def _pointers_resolved(sentence: str) -> bool:
    if _THAT_POINTER.search(sentence):
        return False  # "in that process": the process is in another sentence
    for match in _POINTER.finditer(sentence):
        if not _POINTER_FINE.match(match.group(0).lower().strip()):
            return False
    return True


def is_speakable(sentence: str, min_words: int = MIN_SHORT_WORDS) -> bool:
    """A whole sentence a narrator can say on its own, in a meditation."""
    words = sentence.split()
    return (
        min_words <= len(words) <= MAX_WORDS
        and sentence[-1] in ".!?"
        and sentence[0].isupper()
        and not _UNSPEAKABLE.search(sentence)
        and not _DANGLING.match(sentence)
        and _pointers_resolved(sentence)
        and ":" not in sentence
        and not _QUOTE.search(sentence.replace("'s ", " ").replace("n't", "nt"))
        and not re.search(r"\b([A-Z]{2,})\b", sentence)  # acronyms and shouting
        and not _HARSH.search(sentence)
    )


def speakable_form(raw: str, min_words: int = MIN_SHORT_WORDS) -> str | None:
    """The sentence as the meditation may say it, or None when it cannot stand alone."""
    if re.search(r"[“”\"]", raw) or re.search(r"(^|\s)[‘']\w", raw):
        return None  # quoted speech belongs to someone in the article, not to the narrator
    sentence = to_second_person(normalise_for_speech(raw))
    return sentence if is_speakable(sentence, min_words) else None


# ---------------------------------------------------------------- taxonomy

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")
_WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")


def _load_taxonomy() -> dict:
    text = resources.files("audiogen.data").joinpath("taxonomy.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class _Signals:
    """Signals of a label or practice; phrases marked "not:" are blanked out first."""

    found: re.Pattern
    excluded: re.Pattern | None

    def findall(self, text: str) -> list[str]:
        if self.excluded is not None:
            text = self.excluded.sub(" ", text)
        return self.found.findall(text)


def _signals(signals: list[str]) -> _Signals:
    excluded = [s[4:].strip() for s in signals if s.startswith("not:")]
    included = [s for s in signals if not s.startswith("not:")]
    return _Signals(_signal_pattern(included), _signal_pattern(excluded) if excluded else None)


def _signal_pattern(signals: list[str]) -> re.Pattern:
    parts = []
    for signal in signals:
        prefix = signal.endswith("*")
        body = re.escape(signal.rstrip("*").lower()).replace(r"\ ", r"\s+")
        parts.append(body + (r"[\w'-]*" if prefix else r"(?![\w-])"))
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + ")")


TAXONOMY = _load_taxonomy()
LABELS: dict[str, _Signals] = {name: _signals(e["signals"]) for name, e in TAXONOMY["labels"].items()}
PRACTICES: dict[str, _Signals] = {e["say"]: _signals(e["signals"]) for e in TAXONOMY["practices"].values()}


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in _STOPWORDS and len(w) > 2]


def _stem(word: str) -> str:
    """A light suffix-stripping stem so heal, heals and healing count as one word."""
    for suffix in ("ingly", "ings", "ing", "edly", "ness", "ful", "ies", "ied", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _labels(article: Article) -> tuple[str, ...]:
    headings = " ".join(s.heading for s in article.sections).lower()
    body = " ".join(article.paragraphs).lower().replace("’", "'")
    words = max(200, len(body.split()))
    scores: dict[str, float] = {}
    for label, pattern in LABELS.items():
        hits = len(pattern.findall(body))
        # The title and headings say what the article is about: their signals weigh more.
        hits += 4 * len(pattern.findall(article.title.lower())) + 2 * len(pattern.findall(headings))
        scores[label] = hits * 1000 / words if hits >= LABEL_MIN_HITS else 0.0
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [label for label, score in ranked if score >= LABEL_THRESHOLD][:MAX_LABELS]
    return tuple(chosen)  # an article about none of them gets no label rather than a wrong one


# ---------------------------------------------------------------- extraction


@dataclass(frozen=True)
class _Sentence:
    index: int
    raw: str
    heading: str


_QUESTION_START = re.compile(
    r"^(what|how|where|when|why|who|which|whose|can|could|do|does|did|is|are|was|were|have|has|had|will|"
    r"would|should|may|might|in what|if you)\b",
    re.IGNORECASE,
)
_KIND_OPENER = re.compile(
    r"^(you are|you're|you can|you deserve|you did|you cared|you gave|you matter|you have|you belong|you are allowed|"
    r"you do not have to|you don't have to|you do not need to|you don't need to|you are not alone|"
    r"your [\w-]+( [\w-]+)? (is|are|can|does not|do not|matters?) |"
    r"i am|i'm|i can|i deserve|i have|i've|i choose|i allow|i let|i forgive|i give myself|may i|may you|"
    r"it is okay|it's okay|it is ok|it's ok|growth takes|there is no (deadline|rush|wrong way))",
    re.IGNORECASE,
)
# Questions to the listener that need no "you": "What would it feel like to rest?"
_OPEN_QUESTION = re.compile(r"^(what|how) (would|might|could|does) it (feel|be|look)\b|^what if\b", re.I)
# He, she or they with nothing in the sentence to point at: someone from another sentence.
_THIRD_PERSON = re.compile(r"\b(he|she|him|his|her|hers|they|them|their|theirs)\b", re.I)
_ANTECEDENT = re.compile(r"\b(people|others|friends?|someone|somebody|person|partners?|loved ones?|everyone|children|parents?|"
                         r"mother|father|mum|mom|dad|family|they|he|she)\b.*", re.I)
_IMPERATIVE = re.compile(r"^(write|take|put|sit|let|try|cry|cancel|breathe|say|make|go|use|create|begin|start|find|"
                         r"light|place|call|read|keep|give|notice|stop|pause|allow|choose|remember|be)\b", re.I)
_NOT_KIND = re.compile(r"\b(you were|you'll never|you will never|you should have|your fault|not enough|failed|failure)\b", re.I)
_AFFIRMATION_HEADING = re.compile(r"\b(affirmations?|mantras?|kind words|words to (repeat|remember)|phrases|reminders?|repeat)\b", re.I)
# Kind clauses inside longer sentences: "You trust that you can survive, that ..."
_CLAUSE_LEAD = re.compile(
    r"(?:[:;,]\s*|\b(?:trust|know|remember|remind yourself|realise|realize|believe|recognise|recognize|"
    r"discover|learn|says?)\s+(?:that\s+)?|,\s*(?:and\s+)?that\s+)"
    r"((?:you|your)\b[^,;:.!?]{6,90})(?=[,;.!?]|$)",
    re.IGNORECASE,
)


def _sentences(article: Article) -> list[_Sentence]:
    found: list[_Sentence] = []
    for section in article.sections:
        for paragraph in section.paragraphs:
            for raw in split_sentences(paragraph):
                found.append(_Sentence(len(found), raw, section.heading))
    return found


def _similar(a: str, b: str) -> bool:
    wa, wb = set(map(_stem, _content_words(a))), set(map(_stem, _content_words(b)))
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.5


def _pronouns_resolved(sentence: str) -> bool:
    """True when every he, she or they follows a noun in the same sentence it can mean."""
    first = _THIRD_PERSON.search(sentence)
    if first is None:
        return True
    antecedent = _ANTECEDENT.search(sentence)
    return antecedent is not None and antecedent.start() < first.start()


def _affirmations(sentences: list[_Sentence], labels: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []

    def consider(text: str, from_list: bool) -> None:
        text = text.strip()
        if not text:
            return
        if text[-1] not in ".!":
            text += "."
        candidate = speakable_form(text)
        if (
            candidate
            and len(candidate.split()) <= MAX_AFFIRMATION_WORDS
            and (from_list or _KIND_OPENER.match(candidate))
            and not _NOT_KIND.search(candidate)
            and not candidate.endswith("?")
            and not any(_similar(candidate, f) for f in found)
        ):
            found.append(candidate)

    for sentence in sentences:
        raw = sentence.raw
        if raw.endswith("?") or re.search(r"[“”\"]", raw):
            continue
        under_heading = bool(_AFFIRMATION_HEADING.search(sentence.heading))
        before = len(found)
        consider(normalise_for_speech(raw), under_heading)
        if len(found) > before:
            continue  # the whole sentence is kind; its clauses would only repeat it
        for clause in _CLAUSE_LEAD.finditer(normalise_for_speech(raw)):
            consider(_capitalise(clause.group(1)), False)
    for fallback in _fallbacks(labels, "affirmation"):
        if len(found) >= MIN_AFFIRMATIONS:
            break
        if not any(_similar(fallback, f) for f in found):
            found.append(fallback)
    return tuple(found[:MAX_AFFIRMATIONS])


def _fallbacks(labels: tuple[str, ...], kind: str) -> list[str]:
    """The labels' own questions or affirmations, then the general ones, for articles that offer too few."""
    own = [TAXONOMY["labels"][label][kind] for label in labels]
    return list(dict.fromkeys(own + TAXONOMY["general"][f"{kind}s"]))


def _questions(sentences: list[_Sentence], labels: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for sentence in sentences:
        if not sentence.raw.rstrip("”\"’) ").endswith("?"):
            continue
        candidate = speakable_form(sentence.raw)
        if (
            candidate
            and candidate.endswith("?")
            and _QUESTION_START.match(candidate)
            and (re.search(r"\byou(r|rself)?\b", candidate, re.I) or _OPEN_QUESTION.match(candidate))
            and not _FIRST_PERSON.search(candidate)
            and candidate not in found
        ):
            found.append(candidate)
    # The script asks two questions; the labels' own questions fill in when the article asks fewer.
    for fallback in _fallbacks(labels, "question"):
        if len(found) >= MIN_QUESTIONS:
            break
        found.append(fallback)
    return tuple(found[:MAX_QUESTIONS])


def _practices(article: Article) -> tuple[str, ...]:
    text = " ".join(article.paragraphs).lower().replace("’", "'")
    counted = []
    for order, (say, signals) in enumerate(PRACTICES.items()):
        hits = signals.findall(text)
        if hits:
            counted.append((-len(hits), text.find(hits[0]), order, say))
    return tuple(say for *_, say in sorted(counted))


def _keywords(article: Article) -> tuple[str, ...]:
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for word in _content_words(" ".join([article.title, *article.paragraphs])):
        word = word.strip("'-")
        if len(word) <= 3 or word.endswith("'s"):
            continue
        stem = _stem(word)
        counts[stem] += 1
        forms.setdefault(stem, Counter())[word] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " ".join([article.title, *article.paragraphs]).lower().replace("’", "'")
    keywords = []
    for stem, count in ranked[:10]:
        if count < 2:
            break
        word = forms[stem].most_common(1)[0][0]
        # A word nearly always followed by the same one is half of a phrase: "letting go".
        following = Counter(re.findall(rf"(?<![\w-]){re.escape(word)} ([a-z]+)", text))
        if following:
            after, times = following.most_common(1)[0]
            if times >= 2 and times >= 0.75 * counts[stem] and (after not in _STOPWORDS or after == "yourself"):
                word = f"{word} {after}"
        if not any(word in kept.split() or kept in word.split() for kept in keywords):
            keywords.append(word)
    return tuple(keywords)


def extract_themes(article: Article, max_insights: int = MAX_INSIGHTS) -> Themes:
    sentences = _sentences(article)
    labels = _labels(article)
    affirmations = _affirmations(sentences, labels)
    questions = _questions(sentences, labels)

    vocabulary = Counter(_stem(w) for w in _content_words(article.text))
    topical = {_stem(w) for w in _content_words(" ".join([article.title, *(s.heading for s in article.sections)]))}
    top = max(vocabulary.values(), default=1)

    def score(sentence: _Sentence, spoken: str) -> float:
        stems = [_stem(w) for w in _content_words(spoken)]
        if not stems:
            return 0.0
        weight = sum(vocabulary[s] / top * (1.5 if s in topical else 1.0) for s in stems) / len(stems) ** 0.6
        if re.search(r"\byou(r)?\b", spoken, re.I):
            weight *= 1.15  # already addressed to the listener
        if _IMPERATIVE.match(spoken):
            weight *= 0.7  # an instruction from a list, not an idea that carries the article
        return weight * min(1.0, len(spoken.split()) / 10)  # a fragment-short line carries little

    candidates = []
    for sentence in sentences:
        if sentence.raw.rstrip("”\"’) ").endswith("?"):
            continue
        spoken = speakable_form(sentence.raw, MIN_WORDS)
        if (
            spoken
            and spoken.endswith((".", "!"))
            and not _FIRST_PERSON.search(spoken)
            and spoken not in affirmations
            and _pronouns_resolved(spoken)
        ):
            candidates.append((-score(sentence, spoken), sentence.index, spoken))
    insights: list[str] = []
    for _, _, spoken in sorted(candidates):
        if len(insights) >= max_insights:
            break
        if not any(_similar(spoken, chosen) for chosen in insights):
            insights.append(spoken)

    return Themes(
        title=normalise_for_speech(article.title),
        labels=labels,
        insights=tuple(insights),
        questions=questions,
        affirmations=affirmations,
        practices=_practices(article),
        keywords=_keywords(article),
    )

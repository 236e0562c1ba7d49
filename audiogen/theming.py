"""Themes stage: an `Article` becomes `Themes`, offline and deterministically.

Every sentence is first made speakable for a meditation (plain punctuation, second
person, present tense where it fits) or set aside when it cannot stand on its own
(quoted speech, a dangling "this", a URL, too long), and whatever a meditation teacher
would not say aloud is left out: studies and numbers, attributions, calls to action, the
author's own past-tense story, graphic or violent images, clinical third person,
marketing (the lists are data, in audiogen/data/meditation.toml; the little grammar the
rewrites need, irregular pasts and one listener's agreement, is in audiogen/data/english.toml).
From what is left: insights are ranked by how much of the article's own vocabulary they
carry (a frequency model, as in classic extractive summarising); questions and affirmations
are those the article offers; labels and practices come from the documented taxonomy in
audiogen/data/taxonomy.toml.
"""

from __future__ import annotations

import functools
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
MIN_SHORT_WORDS = 2  # the shortest whole sentence
MIN_AFFIRMATION_WORDS = 4  # "You can journal." is an instruction cut short, not an affirmation
MAX_AFFIRMATION_WORDS = 16
MIN_QUESTION_WORDS = 5  # "How did you stop?" asks about a story the listener never heard
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
    r"\b(click|tap|scroll|below|above|the following|"
    r"this (article|post|page|guide|blog|site|list|video|episode)|"
    r"read on|link|subscribe|newsletter)\b",
    re.IGNORECASE,
)
# A sentence opening with these leans on the one before it and cannot stand alone.
_DANGLING = re.compile(
    r"^(this|these|that|those|it|its|it's|they|they're|them|their|he|she|his|her|such|also|"
    r"because|then|thus|therefore|hence|instead|here|there's|which|both|one of (these|those|them)|"
    r"others|another|the same|likewise|similarly|in (this|that) (way|case|sense)|for (example|instance)|"
    r"first|second|third|next|finally|"
    r"afterwards|after that|later|meanwhile|at first|in turn|not)\b|^(in|at|on|from|with|by|for) the \w+,|"
    r"^(when|as|if|once) you \w+ (it|them)\b",  # "When you feel it rise": it is in the sentence before
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
    r"at the same time|most importantly|importantly|in other words|over time|however|also|besides|"
    r"that said|even so),\s+|"
    r"(?:but|and|yet|plus|or|so(?!\s+(?:much|many|far|often|long|few|little|very|too)\b))\s+)",
    re.IGNORECASE,
)
_HARSH = re.compile(
    r"\b(stupid|foolish|idiot\w*|worthless|pathetic|unlovable|hate yourself|kill\w*|suicid\w*)\b", re.I
)
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
    (r"\bwe're\b", "you're"),
    (r"\bwe've\b", "you've"),
    (r"\bwe'll\b", "you'll"),
    (r"\bwe'd\b", "you'd"),
    (r"\bwe\b", "you"),
    (r"\bourselves\b", "yourself"),
    (r"\bours\b", "yours"),
    (r"\bour\b", "your"),
    (r"\b(?:all|many|most|each|some) of us\b", "you"),
    (r"\blet us\b", "let yourself"),
    (r"\bus\b", "you"),
)
# "Let us breathe together" is the teacher breathing with the listener; spoken to the listener
# alone it drops "together" ("let yourself breathe together" is nobody's sentence).
_LET_US_TOGETHER = re.compile(r"\b(let us\b[^,.;:!?]*?)\s+together\b", re.I)
_THEY_TO_YOU = (
    (r"\bthey're\b", "you're"),
    (r"\bthey've\b", "you've"),
    (r"\bthey'll\b", "you'll"),
    (r"\bthey\b", "you"),
    (r"\bthemselves\b", "yourself"),
    (r"\bthem\b", "you"),
    (r"\btheirs\b", "yours"),
    (r"\btheir\b", "your"),
)
# "you will notice" reads as a prediction; "you notice" keeps the listener in the present.
_FUTURE = re.compile(
    r"\b(you)(?: will|'ll) (?!(not|never|always|still|need|have to|want|be able|find it)\b)(\w+)", re.I
)


def normalise_for_speech(sentence: str) -> str:
    """Typographic quotes and dashes become plain punctuation a voice reads naturally."""
    s = _APOSTROPHES.sub("'", sentence).replace("“", '"').replace("”", '"')
    s = re.sub(r"\s*[—–]\s*|\s+-\s+", ", ", s)
    s = s.replace('"', "")
    s = re.sub(r"\be\.g\.,?\s*", "for example, ", s)
    s = re.sub(r"\bi\.e\.,?\s*", "that is, ", s)
    s = re.sub(r",?\s*\betc\.", ", and so on.", s)
    s = re.sub(r"\s+,", ",", s)
    s = re.sub(r",\s*([.!?;])", r"\1", s)
    s = re.sub(r",(\s*,)+", ",", s)
    s = re.sub(r"\s+", " ", s).strip()
    return _expand_contractions(_unmerge_heading(s))


# Every look-alike of an apostrophe ("who´s", "whoʼs"): left alone, one is read as a pause
# and the word after it loses its verb ("someone who going through").
_APOSTROPHES = re.compile(r"(?<=\w)[’‘ʼ´`′](?=\w)|[’‘]")
_S_CONTRACTION = re.compile(
    r"\b(who|what|that|there|where|how|here|it|he|she|someone|everyone|nobody|no one)'s (\w+)", re.I
)
_HAS_PARTICIPLES = frozenset({"been", "got", "gotten", "had"})


def _expand_contractions(text: str) -> str:
    """ "who's going" is "who is going"; "who's been" is "who has been": said in full, slowly."""

    def expand(match: re.Match) -> str:
        verb = "has" if match.group(2).lower() in _HAS_PARTICIPLES else "is"
        return f"{match.group(1)} {verb} {match.group(2)}"

    return _S_CONTRACTION.sub(expand, text)


def _unmerge_heading(text: str) -> str:
    """A list heading run into its item ("Rest Rest when you can.") keeps only the item."""
    words = text.split()
    for size in range(min(6, len(words) // 2), 0, -1):
        head = [w.strip(",.:;!?").lower() for w in words[:size]]
        if head == [w.strip(",.:;!?").lower() for w in words[size : 2 * size]]:
            return " ".join(words[size:])
    return text


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
        rest = s[match.end() :]
        if replacement.startswith("Like many") and re.match(
            r"\s+(find|notice|discover|feel|realise|realize|struggle|wonder)\b", rest
        ):
            rest = " may" + rest  # "Like many people, you may find that ..."
        if replacement == "You might":
            # "Some people are" -> "You might be"; other verbs keep their plain form.
            verb = re.match(r"\s+(\w+)", rest)
            if verb and verb.group(1).lower() in _MIGHT_VERB:
                rest = " " + _MIGHT_VERB[verb.group(1).lower()] + rest[verb.end() :]
        if they_follow:
            rest = _sub_all(rest, _THEY_TO_YOU)
        s = replacement + rest
        break
    s = _LET_US_TOGETHER.sub(r"\1", s)
    s = _sub_all(s, _WE_TO_YOU)
    s = _one_listener(s)
    s = re.sub(r"\byou will be\b", "you are", s, flags=re.I)
    s = re.sub(r"\byou'll be\b", "you're", s, flags=re.I)
    s = _FUTURE.sub(lambda m: f"{m.group(1)} {m.group(3)}", s)
    # "is also a mirror" leans on a sentence before; without "also" it stands alone.
    s = re.sub(r"(?<=\w) also\b", "", s)
    s = re.sub(r",? too([.!?])$", r"\1", s)
    s = _POINTER_TO_YOUR.sub(lambda m: _match_case(m.group(1), "your") + " " + m.group(2), s)
    s = re.sub(r"\byour (\w+) of your\b", r"the \1 of your", s)
    return _capitalise(s)


# A listener has one mind, one body, one heart: "our minds" spoken to one person is "your mind".
_ONE_EACH = frozenset(
    {
        "mind",
        "body",
        "heart",
        "life",
        "self",
        "head",
        "chest",
        "soul",
        "spirit",
        "brain",
        "belly",
        "stomach",
        "nervous system",
        "breath",
        "face",
        "jaw",
        "throat",
        "inner critic",
        "inner voice",
    }
)
_YOUR_PLURAL = re.compile(
    r"(^|, |\b(?:and|when|while|as|if|because|until|that|so) )?\b(your) ((?:inner |nervous )?\w+)"
    r"((?: (?:often|still|always|never|sometimes|just|really|usually|also))? \w+)?",  # "minds often race"
    re.I,
)


def _singular(noun: str) -> str:
    """The one-each noun a plural names ("bodies" -> "body", "selves" -> "self"), or the noun itself."""
    return _ONE_EACH_PLURALS.get(noun.lower(), noun.lower())


def _one_each_plural(noun: str) -> str:
    if noun.endswith(("life", "self")):
        return noun[: -2 if noun.endswith("fe") else -1] + "ves"  # lives, selves
    if noun.endswith("y"):
        return noun[:-1] + "ies"  # bodies, bellies
    return noun + "s"  # minds, stomachs, nervous systems


def _third_person(verb: str) -> str:
    """A plain verb with one subject: replay -> replays, carry -> carries, touch -> touches."""
    if verb in _AGREE_IRREGULAR:
        return _AGREE_IRREGULAR[verb]
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    if verb.endswith(("s", "x", "z", "ch", "sh", "o")):
        return verb + "es"
    return verb + "s"


# Words that can follow a listener's minds or hearts and are no verb of theirs: the noun is made
# singular and nothing else changes ("your heart can", "your mind, too"). After "and" the plural
# stays: "your minds and bodies" is one listener's, "your mind and bodies" is nobody's.
_NO_VERB_AFTER = frozenset(
    "but of to in into on onto with without at for from by about over under that which who "
    "whose as than so too also alone here there now again today tonight can could may might must "
    "shall should will would".split()
)


def _one_listener(text: str) -> str:
    """Plural possessions made singular for one listener, and a verb they govern agreed with. A
    subject followed by a word that may be a verb not in the list keeps its plural: "your minds
    judge" is left as it is rather than made "your mind judge"."""

    def fix(match: re.Match) -> str:
        lead, your, noun, after = match.group(1) or "", match.group(2), match.group(3), match.group(4) or ""
        singular = _singular(noun)
        if singular == noun.lower():
            return match.group(0)
        adverb, _, word = after.strip().rpartition(" ")
        subject = bool(match.group(1) is not None or match.start() == 0)
        if subject and word.lower() in _AGREE_VERBS:  # "minds replay" -> "mind replays", "are" -> "is"
            after = " " + (adverb + " " if adverb else "") + _third_person(word.lower())
        elif subject and word and word.lower() not in _NO_VERB_AFTER:
            return match.group(0)
        return f"{lead}{your} {singular}{after}"

    return _YOUR_PLURAL.sub(fix, text)


_THAT_POINTER = re.compile(
    r"\b(in|at|of|from|with|by|for|on|after|during|through|like) that (?!is\b|was\b|you\b|your\b)\w+", re.I
)


def _pointers_resolved(sentence: str) -> bool:
    if _THAT_POINTER.search(sentence):
        return False  # "in that process": the process is in another sentence
    for match in _POINTER.finditer(sentence):
        if not _POINTER_FINE.match(match.group(0).lower().strip()):
            return False
    return True


# "you made one": one of what the sentence before named.
_ONE_POINTER = re.compile(
    r"\b(made|make|makes|had|have|has|is|was|take|took|found|find|need|needs) one\b"
    r"(?! (of|more|day|moment|breath|step|thing|another|at a time)\b)",
    re.I,
)


def _list_fragment(sentence: str) -> bool:
    """Noun phrases in a row and no verb of their own:
    "The words they chose, the ending they decided, ..." """
    parts = [p.strip() for p in sentence.split(",")]
    return len(parts) >= 3 and all(
        re.match(r"(the|a|an|your|my|his|her|their|no|not)\b", p, re.I) for p in parts
    )


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
        and not _list_fragment(sentence)
        and not re.search(
            r"\bthe same (way|thing|feeling|again)\b(?! as\b)", sentence, re.I
        )  # the same as what?
        and not _ONE_POINTER.search(sentence)
    )


def speakable_form(raw: str, min_words: int = MIN_SHORT_WORDS) -> str | None:
    """The sentence as the meditation may say it, or None when it cannot stand alone."""
    if re.search(r"[“”\"]", raw) or re.search(r"(^|\s)[‘']\w", raw):
        return None  # quoted speech belongs to someone in the article, not to the narrator
    written = normalise_for_speech(raw)
    if leave_out_reason(written) is not None:
        return None
    sentence = to_second_person(written)
    if _ORDER.search(sentence):
        return None  # "People need to..." turned to "You need to...": advice, not an invitation
    return sentence if is_speakable(sentence, min_words) else None


_ORDER = re.compile(r"\byou (should|must|need to|have to|ought to)\b", re.I)


# ---------------------------------------------------------------- fit for a meditation


def _load_data(name: str) -> dict:
    return tomllib.loads(resources.files("audiogen.data").joinpath(name).read_text("utf-8"))


MEDITATION = _load_data("meditation.toml")
# English by hand: irregular pasts and number agreement (audiogen/data/english.toml). lemminflect's
# tables did this before, at 0.5 s of CPU and 52 MB of memory in every render for a handful of words.
ENGLISH = _load_data("english.toml")
_IRREGULAR = [[forms.split("/") for forms in entry.split()] for entry in ENGLISH["past"]["irregular"]]
_IRREGULAR_BASE = frozenset(base for (base,), _, _ in _IRREGULAR)
_IRREGULAR_PAST = frozenset(
    past for _, pasts, _ in _IRREGULAR for past in pasts if past not in _IRREGULAR_BASE
) - frozenset(ENGLISH["past"]["also_present"])
_ED_NOT_PAST = frozenset(ENGLISH["past"]["ed_not_past"])
_UN_VERBS = frozenset(ENGLISH["past"]["un_verbs"])
_AGREE_IRREGULAR = dict(entry.split() for entry in ENGLISH["agree"]["irregular"])
_AGREE_VERBS = frozenset(ENGLISH["agree"]["verbs"]) | {"are", "were"}
_ONE_EACH_PLURALS = {_one_each_plural(noun): noun for noun in _ONE_EACH}
LEAVE_OUT: dict[str, re.Pattern] = {
    name: re.compile("|".join(f"(?:{p})" for p in entry["patterns"]), re.I)
    for name, entry in MEDITATION["leave_out"].items()
}
_VIOLENT_IMAGES = re.compile("|".join(f"(?:{p})" for p in MEDITATION["harsh"]["images"]), re.I)
_GENTLE_FEELINGS = frozenset(MEDITATION["harsh"]["feelings"])
_PROPER_OK = frozenset(MEDITATION["names"]["allowed"])
# A capitalised word inside a sentence: a person, a place, a brand or a site ("Coach Ravi Menon").
_PROPER_NAME = re.compile(r"(?<=[\w,;] )(?!I\b|I'm\b|I've\b|I'll\b|I'd\b)[A-Z][\w'-]*")
# The author's own story: I, we, he or she, then a verb in the past tense ("We broke up in April").
# ("I" is never in an insight or a question, and an affirmation must say what is so now.)
_STORY = re.compile(
    r"\bwe\s+(?:(?:just|finally|never|once|always|still|really)\s+)?(\w+)|\bI(?:'ve| have) been\b", re.I
)
# Words whose tense is plain before any rule.
_PAST_FORMS = frozenset({"was", "were", "had", "did"})
_NOT_PAST = frozenset(
    {
        "am",
        "is",
        "are",
        "have",
        "has",
        "do",
        "does",
        "can",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "will",
        "would",
        "need",
        "feel",
        "know",
        "want",
        "carry",
        "hold",
        "let",
        "get",
        "go",
        "all",
        "both",
        "often",
        "also",
        "too",
        "not",
        "each",
        "who",
        "begin",
        "start",
    }
)


@functools.lru_cache(maxsize=1)
def _valences() -> dict[str, float]:
    """VADER's sentiment lexicon (word -> valence, -4 to +4); it ships inside vaderSentiment."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer().lexicon


@functools.lru_cache(maxsize=8192)
def is_past_tense(word: str) -> bool:
    """A verb only in its past form ("cared", "broke", "was"); "read" and "put" are not only past."""
    word = word.lower()
    if word in _PAST_FORMS or word in _NOT_PAST or word.endswith(("ing", "s")):
        return word in _PAST_FORMS
    if word in _IRREGULAR_PAST:
        return True
    if word in _IRREGULAR_BASE or not word.endswith("ed") or word in _ED_NOT_PAST:
        return False
    # "unwanted", "unfinished": an adjective, unless an un- verb ("unpacked"); "under-" is no "un-".
    return not word.startswith("un") or word.startswith("under") or word in _UN_VERBS


def is_harsh(sentence: str) -> bool:
    """Too harsh to say to someone in pain: a violent image, or a word VADER rates very negative
    that is not one of the feelings these meditations meet gently."""
    if _HARSH.search(sentence) or _VIOLENT_IMAGES.search(sentence):
        return True
    valences, limit = _valences(), MEDITATION["harsh"]["valence"]
    words = re.findall(r"[a-z][a-z']*", sentence.lower())
    return any(valences.get(w, 0.0) <= limit and w not in _GENTLE_FEELINGS for w in words)


@functools.lru_cache(maxsize=4096)
def leave_out_reason(sentence: str) -> str | None:
    """Why a meditation teacher would not say this sentence (as the article wrote it), or None."""
    for name, pattern in LEAVE_OUT.items():
        if pattern.search(sentence):
            return name
    if any(name not in _PROPER_OK for name in _PROPER_NAME.findall(sentence)):
        return "names"
    for match in _STORY.finditer(sentence):
        if match.group(1) is None or is_past_tense(match.group(1)):
            return "story"
    if is_harsh(sentence):
        return "harsh"
    return None


# ---------------------------------------------------------------- taxonomy

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


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences by pysbd's rules, which know abbreviations ("Dr. Osei", "St. Louis", "e.g.")
    that a split at every full stop would cut into fragments."""
    return [s.strip() for s in _segmenter().segment(paragraph) if s.strip()]


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
    title = article.title.lower()
    evidence: dict[str, tuple] = {}
    for label, pattern in LABELS.items():
        found = pattern.findall(body)
        in_title, in_headings = pattern.findall(title), pattern.findall(headings)
        # The title and headings say what the article is about: their signals weigh more.
        hits = len(found) + 4 * len(in_title) + 2 * len(in_headings)
        score = hits * 1000 / words if hits >= LABEL_MIN_HITS else 0.0
        # Equal scores are told apart by the strength of the evidence, never by the alphabet: more
        # different signal words (grief, mourning, funeral beat grief said six times), then the title
        # and headings, then the label the article names first.
        distinct = len({re.sub(r"\s+", " ", w) for w in found + in_title + in_headings})
        first = body.find(found[0]) if found else len(body)
        evidence[label] = (-score, -distinct, -len(in_title), -len(in_headings), first)
    ranked = sorted(evidence, key=lambda label: evidence[label])
    chosen = [label for label in ranked if -evidence[label][0] >= LABEL_THRESHOLD][:MAX_LABELS]
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
    r"^(you are|you're|you can|you deserve|you did|you cared|you gave|you matter|you have|you belong|"
    r"you are allowed|"
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
_ANTECEDENT = re.compile(
    r"\b(people|others|friends?|someone|somebody|person|partners?|loved ones?|everyone|children|parents?|"
    r"mother|father|mum|mom|dad|family|they|he|she)\b.*",
    re.I,
)
_IMPERATIVE = re.compile(
    r"^(write|take|put|sit|let|try|cry|cancel|breathe|say|make|go|use|create|begin|start|find|"
    r"light|place|call|read|keep|give|notice|stop|pause|allow|choose|remember|be)\b",
    re.I,
)
_NOT_KIND = re.compile(
    r"\b(you were|you'll never|you will never|you should have|your fault|not enough|failed|failure)\b", re.I
)
_AFFIRMATION_HEADING = re.compile(
    r"\b(affirmations?|mantras?|kind words|words to (repeat|remember)|phrases|reminders?|repeat)\b", re.I
)
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
                if leave_out_reason(normalise_for_speech(raw)) is None:
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


# An affirmation speaks as "I" or to "you", and says what is so now.
_AFFIRMATION_PERSON = re.compile(r"\b(you|your|yourself|I|I'm|I am|my|myself|may)\b", re.I)
_AFFIRMATION_VERB = re.compile(
    r"^(?:you|i|your \w+|my \w+)\s+(?:(?:just|really|still|truly|deeply|always)\s+)?(\w+)", re.I
)
# "it" or "them" in a line cut from a longer sentence points at what the cut left behind.
_LEFT_BEHIND = re.compile(r"\b(it|its|them|they|their|those)\b", re.I)


def _is_affirmation(line: str, cut_from_sentence: bool = False) -> bool:
    verb = _AFFIRMATION_VERB.match(line)
    return (
        bool(_AFFIRMATION_PERSON.search(line))
        and not (verb and is_past_tense(verb.group(1)))
        and not (cut_from_sentence and _LEFT_BEHIND.search(line))
    )


def _affirmations(sentences: list[_Sentence], labels: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []

    def consider(text: str, from_list: bool, clause: bool = False) -> None:
        text = text.strip()
        if not text:
            return
        if text[-1] not in ".!":
            text += "."
        candidate = speakable_form(text)
        if (
            candidate
            and MIN_AFFIRMATION_WORDS <= len(candidate.split()) <= MAX_AFFIRMATION_WORDS
            and (from_list or _KIND_OPENER.match(candidate))
            and _is_affirmation(candidate, clause)
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
            consider(_capitalise(clause.group(1)), False, clause=True)
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


# The article's how-to headings ("How do you support someone who is grieving?") are not reflections.
_HOW_TO = re.compile(
    r"^how (do|can|should|to|did) (you|i|we)?\s*"
    r"(support|help|comfort|talk|deal|handle|cope|stop|get over|know|tell|find|move on|start)\b",
    re.I,
)


def _questions(sentences: list[_Sentence], labels: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for sentence in sentences:
        if not sentence.raw.rstrip('”"’) ').endswith("?"):
            continue
        candidate = speakable_form(sentence.raw)
        if (
            candidate
            and candidate.endswith("?")
            and len(candidate.split()) >= MIN_QUESTION_WORDS
            and not _HOW_TO.match(candidate)
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
            if (
                times >= 2
                and times >= 0.75 * counts[stem]
                and (after not in _STOPWORDS or after == "yourself")
            ):
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
    topical = {
        _stem(w) for w in _content_words(" ".join([article.title, *(s.heading for s in article.sections)]))
    }
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
        if sentence.raw.rstrip('”"’) ').endswith("?"):
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

"""Text prepared for a speech engine: what a narrator would say, written out in words.

Engines differ (espeak-ng, SAPI5, NSSpeechSynthesizer) and each guesses differently at
"7:30", "e.g." or "#1"; espeak-ng reads "*slowly*" as "asterisk slowly asterisk" and an
emoji by its Unicode name. So the speak stage writes numbers, times, ordinals,
percentages, abbreviations and symbols out as words itself, with deterministic rules,
before any engine sees the text. The transcript keeps the original sentence.
"""

from __future__ import annotations

import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_DIGIT_WORDS = {str(i): _ONES[i] for i in range(10)}


def _under_thousand(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {_under_thousand(rest)}" if rest else "")


def cardinal(n: int) -> str:
    """1234 -> 'one thousand two hundred and thirty-four' (British 'and', as narrators say it)."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 1000:
        return _under_thousand(n)
    parts = []
    for scale, word in _SCALES:
        if n >= scale:
            count, n = divmod(n, scale)
            parts.append(f"{cardinal(count)} {word}")
    if n:
        parts.append(("and " if n < 100 else "") + _under_thousand(n))
    return " ".join(parts)


def ordinal(n: int) -> str:
    """21 -> 'twenty-first'."""
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    stem, hyphen, unit = last.rpartition("-")
    if unit in _ORDINAL_WORDS:
        unit = _ORDINAL_WORDS[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return f"{head}{sep}{stem}{hyphen}{unit}"


def year(n: int) -> str:
    """1990 -> 'nineteen ninety', 2005 -> 'two thousand five', 2023 -> 'twenty twenty-three'."""
    if not 1000 <= n <= 2099:
        return cardinal(n)
    high, low = divmod(n, 100)
    if 2000 <= n <= 2009:
        return "two thousand" + (f" {_ONES[low]}" if low else "")
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' if low < 10 else ''}{cardinal(low)}"


def decade(n: int) -> str:
    """1990 -> 'nineteen nineties', 80 -> 'eighties'."""
    words = year(n) if n >= 1000 else cardinal(n)
    if n % 100 == 0 and n >= 1000:
        return words + "s"  # the nineteen hundreds
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def decimal(text: str) -> str:
    """'3.14' -> 'three point one four'."""
    whole, _, fraction = text.partition(".")
    words = cardinal(int(whole.replace(",", "") or "0"))
    if fraction:
        words += " point " + " ".join(_DIGIT_WORDS[d] for d in fraction)
    return words


def clock_time(hour: int, minute: int, suffix: str = "") -> str:
    """7:30 -> 'seven thirty', 7:05 -> 'seven oh five', 7:00 -> "seven o'clock"."""
    spoken_hour = cardinal(hour)
    if minute == 0:
        words = f"{spoken_hour} o'clock" if not suffix else spoken_hour
    elif minute < 10:
        words = f"{spoken_hour} oh {cardinal(minute)}"
    else:
        words = f"{spoken_hour} {cardinal(minute)}"
    if suffix:
        words += " A M" if suffix.lower().startswith("a") else " P M"
    return words


# ---------------------------------------------------------------- rules

# Abbreviations read as words. Patterns are applied in order; each is (regex, replacement).
_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    (r"(?i)\be\.\s?g\.(?=\W|$)", "for example"),
    (r"(?i)\bi\.\s?e\.(?=\W|$)", "that is"),
    (r"\band/or\b", "and or"),
    (r"\betc\.", "et cetera."),  # the stop is tidied below when the sentence goes on
    (r"\bvs\.?(?=\s)", "versus"),
    (r"\bapprox\.", "approximately"),
    (r"\bcf\.", "compare"),
    (r"\bDr\.(?=\s)", "Doctor"),
    (r"\bMr\.(?=\s)", "Mister"),
    (r"\bMrs\.(?=\s)", "Missus"),
    (r"\bMs\.(?=\s)", "Miz"),
    (r"\bProf\.(?=\s)", "Professor"),
    (r"\bSt\.(?=\s+[A-Z])", "Saint"),
    (r"\bJr\.", "Junior"),
    (r"\bSr\.", "Senior"),
    (r"\b[Nn]o\.\s?(?=\d)", "number "),
    (r"\bw/o\b", "without"),
    (r"\bw/(?=\s)", "with"),
    (r"\b(?:OK|Ok|ok)\b(?!\.\w)", "okay"),
    (r"(?<=\d)\s?mins?\b\.?", " minutes"),
    (r"(?<=\d)\s?(?:hrs?|hours?)\b", " hours"),
    (r"(?<=\d)\s?(?:secs?|seconds?)\b", " seconds"),
)

# Letters that are meant to be spelled out when written in capitals.
_ACRONYMS = frozenset(
    "ADHD AI BBC CBT CEO DBT DNA EMDR EU FAQ HIV ID IQ MRI NHS OCD PTSD TV UK UN USA US".split()
)

_MONTHS = (
    "January February March April May June July August September October November December "
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
).split()
_YEAR_CONTEXT = (
    r"(?i:in|since|of|by|from|until|till|to|year|around|before|after|during|" + "|".join(_MONTHS) + r")"
)
_MONTH = r"(?:" + "|".join(_MONTHS) + r")"

_SYMBOLS = {
    "&": " and ",
    "@": " at ",
    "=": " equals ",
    "+": " plus ",
    "°": " degrees ",
    "×": " times ",
    "½": " one half ",
    "¼": " one quarter ",
    "¾": " three quarters ",
}
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}


def _money(symbol: str, amount: str) -> str:
    one, many, small_one, small_many = _CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    value = int(whole or "0")
    words = f"{cardinal(value)} {one if value == 1 else many}"
    if cents and int(cents[:2].ljust(2, "0")):
        c = int(cents[:2].ljust(2, "0"))
        words += f" and {cardinal(c)} {small_one if c == 1 else small_many}"
    return words


def _time(match: re.Match) -> str:
    hour, minute, suffix = int(match.group(1)), int(match.group(2)), match.group(3) or ""
    if hour > 24 or minute > 59:
        return f"{cardinal(hour)} {cardinal(minute)}"
    return clock_time(hour, minute, suffix)


def _date(match: re.Match) -> str:
    words = f"{match.group(1)} {ordinal(int(match.group(2)))}"
    return words + (f", {year(int(match.group(3)))}" if match.group(3) else "")


def _caps(text: str) -> str:
    """Words in capitals are read as words, not letters, unless they are known acronyms.

    A shouted sentence ("YOU ARE ENOUGH") is lowered whole, so "US" there means "us".
    """
    words = re.findall(r"[A-Za-z]+", text)
    capitals = [w for w in words if len(w) > 1 and w.isupper()]
    shouting = len(capitals) >= 2 and len(capitals) >= 0.6 * sum(1 for w in words if len(w) > 1)

    def lower(match: re.Match) -> str:
        word = match.group(0)
        if not shouting and word in _ACRONYMS:
            return word
        if not shouting and not re.search(r"[AEIOUY]", word):
            return word  # no vowel: only letters can be meant (e.g. "NHS")
        return word.lower()

    return re.sub(r"\b[A-Z]{2,}\b", lower, text)


def prepare_for_speech(text: str) -> str:
    """Rewrite `text` so any engine reads it naturally; the same input always gives the same output."""
    original = text = unicodedata.normalize("NFKC", text).strip()
    # Symbols that engines read by name (emoji, pictographs, asterisks for emphasis) carry no words.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Co", "Cs"))
    text = re.sub(r"[*_~^|<>{}\[\]\\]", " ", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    # Ellipses and dashes are pauses: a comma mid-sentence, a full stop at the end.
    text = re.sub(r"\s*(?:\.{3,}|…)\s*$", ".", text)
    text = re.sub(r"\s*(?:\.{3,}|…)\s*", ", ", text)
    text = re.sub(r"\s*(?:—|–|--+|―)\s*|\s+-\s+", ", ", text)
    text = _caps(text)
    for pattern, replacement in _ABBREVIATIONS:
        text = re.sub(
            pattern, lambda m, r=replacement: r[:1].upper() + r[1:] if m.group(0)[:1].isupper() else r, text
        )
    text = re.sub(r"et cetera\.(?=\s*[,;:a-z])", "et cetera", text)
    text = re.sub(r"et cetera\.(?=\s*[.!?])", "et cetera", text)
    # Numbers, most specific pattern first.
    text = re.sub(r"\b(\d{1,2}):(\d{2})(?:\s*([AaPp])\.?\s?[Mm]\.?(?=\W|$))?", _time, text)
    text = re.sub(
        r"\b(\d{1,2})\s*([AaPp])\.?\s?[Mm]\.?(?=\W|$)",
        lambda m: clock_time(int(m.group(1)), 0, m.group(2)),
        text,
    )
    text = re.sub(rf"\b({_MONTH}) (\d{{1,2}})(?:st|nd|rd|th)?\b(?:,? (\d{{4}})\b)?", _date, text)
    text = re.sub(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)", lambda m: _money(m.group(1), m.group(2)), text)
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?)\s?%", lambda m: decimal(m.group(1)) + " percent", text)
    text = re.sub(r"(?<![\w'])'?(\d{2}|\d{4})'?s\b", lambda m: decade(int(m.group(1))), text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", lambda m: ordinal(int(m.group(1))), text)
    text = re.sub(r"#\s?(\d+)", lambda m: "number " + cardinal(int(m.group(1))), text)
    text = re.sub(r"\b(\d+)/(\d+)\b", lambda m: _fraction(int(m.group(1)), int(m.group(2))), text)
    text = re.sub(
        r"\b(\d+)\s?[-–]\s?(\d+)\b",
        lambda m: f"{cardinal(int(m.group(1)))} to {cardinal(int(m.group(2)))}",
        text,
    )
    text = re.sub(
        rf"\b({_YEAR_CONTEXT}),? (1[1-9]\d\d|20\d\d)\b",
        lambda m: f"{m.group(1)} {year(int(m.group(2)))}",
        text,
    )
    text = re.sub(r"\b(\d+)x\b", lambda m: cardinal(int(m.group(1))) + " times", text)
    text = re.sub(r"\b(\d+)(?=[a-zA-Z])", lambda m: cardinal(int(m.group(1))) + " ", text)
    text = re.sub(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+", lambda m: decimal(m.group(0)), text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = re.sub(r"#", " number ", text)
    text = re.sub(r"(?<=\w)/(?=\w)", " or ", text)
    text = re.sub(r"%", " percent", text)
    # Tidy the spacing the rules leave behind.
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r",\s*([.!?])", r"\1", text)
    text = re.sub(r"^[\s,;:]+", "", text).strip()
    if original[:1].isupper():
        text = text[:1].upper() + text[1:]
    if original[-1:] in ".!?" and text[-1:] not in ".!?":
        text += original[-1]  # a rule that ate the final stop ("7 p.m.") gives it back
    return text


def _fraction(numerator: int, denominator: int) -> str:
    if denominator == 7 and numerator == 24:
        return "twenty-four seven"
    if denominator == 2 and numerator == 1:
        return "one half"
    if 2 <= denominator <= 12 and 0 < numerator < denominator:
        name = "quarter" if denominator == 4 else ("half" if denominator == 2 else ordinal(denominator))
        return f"{cardinal(numerator)} {name}{'s' if numerator > 1 else ''}"
    return f"{cardinal(numerator)} out of {cardinal(denominator)}"

"""Read stage: an article file (text, Markdown or HTML) becomes a clean `Article`.

Web boilerplate and spam are dropped here, so no later stage ever sees them:
site chrome line by line (a byline, a share bar, a cookie banner), promotion
paragraph by paragraph (an advert mentioned mid-paragraph takes the paragraph with it).
"""

from __future__ import annotations

import codecs
import copy
import functools
import html
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

from audiogen.errors import InputError, mention
from audiogen.models import SUPPORTED_LANGUAGES, Article, Section

MAX_BYTES = 5 * 1024 * 1024
MIN_WORDS = 40
SAMPLE_NAME = "sample_article.md"

# Names of the languages an article is most likely to be in (py3langid knows 97, by ISO 639-1 code).
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "ga": "Irish",
    "gl": "Galician",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "la": "Latin",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "ms": "Malay",
    "nb": "Norwegian",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "sw": "Swahili",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
# Common English words: in English prose they are a third or more of all words (measured on the
# test corpus: 0.30 to 0.50), in other languages almost none (0.00 to 0.05).
_ENGLISH_WORDS = frozenset(
    "the a an and or but of to in on at for with from by as is are was were be been it this that "
    "you your i we "
    "they he she not no can will would if when what how all so do have has my our their".split()
)
ENGLISH_SHARE = 0.2

# Files people save by mistake, recognised by their first bytes.
_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or Office document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg file"),
    (b"RIFF", "a RIFF (WAV or WebP) file"),
    (b"fLaC", "a FLAC file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# After UTF-8 and a charset the page declares: the common Western fallbacks.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]+charset=["']?([\w.:-]+)|<\?xml[^>]+encoding=["']([\w.:-]+)""", re.I
)

# Separators of a menu, breadcrumb or meta line: "Home | Shop", "5 min read · March 3".
_SEPARATORS = re.compile(r"\s*(?:\||·|•|»|›|/\s)\s*|\s+>\s+|\s{3,}")


@dataclass(frozen=True)
class FilterRules:
    """Patterns for site chrome (drop the line) and spam (drop the paragraph)."""

    line: tuple[re.Pattern, ...]
    spam: tuple[re.Pattern, ...]

    def is_chrome(self, text: str) -> bool:
        text = text.strip(" \t*_#>:-–—·|»«›‹→←…")
        if not text:
            return True
        if any(p.search(text) for p in self.line):
            return True
        parts = [p for p in _SEPARATORS.split(text) if p.strip()]
        if len(parts) < 2:
            return False
        if all(any(p.search(part) for p in self.line) for part in parts):
            return True  # a meta line made only of chrome: "By Ann · 5 min read"
        # A menu or breadcrumb: three or more short items and no sentence among them.
        return len(parts) >= 3 and all(
            len(re.findall(r"[\w']+", part)) <= 3 and not part.rstrip().endswith((".", "?", "!"))
            for part in parts
        )

    def is_spam(self, text: str) -> bool:
        return any(p.search(text) for p in self.spam)


def _parse_rules(text: str, origin: str) -> tuple[list[re.Pattern], list[re.Pattern]]:
    line_rules: list[re.Pattern] = []
    spam_rules: list[re.Pattern] = []
    for number, raw in enumerate(text.splitlines(), 1):
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        kind, sep, pattern = raw.partition(":")
        if sep and kind.strip() in ("line", "spam"):
            target = line_rules if kind.strip() == "line" else spam_rules
            pattern = pattern.strip()
        else:
            target, pattern = spam_rules, r"\b" + re.escape(raw) + r"\b"
        try:
            target.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise InputError(
                f"{origin}:{number}: bad filter pattern {pattern!r} ({exc}); fix or remove the line"
            ) from None
    return line_rules, spam_rules


def load_filter_rules(extra: Path | None = None) -> FilterRules:
    """The built-in boilerplate list, extended by the user's own file if given."""
    builtin = resources.files("audiogen.data").joinpath("boilerplate.txt").read_text("utf-8")
    line_rules, spam_rules = _parse_rules(builtin, "boilerplate.txt")
    if extra is not None:
        more_line, more_spam = _parse_rules(decode_text(read_bytes(extra), extra), str(extra))
        line_rules += more_line
        spam_rules += more_spam
    return FilterRules(tuple(line_rules), tuple(spam_rules))


# ---------------------------------------------------------------- bytes to text


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an article file")
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(
                f"{path}: {size:,} bytes is over the {limit // 1024 // 1024} MB limit for an article; "
                "save the article page alone"
            )
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise InputError(f"{path}: the file is empty; give an article with some text")
    return data


def _binary_error(path: Path | str, what: str = "a binary file") -> InputError:
    return InputError(f"{path}: looks like {what}, not an article; save the article as .txt, .md or .html")


def _declared_charset(data: bytes) -> str | None:
    match = _DECLARED_CHARSET.search(data[:4096])
    if not match:
        return None
    name = (match.group(1) or match.group(2)).decode("ascii", "ignore")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_text(data: bytes, path: Path | str) -> str:
    """UTF-8 (with or without a byte-order mark), UTF-16/32 by their marks, the page's
    declared charset, then cp1252 and latin-1; binary files are refused."""
    text = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise InputError(f"{path}: broken {encoding.upper()} text; save it again as UTF-8") from None
            break
    if text is None:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise _binary_error(path, what)
        if b"\x00" in data[:8192]:
            raise _binary_error(path)
        candidates = ["utf-8", _declared_charset(data), *_FALLBACK_ENCODINGS]
        for encoding in dict.fromkeys(c for c in candidates if c):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    assert text is not None  # latin-1 decodes any bytes
    sample = text[:8192]
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\n\r\t\f") or 0x7F <= ord(ch) < 0xA0)
    if controls > max(8, len(sample) // 100):
        raise _binary_error(path)
    if not text.strip():
        raise InputError(f"{path}: the file is empty; give an article with some text")
    return text


# ---------------------------------------------------------------- text to blocks

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\[[^\]]*\]")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•–]|\d+[.)])\s+(.*)$")
_URL = re.compile(r"https?://\S+|www\.\S+")
_FRONT_MATTER_TITLE = re.compile(r"^title\s*:\s*[\"']?(.*?)[\"']?\s*$", re.I | re.M)


def _inline(text: str) -> str:
    """Markdown and stray HTML inline markup removed; the words kept."""
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _HTML_TAG.sub("", text)
    text = _URL.sub("", text)
    text = html.unescape(text)
    return re.sub(r"\s+", " ", text).strip()


def _title_cased(line: str) -> bool:
    """Most longer words capitalised: a headline, not a line of wrapped prose."""
    long_words = [w for w in line.split() if len(w) > 3]
    return bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.6 * len(long_words)


def _looks_like_heading(paragraph: str) -> bool:
    """Plain text has no heading syntax: a short line without closing punctuation is one
    (or a short title-cased question such as "Can You Trust Again?")."""
    words = paragraph.split()
    if not 0 < len(words) <= 14 or re.search(r"[.!:;,\"”]$", paragraph):
        return False
    if paragraph.endswith("?"):
        return _title_cased(paragraph)
    return True


def _ends_plain_paragraph(previous: str, lines_so_far: int) -> bool:
    """In plain text without blank lines, a lone heading-like line or a short finished
    line (shorter than any wrap width) ends its paragraph."""
    if lines_so_far == 1 and len(previous.split()) <= 10 and _looks_like_heading(previous):
        return True
    return len(previous) < 60 and bool(re.search(r"[.!?\"”]$", previous))


@dataclass(frozen=True)
class _Block:
    kind: str  # "heading" or "para"
    text: str
    level: int = 0  # heading level; 0 for a plain-text heading guessed from its shape


def _front_matter(text: str) -> tuple[str, str]:
    """YAML front matter of a saved Markdown file: its title, and the text without it."""
    match = re.match(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*\n", text, re.S)
    if not match:
        return "", text
    title = _FRONT_MATTER_TITLE.search(match.group(1))
    return (_inline(title.group(1)) if title else ""), text[match.end() :]


def _blocks(text: str, markdown: bool, rules: FilterRules) -> list[_Block]:
    """Clean blocks: chrome lines dropped, spam paragraphs dropped, a list item its own paragraph."""
    blocks: list[_Block] = []
    buffer: list[str] = []
    lines = text.split("\n")

    def flush() -> None:
        if buffer:
            paragraph = " ".join(buffer)
            buffer.clear()
            if not rules.is_spam(paragraph) and not rules.is_chrome(paragraph):
                kind = "heading" if not markdown and _looks_like_heading(paragraph) else "para"
                blocks.append(_Block(kind, paragraph))

    in_fence = False
    for line in lines:
        stripped = line.strip()
        if markdown and stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if not stripped:
            flush()
            continue
        heading = _HEADING.match(stripped) if markdown else None
        if heading:
            flush()
            title = _inline(heading.group(2))
            if title and not rules.is_chrome(title) and not rules.is_spam(title):
                blocks.append(_Block("heading", title, len(heading.group(1))))
            continue
        if markdown and re.fullmatch(r"(=+|-+|\*{3,}|_{3,})", stripped):
            # A setext underline turns the line above into a heading; rules are dropped.
            if stripped[0] in "=-" and len(buffer) == 1:
                title = buffer.pop()
                if not rules.is_spam(title):
                    blocks.append(_Block("heading", title, 1 if stripped[0] == "=" else 2))
            flush()
            continue
        item = _LIST_ITEM.match(line)
        if item:
            flush()
            stripped = item.group(1)
        elif markdown and stripped.startswith(">"):
            stripped = stripped.lstrip("> ")
        clean = _inline(stripped) if markdown else html.unescape(_URL.sub("", stripped)).strip()
        # A line that carries on an unfinished sentence of wrapped prose is never chrome.
        continues = (
            bool(buffer)
            and len(buffer[-1].split()) >= 8
            and not re.search(r"[.!?:\"”)]$", buffer[-1])
            # a headline: title-cased, or the text's first line standing alone
            and not (
                len(buffer) == 1
                and (_title_cased(buffer[0]) or (not blocks and _looks_like_heading(buffer[0])))
            )
        )
        if not continues and rules.is_chrome(clean):
            flush()  # chrome stands on its own line; it also ends the paragraph above
            continue
        if not markdown and buffer and not continues and _ends_plain_paragraph(buffer[-1], len(buffer)):
            flush()
        # Soft-wrapped text puts a paragraph on one long line; hard-wrapped lines are joined.
        long_line = not markdown and len(clean) > 120
        if long_line:
            flush()
        buffer.append(clean)
        if item or long_line:
            flush()
    flush()
    return blocks


# ---------------------------------------------------------------- HTML


def _html_to_markdown(page: str, path: Path | str) -> str:
    import trafilatura

    # The page is parsed once; each extraction gets its own copy of the tree (trafilatura 2 copies a
    # tree it is given, older versions prune the caller's).
    tree = trafilatura.load_html(page)
    options = dict(
        output_format="markdown",
        include_comments=False,
        include_tables=False,
        include_links=False,
        include_images=False,
        with_metadata=False,
    )
    extracted = None
    if tree is not None:
        extracted = trafilatura.extract(copy.deepcopy(tree), favor_precision=True, **options)
        if not extracted or len(extracted.split()) < MIN_WORDS:
            # Precision can cut too much from an unusual layout; recall mode is the second try.
            extracted = trafilatura.extract(copy.deepcopy(tree), favor_recall=True, **options)
    if not extracted or len(extracted.split()) < MIN_WORDS:
        raise InputError(
            f"{path}: no article text found in this page; "
            "save the article itself, not a listing or login page"
        )
    metadata = trafilatura.extract_metadata(tree)
    title = _headline(metadata.title or "", metadata.sitename or "") if metadata is not None else ""
    if title and not re.match(r"#\s", extracted.lstrip()):
        extracted = f"# {title}\n\n{extracted}"
    return extracted


# A site's name: a masthead on the first line ("THE QUIET HOUR MAGAZINE"), or the end of a
# page title ("Learning to Rest | Quiet Minds").
_SITE_WORDS = re.compile(
    r"\b(magazine|journal|gazette|daily|weekly|times|newsletter|digest|media|living|\w+\.(com|org|net))\b|^r/\w+$",
    re.I,
)
_TITLE_SUFFIX = re.compile(r"\s+(?:\||[-–—]|::)\s+([^|]{2,60})$")


def _headline(title: str, site: str) -> str:
    """A page title without the site's name after it ("Learning to Rest | Quiet Minds")."""
    match = _TITLE_SUFFIX.search(title)
    if match is None or len(title[: match.start()].split()) < 2:
        return title
    suffix = match.group(1).strip()
    by_bar = "|" in match.group(0)
    if by_bar or (site and suffix.lower() == site.lower()) or _is_masthead(suffix):
        return title[: match.start()].strip()
    return title


def _is_masthead(line: str) -> bool:
    """A site's name rather than an article's headline."""
    letters = [c for c in line if c.isalpha()]
    shouting = len(line.split()) >= 2 and bool(letters) and all(c.isupper() for c in letters)
    return shouting or (len(line.split()) <= 5 and bool(_SITE_WORDS.search(line)))


def _markdown_signals(text: str) -> int:
    return (
        len(re.findall(r"^#{1,6}\s+\S", text, re.M))
        + len(re.findall(r"\[[^\]]+\]\([^)]+\)", text))
        + (1 if text.startswith("---\n") else 0)
    )


# ---------------------------------------------------------------- blocks to article


def _article(title: str, blocks: list[_Block], source: str, question_headline: bool) -> Article:
    """The article made of a reader's blocks: its title (`title` is the front matter's, if any),
    and its sections."""
    if not blocks:
        raise InputError(f"{source}: no article text left after removing web boilerplate")
    # A masthead above the headline is the site's name, never the session's title.
    while (
        len(blocks) > 1
        and blocks[0].kind == "heading"
        and _is_masthead(blocks[0].text)
        and blocks[1].kind == "heading"
    ):
        blocks.pop(0)
    if title:
        if blocks[0].kind == "heading" and blocks[0].text.lower() == title.lower():
            blocks.pop(0)
        elif _is_masthead(title) and blocks[0].kind == "heading":
            title = blocks.pop(0).text
    elif blocks[0].kind == "heading":
        title = blocks.pop(0).text
    elif (
        question_headline
        and len(blocks[0].text.split()) <= 14
        and blocks[0].text.endswith("?")
        and len(blocks) > 1
    ):
        title = blocks.pop(0).text  # a forum post's first line: its question is its headline
    else:
        first_h1 = next((b for b in blocks if b.kind == "heading" and b.level == 1), None)
        if first_h1 is not None:
            title = first_h1.text
            blocks.remove(first_h1)

    sections: list[Section] = []
    heading, paragraphs, seen = "", [], set()
    for block in blocks:
        if block.kind == "heading":
            if paragraphs:
                sections.append(Section(heading, tuple(paragraphs)))
            heading, paragraphs = block.text, []
        elif block.text not in seen:  # a pull quote repeats a paragraph; say it once
            seen.add(block.text)
            paragraphs.append(block.text)
    if paragraphs:
        sections.append(Section(heading, tuple(paragraphs)))
    words = sum(len(p.split()) for s in sections for p in s.paragraphs)
    if words < MIN_WORDS:
        raise InputError(
            f"{source}: only {words} words of article text after removing web boilerplate; "
            f"give a full article (at least {MIN_WORDS} words)"
        )
    if not title:
        title = sections[0].heading or Path(source).stem.replace("-", " ").replace("_", " ").strip().title()
    return Article(title=title, sections=tuple(sections), source=source)


# ---------------------------------------------------------------- readers


class Reader(ABC):
    """One kind of article file: the suffixes that name it and how it is parsed. A new kind is a
    subclass with `name`, `suffixes` and `blocks`, and an entry in `_READERS`."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    # A short question standing first is a forum post's headline (plain text has no heading marks).
    question_headline: ClassVar[bool] = False

    def confirm(self, text: str) -> Reader:
        """The reader a file named with one of these suffixes really needs: the suffix can lie."""
        return self

    @abstractmethod
    def blocks(self, text: str, source: str, rules: FilterRules) -> tuple[str, list[_Block]]:
        """The title the file declares ("" if none) and its clean blocks."""

    def parse(self, text: str, source: str, rules: FilterRules) -> Article:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        title, blocks = self.blocks(text, source, rules)
        return _article(title, blocks, source, self.question_headline)

    def __repr__(self) -> str:
        return f"<{self.name} reader>"


class TextReader(Reader):
    name = "text"
    suffixes = (".txt", ".text")
    question_headline = True

    def confirm(self, text: str) -> Reader:
        if _html_tags(text) >= 5:
            return HTML
        return MARKDOWN if _markdown_signals(text) >= 2 else self

    def blocks(self, text: str, source: str, rules: FilterRules) -> tuple[str, list[_Block]]:
        return "", _blocks(text, False, rules)


class MarkdownReader(Reader):
    """Markdown may hold HTML tags of its own, so its suffix is taken at its word (but for a whole
    page, which `sniff_reader` recognises first)."""

    name = "markdown"
    suffixes = (".md", ".markdown", ".mdown", ".mkd")

    def blocks(self, text: str, source: str, rules: FilterRules) -> tuple[str, list[_Block]]:
        title, text = _front_matter(text)
        return title, _blocks(text, True, rules)


class HtmlReader(MarkdownReader):
    """A web page: trafilatura keeps the article as Markdown, which is read as Markdown."""

    name = "html"
    suffixes = (".html", ".htm", ".xhtml")

    def confirm(self, text: str) -> Reader:
        return self if _html_tags(text) >= 5 else _by_content(text)  # a page saved as its text only

    def blocks(self, text: str, source: str, rules: FilterRules) -> tuple[str, list[_Block]]:
        return super().blocks(_html_to_markdown(text, source), source, rules)


TEXT, MARKDOWN, HTML = TextReader(), MarkdownReader(), HtmlReader()
_READERS: tuple[Reader, ...] = (TEXT, MARKDOWN, HTML)
# Readers keyed by file suffix (a library's folders are searched for these); content sniffing
# overrides a suffix that lies.
READERS: dict[str, Reader] = {suffix: reader for reader in _READERS for suffix in reader.suffixes}


def _head(text: str) -> str:
    return text.lstrip()[:4096].lower()


def _html_tags(text: str) -> int:
    """Block and inline HTML tags at the start of the text."""
    return len(
        re.findall(r"</?(?:p|div|article|section|span|h[1-6]|br|ul|li|a|em|strong)\b[^>]*>", _head(text))
    )


def _by_content(text: str) -> Reader:
    """The reader for a file whose suffix names none."""
    if _html_tags(text) >= 5:
        return HTML
    return MARKDOWN if _markdown_signals(text) >= 1 else TEXT


def sniff_reader(path: Path, text: str) -> Reader:
    """The reader for a file: by suffix, corrected when the content says otherwise."""
    if re.match(r"(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)?<!doctype html|<html|<head\b|<body\b", _head(text), re.S):
        return HTML
    by_suffix = READERS.get(path.suffix.lower())
    return by_suffix.confirm(text) if by_suffix else _by_content(text)


def sniff_kind(path: Path, text: str) -> str:
    """The name of the file's reader ('html', 'markdown' or 'text')."""
    return sniff_reader(path, text).name


# ---------------------------------------------------------------- language


@functools.lru_cache(maxsize=1)
def _language_identifier():
    """py3langid's model (97 languages, shipped in the package): about 0.9 s and 130 MB to load,
    so it is loaded only for an article whose words are not plainly English."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify_language(text: str) -> str:
    """The ISO 639-1 code py3langid gives the text."""
    return _language_identifier().classify(text)[0]


def detect_language(text: str) -> str:
    """The article's language: English when common English words are a fifth or more of its
    words (an English article quoting a foreign phrase stays English), else py3langid's answer."""
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    if words and sum(w in _ENGLISH_WORDS for w in words) >= ENGLISH_SHARE * len(words):
        return "en"
    return identify_language(text)


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, f"the language with code {code!r}")


def check_language(article: Article, language: str | None = None) -> None:
    """Refuse an article audiogen cannot narrate yet, naming its language: never a session that
    wraps another language's sentences in an English frame. `language` overrides the detector."""
    code = language or detect_language(article.text)
    if code not in SUPPORTED_LANGUAGES:
        supported = ", ".join(f"{name} ({c})" for c, name in SUPPORTED_LANGUAGES.items())
        found = "given as" if language else "seems to be in"
        raise InputError(
            f"{article.source}: the article {found} {language_name(code)} ({code}); "
            f"audiogen narrates only {supported} "
            f"so far; give an article in English (or {mention('language')} en if this one is English)"
        )


def read_article(path: Path | None, filter_words: Path | None = None, language: str | None = None) -> Article:
    """Read an article file, or the built-in sample when `path` is None. An article in a language
    audiogen cannot narrate is refused (InputError); `language` ("en") skips the detector."""
    rules = load_filter_rules(filter_words)
    if path is None:
        text = resources.files("audiogen.samples").joinpath(SAMPLE_NAME).read_text("utf-8")
        return MARKDOWN.parse(text, "built-in sample article", rules)
    path = Path(path)
    text = decode_text(read_bytes(path), path)
    article = sniff_reader(path, text).parse(text, str(path), rules)
    check_language(article, language)
    return article

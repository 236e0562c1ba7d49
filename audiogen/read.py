"""Read stage: an article file (text, Markdown or HTML) becomes a clean `Article`.

Web boilerplate and spam are dropped here, so no later stage ever sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from audiogen.errors import InputError
from audiogen.models import Article, Section

MAX_BYTES = 5 * 1024 * 1024
SAMPLE_NAME = "sample_article.md"
_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass(frozen=True)
class FilterRules:
    """Patterns for site chrome (drop the line) and spam (drop the paragraph)."""

    line: tuple[re.Pattern, ...]
    spam: tuple[re.Pattern, ...]

    def is_chrome(self, text: str) -> bool:
        return any(p.search(text) for p in self.line)

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
            target, pattern = spam_rules, re.escape(raw)
        try:
            target.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise InputError(f"{origin}:{number}: bad filter pattern {pattern!r} ({exc}); fix or remove the line") from None
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


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an article file")
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{path}: {size // 1024 // 1024} MB is over the {limit // 1024 // 1024} MB limit for an article; pass the article alone")
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise InputError(f"{path}: the file is empty; give an article with some text")
    return data


def decode_text(data: bytes, path: Path | str) -> str:
    if b"\x00" in data[:8192]:
        raise InputError(f"{path}: looks like a binary file, not an article; give a .txt, .md or .html file")
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
        if controls > 8:
            raise InputError(f"{path}: looks like a binary file, not an article; give a .txt, .md or .html file")
        return text
    raise InputError(f"{path}: cannot decode the text; save it as UTF-8")


# ---------------------------------------------------------------- parsing to blocks

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_URL = re.compile(r"https?://\S+|www\.\S+")


def _inline_markdown(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(r"\2", text)
    text = _URL.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def _looks_like_heading(paragraph: str) -> bool:
    words = paragraph.split()
    return 0 < len(words) <= 14 and not re.search(r"[.!?:;,\"”]$", paragraph)


def _blocks(text: str, markdown: bool) -> list[tuple[str, str]]:
    """Split text into ('heading'|'para', text) blocks; a list item is its own paragraph."""
    blocks: list[tuple[str, str]] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            blocks.append(("para", _inline_markdown(" ".join(buffer))))
            buffer.clear()

    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
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
            blocks.append(("heading", _inline_markdown(heading.group(2))))
            continue
        if markdown and re.fullmatch(r"(=+|-+|\*{3,}|_{3,})", stripped):
            # Setext underline turns the previous line into a heading; rules are dropped.
            if buffer and stripped[0] in "=-" and len(buffer) == 1:
                blocks.append(("heading", _inline_markdown(buffer.pop())))
            flush()
            continue
        item = _LIST_ITEM.match(line)
        if item:
            flush()
            buffer.append(item.group(1))
            flush()
            continue
        if markdown and stripped.startswith(">"):
            stripped = stripped.lstrip("> ")
        buffer.append(stripped)
    flush()
    # Plain text has no heading syntax: a short line without closing punctuation is one.
    return [
        ("heading", t) if kind == "para" and not markdown and _looks_like_heading(t) else (kind, t)
        for kind, t in blocks
        if t
    ]


def _html_to_markdown(html: str, path: Path | str) -> str:
    import trafilatura

    extracted = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_tables=False,
        include_links=False,
        include_images=False,
        favor_precision=True,
        with_metadata=False,
    )
    if not extracted or len(extracted.split()) < 30:
        raise InputError(f"{path}: no article text found in this page; save the article itself, not a listing or login page")
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None and metadata.title else ""
    if title and not extracted.lstrip().startswith("#"):
        extracted = f"# {title}\n\n{extracted}"
    return extracted


def sniff_kind(path: Path, text: str) -> str:
    """'html', 'markdown' or 'text': by suffix, corrected when the content says otherwise."""
    suffix = path.suffix.lower()
    head = text.lstrip()[:2048].lower()
    if head.startswith(("<!doctype html", "<html")) or ("<body" in head and "</" in head):
        return "html"
    if suffix in (".html", ".htm", ".xhtml"):
        return "html" if "<" in head else "text"
    if suffix in (".md", ".markdown", ".mdown"):
        return "markdown"
    if re.search(r"^#{1,6}\s+\S", text, re.MULTILINE):
        return "markdown"
    return "text"


def parse_article(text: str, source: str, kind: str, rules: FilterRules) -> Article:
    if kind == "html":
        text, kind = _html_to_markdown(text, source), "markdown"
    blocks = _blocks(text, markdown=kind == "markdown")
    clean = [(k, t) for k, t in blocks if not rules.is_chrome(t) and not rules.is_spam(t)]
    if not clean:
        raise InputError(f"{source}: no article text left after removing web boilerplate")
    title = ""
    if clean[0][0] == "heading":
        title = clean.pop(0)[1]
    sections: list[Section] = []
    heading, paragraphs = "", []
    for kind_, block in clean:
        if kind_ == "heading":
            if paragraphs:
                sections.append(Section(heading, tuple(paragraphs)))
            heading, paragraphs = block, []
        else:
            paragraphs.append(block)
    if paragraphs:
        sections.append(Section(heading, tuple(paragraphs)))
    words = sum(len(p.split()) for s in sections for p in s.paragraphs)
    if words < 40:
        raise InputError(f"{source}: only {words} words of article text; give a full article (at least 40 words)")
    if not title:
        title = sections[0].heading or Path(source).stem.replace("-", " ").replace("_", " ").title()
    return Article(title=title, sections=tuple(sections), source=source)


def read_article(path: Path | None, filter_words: Path | None = None) -> Article:
    """Read an article file, or the built-in sample when `path` is None."""
    rules = load_filter_rules(filter_words)
    if path is None:
        text = resources.files("audiogen.samples").joinpath(SAMPLE_NAME).read_text("utf-8")
        return parse_article(text, "built-in sample article", "markdown", rules)
    path = Path(path)
    text = decode_text(read_bytes(path), path)
    return parse_article(text, str(path), sniff_kind(path, text), rules)

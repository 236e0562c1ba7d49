"""Readers chosen by suffix and by content, encodings, and the errors for files that are no article."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.errors import InputError
from audiogen.read import MAX_BYTES, read_article, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"

BODY = (
    "Café evenings can feel long when you miss someone. You can let the ache be there, "
    "and breathe a little slower than usual. Nothing needs fixing tonight. "
) * 4
TEXT_ARTICLE = f"Resting After a Long Week\n\n{BODY}\n\nWhat do you need right now?\n\n{BODY}\n"
MARKDOWN_ARTICLE = (
    f"# Resting After a Long Week\n\n{BODY}\n\n## A small list\n\n- Drink some **water**.\n"
    f"- Read a [kind note](https://example.com/note).\n\n{BODY}\n"
)
HTML_ARTICLE = (
    "<!DOCTYPE html><html><head><title>Resting After a Long Week | Some Site</title></head><body>"
    "<nav><a href='/'>Home</a> <a href='/blog'>Blog</a></nav><article><h1>Resting After a Long Week</h1>"
    f"<p>{BODY}</p><p>{BODY}</p></article>"
    "<footer>© 2024 Some Site. All rights reserved.</footer></body></html>"
)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "name, content, kind",
    [
        ("a.txt", TEXT_ARTICLE, "text"),
        ("a.md", MARKDOWN_ARTICLE, "markdown"),
        ("a.html", HTML_ARTICLE, "html"),
        ("saved-page.txt", HTML_ARTICLE, "html"),  # a web page saved under the wrong name
        ("page.md", HTML_ARTICLE, "html"),
        ("text-only.html", TEXT_ARTICLE, "text"),  # "save as text" kept the .html name
        ("notes.txt", MARKDOWN_ARTICLE, "markdown"),
        ("no-suffix", MARKDOWN_ARTICLE, "markdown"),
        ("no-suffix-text", TEXT_ARTICLE, "text"),
    ],
)
def test_reader_by_suffix_and_by_content(tmp_path, name, content, kind):
    path = _write(tmp_path, name, content)
    assert sniff_kind(path, content) == kind
    article = read_article(path)
    assert article.title == "Resting After a Long Week"
    assert "Café evenings" in article.text
    for chrome in ("<", "**", "](", "example.com", "Home", "All rights reserved", "Some Site"):
        assert chrome not in article.text


def test_markdown_headings_and_lists():
    article = read_article(FIXTURES / "letting-go-before-sleep.md")
    headings = [s.heading for s in article.sections]
    assert "A short wind-down routine" in headings and "Questions for the end of the day" in headings
    routine = next(s for s in article.sections if s.heading == "A short wind-down routine")
    # Each list item is its own paragraph, without its number.
    assert "Put your phone in another room and dim the lights." in routine.paragraphs
    assert not any(p[0].isdigit() for p in routine.paragraphs)


@pytest.mark.parametrize(
    "encoding, prefix",
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("cp1252", b""), ("latin-1", b"")],
    ids=["utf-8", "utf-8-bom", "utf-16", "cp1252", "latin-1"],
)
def test_encodings(tmp_path, encoding, prefix):
    text = TEXT_ARTICLE.replace("long when", "long \u2014 when") if encoding != "latin-1" else TEXT_ARTICLE
    path = _write(tmp_path, "a.txt", prefix + text.encode(encoding))
    article = read_article(path)
    assert "Café evenings" in article.text
    assert article.title == "Resting After a Long Week"


def test_html_declared_charset(tmp_path):
    page = HTML_ARTICLE.replace("<head>", "<head><meta charset='iso-8859-15'>").replace(
        "Café", "Caf\u00e9 \u20ac"
    )
    path = _write(tmp_path, "a.html", page.encode("iso-8859-15"))
    assert "Caf\u00e9 \u20ac evenings" in read_article(path).text


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"   \n\n\t  \n", "empty"),
        ("bom-only.txt", b"\xef\xbb\xbf  \n", "empty"),
        ("nulls.txt", b"\x00\x01\x02\x03binary" * 100, "binary"),
        ("scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n" * 50, "PDF"),
        ("article.docx", b"PK\x03\x04" + bytes(range(256)) * 4, "Office"),
        ("photo.html", b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG"),
        ("controls.txt", bytes(range(1, 32)) * 40, "binary"),
        ("short.txt", b"Only a few words here.", "words of article text"),
        (
            "login.html",
            b"<!DOCTYPE html><html><body><form><input name='user'>"
            b"<button>Log in</button></form></body></html>",
            "no article text",
        ),
        (
            "chrome.txt",
            b"Home | Blog | Shop | About\nBack To Top\nLeave a Reply\n12 Comments\nShare on Facebook\n",
            "no article text left",
        ),
    ],
)
def test_not_an_article(tmp_path, name, content, expected):
    path = _write(tmp_path, name, content)
    with pytest.raises(InputError) as error:
        read_article(path)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_oversized_file(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_bytes(TEXT_ARTICLE.encode() * (MAX_BYTES // len(TEXT_ARTICLE) + 2))
    with pytest.raises(InputError, match="over the 5 MB limit"):
        read_article(path)


def test_errors_reach_the_cli_as_one_line(tmp_path):
    path = _write(tmp_path, "scan.pdf", b"%PDF-1.4\n" + bytes(range(256)))
    result = CliRunner().invoke(main, ["themes", str(path)])
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0
    assert "PDF" in result.output and "Traceback" not in result.output


def test_front_matter_gives_the_title(tmp_path):
    path = _write(tmp_path, "x.md", f'---\ntitle: "A Softer Evening"\ndate: 2024-01-01\n---\n\n{BODY}\n')
    article = read_article(path)
    assert article.title == "A Softer Evening"
    assert "2024" not in article.text and "title" not in article.text


def test_soft_wrapped_text_keeps_its_paragraphs(tmp_path):
    lines = ["Small Steps Home", *(f"{BODY.strip()} Paragraph {n}." for n in range(3))]
    article = read_article(_write(tmp_path, "x.txt", "\n".join(lines)))
    assert article.title == "Small Steps Home"
    assert len(article.paragraphs) == 3


def test_hard_wrapped_prose_is_not_mistaken_for_chrome(tmp_path):
    # A wrapped line that starts like a byline or a share button carries on a sentence.
    wrapped = (
        "Evening Notes\n\n"
        "The quiet hour after dinner can hold more than you expect, a memory carried\n"
        "by Grace Lee and the friends who stayed, and a wish to rest that you may\n"
        "share with no one at all, kept softly in your chest until the lamps go out.\n"
        "Back To Top\n\n"
        f"{BODY}\n"
    )
    article = read_article(_write(tmp_path, "notes.txt", wrapped))
    assert "carried by Grace Lee and the friends who stayed" in article.text
    assert "you may share with no one" in article.text
    assert "Back To Top" not in article.text


CHROME_LINES = [
    "Back To Top",
    "Begin typing your search term above and press enter to search. Press ESC to cancel.",
    "Skip to main content",
    "Home | About | Blog | Contact",
    "Home › Wellbeing › Grief",
    "Menu",
    "By Jane Doe",
    "By Jane Doe, Contributing Writer",
    "Written by Sam O'Neill",
    "By Ann Lee · 5 min read",
    "Posted on March 3, 2024",
    "Updated March 3, 2024",
    "Published: 2024-03-03",
    "Tuesday, 3 March 2024",
    "12/05/2023",
    "7 min read",
    "Reading time: 4 minutes",
    "Share on Facebook",
    "Share this:",
    "Tweet",
    "Pin it",
    "Email",
    "Share on Facebook   Tweet   Pin   Email",
    "Follow us on Instagram",
    "Leave a Reply",
    "Leave a comment",
    "No comments yet",
    "12 Comments",
    "Continue reading →",
    "Read more »",
    "READ: 5 Habits That Ruin Relationships",
    "Read also: Why We Cry",
    "Your email address will not be published. Required fields are marked *",
    "Post Comment",
    "This website uses cookies to improve your experience.",
    "We use cookies to personalise content.",
    "Accept all cookies",
    "Subscribe to our newsletter",
    "Advertisement",
    "Sponsored content",
    "Related Posts",
    "You May Also Like",
    "Tags: grief, healing",
    "Filed under Healing",
    "Copyright © 2024 Calm Media. All rights reserved.",
    "Privacy Policy",
    "Photo: Unsplash",
    "Previous post",
    "Next article: Sleeping Better",
]
PROSE_LINES = [
    "Back to the breath, again and again, without hurry.",
    "Share what you feel with someone who listens well.",
    "Home is wherever you can rest without pretending.",
    "By the time evening comes, the ache often softens.",
    "Read your old letters only when you feel steady.",
    "Email can wait until tomorrow; tonight is for rest.",
    "Subscribing to every worry is not the same as caring.",
    "Comments from others do not decide your worth.",
]


@pytest.mark.parametrize("line", CHROME_LINES)
def test_chrome_lines_are_recognised(line):
    from audiogen.read import load_filter_rules

    assert load_filter_rules().is_chrome(line)


@pytest.mark.parametrize("line", PROSE_LINES)
def test_prose_is_not_chrome_or_spam(line):
    from audiogen.read import load_filter_rules

    rules = load_filter_rules()
    assert not rules.is_chrome(line) and not rules.is_spam(line)


def test_html_entities_in_text_become_characters(tmp_path):
    article = read_article(
        _write(tmp_path, "a.txt", TEXT_ARTICLE.replace("Nothing needs", "Nothing &amp; no one needs"))
    )
    assert "Nothing & no one needs" in article.text and "&amp;" not in article.text


SPAM_PARAGRAPHS = [
    "Healing takes time. [Free Gift] Download the calm-mind checklist now.",
    "Use code CALM20 at checkout for 20% off every course.",
    "Looking for company tonight? Meet discreet local escorts with verified profiles.",
    "Hot singles in your area want to chat with you tonight.",
    "This post contains affiliate links, and we may earn a small commission.",
    "Click here to book your free discovery call before spots run out.",
    "Limited offer: the journal bundle ships free this week only.",
    "Claim your free bonus meditation pack when you sign up today.",
]


@pytest.mark.parametrize("paragraph", SPAM_PARAGRAPHS)
def test_spam_paragraphs_are_recognised(paragraph):
    from audiogen.read import load_filter_rules

    assert load_filter_rules().is_spam(paragraph)


def test_kind_prose_with_spam_like_words_is_kept():
    from audiogen.read import load_filter_rules

    rules = load_filter_rules()
    for prose in (
        "You can claim your right to rest.",
        "Order your thoughts gently, one at a time.",
        "A free afternoon can be a gift to yourself.",
        "Code words for feelings are still feelings.",
    ):
        assert not rules.is_spam(prose), prose

"""Any input either parses or raises audiogen's own error, never anything else."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiogen.errors import AudiogenError
from audiogen.read import read_article
from audiogen.scripting import parse_markup

TAG_WORDS = ["chapter", "bell", "pause", "breath", "voice", "optional", "/optional", "whistle"]
markup_lines = st.one_of(
    st.text(max_size=60),
    st.builds(lambda w, a: f"[{w} {a}]", st.sampled_from(TAG_WORDS), st.text(max_size=20)),
    st.builds(lambda a, b: f"[pause {a}s..{b}s]", st.integers(-5, 100), st.integers(-5, 100)),
    st.builds(
        lambda a, b, c, n: f"[breath {a}-{b}-{c} x{n}]",
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(0, 40),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(markup_lines, max_size=12))
def test_markup_parser_never_crashes(lines):
    try:
        parse_markup("\n".join(lines), "fuzz.j2")
    except AudiogenError as exc:
        assert "fuzz.j2" in str(exc)


article_bytes = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=3000).map(lambda t: t.encode("utf-8")),
    st.lists(
        st.sampled_from(
            [
                "# Title",
                "<html>",
                "<body>",
                "<p>",
                "</p>",
                "- item",
                "Back To Top",
                "You are kind to yourself when you rest.",
                "",
                "\x00",
                "[Free Gift] click here",
                "Grief softens when you let it be there, slowly and gently.",
            ]
        ),
        max_size=60,
    ).map(lambda parts: "\n".join(parts).encode("utf-8")),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=article_bytes, suffix=st.sampled_from([".txt", ".md", ".html", ".htm", ""]))
def test_article_readers_never_crash(tmp_path: Path, data: bytes, suffix: str):
    path = tmp_path / f"article{suffix}"
    path.write_bytes(data)
    try:
        article = read_article(path)
    except AudiogenError as exc:
        assert str(path) in str(exc) or "article" in str(exc)
    else:
        assert article.title and article.paragraphs

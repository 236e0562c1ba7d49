"""The library's own files and its progress display, from catalog entries (no audio rendered)."""

from __future__ import annotations

import io
import json

from audiogen.library import ProgressDisplay
from audiogen.library.outputs import catalog_text, index_html, playlist_text, transcript_lines, write_library
from audiogen.library.runner import BUILT, FAILED, SessionOutcome


def entry(name: str, duration: float, title: str, files: list[str] | None = None) -> dict:
    return {
        "name": name,
        "title": title,
        "article_title": title.split(" (")[0],
        "article": f"articles/{name}.md",
        "file": f"{name}.mp3",
        "files": files or [f"{name}.mp3"],
        "duration": duration,
        "loudness_lufs": -16.0,
        "true_peak_dbtp": -1.2,
        "themes": ["grief", "trust"],
        "template": "gentle-reflection",
        "listener": None,
        "chapters": [],
        "settings": {"voice": {"voice": "en-us+f3"}, "sound": {"background": "pink+drone"}},
        "key": "k",
    }


def test_playlist_is_extended_m3u_with_relative_paths_and_whole_seconds():
    text = playlist_text(
        "Évening, calm",
        [entry("a-5min", 299.6, "Ä title, with comma (5 min)"), entry("b-1min", 60.2, "B\ntitle (1 min)")],
    )
    assert text.splitlines() == [
        "#EXTM3U",
        "#PLAYLIST:Évening, calm",
        "#EXTINF:300,Ä title, with comma (5 min)",
        "a-5min.mp3",
        "#EXTINF:60,B title (1 min)",
        "b-1min.mp3",
    ]


def test_write_library_writes_all_three_files_atomically_as_utf8(tmp_path):
    entries = [entry("a-5min", 300.0, "Grief <and> “love” (5 min)")]
    written = write_library(tmp_path, "Library & more", entries)
    assert [p.name for p in written] == ["playlist.m3u8", "catalog.json", "index.html"]
    catalog = json.loads((tmp_path / "catalog.json").read_text("utf-8"))
    assert catalog["library"] == "Library & more" and catalog["sessions"] == entries
    assert catalog["total_duration"] == 300.0
    page = (tmp_path / "index.html").read_text("utf-8")
    assert "Grief &lt;and&gt; “love” (5 min)" in page and "<title>Library &amp; more</title>" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: works offline
    assert list(tmp_path.glob(".*")) == []  # no temporary files left
    assert oct((tmp_path / "index.html").stat().st_mode & 0o777) != "0o600"
    assert json.loads(catalog_text("x", []))["sessions"] == []


def test_index_shows_cover_and_transcript_when_they_sit_beside_the_audio(tmp_path):
    (tmp_path / "a-5min.vtt").write_text(
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nWelcome, and <i>settle</i> in.\n\n"
        "00:01:05.500 --> 00:01:08.000\nBreathe out slowly.\n",
        encoding="utf-8",
    )
    (tmp_path / "b-1min.txt").write_text("First paragraph.\n\nSecond paragraph.\n", encoding="utf-8")
    (tmp_path / "c-1min.lrc").write_text("[00:02.00]Hello there.\n[01:10.50]Rest now.\n", encoding="utf-8")
    assert transcript_lines(tmp_path, ["a-5min.mp3", "a-5min.vtt"]) == [
        ("0:01", "Welcome, and settle in."),
        ("1:05", "Breathe out slowly."),
    ]
    assert transcript_lines(tmp_path, ["b-1min.txt"]) == [("", "First paragraph."), ("", "Second paragraph.")]
    assert transcript_lines(tmp_path, ["c-1min.lrc"]) == [("0:02", "Hello there."), ("1:10", "Rest now.")]
    assert transcript_lines(tmp_path, ["d.mp3"]) == []

    page = index_html(
        tmp_path,
        "L",
        [
            entry("a-5min", 300.0, "A (5 min)", ["a-5min.jpg", "a-5min.mp3", "a-5min.vtt"]),
            entry("d-1min", 60.0, "D (1 min)"),
        ],
    )
    first, second = page.split('<article class="session"')[1:]
    assert '<img class="cover" src="a-5min.jpg"' in first and "<time>1:05</time>Breathe out slowly." in first
    assert '<audio controls preload="metadata" src="a-5min.mp3">' in first
    assert "cover" not in second and "Transcript" not in second
    assert '<span class="length">5:00</span>' in first and "grief" in first


def outcome(name: str, status: str, minutes: float, error: str = "") -> SessionOutcome:
    return SessionOutcome(name, status, minutes, error=error)


def test_progress_prints_plain_lines_with_counts_and_eta_when_not_a_terminal():
    stream = io.StringIO()
    progress = ProgressDisplay(stream, terminal=False)
    progress.start(3, 12.0, 1, 2.0)
    progress.advance(outcome("a", BUILT, 5.0))
    progress.advance(outcome("b", FAILED, 5.0, "bad article"))
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "3 sessions, 12 min of audio: 1 up to date, 2 to build"
    assert "built a (5 min)" in lines
    assert "failed b: bad article" in lines
    assert any(line.strip().startswith("2/3 sessions, 7/12 min of audio, ETA") for line in lines)
    assert lines[-1].strip() == "3/3 sessions, 12/12 min of audio, ETA 0:00"
    assert "\r" not in stream.getvalue()


def test_progress_draws_one_bar_on_a_terminal():
    stream = io.StringIO()
    progress = ProgressDisplay(stream, terminal=True)
    progress.start(2, 2.0, 0, 0.0)
    progress.advance(outcome("a", BUILT, 1.0))
    progress.advance(outcome("b", BUILT, 1.0))
    progress.finish()
    text = stream.getvalue()
    assert "\r\033[K[------------------------] 0/2 sessions, 0/2 min of audio, ETA --:--" in text
    assert "[############------------] 1/2 sessions" in text
    assert "[########################] 2/2 sessions, 2/2 min of audio, ETA 0:00" in text
    assert "built a" not in text  # on a terminal only failures get their own line

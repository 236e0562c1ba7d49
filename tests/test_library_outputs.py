"""The library's own files and its progress display, from catalog entries (no audio rendered)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from audiogen.library import ProgressDisplay
from audiogen.library.catalog import Catalog, CatalogEntry, PodcastSettings
from audiogen.library.outputs import catalog_text, index_html, playlist_text, write_library
from audiogen.library.runner import BUILT, FAILED, SessionOutcome
from audiogen.models import SpokenLine
from conftest import catalog_entry as entry


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
    assert catalog["library"] == "Library & more" and catalog["sessions"] == [e.to_dict() for e in entries]
    assert [CatalogEntry.from_dict(s) for s in catalog["sessions"]] == entries
    assert catalog["total_duration"] == 300.0
    page = (tmp_path / "index.html").read_text("utf-8")
    assert "Grief &lt;and&gt; “love” (5 min)" in page and "<title>Library &amp; more</title>" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: works offline
    assert list(tmp_path.glob(".*")) == []  # no temporary files left
    assert oct((tmp_path / "index.html").stat().st_mode & 0o777) != "0o600"
    assert json.loads(catalog_text(Catalog("x", ())))["sessions"] == []


def test_index_shows_cover_and_the_transcript_lines_its_entry_carries(tmp_path):
    lines = (
        SpokenLine(1.0, 4.0, "Welcome, and settle in."),
        SpokenLine(65.5, 68.0, "Breathe out & <slowly>."),
    )
    page = index_html(
        "L",
        [
            entry("a-5min", 300.0, "A (5 min)", ["a-5min.jpg", "a-5min.mp3", "a-5min.vtt"], transcript=lines),
            entry("d-1min", 60.0, "D (1 min)"),
        ],
    )
    first, second = page.split('<article class="session"')[1:]
    assert '<img class="cover" src="a-5min.jpg"' in first
    assert "<time>0:01</time>Welcome, and settle in." in first
    assert "<time>1:05</time>Breathe out &amp; &lt;slowly&gt;." in first  # escaped once, as spoken
    assert '<audio controls preload="metadata" src="a-5min.mp3">' in first
    assert "cover" not in second and "Transcript" not in second
    assert '<span class="length">5:00</span>' in first and "grief" in first
    assert "voice en-us+f3" in first and "pink+drone" in first


def test_index_and_feed_need_no_transcript_file(tmp_path):
    """Nothing reads a transcript back: with the files gone, the page and feed still show the lines."""
    lines = (SpokenLine(2.0, 3.0, "Hello there."), SpokenLine(70.5, 72.0, "Rest now."))
    files = ["a-1min.mp3", "a-1min.vtt", "a-1min.lrc", "a-1min.txt"]
    entries = [entry("a-1min", 60.0, "A (1 min)", files, transcript=lines)]
    write_library(tmp_path, "L", entries, PodcastSettings(base_url="http://h/"))
    page = (tmp_path / "index.html").read_text("utf-8")
    assert not any((tmp_path / f).exists() for f in files)
    assert "<time>0:02</time>Hello there." in page and "<time>1:10</time>Rest now." in page
    item = ET.fromstring((tmp_path / "feed.xml").read_bytes()).find("channel/item")
    assert "Hello there. Rest now." in item.findtext("description")


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

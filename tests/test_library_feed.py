"""The podcast feed a library build writes: parsed by feedparser and checked rule by rule in the XML.

The library (2 articles, 1 minute each, with a base_url) is built once per test run
(conftest.podcast_library); tests that rebuild work on copies of it.
"""

from __future__ import annotations

import io
import json
import shutil
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from PIL import Image

import audiogen
from audiogen.cli import main
from audiogen.errors import ManifestError
from audiogen.library import load_manifest, state
from audiogen.library.catalog import Catalog, CatalogChapter, CatalogEntry
from audiogen.library.feed import chapters_json, feed_xml
from audiogen.library.runner import COVER_RECORD, _library_cover
from conftest import catalog_entry, write_podcast_manifest

BASE = "https://example.org/meditations/"
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}


def parsed(out: Path) -> tuple[ET.Element, dict]:
    root = ET.fromstring((out / "feed.xml").read_bytes())
    return root.find("channel"), json.loads((out / "catalog.json").read_text("utf-8"))


def local(out: Path, url: str) -> Path:
    """The library file a feed address names (its path under BASE, query dropped)."""
    assert url.startswith(BASE), url
    return out / urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[1])


def rebuild(folder: Path, cache: Path, *extra: str):
    return CliRunner().invoke(
        main,
        ["build", str(folder / "library.toml"), "--workers", "2", "--cache-dir", str(cache), "-q", *extra],
    )


@pytest.fixture()
def library_copy(podcast_library, tmp_path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(podcast_library, folder, symlinks=True)
    return folder


def test_feed_parses_cleanly_with_feedparser(podcast_library):
    out = podcast_library / "out"
    parsed_feed = feedparser.parse((out / "feed.xml").read_bytes())
    assert parsed_feed.bozo == 0, parsed_feed.get("bozo_exception")
    assert parsed_feed.version == "rss20"
    assert set(NS.values()) <= set(parsed_feed.namespaces.values())
    feed = parsed_feed.feed
    assert feed.title == "Phone Library"
    assert feed.link == BASE
    assert feed.language == "en"
    assert feed.author == "Test Author"
    assert feed.image.href == BASE + "cover.jpg"
    # (feedparser reads itunes:explicit only as yes/clean; "false", what Apple asks, is checked in
    # the XML below)
    assert [t.term for t in feed.tags] == ["Health & Fitness", "Mental Health"]
    catalog = json.loads((out / "catalog.json").read_text("utf-8"))
    assert [e.title for e in parsed_feed.entries] == [s["title"] for s in catalog["sessions"]]
    for entry, session in zip(parsed_feed.entries, catalog["sessions"]):
        (enclosure,) = entry.enclosures
        assert int(enclosure.length) == (out / session["file"]).stat().st_size
        assert enclosure.type == "audio/mpeg"
        assert entry.itunes_duration == "0:01:00"
        assert entry.image.href == BASE + f"{session['name']}.jpg"


def test_channel_has_every_field_the_issue_lists(podcast_library):
    out = podcast_library / "out"
    channel, catalog = parsed(out)
    assert channel.findtext("title") == "Phone Library"
    assert channel.findtext("description") == "Two short sessions for the podcast tests."
    assert channel.findtext("link") == BASE  # the manifest's address, given without "/", as a folder
    assert channel.findtext("language") == "en"
    assert channel.find("atom:link", NS).get("href") == BASE + "feed.xml"
    assert channel.findtext("itunes:explicit", namespaces=NS) == "false"
    assert channel.findtext("itunes:author", namespaces=NS) == "Test Author"
    owner = channel.find("itunes:owner", NS)
    assert owner.findtext("itunes:name", namespaces=NS) == "Test Author"
    assert owner.findtext("itunes:email", namespaces=NS) == "owner@example.org"
    category = channel.find("itunes:category", NS)
    assert category.get("text") == "Health & Fitness"
    assert [c.get("text") for c in category.findall("itunes:category", NS)] == ["Mental Health"]
    cover_url = channel.find("itunes:image", NS).get("href")
    with Image.open(local(out, cover_url)) as cover:
        assert cover.format == "JPEG"
        assert cover.width == cover.height and 1400 <= cover.width <= 3000
    assert catalog["cover"] == "cover.jpg" and catalog["podcast"]["base_url"] == BASE


def test_one_item_per_session_in_manifest_order_with_every_rule(podcast_library):
    out = podcast_library / "out"
    channel, catalog = parsed(out)
    items = channel.findall("item")
    sessions = catalog["sessions"]
    assert [s["name"] for s in sessions] == [
        "healing-over-bitterness-1min",
        "self-compassion-heartbreak-1min",
    ]
    assert len(items) == len(sessions) == 2
    guids = set()
    for number, (item, session) in enumerate(zip(items, sessions), start=1):
        assert item.findtext("title") == session["title"]
        description = item.findtext("description")
        assert "Themes: " + ", ".join(session["themes"]) in description
        first_words = (out / f"{session['name']}.txt").read_text("utf-8").split()[:4]
        assert " ".join(first_words) in " ".join(description.split())
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false" and session["name"] in guid.text
        guids.add(guid.text)
        assert parsedate_to_datetime(item.findtext("pubDate")) == datetime.fromisoformat(session["built"])
        enclosure = item.find("enclosure")
        audio = local(out, enclosure.get("url"))
        assert audio.name == session["file"]
        assert int(enclosure.get("length")) == audio.stat().st_size
        assert enclosure.get("type") == "audio/mpeg"
        assert (
            urllib.parse.parse_qs(urllib.parse.urlsplit(enclosure.get("url")).query)["v"][0]
            == session["audio_sha256"][:16]
        )
        assert item.findtext("itunes:duration", namespaces=NS) == "0:01:00"
        assert item.findtext("itunes:episode", namespaces=NS) == str(number)
        assert local(out, item.find("itunes:image", NS).get("href")).name == f"{session['name']}.jpg"

        chapters_url = item.find("podcast:chapters", NS)
        assert chapters_url.get("type") == "application/json+chapters"
        chapters = json.loads(local(out, chapters_url.get("url")).read_text("utf-8"))
        assert chapters["version"] == "1.2.0"
        assert chapters["chapters"] == [
            {"startTime": c["start"], "title": c["title"]} for c in session["chapters"]
        ]
        assert chapters["chapters"] and all(
            isinstance(c["startTime"], (int, float)) for c in chapters["chapters"]
        )

        transcripts = {t.get("type"): t for t in item.findall("podcast:transcript", NS)}
        assert set(transcripts) == {"text/vtt", "text/plain"}
        assert transcripts["text/vtt"].get("rel") == "captions"
        vtt = local(out, transcripts["text/vtt"].get("url"))
        assert vtt.suffix == ".vtt" and vtt.read_text("utf-8").startswith("WEBVTT")
        assert local(out, transcripts["text/plain"].get("url")).suffix == ".txt"
    assert len(guids) == 2


def test_index_links_the_feed(podcast_library):
    page = (podcast_library / "out" / "index.html").read_text("utf-8")
    assert f'<a href="{BASE}feed.xml">podcast feed</a>' in page
    assert f'class="feed" href="{BASE}feed.xml"><code>{BASE}feed.xml</code>' in page


def test_rebuild_keeps_pubdates_and_addresses_and_a_changed_session_gets_new_ones(library_copy, speech_cache):
    out = library_copy / "out"
    before = {i.findtext("guid"): i for i in parsed(out)[0].findall("item")}
    cover_time = (out / "cover.jpg").stat().st_mtime_ns
    result = rebuild(library_copy, speech_cache)  # nothing changed: both sessions skipped
    assert result.exit_code == 0, result.output
    assert (out / "cover.jpg").stat().st_mtime_ns == cover_time  # not drawn again
    same = {i.findtext("guid"): i for i in parsed(out)[0].findall("item")}
    for guid, item in before.items():
        assert same[guid].findtext("pubDate") == item.findtext("pubDate")
        assert same[guid].find("enclosure").get("url") == item.find("enclosure").get("url")

    write_podcast_manifest(library_copy, seed=7)  # the second session's background changes
    result = rebuild(library_copy, speech_cache)
    assert result.exit_code == 0, result.output
    after = {i.findtext("guid"): i for i in parsed(out)[0].findall("item")}
    assert list(after) == list(before)  # guids are stable
    first, second = list(before)
    assert after[first].findtext("pubDate") == before[first].findtext("pubDate")
    assert after[first].find("enclosure").get("url") == before[first].find("enclosure").get("url")
    old_audio_url, new_audio_url = (
        before[second].find("enclosure").get("url"),
        after[second].find("enclosure").get("url"),
    )
    assert new_audio_url != old_audio_url  # apps cache by address: new audio, new address
    assert local(out, new_audio_url) == local(out, old_audio_url)  # the same file name
    assert parsedate_to_datetime(after[second].findtext("pubDate")) >= parsedate_to_datetime(
        before[second].findtext("pubDate")
    )
    assert int(after[second].find("enclosure").get("length")) == local(out, new_audio_url).stat().st_size


def test_command_line_address_wins_and_no_address_means_no_feed(library_copy, speech_cache):
    out = library_copy / "out"
    result = rebuild(library_copy, speech_cache, "--base-url", "http://192.0.2.7:8080/lib")
    assert result.exit_code == 0, result.output
    channel, catalog = parsed(out)
    assert channel.findtext("link") == "http://192.0.2.7:8080/lib/"
    assert all(
        i.find("enclosure").get("url").startswith("http://192.0.2.7:8080/lib/")
        for i in channel.findall("item")
    )

    audiogen.build(
        library_copy / "library.toml", cache_dir=speech_cache, base_url="http://h.example/x/"
    )  # the API
    assert parsed(out)[0].findtext("link") == "http://h.example/x/"

    manifest = library_copy / "library.toml"
    manifest.write_text(
        manifest.read_text("utf-8").replace('base_url = "https://example.org/meditations"\n', ""), "utf-8"
    )
    result = rebuild(library_copy, speech_cache)
    assert result.exit_code == 0, result.output
    assert not (out / "feed.xml").exists()  # an old address does not linger
    assert "feed.xml" not in (out / "index.html").read_text("utf-8")
    assert (out / "cover.jpg").is_file()  # `audiogen serve` still has the library's artwork
    assert all(
        (out / f"{s['name']}.chapters.json").is_file()
        for s in json.loads((out / "catalog.json").read_text())["sessions"]
    )


def test_bad_addresses_are_refused_with_the_key_or_option(library_copy, speech_cache):
    result = rebuild(library_copy, speech_cache, "--base-url", "example.org/lib")
    assert result.exit_code == 2
    assert "--base-url" in result.output and "http://" in result.output

    manifest = library_copy / "library.toml"
    manifest.write_text(
        manifest.read_text("utf-8").replace('"https://example.org/meditations"', '"ftp://x/?a=1"'), "utf-8"
    )
    result = rebuild(library_copy, speech_cache)
    assert result.exit_code == 3
    (line,) = [line for line in result.output.splitlines() if "error" in line]
    assert "library.base_url" in line and "ftp://x/?a=1" in line
    assert "Traceback" not in result.output


def test_feed_and_cover_are_reserved_session_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "feed.txt").write_text("Some article text. " * 30, "utf-8")
    (tmp_path / "lib.toml").write_text('[[sessions]]\narticles = "a/*.txt"\nname = "{article}"\n', "utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "lib.toml")
    assert "reserved" in str(caught.value) and "'feed'" in str(caught.value)


def test_a_key_file_from_before_typed_entries_renders_its_session_again(library_copy, speech_cache):
    """Old key files lack what the index and feed now show (the transcript's lines); rather than
    read the transcripts back, the session is rendered again (its speech comes from the cache)."""
    out = library_copy / "out"
    name = "healing-over-bitterness-1min"
    key_file = out / f".{name}.key"
    stored = json.loads(key_file.read_text("utf-8"))
    old = {"key": stored["key"], "entry": {k: v for k, v in stored["entry"].items() if k != "transcript"}}
    key_file.write_text(json.dumps(old), "utf-8")
    assert state.read_key(out, name) is None
    others = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp3") if not p.name.startswith(name)}

    result = rebuild(library_copy, speech_cache)
    assert result.exit_code == 0, result.output
    renewed = state.read_key(out, name)
    assert renewed is not None and renewed.key == stored["key"] and renewed.entry.transcript
    assert {p: (out / p).stat().st_mtime_ns for p in others} == others  # the current one was skipped
    catalog = json.loads((out / "catalog.json").read_text("utf-8"))
    assert [s["transcript"] != [] for s in catalog["sessions"]] == [True, True]


def test_an_entry_round_trips_through_its_key_file(podcast_library, tmp_path):
    out = podcast_library / "out"
    for key_file in out.glob(".*.key"):
        name = key_file.name[1 : -len(".key")]
        stored = state.read_key(out, name)
        assert isinstance(stored.entry, CatalogEntry) and stored.entry.name == name
        state.write_key(tmp_path, name, stored.key, stored.entry)
        assert state.read_key(tmp_path, name) == stored
        assert CatalogEntry.from_dict(json.loads(json.dumps(stored.entry.to_dict()))) == stored.entry
        assert stored.entry.transcript and stored.entry.chapters and stored.entry.cover == f"{name}.jpg"
        assert stored.entry.chapters_file == f"{name}.chapters.json"


def test_a_skipping_rebuild_writes_the_same_index_and_feed_without_reading_transcripts(
    library_copy, speech_cache
):
    """The transcripts beside the audio are overwritten with nonsense: a rebuild that skips every
    session still shows the words export wrote, byte for byte as before."""
    out = library_copy / "out"
    before = {f: (out / f).read_bytes() for f in ("index.html", "feed.xml", "catalog.json", "playlist.m3u8")}
    for suffix in ("vtt", "lrc", "txt"):
        for path in out.glob(f"*.{suffix}"):
            path.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nNOT SPOKEN\n", "utf-8")
    result = rebuild(library_copy, speech_cache)
    assert result.exit_code == 0, result.output
    for file_name, data in before.items():
        assert (out / file_name).read_bytes() == data, file_name
    assert "NOT SPOKEN" not in before["index.html"].decode("utf-8")
    assert "Transcript</summary><p><time>" in before["index.html"].decode("utf-8")


def test_chapters_json_and_feed_escape_what_they_carry():
    entry = catalog_entry(
        "a-1min",
        61.4,
        'Fear & "hope" <1>',
        ["a-1min.mp3", "a-1min.chapters.json"],
        article_title="A & B",
        themes=("grief",),
        chapters=(CatalogChapter(0.0, "Arrival"), CatalogChapter(12.5, "Breath & body")),
    )
    document = json.loads(chapters_json(entry.title, entry.chapters))
    assert document == {
        "version": "1.2.0",
        "title": 'Fear & "hope" <1>',
        "chapters": [{"startTime": 0.0, "title": "Arrival"}, {"startTime": 12.5, "title": "Breath & body"}],
    }
    xml = feed_xml(Catalog("L <&>", (entry,)), "http://h/", "http://h/feed.xml")
    channel = ET.fromstring(xml).find("channel")
    assert channel.findtext("title") == "L <&>"
    item = channel.find("item")
    assert item.findtext("title") == 'Fear & "hope" <1>'
    assert item.findtext("itunes:duration", namespaces=NS) == "0:01:01"
    assert item.findtext("pubDate") == "Fri, 02 Jan 2026 03:04:05 +0000"
    assert item.find("enclosure").get("url") == "http://h/a-1min.mp3?v=" + "ab" * 8
    assert channel.find("itunes:image", NS) is None  # no cover in that catalog: none claimed
    assert item.find("podcast:transcript", NS) is None  # no transcript file listed: none claimed


def test_library_cover_is_drawn_again_only_when_what_it_shows_changes(tmp_path):
    entries = [
        catalog_entry("a", 60.0, "A", themes=("grief", "healing")),
        catalog_entry("b", 90.0, "B", themes=("grief",)),
    ]
    cover, record = _library_cover(tmp_path, "Night Library", entries)
    with Image.open(io.BytesIO(cover)) as image:
        assert image.format == "JPEG" and image.size == (1400, 1400)
    (tmp_path / "cover.jpg").write_bytes(cover)
    (tmp_path / COVER_RECORD).write_text(record, "utf-8")
    assert _library_cover(tmp_path, "Night Library", entries) == (None, record)
    renamed, _ = _library_cover(tmp_path, "Morning Library", entries)
    assert renamed is not None and renamed != cover

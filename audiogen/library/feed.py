"""The library as a podcast: an RSS 2.0 feed with the iTunes and Podcasting 2.0 namespaces,
and the chapters JSON each session's feed item points at.

The feed is made from the catalog (a typed Catalog, as catalog.json holds it) and an address, so the
build (with the manifest's base_url) and `audiogen serve` (with the address the client used) write
the same feed.
It is built with the standard library's ElementTree, which escapes every value. feedgen was
weighed and left: its 1.0 release has no podcast:chapters or podcast:transcript, writes
itunes:explicit only as yes/no/clean (Apple asks for true/false), and fails to import with lxml 6.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

from audiogen import __version__
from audiogen.library.catalog import (
    CHAPTERS_SUFFIX,
    Catalog,
    CatalogChapter,
    CatalogEntry,
    PodcastSettings,
)

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("itunes", ITUNES_NS)
ET.register_namespace("podcast", PODCAST_NS)
ET.register_namespace("atom", ATOM_NS)

FEED, COVER = "feed.xml", "cover.jpg"
CHAPTERS_TYPE = "application/json+chapters"  # the Podcasting 2.0 chapters format's own type
CHAPTERS_VERSION = "1.2.0"
CATEGORY, SUBCATEGORY = "Health & Fitness", "Mental Health"
# Media types of every file a library holds, by suffix (the server sends the same ones).
MEDIA_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".vtt": "text/vtt",
    ".lrc": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
    ".m3u8": "audio/mpegurl",
    ".html": "text/html",
    ".xml": "application/rss+xml",
}
# Transcripts a podcast app can show, best first: WebVTT as timed captions, then plain text.
# LRC stays out of the feed: it has no registered media type and no podcast app reads it.
FEED_TRANSCRIPTS = ((".vtt", "text/vtt", "captions"), (".txt", "text/plain", None))
SUMMARY_CHARACTERS = (
    200  # whole sentences of the transcript quoted in an item's description, at least this much
)


def media_type(file_name: str) -> str:
    if file_name.endswith(CHAPTERS_SUFFIX):
        return CHAPTERS_TYPE
    return MEDIA_TYPES.get(Path(file_name).suffix.lower(), "application/octet-stream")


def chapters_json(title: str, chapters: tuple[CatalogChapter, ...]) -> str:
    """A session's chapters in the Podcasting 2.0 JSON chapters format (version 1.2.0)."""
    document = {
        "version": CHAPTERS_VERSION,
        "title": title,
        "chapters": [{"startTime": chapter.start, "title": chapter.title} for chapter in chapters],
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def built_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def enclosure_url(base_url: str, entry: CatalogEntry) -> str:
    """The audio's address with its content hash as a query: podcast apps cache by address,
    so new audio under the same name must get a new one. The server ignores the query."""
    return f"{base_url}{urllib.parse.quote(entry.file)}?v={entry.audio_sha256[:16]}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _description(entry: CatalogEntry) -> str:
    parts = []
    if entry.themes:
        parts.append("Themes: " + ", ".join(entry.themes) + ".")
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(line.text for line in entry.transcript))
    opening = ""
    while sentences and len(opening) < SUMMARY_CHARACTERS:
        opening = f"{opening} {sentences.pop(0)}".strip()
    if opening:
        parts.append(opening + (" …" if sentences else ""))
    parts.append(f"From the article “{entry.article_title}”.")
    return "\n\n".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attributes.items()})
    if text is not None:
        element.text = text
    return element


def _it(tag: str) -> str:
    return f"{{{ITUNES_NS}}}{tag}"


def _pc(tag: str) -> str:
    return f"{{{PODCAST_NS}}}{tag}"


def feed_xml(catalog: Catalog, base_url: str, feed_url: str) -> bytes:
    """The RSS document for a library whose folder is at `base_url` (ending in "/")."""
    podcast = catalog.podcast or PodcastSettings()
    sessions = catalog.sessions
    url = lambda name: base_url + urllib.parse.quote(name)  # noqa: E731 - one line, used throughout
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, f"{{{ATOM_NS}}}link", href=feed_url, rel="self", type=MEDIA_TYPES[".xml"])
    _sub(channel, "title", catalog.library)
    _sub(channel, "link", base_url)
    description = podcast.description or (
        f"{len(sessions)} guided meditation{'s' if len(sessions) != 1 else ''} "
        "made by audiogen from articles "
        "about emotional life."
    )
    _sub(channel, "description", description)
    _sub(channel, "language", podcast.language)
    _sub(channel, "generator", f"audiogen {__version__}")
    built = [built_time(s.built) for s in sessions]
    if built:
        _sub(channel, "lastBuildDate", format_datetime(max(built)))
    cover = catalog.cover
    if cover:
        image = _sub(channel, "image")
        _sub(image, "url", url(cover))
        _sub(image, "title", catalog.library)
        _sub(image, "link", base_url)
        _sub(channel, _it("image"), href=url(cover))
    author = podcast.author or "audiogen"
    _sub(channel, _it("author"), author)
    owner = _sub(channel, _it("owner"))
    _sub(owner, _it("name"), author)
    if podcast.email:
        _sub(owner, _it("email"), podcast.email)
    category = _sub(channel, _it("category"), text_=CATEGORY)
    _sub(category, _it("category"), text_=SUBCATEGORY)
    _sub(channel, _it("explicit"), "false")
    _sub(channel, _it("type"), "episodic")
    _sub(channel, _it("summary"), description)

    for number, entry in enumerate(sessions, start=1):
        item = _sub(channel, "item")
        _sub(item, "title", entry.title)
        _sub(item, "description", _description(entry))
        _sub(item, "guid", f"audiogen:{catalog.library}/{entry.name}", isPermaLink="false")
        _sub(item, "pubDate", format_datetime(built_time(entry.built)))
        _sub(
            item,
            "enclosure",
            url=enclosure_url(base_url, entry),
            length=str(entry.bytes),
            type=media_type(entry.file),
        )
        _sub(item, "link", f"{base_url}index.html#{urllib.parse.quote(entry.name)}")
        _sub(item, _it("title"), entry.title)
        _sub(item, _it("duration"), _duration(entry.duration))
        _sub(item, _it("episode"), str(number))
        _sub(item, _it("episodeType"), "full")
        _sub(item, _it("explicit"), "false")
        if entry.cover:
            _sub(item, _it("image"), href=url(entry.cover))
        if entry.chapters_file:
            _sub(item, _pc("chapters"), url=url(entry.chapters_file), type=CHAPTERS_TYPE)
        for suffix, kind, rel in FEED_TRANSCRIPTS:
            name = entry.name + suffix
            if name in entry.files:
                extra = {"rel": rel} if rel else {}
                _sub(
                    item,
                    _pc("transcript"),
                    url=url(name),
                    type=kind,
                    language=podcast.language,
                    **extra,
                )
    ET.indent(rss, space=" ")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True) + b"\n"

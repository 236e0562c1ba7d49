"""A library's own files: an M3U8 playlist, catalog.json, an offline index.html, the library's
cover and, when the library has a public address, a podcast feed.

All are written atomically from the typed catalog entries, in manifest order; no file is read
back. The index is one self-contained page (inline style and script, relative links) that works
from file://.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from audiogen import __version__
from audiogen.library.catalog import Catalog, CatalogEntry, PodcastSettings
from audiogen.library.feed import COVER, FEED, feed_xml
from audiogen.library.state import atomic_write_bytes, atomic_write_text

PLAYLIST, CATALOG, INDEX = "playlist.m3u8", "catalog.json", "index.html"


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def playlist_text(name: str, entries: Sequence[CatalogEntry]) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(name)}"]
    for entry in entries:
        lines.append(f"#EXTINF:{int(round(entry.duration))},{_one_line(entry.title)}")
        lines.append(entry.file)  # relative to the playlist, which sits beside the audio
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def catalog_text(catalog: Catalog) -> str:
    return json.dumps(catalog.to_dict(), indent=2, ensure_ascii=False) + "\n"


_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:46rem;margin:2rem auto;
padding:0 1rem;
color:#243036;background:#f7f5f0}
h1{font-weight:500;margin-bottom:.2rem}header p{color:#5b6770;margin-top:0}
.session{background:#fff;border-radius:10px;padding:1rem 1.2rem;margin:1rem 0;box-shadow:0 1px 3px #0002;
display:grid;grid-template-columns:auto 1fr;gap:0 1rem}
.session>*{grid-column:2}
.cover{grid-column:1;grid-row:1/span 4;width:96px;height:96px;object-fit:cover;border-radius:6px}
.session h2{font-size:1.15rem;font-weight:600;margin:.1rem 0}
.meta{color:#5b6770;font-size:.9rem;margin:.2rem 0 .5rem}
.theme{display:inline-block;background:#e5efe9;border-radius:1rem;padding:0 .55rem;margin-right:.25rem;
font-size:.8rem}
audio{width:100%}details{margin-top:.4rem}summary{cursor:pointer;color:#37617a}
.transcript p{margin:.25rem 0}
.transcript time{color:#8a949b;font-variant-numeric:tabular-nums;margin-right:.6rem}
.subscribe{background:#fff;border-radius:10px;padding:.8rem 1.2rem;box-shadow:0 1px 3px #0002}
.subscribe svg{display:block;width:180px;height:180px;margin:.5rem 0}.subscribe code{word-break:break-all}
"""

# Writes each file's real length into the page once the player has read it (and flags files
# that fail to load): the page shows the truth about the files beside it.
_SCRIPT = """
document.querySelectorAll("article.session").forEach(function (session) {
  var audio = session.querySelector("audio"), shown = session.querySelector(".length");
  function loaded() {
    session.setAttribute("data-loaded-duration", audio.duration.toFixed(2));
    shown.title = "file length " + audio.duration.toFixed(1) + " s";
  }
  audio.addEventListener("loadedmetadata", loaded);
  audio.addEventListener("error", function () {
    session.setAttribute("data-load-error", "1");
    shown.textContent += " (file missing or unplayable)";
  });
  if (audio.readyState >= 1) loaded();
});
"""


def _session_html(entry: CatalogEntry) -> str:
    e = html.escape
    details = [f'<span class="length">{clock(entry.duration)}</span>']
    details.append(e(f"voice {entry.settings.voice.voice}"))
    details.append(e(entry.settings.sound.background))
    details.append(f'from <cite title="{e(entry.article)}">{e(entry.article_title)}</cite>')
    themes = "".join(f'<span class="theme">{e(t)}</span>' for t in entry.themes)
    parts = [
        f'<article class="session" id="{e(entry.name)}" data-name="{e(entry.name)}" '
        f'data-duration="{entry.duration:.2f}">'
    ]
    if entry.cover:
        parts.append(f'<img class="cover" src="{e(entry.cover)}" alt="">')
    parts.append(f"<h2>{e(entry.title)}</h2>")
    parts.append(f'<p class="meta">{" · ".join(details)}</p>')
    if themes:
        parts.append(f'<p class="themes">{themes}</p>')
    parts.append(f'<audio controls preload="metadata" src="{e(entry.file)}"></audio>')
    if entry.transcript:
        # Whole seconds, cut as a player shows a position.
        lines = "".join(
            f"<p><time>{clock(int(line.start))}</time>{e(line.text)}</p>" for line in entry.transcript
        )
        parts.append(f'<details class="transcript"><summary>Transcript</summary>{lines}</details>')
    parts.append("</article>")
    return "\n".join(parts)


def _subscribe_html(feed_url: str, qr_svg: str | None) -> str:
    """The feed's address to copy into a podcast app and, when served, a QR code a phone can scan."""
    e = html.escape
    qr = (
        f'<div class="qr" role="img" aria-label="QR code of the feed address">{qr_svg}</div>'
        if qr_svg
        else ""
    )
    return (
        f'<section class="subscribe" id="subscribe"><p>Listen in a podcast app: subscribe to '
        f'<a class="feed" href="{e(feed_url)}"><code>{e(feed_url)}</code></a>'
        f"{' or scan the code with your phone' if qr_svg else ''}.</p>{qr}</section>"
    )


def index_html(
    name: str, entries: Sequence[CatalogEntry], feed_url: str | None = None, qr_svg: str | None = None
) -> str:
    """The page; `feed_url` (relative or absolute) adds a subscribe link, `qr_svg` its QR code."""
    e = html.escape
    total = sum(entry.duration for entry in entries)
    sessions = "\n".join(_session_html(entry) for entry in entries)
    subscribe = _subscribe_html(feed_url, qr_svg) if feed_url else ""
    feed_link = f' · <a href="{e(feed_url)}">podcast feed</a>' if feed_url else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="audiogen {__version__}">
<title>{e(name)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{e(name)}</h1>
<p>{len(entries)} sessions, {clock(total)} in all · <a href="{PLAYLIST}">playlist</a> ·
<a href="{CATALOG}">catalog</a>{feed_link}</p>
{subscribe}
</header>
<main>
{sessions}
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_library(
    out_dir: Path,
    name: str,
    entries: Sequence[CatalogEntry],
    podcast: PodcastSettings | None = None,
    cover: bytes | None = None,
) -> list[Path]:
    """Playlist, catalog and index (the last of the list returned), the library's cover when
    given (None: the one in place stays), and feed.xml when `podcast.base_url` is set
    (removed when it is not: an old address must not linger)."""
    out_dir = Path(out_dir)
    written = []
    cover_path = out_dir / COVER
    if cover is not None:
        atomic_write_bytes(cover_path, cover)
        written.append(cover_path)
    cover_name = COVER if cover_path.is_file() else None
    catalog = Catalog(name, tuple(entries), podcast, cover_name)
    base_url = podcast.base_url if podcast is not None else None
    feed_path = out_dir / FEED
    if base_url:
        atomic_write_bytes(feed_path, feed_xml(catalog, base_url, base_url + FEED))
        written.append(feed_path)
    else:
        feed_path.unlink(missing_ok=True)
    for file_name, text in (
        (PLAYLIST, playlist_text(name, entries)),
        (CATALOG, catalog_text(catalog)),
        (INDEX, index_html(name, entries, base_url + FEED if base_url else None)),
    ):
        atomic_write_text(out_dir / file_name, text)
        written.append(out_dir / file_name)
    return written

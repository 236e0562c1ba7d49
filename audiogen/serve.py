"""`audiogen serve`: a library folder on the local network, for podcast apps on a phone.

cheroot (a pure-Python, threaded HTTP/1.1 server) runs a small WSGI app; werkzeug's file
responses give byte ranges (206), HEAD, ETag and Last-Modified with conditional requests.
uvicorn with starlette imported no faster (about 90 ms against 85 ms here) and brings its own
signal handling, where cheroot leaves Ctrl-C and SIGTERM to the CLI.

Only the library's public files are served: each session's files as the catalog lists them,
and the library's own (playlist, catalog, index, cover, feed). Anything else, hidden files,
key files, the build lock, temporary files, folders, a name that resolves through a symlink
to outside the library, is 404 like a missing file, and no folder is ever listed.
feed.xml and index.html are made per request, with the address the client used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import ipaddress
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from audiogen import safefiles
from audiogen.errors import InputError, ServerError
from audiogen.library import feed, outputs
from audiogen.library.catalog import Catalog

THREADS = 16  # requests answered at once; a phone downloads a few episodes side by side
TOKEN_BYTES = 12  # 16 URL-safe characters: not guessable, short enough to type
TOKEN_FILE = ".audiogen-serve.token"  # hidden, so never served
LIBRARY_FILES = (outputs.PLAYLIST, outputs.CATALOG, feed.COVER)  # served from disk; index and feed are made
_HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
Log = Callable[[str], None]


# folder -> (catalog.json's identity, its Catalog): every request reads the catalog, and a large
# one's entries are parsed again only when a build has replaced the file.
_parsed: dict[Path, tuple[tuple[int, int, int], Catalog]] = {}


def read_catalog(folder: Path) -> Catalog:
    """catalog.json's data; an InputError names the folder when it is not a built library."""
    catalog_path = Path(folder) / outputs.CATALOG
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: no such folder; give the folder `audiogen build` wrote (its --out)")
    try:
        stat = catalog_path.stat()
        identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        known = _parsed.get(catalog_path)
        if known is not None and known[0] == identity:
            return known[1]
        data = json.loads(catalog_path.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{folder}: not an audiogen library (no {outputs.CATALOG}); "
            "build one with `audiogen build MANIFEST.toml`"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{catalog_path}: cannot read the library's catalog ({exc}); rebuild the library"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), list) or "library" not in data:
        raise InputError(
            f"{catalog_path}: not an audiogen catalog; rebuild the library with `audiogen build`"
        )
    try:
        catalog = Catalog.from_dict(data)
    except (ValueError, TypeError, KeyError):
        # An older audiogen's entries lack what the feed and index now show (transcript lines, sizes).
        raise InputError(
            f"{folder}: built by an older audiogen; run its `audiogen build` once more"
        ) from None
    _parsed[catalog_path] = (identity, catalog)
    return catalog


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _interface_addresses() -> list[str]:
    """This machine's IPv4 addresses on its network interfaces (no packet is sent)."""
    found: list[str] = []
    try:
        import fcntl

        names = [name for _, name in socket.if_nameindex()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for name in names:
                try:
                    packed = fcntl.ioctl(
                        probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15])
                    )  # SIOCGIFADDR
                except OSError:
                    continue  # no IPv4 address on this interface
                found.append(socket.inet_ntoa(packed[20:24]))
    except (ImportError, OSError):
        pass  # not Linux: the host name's addresses below
    with contextlib.suppress(OSError):  # no resolvable host name: the interfaces' addresses only
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    return [a for i, a in enumerate(found) if a not in found[:i] and not is_loopback(a)]


def subscribe_urls(host: str, port: int, token: str | None) -> list[str]:
    """The feed addresses a podcast app can subscribe to; for 0.0.0.0 or ::, one per address of
    this machine."""
    prefix = f"/{token}" if token else ""
    if host in ("0.0.0.0", "::", ""):
        hosts = _interface_addresses() or [socket.gethostname()]
    else:
        hosts = [host]
    return [f"http://{f'[{h}]' if ':' in h else h}:{port}{prefix}/{feed.FEED}" for h in hosts]


def terminal_qr(text: str) -> str:
    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def announcement(folder: Path, host: str, port: int, token: str | None) -> str:
    """What `serve` prints on starting: the addresses and, on a network, a QR code of the first."""
    urls = subscribe_urls(host, port, token)
    lines = [f"serving {folder} on http://{f'[{host}]' if ':' in host else host}:{port}/ (Ctrl-C stops)"]
    if is_loopback(host):
        lines.append(f"feed: {urls[0]}")
        lines.append("only this machine can reach it; --host 0.0.0.0 serves it to your network")
        return "\n".join(lines) + "\n"
    lines.append("subscribe in a podcast app (Apple Podcasts, AntennaPod, Pocket Casts, gPodder) to:")
    lines += [f"  {url}" for url in urls]
    lines.append("or scan this with your phone's camera:")
    return "\n".join(lines) + "\n" + terminal_qr(urls[0])


# ------------------------------------------------------------------ the WSGI app


@dataclass(frozen=True)
class _Reply:
    status: str
    headers: list[tuple[str, str]]
    body: bytes = b""


def _plain(status: str, text: str, *headers: tuple[str, str]) -> _Reply:
    return _Reply(status, [("Content-Type", "text/plain; charset=utf-8"), *headers], text.encode("utf-8"))


class LibraryApp:
    """A WSGI app serving one library folder; with a token, everything lives under /TOKEN/."""

    def __init__(
        self, folder: Path, token: str | None = None, log: Log | None = None, problem: Log | None = None
    ):
        self.folder = Path(folder)
        self.root = os.path.realpath(self.folder)
        self.token = token
        self.log = log  # one line per request, or None
        self.problem = problem or (lambda line: print(line, file=sys.stderr, flush=True))
        self.address = "127.0.0.1"  # host[:port] for feed addresses when a request's Host header is unusable
        read_catalog(self.folder)  # refuse a folder that is not a library before serving anything

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        from werkzeug.exceptions import HTTPException
        from werkzeug.wrappers import Request

        request = Request(environ)
        try:
            response = self._respond(request, environ)
        except HTTPException as exc:  # werkzeug's answers, e.g. 416 for a range past the end
            response = exc.get_response(environ)
        except InputError as exc:  # the catalog went missing or broke while serving (builds replace it whole)
            self.problem(f"audiogen: serve: {exc}")
            response = self._reply(
                _plain("503 Service Unavailable", "The library's catalog cannot be read.\n")
            )
        if self.log is not None:
            sent = request.method == "GET" and response.status_code not in (304, 308)
            length = response.headers.get("Content-Length", "-") if sent else "0"
            self.log(
                f'{request.remote_addr} "{request.method} {request.full_path.rstrip("?")}" '
                f"{response.status_code} {length}"
            )
        return response(environ, start_response)

    @staticmethod
    def _reply(reply: _Reply):
        from werkzeug.wrappers import Response

        return Response(reply.body, status=reply.status, headers=reply.headers)

    def _base_url(self, environ: dict) -> str:
        """The library's address as the client sees it, from its Host header when that is well formed."""
        host = environ.get("HTTP_HOST", "")
        if not _HOST_HEADER.match(host):
            host = self.address
        prefix = f"{self.token}/" if self.token else ""
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}/{prefix}"

    def _respond(self, request, environ: dict):
        if request.method not in ("GET", "HEAD"):
            return self._reply(
                _plain("405 Method Not Allowed", "Only GET and HEAD.\n", ("Allow", "GET, HEAD"))
            )
        parts = request.path.split("/")[1:]  # "/a/b" -> ["a", "b"]
        if self.token is not None:
            if not parts or not secrets.compare_digest(parts[0].encode(), self.token.encode()):
                return self._not_found()
            if len(parts) == 1:  # "/TOKEN": the page's relative links need the slash
                return self._reply(_Reply("308 Permanent Redirect", [("Location", f"/{self.token}/")]))
            parts = parts[1:]
        if len(parts) != 1:
            return self._not_found()
        name = parts[0]
        if name in ("", outputs.INDEX):
            return self._generated(request, self._index(environ), "text/html; charset=utf-8")
        if name == feed.FEED:
            return self._generated(request, self._feed(environ), "application/rss+xml; charset=utf-8")
        return self._file(environ, name)

    def _not_found(self):
        return self._reply(_plain("404 Not Found", "Not found.\n"))

    def _generated(self, request, body: bytes, content_type: str):
        response = self._reply(_Reply("200 OK", [("Content-Type", content_type)], body))
        response.set_etag(hashlib.sha256(body).hexdigest()[:32])
        response.headers["Cache-Control"] = "no-cache"  # always revalidated: the library may be rebuilt
        return response.make_conditional(request)

    def _feed(self, environ: dict) -> bytes:
        catalog = read_catalog(self.folder)
        base = self._base_url(environ)
        return feed.feed_xml(catalog, base, base + feed.FEED)

    def _index(self, environ: dict) -> bytes:
        import segno

        catalog = read_catalog(self.folder)
        feed_url = self._base_url(environ) + feed.FEED
        qr = segno.make(feed_url, error="m").svg_inline(scale=4, border=2, omitsize=True)
        return outputs.index_html(catalog.library, catalog.sessions, feed_url, qr).encode("utf-8")

    def _public(self, name: str) -> bool:
        catalog = read_catalog(self.folder)
        listed = {f for entry in catalog.sessions for f in entry.files}
        return name in listed or name in LIBRARY_FILES

    def _file(self, environ: dict, name: str):
        from werkzeug.utils import send_file

        if name.startswith(".") or "\\" in name or "\0" in name or not self._public(name):
            return self._not_found()
        real = os.path.realpath(self.folder / name)
        if os.path.dirname(real) != self.root or not os.path.isfile(real):  # a symlink out, a folder, missing
            return self._not_found()
        try:
            open(real, "rb").close()  # readable by this process (os.access would say yes to root)
        except OSError as exc:
            self.problem(
                f"audiogen: serve: {real}: cannot read the file ({exc.strerror}); check its permissions"
            )
            return self._reply(_plain("403 Forbidden", "This file cannot be read.\n"))
        # A name in feed.xml carries ?v=<hash> so podcast apps fetch changed audio anew; the file is the same.
        return send_file(
            real, environ, mimetype=feed.media_type(name), conditional=True, etag=True, max_age=None
        )


# ------------------------------------------------------------------ the server


def make_server(
    folder: Path, host: str, port: int, token: str | None, log: Log | None = None, problem: Log | None = None
):
    """A cheroot server for the library, bound and listening (port 0: a free one; see `bound_port`)."""
    from cheroot import wsgi

    app = LibraryApp(folder, token, log, problem)
    server = wsgi.Server((host, port), app, numthreads=THREADS, server_name="audiogen")
    try:
        server.prepare()
    except OSError as exc:
        server.stop()
        text = str(exc)
        if os.strerror(errno.EADDRINUSE) in text:
            raise ServerError(
                f"--port {port}: already in use on {host}; stop what uses it or choose another --port"
            ) from None
        if os.strerror(errno.EADDRNOTAVAIL) in text or "Name or service not known" in text:
            raise ServerError(
                f"--host {host}: not an address of this machine; "
                "use 127.0.0.1, 0.0.0.0 or one of its addresses"
            ) from None
        if os.strerror(errno.EACCES) in text:
            raise ServerError(
                f"--port {port}: needs administrator rights (ports below 1024); choose 1024 or above"
            ) from None
        raise ServerError(
            f"cannot listen on {host}:{port} ({text}); choose another --host or --port"
        ) from None
    app.address = urllib.parse.urlsplit(subscribe_urls(host, bound_port(server), None)[0]).netloc
    return server


def bound_port(server) -> int:
    return server.bind_addr[1]


def library_token(folder: Path) -> str:
    """The library's random path, kept in a hidden file in its folder so a phone's subscription
    outlives a restart of the server (delete the file for a new one). A folder that cannot keep
    it gets a token for this run only."""
    path = Path(folder) / TOKEN_FILE
    with contextlib.suppress(OSError):  # none kept yet, or unreadable: a new one
        token = path.read_text("utf-8").strip()
        if re.fullmatch(r"[\w-]{16,}", token):
            return token
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        safefiles.atomic_write_text(path, token + "\n")
    except OSError:
        pass  # a read-only library: this run's token
    return token


def serve_library(
    folder: Path, host: str, port: int, token: bool | None, log: Log | None, announce: Log
) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt) or SIGTERM (Terminated), which are re-raised after
    the server stops. `token` None: a random path on a network address, none on loopback."""
    read_catalog(Path(folder))  # a folder that is not a library gets no token file
    use_token = (not is_loopback(host)) if token is None else token
    secret = library_token(folder) if use_token else None
    server = make_server(folder, host, port, secret, log)
    thread = serve_in_thread(server)
    try:
        announce(announcement(Path(folder), host, bound_port(server), secret).rstrip("\n"))
        # The main thread only waits: Ctrl-C and SIGTERM are raised here, never inside cheroot's
        # loop, where one could leave its state half-changed and stop() waiting for good.
        while thread.is_alive():
            thread.join(0.5)
    finally:
        server.stop()
        thread.join(10)


def serve_in_thread(server) -> threading.Thread:
    """Run a prepared server in a background thread (tests, embedding); stop it with server.stop()."""
    thread = threading.Thread(target=server.serve, name="audiogen-serve", daemon=True)
    thread.start()
    return thread

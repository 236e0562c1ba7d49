"""`audiogen serve` on loopback: byte ranges, conditional requests, the per-request feed, every
refusal, a load of concurrent range requests, gPodder's `gpo` as a real podcast client, and the
command line (Ctrl-C, SIGTERM, a port in use, a folder that is not a library, an unreadable file).

The library is the one conftest.podcast_library builds once per run; tests that change files
work on copies. Every server is stopped at the end of its test, and its threads with it.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.serve import (
    TOKEN_FILE,
    announcement,
    bound_port,
    library_token,
    make_server,
    serve_in_thread,
    subscribe_urls,
)

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
}
TIMEOUT = 30  # seconds any one request may take before the test fails, not a measurement


@contextmanager
def running(folder: Path, token: str | None = None):
    """A server on 127.0.0.1 and a free port, in a thread; yields (port, request log, problem lines)."""
    log: list[str] = []
    problems: list[str] = []
    before = set(threading.enumerate())
    server = make_server(folder, "127.0.0.1", 0, token, log.append, problems.append)
    serve_in_thread(server)
    try:
        yield bound_port(server), log, problems
    finally:
        server.stop()
        started = [t for t in threading.enumerate() if t not in before]
        for thread in started:  # the serving thread, cheroot's workers and its helper
            thread.join(TIMEOUT)
        assert not [t.name for t in started if t.is_alive()]


def fetch(port: int, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def out(podcast_library) -> Path:
    return podcast_library / "out"


@pytest.fixture(scope="module")
def catalog(out) -> dict:
    return json.loads((out / "catalog.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def server(out):
    with running(out) as (port, log, problems):
        yield port, log, problems


@pytest.fixture()
def copy(out, tmp_path) -> Path:
    folder = tmp_path / "out"
    shutil.copytree(out, folder, symlinks=True)
    return folder


def test_whole_files_ranges_and_head(server, out, catalog):
    port = server[0]
    name = catalog["sessions"][0]["file"]
    audio = (out / name).read_bytes()
    status, headers, body = fetch(port, f"/{name}")
    assert status == 200 and body == audio
    assert headers["content-type"] == "audio/mpeg" and headers["accept-ranges"] == "bytes"
    assert int(headers["content-length"]) == len(audio)

    status, headers, body = fetch(port, f"/{name}", headers={"Range": "bytes=1000-1999"})
    assert status == 206 and body == audio[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(audio)}"
    status, headers, body = fetch(port, f"/{name}", headers={"Range": "bytes=-500"})
    assert status == 206 and body == audio[-500:]
    status, headers, body = fetch(port, f"/{name}", headers={"Range": f"bytes={len(audio) - 10}-"})
    assert status == 206 and body == audio[-10:]
    status, headers, _ = fetch(port, f"/{name}", headers={"Range": f"bytes={len(audio) + 5}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(audio)}"

    status, headers, body = fetch(port, f"/{name}", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(audio)
    # The feed's versioned address (?v=hash) is the same file.
    status, _, body = fetch(
        port, f"/{name}?v={catalog['sessions'][0]['audio_sha256'][:16]}", headers={"Range": "bytes=0-99"}
    )
    assert status == 206 and body == audio[:100]


def test_etag_and_last_modified_make_requests_conditional(server, catalog):
    port = server[0]
    name = catalog["sessions"][1]["file"]
    _, headers, _ = fetch(port, f"/{name}")
    etag, modified = headers["etag"], headers["last-modified"]
    assert fetch(port, f"/{name}", headers={"If-None-Match": etag})[0] == 304
    assert fetch(port, f"/{name}", headers={"If-Modified-Since": modified})[0] == 304
    assert fetch(port, f"/{name}", headers={"If-None-Match": '"another"'})[0] == 200
    # If-Range: a resumed download continues only while the file is the one it started.
    assert fetch(port, f"/{name}", headers={"Range": "bytes=10-19", "If-Range": etag})[0] == 206
    status, _, body = fetch(port, f"/{name}", headers={"Range": "bytes=10-19", "If-Range": '"old"'})
    assert status == 200 and len(body) > 10
    _, feed_headers, _ = fetch(port, "/feed.xml")
    assert fetch(port, "/feed.xml", headers={"If-None-Match": feed_headers["etag"]})[0] == 304


def test_every_public_file_has_its_media_type(server, out, catalog):
    port = server[0]
    expected = {
        ".mp3": "audio/mpeg",
        ".jpg": "image/jpeg",
        ".vtt": "text/vtt",
        ".txt": "text/plain",
        ".lrc": "text/plain",
        ".chapters.json": "application/json+chapters",
    }
    session = catalog["sessions"][0]
    assert len(session["files"]) == len(expected)
    for file_name in session["files"]:
        suffix = next(s for s in expected if file_name.endswith(s))
        status, headers, body = fetch(port, f"/{file_name}")
        assert status == 200 and body == (out / file_name).read_bytes(), file_name
        assert headers["content-type"].split(";")[0] == expected[suffix], file_name
    for path, kind in (
        ("/playlist.m3u8", "audio/mpegurl"),
        ("/catalog.json", "application/json"),
        ("/cover.jpg", "image/jpeg"),
        ("/index.html", "text/html"),
        ("/", "text/html"),
        ("/feed.xml", "application/rss+xml"),
    ):
        status, headers, _ = fetch(port, path)
        assert status == 200 and headers["content-type"].split(";")[0] == kind, path


def test_feed_is_made_per_request_with_the_address_the_client_used(server, catalog):
    port = server[0]
    status, _, body = fetch(port, "/feed.xml", headers={"Host": "192.168.1.50:8000"})  # sent to loopback
    assert status == 200
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    urls = [e.enclosures[0].href for e in parsed.entries]
    assert urls == [
        f"http://192.168.1.50:8000/{s['file']}?v={s['audio_sha256'][:16]}" for s in catalog["sessions"]
    ]
    channel = ET.fromstring(body).find("channel")
    assert channel.find("itunes:image", NS).get("href") == "http://192.168.1.50:8000/cover.jpg"
    for item in channel.findall("item"):
        for element in (item.find("podcast:chapters", NS), *item.findall("podcast:transcript", NS)):
            assert element.get("url").startswith("http://192.168.1.50:8000/")
            assert fetch(port, urllib.parse.urlsplit(element.get("url")).path)[0] == 200
    # A Host header that is not an address is not copied into the feed.
    _, _, body = fetch(port, "/feed.xml", headers={"Host": 'evil"><x y="'})
    assert f"http://127.0.0.1:{port}/feed.xml" in body.decode("utf-8")


def test_only_get_and_head(server):
    port = server[0]
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        status, headers, _ = fetch(port, "/feed.xml", method)
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"


def test_nothing_but_the_public_files(copy, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the network", "utf-8")
    (copy / ".healing-over-bitterness-1min.mp3.part").write_bytes(b"half")
    library_token(copy)  # the token file
    (copy / ".catalog.json.1234.tmp").write_text("{}", "utf-8")
    (copy / "notes.txt").write_text("a file nobody published", "utf-8")
    (copy / "sub").mkdir()
    (copy / "sub" / "a.mp3").write_bytes(b"x")
    catalog = json.loads((copy / "catalog.json").read_text("utf-8"))
    # A listed file that is a symlink out of the folder is refused too.
    linked = copy / catalog["sessions"][0]["files"][-1]
    linked.unlink()
    linked.symlink_to(outside)
    with running(copy) as (port, _, _):
        refused = [
            "/.audiogen-build.lock",
            "/.healing-over-bitterness-1min.key",
            "/.healing-over-bitterness-1min.mp3.part",
            "/.catalog.json.1234.tmp",
            "/notes.txt",
            "/sub",
            "/sub/",
            "/sub/a.mp3",
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/%2e%2e%2fsecret.txt",
            "//etc/passwd",
            "/..\\secret.txt",
            f"/{linked.name}",
            "/library.toml",
            "/nothing.mp3",
            "/feed.xml/x",
            f"/{TOKEN_FILE}",
        ]
        for path in refused:
            status, _, body = fetch(port, path)
            assert status == (400 if path.startswith("//") else 404), path  # cheroot refuses "//" itself
            assert b"not for the network" not in body and b"a.mp3" not in body
        assert fetch(port, "/playlist.m3u8")[0] == 200


def test_an_unreadable_file_is_one_line_and_a_403(copy):
    catalog = json.loads((copy / "catalog.json").read_text("utf-8"))
    name = catalog["sessions"][0]["file"]
    (copy / name).chmod(0)
    # Root reads any file; without its capabilities (setpriv), root is held to the file's mode as anyone.
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [*drop, sys.executable, "-m", "audiogen", "serve", str(copy), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", process.stdout.readline())[1])
        assert fetch(port, f"/{name}")[0] == 403
        assert fetch(port, f"/{catalog['sessions'][1]['file']}")[0] == 200  # the rest is served
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT)
    lines = [line for line in stderr.splitlines() if name in line]
    assert len(lines) == 1 and "cannot read the file" in lines[0] and "Permission denied" in lines[0]
    assert "Traceback" not in stderr


def test_token_puts_the_whole_library_behind_a_random_path(out, catalog):
    token = "Zq3-x_9aPq7LmN2b"
    with running(out, token) as (port, _, _):
        for path in (
            "/feed.xml",
            "/",
            "/index.html",
            f"/{catalog['sessions'][0]['file']}",
            "/wrong/feed.xml",
            f"/{token[:-1]}/feed.xml",
        ):
            assert fetch(port, path)[0] == 404, path
        status, headers, _ = fetch(port, f"/{token}")
        assert status == 308 and headers["location"] == f"/{token}/"
        status, _, body = fetch(port, f"/{token}/feed.xml")
        assert status == 200
        urls = [e.enclosures[0].href for e in feedparser.parse(body).entries]
        assert urls and all(u.startswith(f"http://127.0.0.1:{port}/{token}/") for u in urls)
        assert (
            fetch(port, urllib.parse.urlsplit(urls[0]).path + "?" + urllib.parse.urlsplit(urls[0]).query)[0]
            == 200
        )
        status, _, page = fetch(port, f"/{token}/")
        page = page.decode("utf-8")
        assert f'href="http://127.0.0.1:{port}/{token}/feed.xml"' in page
        assert "<svg" in page and 'aria-label="QR code of the feed address"' in page


def test_the_token_outlives_a_restart_of_the_server(copy):
    token = library_token(copy)
    assert re.fullmatch(r"[\w-]{16}", token)
    assert library_token(copy) == token  # the phone's subscription still works after a restart
    assert (copy / TOKEN_FILE).read_text("utf-8").strip() == token
    (copy / TOKEN_FILE).unlink()
    assert library_token(copy) != token  # deleting the file gives a new one


def test_served_index_links_the_feed_and_shows_its_qr_code(server):
    port = server[0]
    status, _, page = fetch(port, "/")
    page = page.decode("utf-8")
    assert status == 200
    assert f'class="feed" href="http://127.0.0.1:{port}/feed.xml"' in page
    assert re.search(r"<svg[^>]*>.*</svg>", page, re.S)
    assert page.count('<article class="session"') == 2


def test_fifty_concurrent_range_requests_are_all_answered_exactly(server, out, catalog):
    port = server[0]
    name = catalog["sessions"][0]["file"]
    audio = (out / name).read_bytes()
    step = len(audio) // 50
    ranges = [(i * step, i * step + step - 1 + i) for i in range(50)]  # of different lengths
    barrier = threading.Barrier(50, timeout=TIMEOUT)

    def one(bounds: tuple[int, int]) -> tuple[int, bytes]:
        barrier.wait()  # all 50 go at once
        status, _, body = fetch(port, f"/{name}", headers={"Range": f"bytes={bounds[0]}-{bounds[1]}"})
        return status, body

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, ranges, timeout=4 * TIMEOUT))
    assert len(answers) == 50
    for (start, end), (status, body) in zip(ranges, answers):
        assert status == 206 and body == audio[start : end + 1]


def test_gpodder_subscribes_downloads_every_episode_and_resumes_by_range(out, catalog, tmp_path):
    gpo = shutil.which("gpo")
    assert gpo, "install Debian's gpodder package (.ci/setup --test does)"
    env = dict(
        os.environ, GPODDER_HOME=str(tmp_path / "gpodder"), GPODDER_DOWNLOAD_DIR=str(tmp_path / "downloads")
    )

    def run(*args: str) -> str:
        done = subprocess.run(
            [gpo, *args], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    sessions = catalog["sessions"]
    with running(out) as (port, log, _):
        assert "Successfully added" in run("subscribe", f"http://127.0.0.1:{port}/feed.xml")
        run("update")
        # Half of the first episode is already on the phone, as after a lost connection: gPodder keeps
        # it as <file>.partial in the podcast's folder and asks for the rest with a Range header.
        with sqlite3.connect(tmp_path / "gpodder" / "Database") as db:
            (folder,) = db.execute("SELECT download_folder FROM podcast").fetchone()
        podcast_dir = tmp_path / "downloads" / folder
        podcast_dir.mkdir(parents=True)
        first = (out / sessions[0]["file"]).read_bytes()
        half = len(first) // 2
        (podcast_dir / f"{sessions[0]['file']}.partial").write_bytes(first[:half])
        output = run("download")
    assert f"{len(sessions)} episodes downloaded" in output
    downloaded = sorted(p.name for p in podcast_dir.iterdir())
    assert downloaded == sorted(s["file"] for s in sessions)  # no .partial left
    for session in sessions:
        assert (podcast_dir / session["file"]).read_bytes() == (out / session["file"]).read_bytes()
    audio_requests = [line for line in log if ".mp3" in line]
    assert any(
        sessions[0]["file"] in line and f" 206 {len(first) - half}" in line for line in audio_requests
    ), log
    assert any(sessions[1]["file"] in line and " 200 " in line for line in audio_requests), log


def test_announcement_on_a_network_address_prints_urls_and_a_qr_code(out):
    text = announcement(out, "0.0.0.0", 8000, "tok3n")
    urls = re.findall(r"^  (http://\S+)$", text, re.M)
    assert urls and all(u.endswith(":8000/tok3n/feed.xml") for u in urls)
    assert not any("127.0.0.1" in u for u in urls)
    assert urls == subscribe_urls("0.0.0.0", 8000, "tok3n")
    qr_rows = [line for line in text.splitlines() if set(line.strip()) <= set("█▀▄ ") and line.strip()]
    assert len(qr_rows) >= 12  # a QR code of half-block characters
    lan = announcement(out, "192.168.7.20", 9000, None)
    assert "  http://192.168.7.20:9000/feed.xml" in lan and "█" in lan
    local = announcement(out, "127.0.0.1", 8000, None)
    assert "feed: http://127.0.0.1:8000/feed.xml" in local and "█" not in local


def serve_process(folder: Path, *options: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "audiogen", "serve", str(folder), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [process.stdout.readline() for _ in range(2)]
    return process, "".join(lines)


@pytest.mark.parametrize(
    "stop, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_command_line_serves_logs_each_request_and_stops_cleanly(copy, stop, code, word):
    process, printed = serve_process(copy, "--token", "-v")
    try:
        url = re.search(r"feed: (http://127\.0\.0\.1:\d+/([\w-]+)/feed\.xml)", printed)
        assert url, printed
        parts = urllib.parse.urlsplit(url[1])
        assert fetch(parts.port, parts.path)[0] == 200
        assert fetch(parts.port, "/feed.xml")[0] == 404
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == code
    assert stderr.strip().splitlines()[-1] == f"audiogen: {word}"
    requests = [line for line in stderr.splitlines() if line.startswith("127.0.0.1 ")]
    assert requests == [
        f'127.0.0.1 "GET {parts.path}" 200 {requests[0].split()[-1]}',
        '127.0.0.1 "GET /feed.xml" 404 11',
    ]
    assert "Traceback" not in stderr
    assert url[2] == (copy / ".audiogen-serve.token").read_text("utf-8").strip()


def test_refusals_at_start_are_one_line_with_their_exit_code(out, tmp_path):
    def serve(*args: str):
        result = CliRunner().invoke(main, ["serve", *args])
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("audiogen: error: "), result.output
        return result.exit_code, lines[0]

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        code, line = serve(str(out), "--port", str(port))
    finally:
        taken.close()
    assert code == 11 and f"--port {port}" in line and "in use" in line
    code, line = serve(
        str(out), "--host", "203.0.113.77"
    )  # a documentation address (TEST-NET-3): bound to no interface
    assert code == 11 and "--host 203.0.113.77" in line
    (tmp_path / "plain").mkdir()
    code, line = serve(str(tmp_path / "plain"))
    assert code == 3 and "not an audiogen library" in line and "audiogen build" in line
    code, line = serve(str(tmp_path / "missing"))
    assert code == 3 and "no such folder" in line
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "catalog.json").write_text("{not json", "utf-8")
    code, line = serve(str(tmp_path / "broken"))
    assert code == 3 and "catalog" in line
    (tmp_path / "older").mkdir()
    catalog = json.loads((out / "catalog.json").read_text("utf-8"))
    catalog["sessions"][0].pop("audio_sha256")
    (tmp_path / "older" / "catalog.json").write_text(json.dumps(catalog), "utf-8")
    code, line = serve(str(tmp_path / "older"))
    assert code == 3 and "audiogen build" in line and "once more" in line


def test_a_catalog_gone_while_serving_is_a_503_and_one_line(copy):
    with running(copy) as (port, _, problems):
        assert fetch(port, "/feed.xml")[0] == 200
        (copy / "catalog.json").unlink()
        for path in ("/feed.xml", "/", "/playlist.m3u8"):
            assert fetch(port, path)[0] == 503, path
    assert len(problems) == 3 and all("not an audiogen library" in line for line in problems)

"""Faults from outside: a killed speech worker, a batch killed again and again, two builds at once."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ARTICLES, probe

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "audiogen" / "samples" / "sample_article.md"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_speech_worker_killed_mid_session_is_replaced(tmp_path: Path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "audiogen", "-q", "render", "--minutes", "5", "--no-cache", "--out", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and process.poll() is None and time.monotonic() < deadline:
        workers = [c for c in _children(process.pid) if "multiprocessing" in _cmdline(c)]
        if workers:
            time.sleep(0.3)  # let it get into the sentences
            with contextlib.suppress(ProcessLookupError):  # it may have finished meanwhile
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=600)
    assert killed is not None, "the speech worker was never seen"
    assert process.returncode == 0, stderr
    produced = Path(stdout.strip().splitlines()[-1])
    assert abs(float(probe(produced)["format"]["duration"]) - 300) < 3


def _library(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "articles").mkdir()
    for article in [*ARTICLES, SAMPLE]:
        shutil.copy(article, tmp_path / "articles" / article.name)
    manifest = tmp_path / "library.toml"
    manifest.write_text(
        '[library]\nname = "Faults"\n[[sessions]]\narticles = "articles/*"\nminutes = [1, 1.5]\n'
    )
    return manifest, tmp_path / "library"


def _build(manifest: Path, cache: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogen",
            "build",
            str(manifest),
            "--workers",
            "2",
            "--cache-dir",
            str(cache),
            "-q",
        ],
        cwd=manifest.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def _assert_visible_files_whole(out: Path) -> int:
    # pathlib's "*" also matches hidden names: a killed build's temporary .part files are not visible.
    audio = [p for p in out.glob("*.mp3") if not p.name.startswith(".")]
    for path in audio:
        seconds = float(probe(path)["format"]["duration"])
        assert abs(seconds - 60) < 1.5 or abs(seconds - 90) < 1.5, (path, seconds)
    return len(audio)


def test_batch_killed_five_times_then_completes(tmp_path: Path, speech_cache: Path):
    manifest, out = _library(tmp_path)
    chance = random.Random(9)  # random points, the same ones every run
    for _ in range(5):
        process = _build(manifest, speech_cache)
        time.sleep(chance.uniform(0.5, 6.0))
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        _assert_visible_files_whole(out)
    final = _build(manifest, speech_cache)
    _, stderr = final.communicate(timeout=900)
    assert final.returncode == 0, stderr
    assert _assert_visible_files_whole(out) == 6
    catalog = json.loads((out / "catalog.json").read_text())
    assert len(catalog["sessions"]) == 6
    leftovers = [p.name for p in out.iterdir() if ".part" in p.name or p.name.endswith(".tmp")]
    assert leftovers == []


def test_two_builds_of_one_library_at_once_do_not_corrupt_it(tmp_path: Path, speech_cache: Path):
    manifest, out = _library(tmp_path)
    first = _build(manifest, speech_cache)
    time.sleep(1.0)
    second = _build(manifest, speech_cache)
    _, second_err = second.communicate(timeout=900)
    _, first_err = first.communicate(timeout=900)
    assert first.returncode == 0, first_err
    # The second refuses clearly (exit 9, one line) while the first holds the library's lock.
    assert second.returncode == 9, second_err
    assert "another build is writing to this library" in second_err and "Traceback" not in second_err
    assert _assert_visible_files_whole(out) == 6


def _long_and_short(folder: Path, long_article: Path, minutes: float, short_article: Path) -> Path:
    """A manifest of two sessions: `long_article` at `minutes` (built first: longest first) and
    `short_article` at 1 minute."""
    (folder / "articles").mkdir()
    for article in (long_article, short_article):
        shutil.copy(article, folder / "articles" / article.name)
    manifest = folder / "library.toml"
    manifest.write_text(
        '[library]\nname = "Stopped"\n'
        f'[[sessions]]\narticles = ["articles/{long_article.name}"]\nminutes = {minutes}\n'
        f'[[sessions]]\narticles = ["articles/{short_article.name}"]\nminutes = 1\n'
    )
    return manifest


def test_ctrl_c_stops_the_build_and_no_queued_session_starts(tmp_path: Path, speech_cache: Path):
    """Ctrl-C reaches the whole process group, as from a terminal. The running session stops;
    the one already waiting in the worker's queue must not start (it used to be built in full)."""
    first, queued = ARTICLES[0], SAMPLE
    manifest = _long_and_short(tmp_path, first, 2, queued)  # the 2-minute session runs, the other waits
    out = tmp_path / "library"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogen",
            "build",
            str(manifest),
            "--workers",
            "1",
            "--cache-dir",
            str(speech_cache),
        ],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list(out.glob(".*.part.*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the first session is encoding
    assert process.poll() is None, "the build ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "audiogen: interrupted" and "Traceback" not in stderr
    assert not list(out.glob(f"{queued.stem.replace('_', '-')}*")), "the queued session was started"
    assert [p.name for p in out.iterdir() if ".part" in p.name] == []


def _alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (a zombie has ended; init reaps it)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
    return alive


def _group(pgid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


@pytest.mark.parametrize(
    "how, code, message",
    [
        ("SIGINT to the group", 130, "audiogen: interrupted"),  # Ctrl-C in a terminal
        ("SIGTERM to the group", 143, "audiogen: terminated"),  # a service manager stopping it
        ("SIGTERM to the build", 143, "audiogen: terminated"),  # `timeout`, `kill PID`
    ],
)
def test_a_stopped_build_ends_cleanly_with_an_idle_worker(
    how, code, message, tmp_path: Path, speech_cache: Path
):
    """One worker renders a long session while the other, its short one done, waits idle. Every
    way of stopping the build ends it at once: one line, its exit code, no traceback (an idle
    worker used to print one), no temporary files, and no process of the build left running."""
    long_one, short_one = ARTICLES[0], SAMPLE
    manifest = _long_and_short(tmp_path, long_one, 4, short_one)
    out = tmp_path / "library"
    process = _build(manifest, speech_cache)
    deadline = time.monotonic() + 300
    while (
        not list(out.glob("sample-article-*.mp3")) and process.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    time.sleep(0.5)  # the short session's worker is back waiting on the queue
    assert process.poll() is None and not list(out.glob(f"{long_one.stem}*.mp3")), "nothing left to stop"
    members = _group(process.pid)
    if how == "SIGTERM to the build":
        os.kill(process.pid, signal.SIGTERM)
    else:
        os.killpg(process.pid, signal.SIGINT if how.startswith("SIGINT") else signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == message and "Traceback" not in stderr, stderr
    assert not list(out.glob(f"{long_one.stem}*.mp3"))
    assert [p.name for p in out.iterdir() if ".part" in p.name] == []
    for _ in range(100):  # the fork server and workers end as the build does
        if not _alive(members + _group(process.pid)):
            break
        time.sleep(0.1)
    assert _alive(members + _group(process.pid)) == []


def test_sigterm_stops_a_render_cleanly(tmp_path: Path, speech_cache: Path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogen",
            "render",
            "--minutes",
            "3",
            "--cache-dir",
            str(speech_cache),
            "--out",
            str(out),
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list(out.glob(".*.part.*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until it is encoding
    assert process.poll() is None, "the render ended before it could be stopped"
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "audiogen: terminated"
    assert list(out.iterdir()) == []

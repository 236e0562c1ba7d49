"""Library builds with the real engine and ffmpeg: parallel, incremental, resumable, isolated.

One library (3 articles x 2 lengths, 1 and 1.5 minutes) is built once for the module; tests
that change it work on copies of its folder.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from audiogen.cli import main
from audiogen.library import load_manifest
from audiogen.library.runner import FAILED, SessionTask, build_session, run_task
from audiogen.library.state import input_key
from conftest import ARTICLES, ROOT, probe

SAMPLE = ROOT / "audiogen" / "samples" / "sample_article.md"

MANIFEST = """
[library]
name = "Test Library"
out = "out"

[defaults]
minutes = 1

[[sessions]]
articles = "articles/*.txt"
minutes = [1, 1.5]

[[sessions]]
articles = "articles/*.md"
minutes = [1, 1.5]
seed = {seed}
"""

NAMES = sorted(
    f"{stem}-{length}"
    for stem in ["healing-over-bitterness", "self-compassion-heartbreak", "sample-article"]
    for length in ["1min", "1-5min"]
)


@dataclass(frozen=True)
class Library:
    folder: Path
    manifest: Path
    out: Path
    cache: Path
    stderr: str
    exit_code: int
    catalog: str
    audio: tuple[str, ...]  # audio file names right after the first build


def build(manifest: Path, cache: Path, *extra: str) -> object:
    return CliRunner().invoke(
        main, ["build", str(manifest), "--workers", "2", "--cache-dir", str(cache), *extra]
    )


def audio_files(out: Path) -> dict[str, Path]:
    """The library's visible audio files (pathlib's glob also matches hidden temporaries)."""
    return {p.name: p for p in sorted(out.glob("*.mp3")) if not p.name.startswith(".")}


def without_build_times(catalog: dict) -> dict:
    """A catalog less each session's build time (the feed's pubDate), which differs between two builds."""
    return {
        **catalog,
        "sessions": [{k: v for k, v in s.items() if k != "built"} for s in catalog["sessions"]],
    }


def mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp3")}


@pytest.fixture(scope="module")
def library(tmp_path_factory, speech_cache) -> Library:
    assert len(ARTICLES) == 2, "the tests expect the two shared articles"
    folder = tmp_path_factory.mktemp("library")
    (folder / "articles").mkdir()
    for article in [*ARTICLES, SAMPLE]:
        shutil.copy(article, folder / "articles" / article.name)
    manifest = folder / "library.toml"
    manifest.write_text(MANIFEST.format(seed=1), encoding="utf-8")
    result = build(manifest, speech_cache)
    out = folder / "out"
    catalog = (out / "catalog.json").read_text("utf-8") if (out / "catalog.json").exists() else ""
    return Library(
        folder, manifest, out, speech_cache, result.stderr, result.exit_code, catalog, tuple(audio_files(out))
    )


def test_three_articles_in_two_lengths_build(library):
    assert library.exit_code == 0, library.stderr
    assert "6 sessions, 7.5 min of audio: 0 up to date, 6 to build" in library.stderr
    assert "ETA" in library.stderr
    assert re.search(r"built 6 \(7.5 min of audio\), skipped 0 \(up to date\), failed 0", library.stderr)
    files = audio_files(library.out)
    assert sorted(files) == [f"{n}.mp3" for n in NAMES]
    for name, path in files.items():
        expected = 90.0 if "1-5min" in name else 60.0
        seconds = float(probe(path)["format"]["duration"])
        assert abs(seconds - expected) <= 0.02 * expected, (name, seconds)
        assert (library.out / f".{path.stem}.key").is_file()
    # No temporary file is left behind.
    assert [p.name for p in library.out.glob(".*") if ".part" in p.name or p.name.endswith(".tmp")] == []

    catalog = json.loads(library.catalog)
    assert catalog["library"] == "Test Library"
    sessions = catalog["sessions"]
    assert sorted(s["name"] for s in sessions) == NAMES
    for entry in sessions:
        assert entry["file"] == f"{entry['name']}.mp3" and entry["file"] in entry["files"]
        assert entry["article"].startswith("articles/")
        assert entry["settings"]["minutes"] in (1.0, 1.5)
        assert abs(entry["duration"] - entry["settings"]["minutes"] * 60) < 1.2
        assert -17.0 <= entry["loudness_lufs"] <= -15.0
        assert entry["true_peak_dbtp"] <= -0.9
        assert entry["themes"] and entry["template"] and entry["chapters"]
        assert entry["settings"]["album"] == "Test Library"

    playlist = (library.out / "playlist.m3u8").read_text("utf-8").splitlines()
    assert playlist[0] == "#EXTM3U"
    pairs = [(playlist[i], playlist[i + 1]) for i, line in enumerate(playlist) if line.startswith("#EXTINF:")]
    assert len(pairs) == 6
    for info, target in pairs:
        seconds, title = re.fullmatch(r"#EXTINF:(\d+),(.+)", info).groups()
        assert int(seconds) in (60, 90) and title
        assert not target.startswith("/") and (library.out / target).is_file()


def test_rebuild_skips_every_session(library):
    before = mtimes(library.out)
    result = build(library.manifest, library.cache)
    assert result.exit_code == 0, result.stderr
    assert "built 0 (0 min of audio), skipped 6 (up to date), failed 0" in result.stderr
    assert mtimes(library.out) == before


def test_changing_one_setting_rebuilds_only_the_affected_sessions(library, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(library.out, out)
    before = mtimes(out)
    changed = library.folder / "changed-seed.toml"
    changed.write_text(MANIFEST.format(seed=2), encoding="utf-8")
    result = build(changed, library.cache, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "built 2 (2.5 min of audio), skipped 4 (up to date), failed 0" in result.stderr
    after = mtimes(out)
    rebuilt = sorted(name for name in after if after[name] != before[name])
    assert rebuilt == ["sample-article-1-5min.mp3", "sample-article-1min.mp3"]
    seeds = {
        e["name"]: e["settings"]["sound"]["seed"]
        for e in json.loads((out / "catalog.json").read_text())["sessions"]
    }
    assert seeds["sample-article-1min"] == 2 and seeds["healing-over-bitterness-1min"] == 1


def test_input_key_follows_article_text_and_settings_not_the_output_folder(library, tmp_path):
    session = load_manifest(library.manifest).sessions[0]
    key = input_key(session)
    assert input_key(replace(session, spec=replace(session.spec, out_dir=tmp_path))) == key
    assert input_key(replace(session, spec=replace(session.spec, minutes=2.0))) != key
    edited = tmp_path / session.article.name
    edited.write_text(
        session.article.read_text("utf-8") + "\n\nOne more gentle paragraph.\n", encoding="utf-8"
    )
    assert input_key(replace(session, article=edited, spec=replace(session.spec, article=edited))) != key
    # A background file is keyed by its contents, as the article is: edited in place, the key moves.
    loop = tmp_path / "loop.wav"
    loop.write_bytes(b"RIFF one")
    with_file = replace(
        session, spec=replace(session.spec, sound=replace(session.spec.sound, background=f"{loop}+theta"))
    )
    before = input_key(with_file)
    loop.write_bytes(b"RIFF two")
    assert input_key(with_file) != before


def _changed(value):
    """Some other value of the same kind (another engine that exists: the key asks for its version)."""
    if value == "hibari":
        return "pyttsx3"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return f"{value}-other" if value is not None else "other"


# Settings whose files are read for the key (their contents, not their names), or that only say
# where things are kept.
_KEYED_BY_CONTENT_OR_PLACE = {"templates", "filter_words", "cache_dir"}


def test_every_setting_that_shapes_a_session_changes_its_key(library):
    """A manifest edit to any setting re-renders the session: none is left out of the key."""
    from audiogen.settings import SETTINGS

    session = load_manifest(library.manifest).sessions[0]
    key = input_key(session)
    for setting in SETTINGS:
        if setting.name in _KEYED_BY_CONTENT_OR_PLACE:
            continue
        spec, path = session.spec, setting.field.split(".")
        if len(path) == 1:
            spec = replace(spec, **{path[0]: _changed(getattr(spec, path[0]))})
        else:
            group = getattr(spec, path[0])
            spec = replace(spec, **{path[0]: replace(group, **{path[1]: _changed(getattr(group, path[1]))})})
        assert input_key(replace(session, spec=spec)) != key, setting.name


def test_a_format_change_replaces_the_sessions_files_and_lists_only_the_new_ones(tmp_path, speech_cache):
    """Rebuilt in another format, a session's old audio goes, and its entry lists what the new
    render wrote (not whatever the folder holds under its name)."""
    (tmp_path / "articles").mkdir()
    shutil.copy(SAMPLE, tmp_path / "articles" / SAMPLE.name)
    manifest = tmp_path / "library.toml"
    text = '[library]\nname = "Formats"\n{format}[[sessions]]\narticles = "articles/*.md"\nminutes = 1\n'
    manifest.write_text(text.format(format=""), encoding="utf-8")
    assert build(manifest, speech_cache).exit_code == 0
    out = tmp_path / "library"
    assert (out / "sample-article-1min.mp3").is_file()
    manifest.write_text(text.format(format='format = "ogg"\n'), encoding="utf-8")
    result = build(manifest, speech_cache)
    assert result.exit_code == 0, result.stderr
    assert not (out / "sample-article-1min.mp3").exists() and (out / "sample-article-1min.ogg").is_file()
    (entry,) = json.loads((out / "catalog.json").read_text())["sessions"]
    assert entry["file"] == "sample-article-1min.ogg"
    assert all(not name.endswith(".mp3") for name in entry["files"])
    assert all((out / name).is_file() for name in entry["files"])


def test_sessions_left_out_of_the_manifest_are_kept_unless_pruned(library, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(library.out, out)
    only_txt = library.folder / "only-txt.toml"
    only_txt.write_text(MANIFEST.split('[[sessions]]\narticles = "articles/*.md"')[0], encoding="utf-8")

    kept = build(only_txt, library.cache, "--out", str(out))
    assert kept.exit_code == 0, kept.stderr
    assert "kept 2 sessions no longer in the manifest" in kept.stderr and "--prune" in kept.stderr
    assert (out / "sample-article-1min.mp3").is_file()
    assert len(json.loads((out / "catalog.json").read_text())["sessions"]) == 4

    pruned = build(only_txt, library.cache, "--out", str(out), "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert "skipped 4" in pruned.stderr and "pruned " in pruned.stderr
    assert sorted(audio_files(out)) == [f"{n}.mp3" for n in NAMES if not n.startswith("sample")]
    # The audio and everything beside it (cover, transcripts, key) go together.
    assert not list(out.glob("sample-article-*")) and not list(out.glob(".sample-article-*"))
    assert "sample-article" not in (out / "index.html").read_text("utf-8")


def test_index_plays_every_session_in_headless_chromium(library, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "install Debian's chromium package (.ci/setup does)"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--mute-audio",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        (library.out / "index.html").as_uri(),
    ]
    dom = subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    ).stdout
    listed = re.findall(r'<article class="session"[^>]*>', dom)
    assert len(listed) == 6, dom[:2000]
    catalog = {e["name"]: e for e in json.loads(library.catalog)["sessions"]}
    for tag in listed:
        name = re.search(r'data-name="([^"]+)"', tag)[1]
        loaded = re.search(r'data-loaded-duration="([\d.]+)"', tag)
        assert loaded, f"the player did not load {name}.mp3: {tag}"
        assert abs(float(loaded[1]) - catalog[name]["duration"]) < 0.5, (name, loaded[1])
        assert "data-load-error" not in tag
        assert f'src="{name}.mp3"' in dom and html.escape(catalog[name]["title"], quote=False) in dom


def test_dask_cluster_builds_the_same_library_as_the_local_pool(library, tmp_path, monkeypatch):
    monkeypatch.setenv("DASK_TEMPORARY_DIRECTORY", str(tmp_path / "dask-scratch"))
    import dask
    from distributed import LocalCluster

    out = tmp_path / "out"
    with (
        dask.config.set({"temporary-directory": str(tmp_path / "dask-scratch")}),
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
    ):
        result = build(
            library.manifest, library.cache, "--out", str(out), "--scheduler", cluster.scheduler_address
        )
    assert result.exit_code == 0, result.stderr
    assert "built 6 (7.5 min of audio)" in result.stderr, result.stderr
    assert without_build_times(json.loads((out / "catalog.json").read_text("utf-8"))) == without_build_times(
        json.loads(library.catalog)
    )
    # Same files, each with the duration and loudness the catalog records (compared above).
    assert tuple(audio_files(out)) == library.audio
    for name, path in audio_files(out).items():
        assert (
            abs(
                float(probe(path)["format"]["duration"])
                - float(probe(library.out / name)["format"]["duration"])
            )
            < 0.05
        )
    assert not (Path.cwd() / "dask-scratch-space").exists()


def test_one_broken_article_fails_alone(tmp_path, speech_cache):
    (tmp_path / "articles").mkdir()
    shutil.copy(SAMPLE, tmp_path / "articles" / SAMPLE.name)
    (tmp_path / "articles" / "broken.md").write_bytes(b"\x00\x01\x02binary, not an article\xff" * 50)
    manifest = tmp_path / "library.toml"
    manifest.write_text('[library]\nname = "Mixed"\n[[sessions]]\narticles = "articles/*.md"\nminutes = 1\n')
    result = build(manifest, speech_cache)
    assert result.exit_code == 10, result.stderr
    assert "built 1 (1 min of audio), skipped 0 (up to date), failed 1" in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed broken-1min: ")]
    assert failed and "binary" in failed[-1]
    assert "1 of 2 sessions failed" in result.stderr
    out = tmp_path / "library"
    assert sorted(audio_files(out)) == ["sample-article-1min.mp3"]
    assert [e["name"] for e in json.loads((out / "catalog.json").read_text())["sessions"]] == [
        "sample-article-1min"
    ]

    again = build(manifest, speech_cache)
    assert again.exit_code == 10
    assert "built 0 (0 min of audio), skipped 1 (up to date), failed 1" in again.stderr


def test_a_build_killed_midway_completes_on_rerun(tmp_path, speech_cache):
    (tmp_path / "articles").mkdir()
    for article in [*ARTICLES, SAMPLE]:
        shutil.copy(article, tmp_path / "articles" / article.name)
    manifest = tmp_path / "library.toml"
    manifest.write_text('[library]\nname = "Killed"\n[[sessions]]\narticles = "articles/*"\nminutes = 1\n')
    out = tmp_path / "library"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
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
            "-q",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Wait (bounded) until one session is complete and the next is under way, then kill -9
        # the build and everything it started.
        deadline = time.monotonic() + 300
        while not list(out.glob(".*.key")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, "the build ended before it could be killed"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = list(out.glob(".*.key"))
    assert 1 <= len(done) < 3
    for path in audio_files(out).values():  # whatever is visible is whole
        assert abs(float(probe(path)["format"]["duration"]) - 60.0) < 1.2

    result = build(manifest, speech_cache)
    assert result.exit_code == 0, result.stderr
    assert f"skipped {len(done)} (up to date)" in result.stderr
    files = audio_files(out)
    assert len(files) == 3
    for path in files.values():
        assert abs(float(probe(path)["format"]["duration"]) - 60.0) < 1.2
    assert [p.name for p in out.glob(".*") if ".part" in p.name or p.name.endswith(".tmp")] == []
    assert len(json.loads((out / "catalog.json").read_text())["sessions"]) == 3


def test_a_session_over_its_time_bound_fails_without_hanging(library, tmp_path):
    session = load_manifest(library.manifest, out_dir=tmp_path).sessions[0]
    task = SessionTask(replace(session, timeout=0.5), "key", "article")
    # In a process's main thread (a pool worker) a timer signal stops the session.
    outcome = build_session(task)
    assert outcome.status == FAILED and "stopped after 0.5 s" in outcome.error
    # On a worker thread (Dask) the session runs in its own process, stopped the same way.
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(run_task(task)))
    thread.start()
    thread.join(120)
    assert outcomes and outcomes[0].status == FAILED and "stopped after 0.5 s" in outcomes[0].error
    assert not list(tmp_path.glob("*.mp3")) and not list(tmp_path.glob(".*.key"))


def test_a_session_failing_on_a_setting_names_its_manifest_key(library, tmp_path):
    """A setting found wrong only while rendering is named as the manifest names it."""
    session = load_manifest(library.manifest, out_dir=tmp_path).sessions[0]
    voice = replace(session.spec.voice, engine="pyttsx3", voice="no-such-voice")
    task = SessionTask(replace(session, spec=replace(session.spec, voice=voice)), "key", "article")
    outcome = build_session(task)
    assert outcome.status == FAILED
    assert outcome.error.startswith(f"{session.origin}.voice 'no-such-voice'"), outcome.error
    assert "--" not in outcome.error


def test_pool_workers_take_the_builds_environment_and_folder(tmp_path, monkeypatch):
    """The fork server keeps the environment and folder it started with; each worker takes the
    build's own, as a spawned worker would (a long-lived program may build more than once)."""
    from audiogen.library.runner import open_executor
    from audiogen.processes import start_fork_server

    start_fork_server()  # started before the change below
    monkeypatch.setenv("AUDIOGEN_TEST_PROBE", "set after the server started")
    monkeypatch.chdir(tmp_path)
    with open_executor(2, None) as executor:
        assert executor.submit(os.getenv, "AUDIOGEN_TEST_PROBE").result() == "set after the server started"
        assert executor.submit(os.getcwd).result() == str(tmp_path)
        assert executor.submit(os.getppid).result() != os.getpid()  # never a fork of this process


def test_without_a_fork_server_workers_are_spawned(monkeypatch):
    import multiprocessing

    from audiogen.processes import pool_context

    assert pool_context().get_start_method() == "forkserver"  # Linux has one
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert pool_context().get_start_method() == "spawn"


def test_the_fork_servers_import_holds_off_ctrl_c_then_puts_it_back():
    """Ctrl-C while the fork server imports the pipeline printed the server's traceback; now the
    import finishes, and the handler the workers inherit is Python's own again."""
    script = """
import os, signal, sys

class InterruptFirst:  # Ctrl-C arrives just as the pipeline's import begins
    def find_spec(self, name, path=None, target=None):
        if name == "audiogen.pipeline":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptFirst())
import audiogen.worker_preload
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "audiogen.pipeline" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.split() == ["True", "True"]

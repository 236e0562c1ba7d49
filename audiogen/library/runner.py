"""Builds a library: skips current sessions, renders the rest in parallel, isolates failures.

Sessions run on a process pool (workers from audiogen.processes) or, with a scheduler
address, on a Dask distributed cluster through its concurrent.futures executor. Every
session's time is bounded inside the task itself, so a hung session fails alone and no
executor waits on it forever.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import audiogen
from audiogen import checks, pipeline, safefiles
from audiogen.errors import AudiogenError, LibraryError, Terminated, ToolMissingError
from audiogen.library import feed, outputs, state
from audiogen.library.catalog import CatalogChapter, CatalogEntry, SessionSettings, chapters_name
from audiogen.library.manifest import Manifest, PlannedSession
from audiogen.models import SessionResult, SpokenLine
from audiogen.processes import pool_context

BUILT, SKIPPED, FAILED = "built", "skipped", "failed"
CHILD_GRACE_SECONDS = 30.0  # the child stops itself at the deadline; this only catches a wedged child


class SessionTimeout(BaseException):
    """Raised in a session's process at its deadline. A BaseException, so no stage's
    `except Exception` can swallow it and carry on past the bound."""


@dataclass(frozen=True)
class SessionTask:
    session: PlannedSession
    key: str
    article_label: str  # the article as the catalog names it (relative to the manifest)


@dataclass(frozen=True)
class SessionOutcome:
    name: str
    status: str  # BUILT, SKIPPED or FAILED
    minutes: float
    entry: CatalogEntry | None = None  # the catalog entry of a built or skipped session
    error: str = ""


@dataclass(frozen=True)
class BuildSummary:
    outcomes: tuple[SessionOutcome, ...]
    stale: tuple[str, ...]  # sessions no longer in the manifest whose files were kept
    pruned: tuple[str, ...]  # files removed by --prune
    outputs: tuple[Path, ...]  # playlist, catalog, index
    seconds: float

    def with_status(self, status: str) -> list[SessionOutcome]:
        return [o for o in self.outcomes if o.status == status]


class BuildProgress(Protocol):
    def start(self, sessions: int, minutes: float, skipped: int, skipped_minutes: float) -> None: ...

    def advance(self, outcome: SessionOutcome) -> None: ...

    def tick(self) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    """Progress for a quiet build: every report is dropped."""

    def start(self, sessions, minutes, skipped, skipped_minutes):
        return None

    def advance(self, outcome):
        return None

    def tick(self):
        return None

    def finish(self):
        return None


# ------------------------------------------------------------------ one session (runs in a worker)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(signum, frame):
        raise SessionTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _built_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _entry(task: SessionTask, result: SessionResult) -> CatalogEntry:
    """The session's catalog entry, from what its render knew (nothing is read back but the
    audio's size and hash, which the feed needs)."""
    session = task.session
    # The chapters JSON goes beside the audio first, so the files listed below include it.
    chapters = tuple(CatalogChapter(round(c.start, 3), c.title) for c in result.chapters)
    title = f"{result.title} ({session.variant})"
    state.atomic_write_text(
        result.path.parent / chapters_name(session.name), feed.chapters_json(title, chapters)
    )
    return CatalogEntry(
        name=session.name,
        title=title,
        article_title=result.title,
        article=task.article_label,
        file=result.path.name,
        # What this render wrote, not what the folder holds: an earlier render's other format is not its.
        files=tuple(sorted({*(path.name for path in result.files), chapters_name(session.name)})),
        duration=round(result.duration, 3),
        loudness_lufs=round(result.master.integrated_lufs, 2),
        true_peak_dbtp=round(result.master.true_peak_dbtp, 2),
        themes=result.labels,
        template=result.template,
        listener=session.listener,
        chapters=chapters,
        settings=SessionSettings.of(session.spec),
        key=task.key,
        built=_built_now(),  # the feed's pubDate: kept with the key, so a skipping rebuild keeps it
        bytes=result.path.stat().st_size,
        audio_sha256=safefiles.file_sha256(result.path),  # versions the feed's enclosure address
        # At the WebVTT's precision (milliseconds): the index shows the times the file holds.
        transcript=tuple(
            SpokenLine(round(line.start, 3), round(line.end, 3), line.text)
            for line in result.transcript_lines
        ),
    )


def build_session(task: SessionTask) -> SessionOutcome:
    """Render one session, then record its key: the key file is written only after the audio."""
    session = task.session
    minutes = session.spec.minutes
    try:
        with _deadline(session.timeout):
            # An old key must not vouch for audio this render may replace before it is killed.
            state.key_path(session.spec.out_dir, session.name).unlink(missing_ok=True)
            result = pipeline.render_session(session.spec, file_name=session.name)
            entry = _entry(task, result)
            state.write_key(result.path.parent, session.name, task.key, entry)
            # Files under its name that this render did not write: an earlier render's other format,
            # even one whose key a failed render removed (names are slugs: no other session's file).
            folder = result.path.parent
            state.remove_files(folder, set(state.session_files(folder, session.name)) - set(entry.files))
    except SessionTimeout:
        return SessionOutcome(
            session.name,
            FAILED,
            minutes,
            error=f"stopped after {session.timeout:g} s (raise [library] session_timeout)",
        )
    except AudiogenError as exc:  # the setting at fault named by the manifest key that set it
        at_fault = exc.setting
        error = exc.worded(lambda name: session.key_path(name) if name == at_fault else name)
        return SessionOutcome(session.name, FAILED, minutes, error=error)
    except Exception as exc:  # a bug in one session must not stop the library
        return SessionOutcome(session.name, FAILED, minutes, error=f"unexpected {type(exc).__name__}: {exc}")
    return SessionOutcome(session.name, BUILT, minutes, entry=entry)


def _run_in_child(task: SessionTask) -> SessionOutcome:
    """Run the session in a fresh process, killed (with its children) if it outlives its bound."""
    session = task.session
    with tempfile.TemporaryDirectory(prefix="audiogen-task-") as folder:
        task_file, result_file = Path(folder) / "task.pickle", Path(folder) / "outcome.pickle"
        task_file.write_bytes(pickle.dumps(task))
        package_root = str(Path(audiogen.__file__).resolve().parent.parent)
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "audiogen.library.isolated", str(task_file), str(result_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        try:
            _, stderr = process.communicate(timeout=session.timeout + CHILD_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return SessionOutcome(
                session.name,
                FAILED,
                session.spec.minutes,
                error=f"stopped after {session.timeout:g} s (raise [library] session_timeout)",
            )
        if result_file.is_file():
            return pickle.loads(result_file.read_bytes())
        last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return SessionOutcome(
            session.name,
            FAILED,
            session.spec.minutes,
            error=f"the session's process exited with code {process.returncode}: {last[0]}",
        )


INTERRUPTED = "the build was interrupted before this session started"
_SESSION_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: Terminated.on_signal}
_stopped = None  # in a pool worker: the build's event, set when the build is interrupted


def run_task(task: SessionTask) -> SessionOutcome:
    """The task an executor runs. A process's main thread (a pool worker) bounds time with a
    timer signal and hears Ctrl-C and SIGTERM while the session runs; elsewhere (a Dask worker
    thread) signals cannot reach the task, so it gets its own process."""
    if _stopped is not None:  # a pool worker
        if _stopped.is_set():  # queued before Ctrl-C: not started at all
            return SessionOutcome(task.session.name, FAILED, task.session.spec.minutes, error=INTERRUPTED)
        # Ctrl-C and SIGTERM stop a running session, cleaning up; an idle worker ignores them (_adopt).
        previous = {sig: signal.signal(sig, handler) for sig, handler in _SESSION_HANDLERS.items()}
        try:
            return build_session(task)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if threading.current_thread() is threading.main_thread():
        return build_session(task)
    return _run_in_child(task)


# ------------------------------------------------------------------ executors


def _adopt(environ: dict[str, str], cwd: str, stopped) -> None:
    """A worker takes the build's environment and folder (the fork server keeps the ones it
    started with, which a later build in the same process, an embedding program or a test, may
    have changed) and the event that tells it the build was interrupted."""
    global _stopped
    # Idle, a worker waits on the pool's queue, where Ctrl-C would end it with a traceback and
    # SIGTERM without a word; only a running session needs to hear them (run_task).
    for sig in _SESSION_HANDLERS:
        signal.signal(sig, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    _stopped = stopped


@contextlib.contextmanager
def open_executor(workers: int, scheduler: str | None) -> Iterator[Executor]:
    if scheduler is None:
        context = pool_context()
        stopped = context.Event()
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_adopt,
            initargs=(dict(os.environ), os.getcwd(), stopped),
        ) as executor:
            try:
                yield executor
            except BaseException as exc:
                # Sessions already handed to a worker's queue must not start.
                stopped.set()
                if not isinstance(exc, KeyboardInterrupt):
                    # Ctrl-C from a terminal reaches the workers too (one process group); SIGTERM
                    # or a failure here reaches only this process, so the running sessions are told.
                    for worker in multiprocessing.active_children():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(worker.pid, signal.SIGINT)
                raise
        return
    try:
        import dask
        from distributed import Client
    except ImportError:
        raise ToolMissingError(
            "--scheduler needs Dask: pip install 'audiogen[dask]' (dask[distributed])"
        ) from None
    # Without a configured scratch folder Dask writes into the current directory.
    scratch = dask.config.get("temporary-directory", None) or tempfile.gettempdir()
    with dask.config.set({"temporary-directory": scratch}):
        try:
            client = Client(scheduler, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise LibraryError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
        try:
            with client.get_executor(pure=False) as executor:
                yield executor
        finally:
            client.close()


# ------------------------------------------------------------------ the build


COVER_RECORD = ".audiogen-cover.json"  # what cover.jpg shows; hidden, so never served


def _library_cover(out_dir: Path, name: str, entries: list[CatalogEntry]) -> tuple[bytes | None, str]:
    """The library's cover, showing its commonest themes (their colours) and its size under its
    name, and the record of what it shows; None when cover.jpg already shows it (drawing takes
    about a second, which a build that skips every session should not spend)."""
    counts = Counter(theme for entry in entries for theme in entry.themes)
    themes = tuple(t for t, _ in counts.most_common(3))
    minutes = max(1, round(sum(entry.duration for entry in entries) / 60))
    subtitle = f"{len(entries)} session{'s' if len(entries) != 1 else ''} · {minutes} minutes"
    record = json.dumps(
        {"name": name, "themes": themes, "subtitle": subtitle, "audiogen": audiogen.__version__}
    )
    try:
        if (out_dir / feed.COVER).is_file() and (out_dir / COVER_RECORD).read_text("utf-8") == record:
            return None, record
    except OSError:
        pass  # no record: draw it
    return checks.library_cover(name, themes, subtitle), record


def _completed(futures, progress: BuildProgress) -> Iterator:
    """Futures as they finish, with the progress display ticking about once a second meanwhile."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        yield from done
        progress.tick()


def _article_label(article: Path, manifest: Path) -> str:
    try:
        return Path(os.path.relpath(article.resolve(), manifest.resolve().parent)).as_posix()
    except ValueError:  # another drive
        return str(article)


def build_library(
    manifest: Manifest,
    workers: int | None = None,
    scheduler: str | None = None,
    prune: bool = False,
    progress: BuildProgress | None = None,
) -> BuildSummary:
    progress = progress or _NoProgress()
    started = time.monotonic()
    settings = manifest.settings
    out_dir = settings.out_dir
    outcomes: dict[str, SessionOutcome] = {}
    with state.build_lock(out_dir):
        state.remove_leftovers(out_dir)
        tasks = []
        known: dict = {}  # digests and fingerprints, computed once per build
        for session in manifest.sessions:
            key = state.input_key(session, known)
            entry = state.is_current(out_dir, session.name, key)
            if entry is not None:
                outcomes[session.name] = SessionOutcome(
                    session.name, SKIPPED, session.spec.minutes, entry=entry
                )
            else:
                tasks.append(SessionTask(session, key, _article_label(session.article, settings.manifest)))
        skipped = list(outcomes.values())
        progress.start(
            len(manifest.sessions),
            sum(s.spec.minutes for s in manifest.sessions),
            len(skipped),
            sum(o.minutes for o in skipped),
        )
        if tasks:
            # Longest first: the pool finishes sooner when short sessions fill the gaps at the end.
            tasks.sort(key=lambda t: -t.session.spec.minutes)
            with open_executor(
                max(1, min(workers or os.cpu_count() or 1, len(tasks))), scheduler
            ) as executor:
                futures = {executor.submit(run_task, task): task for task in tasks}
                try:
                    for future in _completed(futures, progress):
                        task = futures[future]
                        try:
                            outcome = future.result()
                        except Exception as exc:  # the worker itself died (killed, out of memory)
                            outcome = SessionOutcome(
                                task.session.name,
                                FAILED,
                                task.session.spec.minutes,
                                error=f"worker lost: {type(exc).__name__}: {exc}",
                            )
                        outcomes[outcome.name] = outcome
                        progress.advance(outcome)
                except BaseException:
                    for pending in futures:
                        pending.cancel()
                    raise
        progress.finish()

        names = {s.name for s in manifest.sessions}
        stale = state.stale_sessions(out_dir, names)
        pruned: list[str] = []
        if prune:
            for name in stale:
                pruned += state.prune(out_dir, name)
            stale = []
        ordered = tuple(outcomes[s.name] for s in manifest.sessions)
        entries = [o.entry for o in ordered if o.entry is not None]
        cover, cover_record = _library_cover(out_dir, settings.name, entries) if entries else (None, "")
        written = outputs.write_library(out_dir, settings.name, entries, settings.podcast, cover)
        if cover is not None:  # recorded after the cover is in place: a build killed between draws it again
            state.atomic_write_text(out_dir / COVER_RECORD, cover_record)
    return BuildSummary(ordered, tuple(stale), tuple(pruned), tuple(written), time.monotonic() - started)

"""A speech engine in its own spawned process, with a timeout and restarts.

The engine never runs in the main process: a hung or crashed engine is killed
and replaced, and the sentence retried a bounded number of times.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

from audiogen.errors import OutputError, ToolMissingError, VoiceError

STARTUP_TIMEOUT = 60.0
DEFAULT_TIMEOUT = 30.0  # seconds for a sentence, plus SECONDS_PER_WORD for each word
SECONDS_PER_WORD = 0.5
RETRIES = 2  # a sentence is tried 1 + RETRIES times, each in a fresh engine after a hang


def _serve(conn, engine_name: str) -> None:  # runs in the child process
    # Engines print (pyttsx3: "Audio saved to ..."); the child's stdout is not ours to fill.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")
    from audiogen.speak.engines import EngineUnavailable, create_engine

    try:
        engine = create_engine(engine_name)
        conn.send(("ready", engine.version()))
    except EngineUnavailable as exc:
        conn.send(("missing", str(exc)))
        return
    except Exception as exc:  # any engine start-up failure is reported, not raised
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        command, args = request[0], request[1:]
        try:
            if command == "voices":
                conn.send(("ok", engine.voices()))
            elif command == "variants":
                variants = getattr(engine, "variants", None)
                conn.send(("ok", variants() if variants else []))
            elif command == "files":
                files = getattr(engine, "identity_files", None)
                conn.send(("ok", [str(f) for f in files()] if files else []))
            elif command == "synth":
                text, path, voice, rate, pitch = args
                engine.synthesize(text, Path(path), voice, rate, pitch)
                conn.send(("ok", None))
            elif command == "quit":
                return
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class SpeechWorker:
    """Talks to one engine process; restarts it when it hangs or dies."""

    def __init__(self, engine_name: str, timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES) -> None:
        self.engine_name = engine_name
        self.timeout = timeout
        self.retries = retries
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._conn = None
        self.version = ""
        self.restarts = 0

    def __enter__(self) -> SpeechWorker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child, self.engine_name), daemon=True)
        try:
            process.start()
        finally:
            child.close()
            if process.pid is None:  # never started (interrupted, or no process could be made)
                parent.close()
        self._process = process  # only a started process: closing joins it
        self._conn = parent
        if not parent.poll(STARTUP_TIMEOUT):
            self._kill()
            raise VoiceError(
                f"speech engine {self.engine_name!r} did not start within {STARTUP_TIMEOUT:.0f} s"
            )
        try:
            status, payload = parent.recv()
        except EOFError:
            self._kill()
            raise VoiceError(
                f"speech engine {self.engine_name!r} crashed while starting; "
                "check that espeak-ng is installed"
            ) from None
        if status == "missing":
            self._kill()
            raise ToolMissingError(f"--engine {self.engine_name}: {payload}")
        if status != "ready":
            self._kill()
            raise VoiceError(f"--engine {self.engine_name}: the engine failed to start ({payload})")
        self.version = payload

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        if self._process is not None:
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(("quit",))
                self._process.join(2)
            except (OSError, EOFError):
                pass
        self._kill()

    def _call(self, request: tuple, timeout: float):
        if self._conn is None:
            self.start()
        try:
            self._conn.send(request)
            if not self._conn.poll(timeout):
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            status, payload = self._conn.recv()
        except (EOFError, OSError, TimeoutError) as exc:
            self._kill()
            self.restarts += 1
            raise _WorkerLost(str(exc) or type(exc).__name__) from None
        if status != "ok":
            raise EngineFailed(f"speech engine {self.engine_name!r} failed: {payload}")
        return payload

    def call(self, request: tuple, timeout: float | None = None, what: str = "request"):
        """Send a request; a hung or dead engine is restarted and the request retried."""
        last = ""
        for _ in range(self.retries + 1):
            try:
                return self._call(request, timeout or self.timeout)
            except _WorkerLost as exc:
                last = str(exc)
        raise VoiceError(
            f"speech engine {self.engine_name!r} hung or crashed {self.retries + 1} times "
            f"on {what} ({last}); "
            "try another --engine or a shorter sentence"
        )

    def voices(self):
        return self.call(("voices",), what="listing voices")

    def variants(self):
        return self.call(("variants",), what="listing voice variants")

    def identity_files(self) -> list[str]:
        """The files the engine says its version, voices and audio come from ([] if it does not say)."""
        return self.call(("files",), what="listing the engine's files")

    def restart(self) -> None:
        """A fresh engine process, e.g. after it wrote a clip that failed the checks."""
        self._kill()
        self.restarts += 1
        self.start()

    def synthesize(self, text: str, path: Path, voice: str, rate: int, pitch: int) -> None:
        # pyttsx3's espeak driver hangs for good on an unwritable path: never hand it one.
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{path.parent}: cannot write speech clips there; pass another --cache-dir")
        timeout = self.timeout + len(text.split()) * SECONDS_PER_WORD
        self.call(("synth", text, str(path), voice, rate, pitch), timeout, what=f"the sentence {text[:40]!r}")


class _WorkerLost(Exception):
    pass


class EngineFailed(VoiceError):
    """The engine answered, but with an error (it raised while synthesising)."""

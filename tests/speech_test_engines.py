"""Speech engines that misbehave on purpose, reached as ``--engine speech_test_engines:Class``.

They run inside the spawned speech worker (this folder is on the worker's sys.path, as
it is on pytest's). Real audio comes from the espeak-ng command line; the misbehaviour
and a log of every synthesis are kept in the folder named by $AUDIOGEN_TEST_ENGINE_DIR,
so they survive the worker being killed and restarted.
"""

from __future__ import annotations

import hashlib
import os
import time
import wave
from pathlib import Path

from audiogen.speak.engines import EspeakCliEngine, HibariEngine, hibari_model_files


def _state() -> Path:
    return Path(os.environ["AUDIOGEN_TEST_ENGINE_DIR"])


def synth_calls(folder: Path) -> list[str]:
    """Every sentence the test engines synthesised, in order."""
    log = folder / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def hangs(folder: Path) -> int:
    return len(list(folder.glob("hung-*")))


class CountingEngine(EspeakCliEngine):
    """The espeak-ng command line, logging each sentence it synthesises."""

    name = "counting"

    def version(self) -> str:
        return "counting-" + super().version()

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        super().synthesize(text, path, voice, rate, pitch, timeout)
        with open(_state() / "calls.log", "a", encoding="utf-8") as log:
            log.write(text + "\n")


class HangOnceEngine(CountingEngine):
    """Hangs (sleeps for an hour) the first time it meets a sentence containing 'hang'."""

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        marker = _state() / f"hung-{hashlib.sha1(text.encode()).hexdigest()[:12]}"
        if "hang" in text and not marker.exists():
            marker.touch()
            time.sleep(3600)
        super().synthesize(text, path, voice, rate, pitch, timeout)


class AlwaysHangEngine(CountingEngine):
    """Hangs on every sentence containing 'hang', however often it is restarted."""

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        if "hang" in text:
            (_state() / f"hung-{time.monotonic_ns()}").touch()
            time.sleep(3600)
        super().synthesize(text, path, voice, rate, pitch, timeout)


class CrashOnceEngine(CountingEngine):
    """The worker process dies outright the first time it meets a sentence containing 'crash'."""

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        marker = _state() / "crashed"
        if "crash" in text and not marker.exists():
            marker.touch()
            os._exit(3)
        super().synthesize(text, path, voice, rate, pitch, timeout)


class TruncatingEngine(CountingEngine):
    """Writes a valid WAV of 20 ms whatever the sentence: a clip the checks must refuse."""

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(22050)
            wav.writeframes(b"\x10\x00" * 441)
        with open(_state() / "calls.log", "a", encoding="utf-8") as log:
            log.write(text + "\n")


class FailOnceEngine(CountingEngine):
    """Raises (as a confused driver does) the first time it meets a sentence containing 'fail'."""

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        marker = _state() / "failed"
        if "fail" in text and not marker.exists():
            marker.touch()
            raise RuntimeError("the speech driver cancelled the utterance")
        super().synthesize(text, path, voice, rate, pitch, timeout)


class DamagedHibariEngine(HibariEngine):
    """The real hibari engine, loading a copy of its model with the second half overwritten (a
    damaged install); the copy is made in $AUDIOGEN_TEST_ENGINE_DIR."""

    def model_files(self) -> dict[str, Path]:
        damaged = {}
        for voice, path in hibari_model_files().items():
            data = bytearray(path.read_bytes())
            data[len(data) // 2 :] = b"\0" * (len(data) - len(data) // 2)
            damaged[voice] = _state() / path.name
            damaged[voice].write_bytes(bytes(data))
        return damaged

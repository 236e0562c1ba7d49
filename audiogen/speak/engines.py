"""Speech engines: one interface, built-ins for the neural voice hibari (the default), pyttsx3
and the espeak-ng command line.

An engine object lives inside a speech worker process (see worker.py), never in
the main process: pyttsx3's espeak driver hangs in forked children and prints
to stdout, and onnxruntime's model takes 200 MB, so they are kept away from everything else.

Other offline engines plug in through the ``audiogen.engines`` entry-point group:
an entry point names a class with the same methods as `SpeechEngine`. An engine can
also be named directly as ``module:Class`` (an importable module), which is how the
tests plant engines that hang or crash.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from audiogen.errors import mention


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None


class SpeechEngine(Protocol):
    name: str
    default_voice: str  # the voice used when none is asked for
    default_pitch: int | None  # the pitch used when none is asked for; None: no pitch control

    def version(self) -> str: ...

    def voices(self) -> list[VoiceInfo]: ...

    def variants(self) -> list[VoiceInfo]:
        """Voice variants appended to a voice id with '+' (espeak: en-us+f3); [] if none."""
        ...

    def synthesize(self, text: str, path: Path, voice: str, rate: int, pitch: int | None) -> None:
        """Write `text` spoken to `path` as a mono WAV file; `rate` in words per minute."""

    def identity_files(self) -> list[str]:
        """Optional: the files and folders (library, program, data) the version, voices and audio
        come from, as used. Built-in engines only: see identity.py."""
        ...


class EngineUnavailable(Exception):
    """The engine cannot run here; the message says why and what to install."""


ESPEAK_LIBRARY_ENV = "AUDIOGEN_ESPEAK"  # "bundled": use espeakng-loader's library even if the system has one


def bundled_espeak_library() -> tuple[Path, Path] | None:
    """espeakng-loader's (library, data folder) where it stands in for libespeak-ng, else None.

    It stands in on Linux when the system has no libespeak-ng, or when AUDIOGEN_ESPEAK=bundled.
    The speech worker loads it (see `_load_espeak_library`); the main process only asks, to
    know which library the engine will use (see identity.py).
    """
    wanted = os.environ.get(ESPEAK_LIBRARY_ENV, "").lower()
    if not sys.platform.startswith("linux"):
        return None
    if wanted != "bundled" and ctypes.util.find_library("espeak-ng"):
        return None
    try:
        import espeakng_loader
    except ImportError:
        if wanted == "bundled":
            raise EngineUnavailable(
                f"{ESPEAK_LIBRARY_ENV}=bundled needs `pip install espeakng-loader`"
            ) from None
        return None  # pyttsx3 then says espeak-ng is missing
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def _load_espeak_library() -> None:
    """Where the system lacks libespeak-ng, the pip package espeakng-loader stands in.

    Its library is loaded RTLD_GLOBAL before pyttsx3 is imported, so pyttsx3's own load of
    libespeak-ng.so.1 finds it; ESPEAK_DATA_PATH must name its data folder's parent first,
    or the library exits the whole process.
    """
    bundled = bundled_espeak_library()
    if bundled is None:
        return
    library, data = bundled
    os.environ["ESPEAK_DATA_PATH"] = str(data.parent)
    ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)


class _LinkMap(ctypes.Structure):  # the head of glibc's struct link_map
    _fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p)]


def loaded_library_path(handle: int) -> Path | None:
    """The file a dlopen handle was loaded from (glibc's dlinfo), symlinks resolved; None if unknown."""
    for libdl in (None, "libdl.so.2"):
        try:
            dlinfo = ctypes.CDLL(libdl).dlinfo
        except (OSError, AttributeError):
            continue
        link_map = ctypes.POINTER(_LinkMap)()
        if dlinfo(ctypes.c_void_p(handle), 2, ctypes.byref(link_map)) != 0 or not link_map:  # RTLD_DI_LINKMAP
            return None
        name = link_map.contents.l_name
        return Path(os.path.realpath(os.fsdecode(name))) if name else None
    return None


def espeak_cli_executable() -> str | None:
    """The espeak-ng (or espeak) program on PATH, as `EspeakCliEngine` runs it."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class Pyttsx3Engine:
    """pyttsx3 behind the workarounds its 2.99 espeak driver needs (measured on Linux).

    - the driver's asynchronous first runAndWait returns before the WAV exists:
      wait for the 'finished-utterance' event instead;
    - its stop() cancels queued property changes and the next utterance: made a no-op;
    - it prints "Audio saved to ..." on stdout: silenced;
    - an unwritable path hangs later calls: the folder is checked before every call;
    - the first utterance after init races the driver: one warm-up utterance is spoken.
    SAPI5 and NSSpeechSynthesizer go through the same calls on Windows and macOS.
    """

    name = "pyttsx3"
    default_voice = "en-us+f4"  # why this voice: README, Speech > Voices
    default_pitch = 40  # espeak scale 0-99; 50 is the voice's normal

    def __init__(self) -> None:
        _load_espeak_library()
        try:
            import pyttsx3
        except Exception as exc:  # ImportError, or OSError when libespeak-ng is missing
            raise EngineUnavailable(
                f"pyttsx3 cannot load ({exc}); install espeak-ng (apt-get install espeak-ng) "
                "or `pip install espeakng-loader`"
            ) from None
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self._engine = pyttsx3.init()
        except Exception as exc:
            raise EngineUnavailable(
                f"pyttsx3 cannot start a speech driver ({exc}); install espeak-ng"
            ) from None
        self._pyttsx3_version = getattr(pyttsx3, "__version__", "") or metadata.version("pyttsx3")
        driver = self._engine.proxy._driver
        driver.stop = lambda: None
        self._done = threading.Event()
        self._completed = False
        self._engine.connect("finished-utterance", self._on_finished)
        self._current: tuple | None = None
        self._warm_up()

    def _warm_up(self) -> None:
        with tempfile.TemporaryDirectory(prefix="audiogen-warmup-") as folder:
            self._say_to_file("Ready.", Path(folder) / "warmup.wav", 30.0)

    def _on_finished(self, name: str | None = None, completed: bool = True) -> None:
        self._completed = completed
        self._done.set()

    def version(self) -> str:
        """pyttsx3's version, its driver and, for espeak, the library's: each changes the audio."""
        driver = self._engine.proxy._driver.__class__.__name__
        library = ""
        if driver == "EspeakDriver":
            from pyttsx3.drivers import _espeak

            library = "-espeak-ng-" + (_espeak.Info(None) or b"").decode("utf-8", "replace")
        return f"pyttsx3-{self._pyttsx3_version}-{driver}{library}"

    def voices(self) -> list[VoiceInfo]:
        found = []
        for v in self._engine.getProperty("voices"):
            languages = tuple(str(lang) for lang in (v.languages or []) if lang)
            found.append(VoiceInfo(str(v.id), str(v.name), languages, v.gender))
        return found

    def variants(self) -> list[VoiceInfo]:
        if self._engine.proxy._driver.__class__.__name__ != "EspeakDriver":
            return []
        from pyttsx3.drivers import _espeak

        spec = _espeak.VOICE()
        spec.languages = b"variant"
        found = []
        for v in _espeak.ListVoices(ctypes.pointer(spec)):
            gender = {1: "Male", 2: "Female"}.get(v.gender)
            found.append(
                VoiceInfo(v.identifier.decode("utf-8").split("/")[-1], v.name.decode("utf-8"), (), gender)
            )
        return found

    def identity_files(self) -> list[str]:
        """libespeak-ng as loaded and the data folder it reads; [] for other drivers."""
        if self._engine.proxy._driver.__class__.__name__ != "EspeakDriver":
            return []
        from pyttsx3.drivers import _espeak

        library = loaded_library_path(_espeak.dll._handle)
        data = ctypes.c_char_p()
        _espeak.Info(ctypes.byref(data))
        if library is None or not data.value:
            return []
        return [str(library), os.path.realpath(os.fsdecode(data.value))]

    def _apply(self, voice: str, rate: int, pitch: int) -> None:
        if self._current == (voice, rate, pitch):
            return
        self._engine.setProperty("voice", voice)
        self._engine.setProperty("rate", rate)
        with contextlib.suppress(KeyError, ValueError):
            self._engine.setProperty("pitch", pitch)
        self._current = (voice, rate, pitch)

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        self._apply(voice, rate, pitch)
        self._say_to_file(text, path, timeout)

    def _say_to_file(self, text: str, path: Path, timeout: float) -> None:
        if not folder_is_writable(path.parent):
            raise PermissionError(f"{path.parent} is not writable")  # the driver would hang on it
        self._done.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            self._engine.save_to_file(text, str(path))
            self._engine.runAndWait()
            if not self._done.wait(timeout):
                raise TimeoutError("the speech driver did not finish the utterance")
        if not self._completed:
            raise RuntimeError("the speech driver cancelled the utterance")
        if not path.exists() or path.stat().st_size <= 44:
            raise RuntimeError("the speech driver finished but wrote no audio")


class EspeakCliEngine:
    """The espeak-ng command line: no Python bindings needed, one process per sentence."""

    name = "espeak-ng"
    default_voice = Pyttsx3Engine.default_voice
    default_pitch = Pyttsx3Engine.default_pitch

    def __init__(self) -> None:
        self._exe = espeak_cli_executable()
        if not self._exe:
            raise EngineUnavailable("espeak-ng is not installed; install it (apt-get install espeak-ng)")

    def version(self) -> str:
        out = subprocess.run([self._exe, "--version"], capture_output=True, text=True, timeout=20).stdout
        return "espeak-ng-cli-" + (out.split()[3] if len(out.split()) > 3 else out.strip())

    def voices(self) -> list[VoiceInfo]:
        out = subprocess.run([self._exe, "--voices"], capture_output=True, text=True, timeout=20).stdout
        found = []
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 5:
                gender = {"M": "Male", "F": "Female"}.get(parts[2].split("/")[-1][:1])
                found.append(VoiceInfo(parts[4], parts[3].replace("_", " "), (parts[1],), gender))
        return found

    def variants(self) -> list[VoiceInfo]:
        out = subprocess.run(
            [self._exe, "--voices=variant"], capture_output=True, text=True, timeout=20
        ).stdout
        found = []
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 5:
                gender = {"M": "Male", "F": "Female"}.get(parts[2].split("/")[-1][:1])
                found.append(VoiceInfo(parts[4].split("/")[-1], parts[3], (), gender))
        return found

    def identity_files(self) -> list[str]:
        """The program and the data folder it reads (its --version names it)."""
        out = subprocess.run([self._exe, "--version"], capture_output=True, text=True, timeout=20).stdout
        data = out.partition("Data at:")[2].strip()
        return [os.path.realpath(self._exe)] + ([os.path.realpath(data)] if data else [])

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int, timeout: float = 60.0
    ) -> None:
        if not folder_is_writable(path.parent):
            raise PermissionError(f"{path.parent} is not writable")
        subprocess.run(
            [self._exe, "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), "--", text],
            check=True,
            capture_output=True,
            timeout=timeout,
        )


HIBARI_PACKAGE = "hibari-tts"  # on PyPI; imported as `hibari`
# Measured over the distinct sentences of a 20-minute session (benchmarks/bench_voice.py, README
# "Pace"): hibari's words a minute inside a sentence at each speed. `--rate` maps to a speed through it.
HIBARI_PACE = (
    (0.4, 94.8),
    (0.5, 117.7),
    (0.6, 141.5),
    (0.7, 165.2),
    (0.8, 189.7),
    (1.0, 236.5),
    (1.2, 260.6),
)
HIBARI_SPEEDS = (0.4, 1.2)  # beyond these the voice smears (slow) or rushes (fast): clamped
# Phrases spoken apart with a pause at commas, semicolons, colons and dashes, against the model's
# own pauses there (about 0.33 s at calm speeds): measured, they slowed the pace no more and were
# heard no better (README "Pace"), so sentences are spoken whole. Kept to measure again.
PHRASE_PAUSE_SECONDS = 0.0
PHRASE_MARGINS = (0.03, 0.07)  # seconds kept around each phrase's sound, part of the pause
_PHRASE_BREAK = re.compile(r"(?<=[,;:\u2014\u2013])\s+")
EDGE_LEAD, EDGE_TAIL = 0.05, 0.15  # seconds of silence kept before the first and after the last sound
SILENCE_LEVEL = 0.004  # below this (-48 dBFS) a 10 ms frame is silence
SEED = 0  # the model adds noise: a fixed seed makes a sentence's audio the same each time


def hibari_speed(rate: float) -> float:
    """The speed at which hibari speaks `rate` words a minute inside a sentence (calibrated)."""
    speeds, paces = zip(*HIBARI_PACE)
    speed = float(np.interp(rate, paces, speeds))
    return min(max(speed, HIBARI_SPEEDS[0]), HIBARI_SPEEDS[1])


def phrases(text: str) -> list[str]:
    """`text` cut at commas, semicolons, colons and dashes, each phrase keeping its mark
    (the model then ends it with a rising, unfinished tone, not a sentence's fall)."""
    return [p for p in (part.strip() for part in _PHRASE_BREAK.split(text)) if any(c.isalnum() for c in p)]


def trim_silence(
    samples: np.ndarray, rate: int, lead: float = EDGE_LEAD, tail: float = EDGE_TAIL
) -> np.ndarray:
    """`samples` with the silence before the first and after the last sound cut to `lead` and `tail`."""
    frame = max(1, rate // 100)
    usable = len(samples) // frame * frame
    if usable == 0:
        return samples
    peaks = np.abs(samples[:usable]).reshape(-1, frame).max(axis=1)
    loud = np.flatnonzero(peaks > SILENCE_LEVEL)
    if len(loud) == 0:
        return samples
    start = max(0, loud[0] * frame - int(lead * rate))
    end = min(len(samples), (loud[-1] + 1) * frame + int(tail * rate))
    return samples[start:end]


def hibari_model_files() -> dict[str, Path] | None:
    """The voices inside the installed hibari package, by name, and their model files; None if
    the package is not installed. Found without importing it (the main process asks too)."""
    spec = importlib.util.find_spec("hibari")
    if spec is None or not spec.origin:
        return None
    assets = Path(spec.origin).parent / "assets"
    registry = json.loads((assets / "voices.json").read_text(encoding="utf-8"))
    return {name: assets / info["file"] for name, info in registry.items() if info.get("bundled")}


def _refuse_download(url: str, *args, **kwargs):
    raise RuntimeError(f"audiogen never downloads voices (hibari asked for {url})")


class HibariEngine:
    """hibari-tts: a small neural voice (distilled from Kokoro-82M af_heart), ONNX on one CPU thread.

    Only the voices whose models ship inside the installed package are listed or loaded; hibari's
    download of its other voices is disabled in this process, so a render never reaches the network.
    One onnxruntime thread per engine: library workers each run one engine, one per core.
    Speech is slowed to the rate asked by a calibrated speed (see HIBARI_PACE).
    """

    name = "hibari"
    default_voice = "heart"
    default_pitch = None  # the model has no pitch control

    def __init__(self) -> None:
        try:
            import hibari
            import hibari.voices
            import onnxruntime
        except Exception as exc:  # ImportError, or OSError when onnxruntime's library cannot load
            raise EngineUnavailable(
                f"the neural voice cannot load ({type(exc).__name__}: {exc}); "
                f"`pip install {HIBARI_PACKAGE}`, or choose {mention('engine')} pyttsx3"
            ) from None
        hibari.voices.download = _refuse_download  # belt and braces: models are always given by path
        self._hibari = hibari
        self._onnxruntime_version = onnxruntime.__version__
        self._models = self.model_files()
        self._voices: dict[str, object] = {}
        self._digests = {}
        for voice in sorted(self._models):
            self._load(voice)  # a damaged model fails now, at start-up, not on the first sentence

    def model_files(self) -> dict[str, Path]:
        return hibari_model_files() or {}

    def _load(self, voice: str):
        if voice not in self._models:
            raise ValueError(f"hibari has no voice {voice!r} inside the package ({', '.join(self._models)})")
        if voice not in self._voices:
            path = self._models[voice]
            try:
                self._digests[voice] = hashlib.sha256(path.read_bytes()).hexdigest()
                self._voices[voice] = self._hibari.Hibari(voice=voice, model=str(path), threads=1)
            except Exception as exc:  # onnxruntime's own errors (InvalidProtobuf, ...) and OSError
                raise EngineUnavailable(
                    f"the neural voice's model {path} cannot be loaded "
                    f"({type(exc).__name__}: {str(exc)[:160]}); "
                    f"reinstall it (`pip install --force-reinstall {HIBARI_PACKAGE}`), "
                    f"or choose {mention('engine')} pyttsx3"
                ) from None
        return self._voices[voice]

    def version(self) -> str:
        """hibari's and onnxruntime's versions and each model's digest: each changes the audio."""
        models = "-".join(f"{voice}:{self._digests[voice][:16]}" for voice in sorted(self._digests))
        return f"hibari-{self._hibari.__version__}-onnxruntime-{self._onnxruntime_version}-{models}"

    def voices(self) -> list[VoiceInfo]:
        from hibari.voices import VOICES

        found = []
        for voice in sorted(self._models):
            info = VOICES[voice]
            name = f"{voice.title()} ({info['accent']}, from Kokoro {info['kokoro']})"
            found.append(VoiceInfo(voice, name, (info["language"].lower(),), info["gender"].title()))
        return found

    def variants(self) -> list[VoiceInfo]:
        return []

    def identity_files(self) -> list[str]:
        """The model files and the package's synthesis code."""
        package = Path(self._hibari.__file__).parent
        return [str(p) for p in self._models.values()] + [str(package / "tts.py"), str(package / "dsp.py")]

    def synthesize(
        self, text: str, path: Path, voice: str, rate: int, pitch: int | None, timeout: float = 60.0
    ) -> None:
        if pitch is not None:
            raise ValueError("hibari has no pitch control")
        if not folder_is_writable(path.parent):
            raise PermissionError(f"{path.parent} is not writable")
        self._hibari.write_wav(
            str(path), self.audio(text, voice, hibari_speed(rate)), self._hibari.SAMPLE_RATE
        )

    def audio(
        self, text: str, voice: str, speed: float, phrase_pause: float = PHRASE_PAUSE_SECONDS
    ) -> np.ndarray:
        """`text` spoken at `speed`: whole, or with `phrase_pause` > 0 phrase by phrase with that
        many seconds between them (the alternative the benchmark measures)."""
        model = self._load(voice)
        rate_hz = self._hibari.SAMPLE_RATE
        margins = PHRASE_MARGINS if phrase_pause > 0 else (EDGE_LEAD, EDGE_TAIL)
        gap = np.zeros(int(max(0.0, phrase_pause - sum(margins)) * rate_hz), np.float32)
        parts: list[np.ndarray] = []
        for phrase in (phrases(text) or [text]) if phrase_pause > 0 else [text]:
            spoken = trim_silence(model(phrase, speed=speed, seed=SEED), rate_hz, *margins)
            parts += [gap, spoken] if parts else [spoken]
        return trim_silence(np.concatenate(parts), rate_hz, EDGE_LEAD, EDGE_TAIL)


BUILTIN_ENGINES = {"hibari": HibariEngine, "pyttsx3": Pyttsx3Engine, "espeak-ng": EspeakCliEngine}
DEFAULT_ENGINE = "hibari"


def engine_names() -> list[str]:
    names = set(BUILTIN_ENGINES)
    with contextlib.suppress(Exception):
        names |= {ep.name for ep in metadata.entry_points(group="audiogen.engines")}
    return sorted(names)


def engine_class(name: str) -> type:
    """The class behind an engine name: built-in, entry point, or ``module:Class``."""
    if name in BUILTIN_ENGINES:
        return BUILTIN_ENGINES[name]
    for ep in metadata.entry_points(group="audiogen.engines"):
        if ep.name == name:
            return ep.load()
    module_name, colon, class_name = name.partition(":")
    if colon and module_name and class_name:
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise EngineUnavailable(f"speech engine {name!r} cannot be loaded ({exc})") from None
    raise EngineUnavailable(
        f"unknown speech engine {name!r}; available: {', '.join(engine_names())} (or module:Class)"
    )


def engine_defaults(name: str) -> tuple[str | None, int | None]:
    """An engine's default voice and pitch (None: no pitch control), known without starting it.
    A plug-in without them: its first listed voice (None here), and pitch 40 as before."""
    cls = engine_class(name)
    return getattr(cls, "default_voice", None), getattr(cls, "default_pitch", Pyttsx3Engine.default_pitch)


def create_engine(name: str) -> SpeechEngine:
    return engine_class(name)()


def folder_is_writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)

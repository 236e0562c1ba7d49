"""Export stage: the mastered block stream becomes a tagged audio file, written atomically."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from audiogen.errors import AudioError, OutputError
from audiogen.models import ChapterMark
from audiogen.tools import ffmpeg_path

# format -> (ffmpeg muxer, codec arguments, file suffix)
FORMATS = {
    "mp3": ("mp3", ["-c:a", "libmp3lame", "-compression_level", "5"], ".mp3"),  # LAME -q 5, measured: README, Sound
}


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str = "audiogen"
    album: str = "audiogen"
    genre: str = "Meditation"
    comment: str = ""
    year: str = ""
    track: int | None = None


def _check_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder ({exc.strerror}); choose another --out") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: output folder is not writable; choose another --out")


def encode(
    blocks: Iterable[np.ndarray],
    target: Path,
    sample_rate: int,
    channels: int,
    fmt: str = "mp3",
    bitrate: str = "128k",
    tags: Tags | None = None,
    chapters: tuple[ChapterMark, ...] = (),
    duration: float | None = None,
) -> Path:
    """Pipe float blocks into ffmpeg, tag the result, then rename it into place."""
    if fmt not in FORMATS:
        raise AudioError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    muxer, codec, suffix = FORMATS[fmt]
    target = Path(target)
    _check_out_dir(target.parent)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{suffix}", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    command = [
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels), "-i", "pipe:0",
        *codec, "-b:a", bitrate, "-ar", str(sample_rate), "-f", muxer, str(temp),
    ]
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for block in blocks:
                process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass
        stderr = process.stderr.read().decode("utf-8", "replace")
        if process.wait() != 0:
            raise AudioError(f"ffmpeg could not encode {target.name}: {stderr.strip().splitlines()[-1] if stderr.strip() else 'unknown error'}")
        if tags is not None:
            write_tags(temp, fmt, tags, chapters, duration)
        os.replace(temp, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the file ({exc.strerror}); check the folder and free space") from None
    finally:
        temp.unlink(missing_ok=True)
    return target


def write_tags(path: Path, fmt: str, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float | None) -> None:
    if fmt != "mp3":
        return
    from mutagen.id3 import COMM, CTOC, CHAP, ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=3, text=tags.title))
    id3.add(TPE1(encoding=3, text=tags.artist))
    id3.add(TALB(encoding=3, text=tags.album))
    id3.add(TCON(encoding=3, text=tags.genre))
    if tags.year:
        id3.add(TDRC(encoding=3, text=tags.year))
    if tags.track:
        id3.add(TRCK(encoding=3, text=str(tags.track)))
    if tags.comment:
        id3.add(COMM(encoding=3, lang="eng", desc="", text=tags.comment))
    if chapters:
        end_ms = int((duration or chapters[-1].start + 1) * 1000)
        ids = [f"chp{i}" for i in range(len(chapters))]
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                     sub_frames=[TIT2(encoding=3, text="Chapters")]))
        for i, (chapter, element) in enumerate(zip(chapters, ids)):
            start = int(chapter.start * 1000)
            end = int(chapters[i + 1].start * 1000) if i + 1 < len(chapters) else end_ms
            id3.add(CHAP(element_id=element, start_time=start, end_time=end,
                         sub_frames=[TIT2(encoding=3, text=chapter.title)]))
    id3.save(str(path), v2_version=3)

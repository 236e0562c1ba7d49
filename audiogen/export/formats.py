"""The audio formats: which ffmpeg encoder and container make each, how each is tagged, and how
float blocks become one.

A format is resolved once per render (`export_settings`): everything that differs between
formats is a field of its AudioFormat, so no code asks for a format by name.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogen.errors import AudioError, OutputError, ToolMissingError, mention
from audiogen.export import splice
from audiogen.export import tags as tagging
from audiogen.export.tags import TagWriter
from audiogen.models import ChapterMark, Tags
from audiogen.tools import ffmpeg_path

MP3_BITRATES = splice.MPEG1_BITRATES  # a CBR file must use one of them


@dataclass(frozen=True)
class PieceJoin:
    """How a format's file can be made by two encoders at once (two cores): each encodes an
    overlapping piece of the session, and the pieces are joined at a frame inside a quiet stretch."""

    rates: tuple[int, ...]  # the sample rates joining works at
    second_arguments: tuple[str, ...]  # the second piece's muxer writes bare frames
    spans: Callable[[tuple[int, int], int], list[tuple[int, int]]]  # (quiet stretch, frames) -> pieces
    join: Callable[[Path, Path, int, int, tuple[int, int], Path], int]  # see splice.splice_mp3


MP3_PIECES = PieceJoin(
    splice.MPEG1_RATES, ("-write_xing", "0", "-id3v2_version", "0"), splice.piece_spans, splice.splice_mp3
)

# 16-bit output gets triangular dither rather than plain truncation of the float mix.
DITHER_TO_S16 = ("-af", "aresample=osf=s16:dither_method=triangular")


@dataclass(frozen=True)
class AudioFormat:
    name: str  # also the file suffix
    description: str
    muxer: str
    encoder: str
    write_tags: TagWriter  # replaces the encoder's tags with ours, after encoding
    arguments: tuple[str, ...] = ()
    bitrates: tuple[int, int] | tuple[int, ...] | None = (
        None  # kbps: (low, high), a set, or None for lossless
    )
    sample_rate: int | None = None  # a rate the codec requires, else the session's
    # Tags only the encoder can write, as ffmpeg -metadata (WAV's RIFF INFO).
    encoder_tags: Callable[[Tags], dict[str, str]] | None = None
    chapter_track: bool = False  # chapters are muxed from an ffmetadata file (an MP4 chapter track)
    pieces: PieceJoin | None = None  # two encoders can make it, side by side

    @property
    def suffix(self) -> str:
        return f".{self.name}"

    def kbps(self, bitrate: str) -> int | None:
        """The bitrate in kbps if this format uses one; a bad value is an error about the bitrate setting."""
        if self.bitrates is None:
            return None
        match = re.fullmatch(r"(\d+)\s*(k|kbps|kb/s)?", bitrate.strip().lower())
        value = int(match.group(1)) if match else -1
        if match and not match.group(2) and value >= 1000:
            value //= 1000  # given in bits per second
        if len(self.bitrates) == 2:
            low, high = self.bitrates
            if low <= value <= high:
                return value
            allowed = f"{low}k to {high}k"
        else:
            if value in self.bitrates:
                return value
            allowed = ", ".join(f"{b}k" for b in self.bitrates)
        raise AudioError(f"{bitrate!r} does not suit {self.name}; choose {allowed}", "bitrate")


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat(
            "mp3",
            "MP3, constant bitrate, ID3v2.3 tags: plays everywhere (default)",
            "mp3",
            "libmp3lame",
            tagging.write_id3,
            ("-compression_level", "5"),
            MP3_BITRATES,
            pieces=MP3_PIECES,
        ),
        AudioFormat(
            "ogg", "Ogg Vorbis, Vorbis comments", "ogg", "libvorbis", tagging.write_ogg_vorbis, (), (48, 320)
        ),
        AudioFormat(
            "opus",
            "Ogg Opus at 48 kHz (the only rate Opus plays at), Vorbis comments",
            "opus",
            "libopus",
            tagging.write_ogg_opus,
            ("-application", "audio"),
            (24, 256),
            48000,
        ),
        AudioFormat(
            "m4a",
            "AAC in MP4 (iTunes-style atoms), for Apple players",
            "ipod",
            "aac",
            tagging.write_mp4,
            ("-movflags", "+faststart"),
            (64, 320),
            chapter_track=True,
        ),
        AudioFormat(
            "flac",
            "FLAC, lossless 16-bit, Vorbis comments",
            "flac",
            "flac",
            tagging.write_flac,
            DITHER_TO_S16,
        ),
        AudioFormat(
            "wav",
            "WAV, 16-bit PCM, RIFF INFO and ID3 tags",
            "wav",
            "pcm_s16le",
            tagging.write_wav_id3,
            DITHER_TO_S16,
            encoder_tags=tagging.riff_info,
        ),
    )
}


def ffmpeg_encoders(ffmpeg: str) -> frozenset[str]:
    """The audio encoders this ffmpeg was built with (`ffmpeg -encoders`)."""
    return _encoder_listing(ffmpeg).result()


def list_encoders_soon() -> None:
    """Start asking ffmpeg for its encoders on a thread of its own: ffmpeg takes about a tenth of a
    second to start, which a render spends reading its article meanwhile."""
    with contextlib.suppress(ToolMissingError):  # said when a format is resolved
        _encoder_listing(ffmpeg_path())


@functools.cache
def _encoder_listing(ffmpeg: str) -> Future[frozenset[str]]:
    listing: Future[frozenset[str]] = Future()

    def ask() -> None:
        try:
            out = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
        except BaseException as exc:  # an ffmpeg that cannot be run: whoever asks hears why, once
            _encoder_listing.cache_clear()
            listing.set_exception(exc)
            return
        names = set()
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].startswith("A") and len(fields[0]) == 6:
                names.add(fields[1])
        listing.set_result(frozenset(names))

    threading.Thread(target=ask, name="audiogen-ffmpeg-encoders", daemon=True).start()
    return listing


def missing_encoder(fmt: AudioFormat) -> str | None:
    """Why `fmt` cannot be written here, or None when it can."""
    ffmpeg = ffmpeg_path()
    if fmt.encoder in ffmpeg_encoders(ffmpeg):
        return None
    return f"ffmpeg ({ffmpeg}) has no {fmt.encoder} encoder"


@dataclass(frozen=True)
class ExportSettings:
    """What export needs to know of a session, resolved and checked once per render."""

    format: AudioFormat
    kbps: int | None  # None for a lossless format
    cover: bool = True  # cover art, embedded and beside the audio
    transcript: bool = True  # .vtt, .lrc and .txt beside the audio


def export_settings(name: str, bitrate: str, cover: bool = True, transcript: bool = True) -> ExportSettings:
    """The format (with its bitrate) and the companions, checked before any work is done."""
    fmt, kbps = audio_format(name, bitrate)
    return ExportSettings(fmt, kbps, cover, transcript)


def audio_format(name: str, bitrate: str) -> tuple[AudioFormat, int | None]:
    """The format and its bitrate in kbps; unknown formats, bad bitrates and missing encoders fail."""
    fmt = FORMATS.get(name.lower().lstrip("."))
    if fmt is None:
        raise AudioError(f"{name!r} is unknown; choose from {', '.join(FORMATS)}", "format")
    kbps = fmt.kbps(bitrate)
    reason = missing_encoder(fmt)
    if reason:
        raise ToolMissingError(
            f"{fmt.name}: {reason}; install a full ffmpeg (apt-get install ffmpeg) "
            "or choose another format (see `audiogen formats`)",
            "format",
        )
    return fmt, kbps


LEAD_IN_CHAPTER_TITLE = "Opening"
LEAD_IN_CHAPTER_MIN = 0.05  # seconds


def ffmetadata_chapters(chapters: tuple[ChapterMark, ...], duration: float) -> str:
    """Chapters in ffmpeg's metadata file format, millisecond time base.

    An MP4 chapter track cannot leave a gap, so a lead-in before the first chapter's
    first sound becomes a short chapter of its own; every real chapter then starts
    where it is heard.
    """
    lines = [";FFMETADATA1"]
    if chapters and chapters[0].start >= LEAD_IN_CHAPTER_MIN:
        chapters = (ChapterMark(0.0, LEAD_IN_CHAPTER_TITLE), *chapters)
    for i, chapter in enumerate(chapters):
        end = chapters[i + 1].start if i + 1 < len(chapters) else duration
        title = re.sub(r"([=;#\\\n])", r"\\\1", chapter.title)
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start * 1000)}",
            f"END={round(end * 1000)}",
            f"title={title}",
        ]
    return "\n".join(lines) + "\n"


_WRITE_FAILURES = (
    "No space left on device",
    "Disk quota exceeded",
    "File too large",
    "Read-only file system",
    "Permission denied",
)


class _Feeder:
    """Writes to the encoder's input from a thread of its own, a few blocks ahead.

    With a plain write, mixing stops while the pipe drains and the encoder
    starves while the next block is mixed; fed from a queue, both work at once
    (the mixer's numpy calls and the pipe writes release the GIL).
    """

    def __init__(self, pipe, depth: int = 4) -> None:
        self.pipe = pipe
        self.queue: queue.Queue = queue.Queue(depth)
        self.broken = False  # the encoder stopped reading
        self.thread = threading.Thread(target=self._write, name="audiogen-encoder-feed", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (data := self.queue.get()) is not None:
            if not self.broken:  # after a failure the queue is still drained, so `put` never waits forever
                try:
                    self.pipe.write(data)
                except OSError:  # a broken pipe: ffmpeg exited
                    self.broken = True
        try:
            self.pipe.close()
        except OSError:
            self.broken = True

    def put(self, data: bytes) -> None:
        self.queue.put(data)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()


_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def _defer_interrupts() -> tuple[dict, list] | None:
    """Ctrl-C and SIGTERM are noted, not acted on, until `_deliver_interrupts`. A mask would not do:
    the process-wide signal may reach another thread (numpy's BLAS threads), and Python then runs
    its handler in the main thread anyway. None where handlers cannot be set (not the main thread)."""
    caught: list[int] = []
    try:
        previous = {
            number: signal.signal(number, lambda signum, frame: caught.append(signum))
            for number in _INTERRUPTS
        }
    except ValueError:
        return None
    return previous, caught


def _deliver_interrupts(deferred: tuple[dict, list] | None) -> None:
    """Restore the handlers and raise again whatever came meanwhile, through them."""
    if deferred is None:
        return
    previous, caught = deferred
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)  # None: set outside Python
    for number in dict.fromkeys(caught):
        signal.raise_signal(number)


class Encoder:
    """ffmpeg encoding float blocks into `path` in `fmt`, fed from a thread of its own (see `_Feeder`).

    `name` is the file errors mention; `metadata` goes into the container by ffmpeg itself (only
    WAV's RIFF INFO needs that); `chapters_file` is an ffmetadata file whose chapters ffmpeg writes
    (MP4 chapter track); `muxer_arguments` are options of the muxer's own. `encode` a stream of
    blocks, or `put` blocks, then `finish`; on any failure in between, `kill`.
    """

    def __init__(
        self,
        path: Path,
        fmt: AudioFormat,
        kbps: int | None,
        sample_rate: int,
        channels: int,
        metadata: dict[str, str] | None = None,
        chapters_file: Path | None = None,
        name: str | None = None,
        muxer_arguments: tuple[str, ...] = (),
    ) -> None:
        self.path, self.name, self.sample_rate, self.frames = path, name or path.name, sample_rate, 0
        command = [
            ffmpeg_path(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-nostdin",
            "-f",
            "f32le",
            "-ar",
            str(sample_rate),
            "-ac",
            str(channels),
            "-i",
            "pipe:0",
        ]
        if chapters_file is not None:
            command += ["-f", "ffmetadata", "-i", str(chapters_file), "-map", "0:a", "-map_chapters", "1"]
        command += ["-c:a", fmt.encoder, *fmt.arguments, "-ar", str(fmt.sample_rate or sample_rate)]
        if kbps is not None:
            command += ["-b:a", f"{kbps}k"]
        for key, value in (metadata or {}).items():
            command += ["-metadata", f"{key}={value}"]
        command += [*muxer_arguments, "-f", fmt.muxer, str(path)]
        # Ctrl-C and SIGTERM wait while ffmpeg starts: an interrupt inside Popen would leave it running
        # unseen, and it would write `path` after the temporary files were removed.
        deferred = _defer_interrupts()
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        except BaseException:
            _deliver_interrupts(deferred)
            raise
        try:
            self.feeder = _Feeder(self.process.stdin)
        except BaseException:
            self.process.kill()
            self.process.wait()
            _deliver_interrupts(deferred)
            raise
        try:
            _deliver_interrupts(deferred)  # one that came meanwhile is raised here, with ffmpeg known
        except BaseException:
            self.kill()
            raise

    @property
    def stopped(self) -> bool:
        """ffmpeg stopped reading early; `finish` says why."""
        return self.feeder.broken

    def queued(self) -> int:
        return self.feeder.queue.qsize()

    def put(self, block: np.ndarray) -> None:
        self.feeder.put(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.frames += len(block)

    def kill(self) -> None:
        self.process.kill()
        self.feeder.close()
        self.process.wait()

    def encode(self, blocks: Iterable[np.ndarray]) -> float:
        """Pipe the blocks in and finish; returns the seconds written."""
        try:
            for block in blocks:
                if self.stopped:
                    break  # ffmpeg stopped early; its exit status and message say why
                self.put(block)
        except BaseException:
            self.kill()
            raise
        return self.finish()

    def finish(self) -> float:
        """Wait for ffmpeg; returns the seconds written, or raises what went wrong."""
        self.feeder.close()
        stderr = self.process.stderr.read().decode("utf-8", "replace").strip()
        if self.process.wait() != 0:
            # ffmpeg's first line names the cause; the last is often a generic summary.
            cause = re.sub(r"^\[[^]]*\]\s*", "", stderr.splitlines()[0]) if stderr else "unknown error"
            # A full or read-only disk is the output's problem, not the audio's: say so, with the folder.
            for reason in _WRITE_FAILURES:
                if reason in stderr:
                    raise OutputError(
                        f"{self.path.parent / self.name}: cannot write the file ({reason}); "
                        f"free some space or choose another {mention('out')}"
                    )
            raise AudioError(f"ffmpeg could not encode {self.name}: {cause}")
        return self.frames / self.sample_rate

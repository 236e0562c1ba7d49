"""Export stage: the mastered block stream becomes the files a listener keeps.

One session gives an audio file (mp3, ogg, opus, m4a, flac or wav, encoded by ffmpeg)
with tags, chapters and embedded cover art, and beside it, named like it, the cover
(.jpg) and transcripts (.vtt, .lrc, .txt) with the times the words are heard. Every file
is written under a temporary name and renamed into place once all are complete.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mutagen import MutagenError

from audiogen.errors import OutputError
from audiogen.export import splice
from audiogen.export.files import Staging, check_out_dir
from audiogen.export.formats import (
    FORMATS,
    Encoder,
    ExportSettings,
    PieceJoin,
    export_settings,
    ffmetadata_chapters,
    list_encoders_soon,
    missing_encoder,
)
from audiogen.export.timings import heard_chapters, quiet_stretch, spoken_lines
from audiogen.export.transcript import transcripts
from audiogen.models import ChapterMark, ExportedFiles, Pieces, Tags, Timeline

__all__ = [
    "FORMATS",
    "Tags",
    "FormatInfo",
    "ExportSettings",
    "export_settings",
    "list_encoders_soon",
    "list_formats",
    "encode",
    "export_session",
    "render_cover",
]

COVER_SUFFIX = ".jpg"


@dataclass(frozen=True)
class FormatInfo:
    name: str
    description: str
    available: bool
    reason: str = ""  # why it is not available


def list_formats() -> list[FormatInfo]:
    """Every output format, and whether this machine's ffmpeg can write it."""
    infos = []
    for fmt in FORMATS.values():
        reason = missing_encoder(fmt)
        infos.append(FormatInfo(fmt.name, fmt.description, reason is None, reason or ""))
    return infos


def render_cover(tags: Tags, duration: float, subtitle: str | None = None) -> bytes:
    """The cover as JPEG bytes (see audiogen.export.cover); Pillow loads only when one is drawn."""
    from audiogen.export.cover import render_cover as draw

    return draw(tags, duration, subtitle)


def _encode_tagged(
    blocks: Iterable[np.ndarray],
    target: Path,
    path: Path,
    export: ExportSettings,
    sample_rate: int,
    channels: int,
    tags: Tags | None,
    chapters: tuple[ChapterMark, ...],
    duration: float | None,
    cover: Callable[[], bytes | None] | None,
    staging: Staging,
    quiet: tuple[float, float] | None = None,
) -> None:
    """Encode into `path` (a temporary file) and tag it; `duration` None: as long as the blocks are.
    `cover` gives the embedded cover once the audio is encoded (it may be drawn meanwhile); `quiet`
    is a stretch (seconds) where two encoders' pieces may be joined."""
    fmt = export.format
    metadata = fmt.encoder_tags(tags) if fmt.encoder_tags is not None and tags is not None else None
    try:
        with contextlib.ExitStack() as stack:
            chapters_file = None
            if fmt.chapter_track and chapters:
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="audiogen-chapters-"))
                chapters_file = Path(folder) / "chapters.txt"
                last_end = duration if duration is not None else chapters[-1].start + 1
                chapters_file.write_text(ffmetadata_chapters(chapters, last_end), encoding="utf-8")
            # Joined pieces carry no container metadata or chapter track: formats that need them
            # are made by one encoder.
            join = fmt.pieces if metadata is None and chapters_file is None else None
            if (
                join is not None
                and quiet is not None
                and isinstance(blocks, Pieces)
                and sample_rate in join.rates
            ):
                scratch = (staging.scratch(target, "first"), staging.scratch(target, "second"))
                written = _encode_side_by_side(
                    blocks, path, scratch, export, join, sample_rate, channels, quiet, target.name
                )
            else:
                encoder = Encoder(
                    path, fmt, export.kbps, sample_rate, channels, metadata, chapters_file, target.name
                )
                written = encoder.encode(blocks)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    if tags is None:
        return
    # Outside the write errors: a cover that could not be drawn says so itself.
    artwork = cover() if cover is not None else None
    try:
        fmt.write_tags(path, tags, chapters, duration if duration is not None else written, artwork)
    except (OSError, MutagenError) as exc:
        raise _cannot_write(target, exc) from None


def _encode_side_by_side(
    stream: Pieces,
    path: Path,
    scratch: tuple[Path, Path],
    export: ExportSettings,
    join: PieceJoin,
    sample_rate: int,
    channels: int,
    quiet: tuple[float, float],
    name: str,
) -> float:
    """Two encoders at once, each on an overlapping piece of the stream, joined into `path` at a
    frame inside the quiet stretch (the pieces are encoded into the `scratch` files); returns the
    seconds written.

    A render waits on its encoder, and LAME uses one core: two of them share the wait on two
    cores. This thread mixes both pieces, a block at a time for whichever encoder has less
    waiting (numpy holds the GIL in much of the mixing, so two mixing threads would mostly take
    turns). Where no frame in the stretch can be joined (see splice.splice_mp3), the session is
    encoded again by one encoder.
    """
    window = (round(quiet[0] * sample_rate), round(quiet[1] * sample_rate))
    spans = join.spans(window, stream.frames)
    fmt = export.format
    first, second = scratch
    encoders: list[Encoder] = []
    pieces = stream.pieces(spans)
    try:
        encoders.append(Encoder(first, fmt, export.kbps, sample_rate, channels, name=name))
        encoders.append(
            Encoder(
                second,
                fmt,
                export.kbps,
                sample_rate,
                channels,
                name=name,
                muxer_arguments=join.second_arguments,
            )
        )
        pending = dict(zip(encoders, pieces))
        while pending:
            encoder = min(pending, key=Encoder.queued)
            if encoder.stopped:  # ffmpeg stopped early: `finish` says why, and the other is killed
                encoder.finish()
            block = next(pending[encoder], None)
            if block is None:
                del pending[encoder]
            elif len(block):  # an empty block: the piece is still playing its bed through, unheard
                encoder.put(block)
        for encoder in encoders:
            encoder.finish()
    except BaseException:
        for encoder in encoders:
            encoder.kill()
        raise
    finally:
        for piece in pieces:  # each holds a bed, which may hold a decoder open
            piece.close()
    try:
        join.join(first, second, spans[1][0], stream.frames, window, path)
    except splice.SpliceError:
        return Encoder(path, fmt, export.kbps, sample_rate, channels, name=name).encode(stream)
    return stream.frames / sample_rate


def _cannot_write(target: Path, exc: Exception) -> OutputError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return OutputError(f"{target}: cannot write the file ({reason}); check the folder and free space")


def encode(
    blocks: Iterable[np.ndarray],
    target: Path,
    sample_rate: int,
    channels: int,
    export: ExportSettings | None = None,
    tags: Tags | None = None,
    chapters: tuple[ChapterMark, ...] = (),
    duration: float | None = None,
) -> Path:
    """Only the audio file (`export` None: MP3 at 128k): encode the blocks, tag the result, rename it
    into place."""
    export = export or export_settings("mp3", "128k")
    target = Path(target)
    check_out_dir(target.parent)
    with Staging() as staging:
        _encode_tagged(
            blocks,
            target,
            staging.path(target),
            export,
            sample_rate,
            channels,
            tags,
            chapters,
            duration,
            None,
            staging,
        )
        staging.commit()
    return target


def export_session(
    blocks: Iterable[np.ndarray],
    target: Path,
    timeline: Timeline,
    tags: Tags,
    sample_rate: int,
    channels: int,
    export: ExportSettings | None = None,
) -> ExportedFiles:
    """The audio file with tags, chapters and cover, plus the cover and transcripts beside it
    (`export` None: MP3 at 128k with both)."""
    export = export or export_settings("mp3", "128k")
    target = Path(target)
    check_out_dir(target.parent)
    chapters = heard_chapters(timeline)
    cover_path = target.with_suffix(COVER_SUFFIX) if export.cover else None
    lines = spoken_lines(timeline) if export.transcript else ()
    texts = transcripts(lines, chapters, tags, timeline.duration) if export.transcript else {}
    text_paths = tuple(target.with_suffix(suffix) for suffix in texts)
    # The cover is drawn while the session is mixed and encoded: a render waits on its encoder, and
    # the mixer's core has time to spare (Pillow's drawing releases the GIL).
    with ThreadPoolExecutor(1, thread_name_prefix="audiogen-cover") as drawing, Staging() as staging:
        drawn = drawing.submit(render_cover, tags, timeline.duration) if cover_path is not None else None
        # Staged (and so renamed) last, the audio file appears only when its companions are in place.
        cover_temp = staging.path(cover_path) if cover_path is not None else None
        for path, text in zip(text_paths, texts.values()):
            staging.write_text(path, text)
        _encode_tagged(
            blocks,
            target,
            staging.path(target),
            export,
            sample_rate,
            channels,
            tags,
            chapters,
            timeline.duration,
            drawn.result if drawn is not None else None,
            staging,
            quiet_stretch(timeline),
        )
        if cover_temp is not None:
            staging.fill(cover_temp, cover_path, drawn.result())
        staging.commit()
    return ExportedFiles(target, chapters, cover_path, text_paths, lines)

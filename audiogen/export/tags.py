"""Tags, chapters and cover art in each container's own format, written with mutagen.

- MP3 and WAV: ID3v2.3 (read by more players than v2.4), chapters as CHAP frames with a
  CTOC table of contents (ID3v2 Chapter Frame Addendum), cover as APIC.
- Ogg Vorbis, Ogg Opus, FLAC: Vorbis comments, chapters as CHAPTERxxx/CHAPTERxxxNAME
  (the Vorbis chapter extension ffmpeg and many players read), cover as a FLAC picture
  block (METADATA_BLOCK_PICTURE in Ogg).
- M4A: iTunes-style atoms, cover as covr; the chapters are already in the file
  (ffmpeg writes them when encoding, see formats.encode_audio).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from mutagen.flac import FLAC, Picture
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDRC,
    TIT2,
    TLEN,
    TPE1,
    TRCK,
    CTOCFlags,
    PictureType,
)
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from audiogen.models import ChapterMark, Tags

UTF16 = 1  # ID3v2.3 knows Latin-1 and UTF-16 only


def _ends(chapters: tuple[ChapterMark, ...], duration: float) -> list[float]:
    return [chapters[i + 1].start if i + 1 < len(chapters) else duration for i in range(len(chapters))]


def _frame_size(frame) -> int:
    """Bytes the frame takes in an ID3v2.3 tag (saved alone, without padding)."""
    probe = ID3()
    probe.add(frame)
    data = io.BytesIO()
    probe.save(data, v1=0, v2_version=3, padding=lambda info: 0)
    return len(data.getvalue())


def _chapter_frames(chapters: tuple[ChapterMark, ...], duration: float) -> list:
    """CTOC and CHAP frames whose order in the file is the chapters' order in time.

    mutagen writes frames sorted by size, then by element ID, and ffmpeg (like other
    players) lists chapters in file order. Element IDs are never shown to listeners, so
    each is padded until all CHAP frames have the same size: the IDs then set the order.
    """

    def chap(element_id: str, chapter: ChapterMark, end: float) -> CHAP:
        return CHAP(
            element_id=element_id,
            start_time=round(chapter.start * 1000),
            end_time=round(end * 1000),
            sub_frames=[TIT2(encoding=UTF16, text=chapter.title)],
        )

    ends = _ends(chapters, duration)
    ids = [f"chp{i:03d}" for i in range(len(chapters))]
    sizes = [_frame_size(chap(i, c, e)) for i, c, e in zip(ids, chapters, ends)]
    ids = [element_id + "_" * (max(sizes) - size) for element_id, size in zip(ids, sizes)]
    frames = [chap(i, c, e) for i, c, e in zip(ids, chapters, ends)]
    toc = CTOC(
        element_id="toc",
        flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
        child_element_ids=ids,
        sub_frames=[TIT2(encoding=UTF16, text="Chapters")],
    )
    return [toc, *frames]


def id3_frames(tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None) -> list:
    frames = [
        TIT2(encoding=UTF16, text=tags.title),
        TPE1(encoding=UTF16, text=tags.artist),
        TALB(encoding=UTF16, text=tags.album),
        TCON(encoding=UTF16, text=tags.genre),
        TLEN(encoding=UTF16, text=str(round(duration * 1000))),
    ]
    if tags.year:
        frames.append(TDRC(encoding=UTF16, text=tags.year))  # saved as TYER in v2.3
    if tags.track:
        frames.append(TRCK(encoding=UTF16, text=str(tags.track)))
    if tags.comment:
        frames.append(COMM(encoding=UTF16, lang="eng", desc="", text=tags.comment))
    if cover:
        frames.append(
            APIC(encoding=UTF16, mime="image/jpeg", type=PictureType.COVER_FRONT, desc="Cover", data=cover)
        )
    if chapters:
        frames += _chapter_frames(chapters, duration)
    return frames


def _chapter_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return (
        f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"
    )


def vorbis_comments(tags: Tags, chapters: tuple[ChapterMark, ...]) -> dict[str, str]:
    comments = {"TITLE": tags.title, "ARTIST": tags.artist, "ALBUM": tags.album, "GENRE": tags.genre}
    if tags.year:
        comments["DATE"] = tags.year
    if tags.track:
        comments["TRACKNUMBER"] = str(tags.track)
    if tags.comment:
        comments["COMMENT"] = tags.comment
    for number, chapter in enumerate(chapters, 1):
        comments[f"CHAPTER{number:03d}"] = _chapter_time(chapter.start)
        comments[f"CHAPTER{number:03d}NAME"] = chapter.title
    return comments


def _picture(cover: bytes) -> Picture:
    from PIL import Image

    with Image.open(io.BytesIO(cover)) as image:
        width, height = image.size
    picture = Picture()
    picture.type, picture.mime, picture.desc = PictureType.COVER_FRONT, "image/jpeg", "Cover"
    picture.width, picture.height, picture.depth = width, height, 24
    picture.data = cover
    return picture


def _write_id3(path: Path, fmt: str, frames: list) -> None:
    if fmt == "wav":
        wav = WAVE(path)
        if wav.tags is None:
            wav.add_tags()
        wav.tags.clear()
        for frame in frames:
            wav.tags.add(frame)
        wav.tags.update_to_v23()
        wav.save(v2_version=3)
    else:
        id3 = ID3()  # a fresh tag replaces the encoder's
        for frame in frames:
            id3.add(frame)
        id3.update_to_v23()
        id3.save(path, v2_version=3)


def _write_vorbis(path: Path, fmt: str, comments: dict[str, str], cover: bytes | None) -> None:
    audio = {"ogg": OggVorbis, "opus": OggOpus, "flac": FLAC}[fmt](path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    audio.tags.update(comments)
    if fmt == "flac":
        audio.clear_pictures()
        if cover:
            audio.add_picture(_picture(cover))
    elif cover:
        audio.tags["METADATA_BLOCK_PICTURE"] = base64.b64encode(_picture(cover).write()).decode("ascii")
    audio.save()


def _write_mp4(path: Path, tags: Tags, cover: bytes | None) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    atoms = {
        "\xa9nam": [tags.title],
        "\xa9ART": [tags.artist],
        "\xa9alb": [tags.album],
        "\xa9gen": [tags.genre],
    }
    if tags.year:
        atoms["\xa9day"] = [tags.year]
    if tags.track:
        atoms["trkn"] = [(tags.track, 0)]
    if tags.comment:
        atoms["\xa9cmt"] = [tags.comment]
    if cover:
        atoms["covr"] = [MP4Cover(cover, imageformat=MP4Cover.FORMAT_JPEG)]
    audio.tags.update(atoms)
    audio.save()


def write_tags(
    path: Path,
    fmt: str,
    tags: Tags,
    chapters: tuple[ChapterMark, ...],
    duration: float,
    cover: bytes | None = None,
) -> None:
    """Replace whatever tags the encoder wrote with ours (chapters and cover included)."""
    if fmt in ("mp3", "wav"):
        _write_id3(path, fmt, id3_frames(tags, chapters, duration, cover))
    elif fmt in ("ogg", "opus", "flac"):
        _write_vorbis(path, fmt, vorbis_comments(tags, chapters), cover)
    elif fmt == "m4a":
        _write_mp4(path, tags, cover)
    else:
        raise ValueError(f"no tag writer for {fmt!r}")

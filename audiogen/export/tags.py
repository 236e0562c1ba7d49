"""Tags, chapters and cover art in each container's own format, written with mutagen.

- MP3 and WAV: ID3v2.3 (read by more players than v2.4), chapters as CHAP frames with a
  CTOC table of contents (ID3v2 Chapter Frame Addendum), cover as APIC.
- Ogg Vorbis, Ogg Opus, FLAC: Vorbis comments, chapters as CHAPTERxxx/CHAPTERxxxNAME
  (the Vorbis chapter extension ffmpeg and many players read), cover as a FLAC picture
  block (METADATA_BLOCK_PICTURE in Ogg).
- M4A: iTunes-style atoms, cover as covr; the chapters are already in the file
  (ffmpeg writes them when encoding, see formats.Encoder).

Each format's writer is named by its AudioFormat (formats.py), so nothing here branches on a name.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
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

# Replaces whatever tags the encoder wrote with ours: (path, tags, chapters, duration, cover).
TagWriter = Callable[[Path, Tags, tuple[ChapterMark, ...], float, "bytes | None"], None]


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


def _save_id3(id3: ID3, frames: list) -> None:
    id3.clear()  # ours replace whatever the encoder wrote
    for frame in frames:
        id3.add(frame)
    id3.update_to_v23()


def write_id3(
    path: Path, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None
) -> None:
    """MP3: an ID3v2.3 tag at the file's start (saved over the encoder's)."""
    id3 = ID3()
    _save_id3(id3, id3_frames(tags, chapters, duration, cover))
    id3.save(path, v2_version=3)


def write_wav_id3(
    path: Path, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None
) -> None:
    """WAV: an ID3v2.3 tag in an `id3 ` chunk (the RIFF INFO list is the encoder's, see riff_info)."""
    wav = WAVE(path)
    if wav.tags is None:
        wav.add_tags()
    _save_id3(wav.tags, id3_frames(tags, chapters, duration, cover))
    wav.save(v2_version=3)


def riff_info(tags: Tags) -> dict[str, str]:
    """WAV's RIFF INFO fields, which only the encoder writes (mutagen cannot)."""
    return {
        "title": tags.title,
        "artist": tags.artist,
        "album": tags.album,
        "genre": tags.genre,
        "comment": tags.comment,
        "date": tags.year,
    }


def _write_vorbis(audio, tags: Tags, chapters: tuple[ChapterMark, ...]) -> None:
    if audio.tags is None:
        audio.add_tags()
    audio.tags.clear()
    audio.tags.update(vorbis_comments(tags, chapters))


def _ogg_writer(kind: type[OggVorbis] | type[OggOpus]) -> TagWriter:
    def write(
        path: Path, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None
    ) -> None:
        """Ogg: Vorbis comments, the cover as METADATA_BLOCK_PICTURE."""
        audio = kind(path)
        _write_vorbis(audio, tags, chapters)
        if cover:
            audio.tags["METADATA_BLOCK_PICTURE"] = base64.b64encode(_picture(cover).write()).decode("ascii")
        audio.save()

    return write


write_ogg_vorbis = _ogg_writer(OggVorbis)
write_ogg_opus = _ogg_writer(OggOpus)


def write_flac(
    path: Path, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None
) -> None:
    """FLAC: Vorbis comments, the cover as a picture block."""
    audio = FLAC(path)
    _write_vorbis(audio, tags, chapters)
    audio.clear_pictures()
    if cover:
        audio.add_picture(_picture(cover))
    audio.save()


def write_mp4(
    path: Path, tags: Tags, chapters: tuple[ChapterMark, ...], duration: float, cover: bytes | None
) -> None:
    """M4A: iTunes-style atoms; the chapter track is the muxer's (AudioFormat.chapter_track)."""
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

"""What a library records about its sessions: typed, immutable catalog entries.

The runner makes a session's entry once, from its render's result, and keeps it in the session's
key file; a rebuild that skips the session reads it back from there. The playlist, catalog.json,
index.html and the feed are all made from entries, so nothing reads a transcript file back.
An entry's JSON form (`to_dict`) is both the key file's record and catalog.json's session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiogen import __version__
from audiogen.models import SoundSettings, SpokenLine, VoiceSettings

if TYPE_CHECKING:
    from audiogen.models import SessionSpec

CHAPTERS_SUFFIX = ".chapters.json"  # a session's Podcasting 2.0 chapters, beside its audio
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def _record(value: Any) -> dict:
    """A flat dataclass's fields as a new dict (its __dict__ holds exactly its fields, in order):
    much quicker than dataclasses.asdict, which a 1,000-session rebuild would feel."""
    return dict(vars(value))


@dataclass(frozen=True)
class PodcastSettings:
    """What the library's podcast feed says about it (manifest [library] keys of the same names)."""

    base_url: str | None = None  # the public address of the library folder, ending in "/"; None: no feed.xml
    description: str = ""  # "" : a line made from the sessions
    author: str = "audiogen"
    email: str = ""  # the owner's, for podcast directories
    language: str = "en"

    @classmethod
    def from_dict(cls, data: Any) -> PodcastSettings:
        return cls(**data)


@dataclass(frozen=True)
class SessionSettings:
    """The settings that shape a session's files: part of its key, and shown in the catalog. Every
    setting of the settings table that a session's files depend on is here (a test checks each
    changes the key); the article, filter words and templates enter the key by their contents."""

    minutes: float
    template: str | None
    listener: str | None
    intention: str | None
    voice: VoiceSettings
    sound: SoundSettings
    format: str
    bitrate: str
    album: str | None
    language: str | None = None
    narrator: str | None = None
    cover: bool = True
    transcript: bool = True

    @classmethod
    def of(cls, spec: SessionSpec) -> SessionSettings:
        return cls(
            spec.minutes,
            spec.template,
            spec.listener,
            spec.intention,
            spec.voice,
            spec.sound,
            spec.format,
            spec.bitrate,
            spec.album,
            spec.language,
            spec.narrator,
            spec.cover,
            spec.transcript,
        )

    def to_dict(self) -> dict:
        return {**_record(self), "voice": _record(self.voice), "sound": _record(self.sound)}

    @classmethod
    def from_dict(cls, data: Any) -> SessionSettings:
        return cls(
            **{
                **data,
                "voice": VoiceSettings(**data["voice"]),
                "sound": SoundSettings(**data["sound"]),
            }
        )


@dataclass(frozen=True)
class CatalogChapter:
    start: float  # seconds, where the chapter's first sound is heard
    title: str


@dataclass(frozen=True)
class CatalogEntry:
    """One session as the library's own files show it (file names are relative to the library)."""

    name: str
    title: str  # the article's title and the variant, e.g. "Letting go (10 min)"
    article_title: str
    article: str  # the article's path as the manifest names it
    file: str  # the audio
    files: tuple[str, ...]  # every file of the session: audio, cover, transcripts, chapters JSON
    duration: float  # seconds
    loudness_lufs: float
    true_peak_dbtp: float
    themes: tuple[str, ...]
    template: str
    listener: str | None
    chapters: tuple[CatalogChapter, ...]
    settings: SessionSettings
    key: str  # the hash of the session's inputs
    built: str  # ISO 8601 time of the render: the feed's pubDate, kept while the session is skipped
    bytes: int  # the audio's size: the feed enclosure's length
    audio_sha256: str  # versions the feed's enclosure address
    transcript: tuple[SpokenLine, ...]  # the lines the transcripts hold; empty when none were written

    @property
    def cover(self) -> str | None:
        return next((f for f in self.files if Path(f).suffix.lower() in IMAGE_SUFFIXES), None)

    @property
    def chapters_file(self) -> str | None:
        name = chapters_name(self.name)
        return name if name in self.files else None

    def to_dict(self) -> dict:
        """JSON-shaped (lists, not tuples), so it equals what json.loads gives back."""
        return {
            **_record(self),
            "files": list(self.files),
            "themes": list(self.themes),
            "chapters": [_record(c) for c in self.chapters],
            "settings": self.settings.to_dict(),
            "transcript": [_record(line) for line in self.transcript],
        }

    @classmethod
    def from_dict(cls, data: Any) -> CatalogEntry:
        """The entry `to_dict` gave. A record of another shape (an older audiogen's, a hand-edited
        one) raises TypeError (a field missing or unknown), KeyError or ValueError: refused whole,
        never half read."""
        return cls(
            **{
                **data,
                "files": tuple(data["files"]),
                "themes": tuple(data["themes"]),
                "chapters": tuple(CatalogChapter(**c) for c in data["chapters"]),
                "settings": SessionSettings.from_dict(data["settings"]),
                "transcript": tuple(SpokenLine(**line) for line in data["transcript"]),
            }
        )


@dataclass(frozen=True)
class Catalog:
    """A whole library: catalog.json's content, and what the index and the feed are made from."""

    library: str
    sessions: tuple[CatalogEntry, ...]
    podcast: PodcastSettings | None = None
    cover: str | None = None  # the library's cover, when it has one

    @property
    def total_duration(self) -> float:
        return round(sum(e.duration for e in self.sessions), 3)

    def to_dict(self) -> dict:
        catalog: dict = {
            "library": self.library,
            "generator": f"audiogen {__version__}",
            "sessions": [e.to_dict() for e in self.sessions],
            "total_duration": self.total_duration,
        }
        if self.podcast is not None:
            catalog["podcast"] = _record(self.podcast)
        if self.cover is not None:
            catalog["cover"] = self.cover
        return catalog

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        """catalog.json's data read back; ValueError (or TypeError, KeyError) when it is not one."""
        podcast = data.get("podcast")
        return cls(
            str(data["library"]),
            tuple(CatalogEntry.from_dict(s) for s in data["sessions"]),
            PodcastSettings.from_dict(podcast) if podcast is not None else None,
            data.get("cover"),
        )


def chapters_name(session_name: str) -> str:
    return f"{session_name}{CHAPTERS_SUFFIX}"

"""Typed, immutable data passed between the pipeline stages.

Every stage takes and returns these; no stage imports another stage.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

# ---------------------------------------------------------------- read

# Languages audiogen narrates (templates, themes and voices): English until others exist.
SUPPORTED_LANGUAGES = {"en": "English"}


@dataclass(frozen=True)
class Section:
    """A heading (may be empty for the article's lead) and its clean paragraphs."""

    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    """An article reduced to what a meditation may use: no markup, no boilerplate."""

    title: str
    sections: tuple[Section, ...]
    source: str

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p for s in self.sections for p in s.paragraphs)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


# ---------------------------------------------------------------- themes


@dataclass(frozen=True)
class Themes:
    """What the meditation draws from the article; every string is speakable."""

    title: str
    labels: tuple[str, ...]
    insights: tuple[str, ...]
    questions: tuple[str, ...]
    affirmations: tuple[str, ...]
    practices: tuple[str, ...]
    keywords: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "labels": list(self.labels),
            "insights": list(self.insights),
            "questions": list(self.questions),
            "affirmations": list(self.affirmations),
            "practices": list(self.practices),
            "keywords": list(self.keywords),
        }


# ---------------------------------------------------------------- script cues


@dataclass(frozen=True)
class Utterance:
    """One sentence as the engine must speak it; the key of a speech clip."""

    text: str
    rate: float = 1.0  # multiplier of the session's base rate
    volume: float = 1.0


@dataclass(frozen=True)
class Speech:
    utterance: Utterance
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short
    gap: float = 0.8  # silence after the sentence, seconds


@dataclass(frozen=True)
class Pause:
    seconds: float
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short


@dataclass(frozen=True)
class ElasticPause:
    """A pause that absorbs the session's silence budget, within bounds."""

    min_seconds: float
    max_seconds: float
    weight: float = 1.0
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short


@dataclass(frozen=True)
class Breath:
    """Guided breath cycles: a cue word at the start of each phase."""

    inhale: float
    hold: float
    exhale: float
    count: int
    words: tuple[Utterance, Utterance, Utterance]
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short

    @property
    def seconds(self) -> float:
        return (self.inhale + self.hold + self.exhale) * self.count


@dataclass(frozen=True)
class Bell:
    kind: str = "bowl"
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short


@dataclass(frozen=True)
class Chapter:
    title: str
    line: int = 0
    optional: int = 0  # 0: always kept; higher levels are dropped first when time is short


Cue = Speech | Pause | ElasticPause | Breath | Bell | Chapter


@dataclass(frozen=True)
class Script:
    """A rendered meditation: the markup a person can review and the cues parsed from it once."""

    title: str
    template: str
    markup: str
    cues: tuple[Cue, ...]
    fade_out: float | None = None  # seconds the template asks for ([fade 120s]), e.g. a sleep session

    def utterances(self) -> tuple[Utterance, ...]:
        """Every distinct utterance the engine must synthesise, in first-use order."""
        seen: dict[Utterance, None] = {}
        for cue in self.cues:
            if isinstance(cue, Speech):
                seen.setdefault(cue.utterance, None)
            elif isinstance(cue, Breath):
                for word in cue.words:
                    if word.text:
                        seen.setdefault(word, None)
        return tuple(seen)


# ---------------------------------------------------------------- speech


@dataclass(frozen=True)
class VoiceSettings:
    engine: str = "hibari"  # the neural voice; why: README, Speech > Why this voice
    voice: str | None = None  # None: the engine's own default (hibari: heart; pyttsx3: en-us+f4)
    rate: int = 120  # words per minute inside a sentence
    pitch: int | None = None  # espeak scale 0-99; None: the engine's default (pyttsx3: 40; hibari has none)
    warmth: float = 0.0  # 0 (off) to 1: gentle EQ and a light room on every clip


@dataclass(frozen=True)
class Clip:
    """A synthesised utterance on disk (mono WAV) and its measured length."""

    utterance: Utterance
    path: Path
    duration: float
    sample_rate: int


@dataclass(frozen=True)
class VoiceTrack:
    clips: tuple[Clip, ...]
    settings: VoiceSettings
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.utterance: c for c in self.clips})

    def clip_for(self, utterance: Utterance) -> Clip:
        return self._index[utterance]


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class PlacedClip:
    start: float
    clip: Clip


@dataclass(frozen=True)
class PlacedBell:
    start: float
    kind: str


@dataclass(frozen=True)
class ChapterMark:
    start: float
    title: str


@dataclass(frozen=True)
class SpokenLine:
    """A sentence (or breath cue word) as heard: from its first to its last voiced sound."""

    start: float  # seconds from the session's start
    end: float
    text: str


@dataclass(frozen=True)
class Timeline:
    """Where every sound sits in the session, in seconds from the start."""

    duration: float
    clips: tuple[PlacedClip, ...]
    bells: tuple[PlacedBell, ...]
    chapters: tuple[ChapterMark, ...]
    dropped_levels: tuple[int, ...] = ()  # optional levels left out so the words fit

    @property
    def speech_intervals(self) -> tuple[tuple[float, float], ...]:
        return tuple((p.start, p.start + p.clip.duration) for p in self.clips)


# ---------------------------------------------------------------- sound


@dataclass(frozen=True)
class SoundSettings:
    background: str = "pink+drone"
    seed: int = 1
    loudness: float = -16.0  # LUFS integrated
    true_peak: float = -1.0  # dBTP ceiling
    sample_rate: int = 44100
    channels: int = 2
    fade_in: float = 4.0
    fade_out: float = 6.0
    bed_below_voice_db: float = 20.0
    bed_rise_in_silence_db: float = 6.0
    background_gain_db: float = 0.0  # the user's adjustment of the bed's level
    mono: bool = False  # the user asked for one channel


class BedSource(Protocol):
    """A background as the mixer reads it (audiogen.background.Bed is one): a stream of frames at
    unity gain, with the bell strikes and the facts the mix and the plan need."""

    channels: int  # 2 when its sides differ, 1 when both carry the same sound (blocks are (n, 2) either way)
    needs_stereo: bool  # its sound depends on two channels (binaural beats)
    silent: bool  # no bed at all: the mix skips it
    level_db: float  # its RMS in dBFS, from which the mixer sets its level
    chapter_bell: str | None  # the bell kind struck at chapter marks, if any

    def block(self, n: int) -> np.ndarray:
        """The next `n` frames, (n, 2) float32, an array the caller may change."""

    def skip(self, n: int) -> None:
        """Move on `n` frames without making them."""

    def bell(self, kind: str) -> np.ndarray:
        """One strike of the bell `kind`, (frames, 2) float32, peak 1 (read-only: copy to change it)."""

    def close(self) -> None:
        """Release what it holds open (a decoder reading a file)."""


BedFactory = Callable[[], BedSource]  # a fresh bed from its first frame: each pass over the session takes one
# What planning measured of a bed, kept for later sessions: (name, measure) -> the values, from
# an earlier session with the same bed or measured now (audiogen.codec_offsets.bed_keeper).
BedKeeper = Callable[[str, Callable[[], "np.ndarray"]], "np.ndarray"]


@runtime_checkable
class Pieces(Protocol):
    """The mastered session (audiogen.mix.MasteredStream is one): iterated whole, or as overlapping
    pieces, each its own generator of blocks (empty ones while it gets ready): two encoders at once."""

    frames: int  # the session's length in frames

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def pieces(self, spans: list[tuple[int, int]]) -> list[Generator[np.ndarray, None, None]]: ...


@dataclass(frozen=True)
class MasterStats:
    integrated_lufs: float
    true_peak_dbtp: float
    gain_db: float


# ---------------------------------------------------------------- session


@dataclass(frozen=True)
class SessionSpec:
    """Everything one session needs; what the CLI and a manifest fill in."""

    article: Path | None  # None renders the built-in sample article
    minutes: float = 10.0
    out_dir: Path = Path("output")
    template: str | None = None
    listener: str | None = None
    intention: str | None = None
    voice: VoiceSettings = VoiceSettings()
    sound: SoundSettings = SoundSettings()
    format: str = "mp3"
    bitrate: str = "128k"
    cache_dir: Path | None = None
    use_cache: bool = True
    templates_dir: Path | None = None
    filter_words: Path | None = None
    language: str | None = None  # the article's language; None: detected (an unsupported one is refused)
    narrator: str | None = None  # the artist tag; default: audiogen and the voice
    album: str | None = None  # the album tag; default "audiogen" (a library sets its name)
    track: int | None = None  # track number within a library
    cover: bool = True  # generate cover art, embed it and write it beside the audio
    transcript: bool = True  # write .vtt, .lrc and .txt transcripts beside the audio


@dataclass(frozen=True)
class SessionResult:
    path: Path
    title: str
    duration: float
    master: MasterStats
    chapters: tuple[ChapterMark, ...]
    cover: Path | None = None
    transcripts: tuple[Path, ...] = ()
    themes: Themes | None = None  # what the session drew from the article
    template: str = ""  # the template the script was rendered from
    # The transcripts' lines as export wrote them (empty without transcripts), so nothing reads them back.
    transcript_lines: tuple[SpokenLine, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """The article's theme labels."""
        return self.themes.labels if self.themes is not None else ()

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file the session wrote: the audio, its cover and its transcripts."""
        return (self.path, *([self.cover] if self.cover is not None else []), *self.transcripts)


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class Tags:
    """What the file says about itself, in every container's own tag format."""

    title: str
    artist: str = "audiogen"
    album: str = "audiogen"
    genre: str = "Meditation"
    comment: str = ""
    year: str = ""
    track: int | None = None
    themes: tuple[str, ...] = ()  # theme labels, shown on the cover


@dataclass(frozen=True)
class ExportedFiles:
    """The files one session produced, each complete under its final name."""

    audio: Path
    chapters: tuple[ChapterMark, ...]  # as written in the file: at each chapter's first sound
    cover: Path | None = None
    transcripts: tuple[Path, ...] = ()
    transcript_lines: tuple[SpokenLine, ...] = ()  # what the transcripts say, when they were written

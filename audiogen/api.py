"""The Python API: what the command line does, as functions that return data and raise
`AudiogenError`s (never `SystemExit`).

    import audiogen
    result = audiogen.render("article.md", out="sessions", minutes=5, voice_warmth=0.4)
    result.path, result.files, result.duration, result.master.integrated_lufs, result.chapters
    audiogen.themes("article.md").insights
    print(audiogen.script("article.md", minutes=10).markup)
    summary = audiogen.build("library.toml", workers=2)

Settings are the keywords of the settings table (audiogen/settings.py), named like the command
line's options with underscores. pydub is the interchange with notebooks: `background=` also
takes a `pydub.AudioSegment` (looped under the voice like a background file), and
`audio_segment(path)` loads a session as one.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiogen import settings as table
from audiogen.errors import AudioError, InputError, SettingError
from audiogen.models import Script, SessionResult, SessionSpec, Themes

if TYPE_CHECKING:
    from pydub import AudioSegment

    from audiogen.library import BuildSummary
    from audiogen.library.runner import BuildProgress

PathLike = str | Path


def session_spec(
    article: PathLike | None = None, *, out: PathLike = "output", cache: bool = True, **values: Any
) -> SessionSpec:
    """The session the keywords describe, every value checked against the settings table
    (None leaves a setting at its default)."""
    checked, problems, unknown = table.check_all({k: v for k, v in values.items() if v is not None})
    lines = [f"unknown setting {name!r}{_close(name)}" for name in unknown]
    lines += [f"{p.setting.name}: {p.describe()}" for p in problems]
    if lines:
        raise SettingError("; ".join(lines))
    spec = SessionSpec(
        article=Path(article) if article is not None else None, out_dir=Path(out), use_cache=cache
    )
    spec = table.apply(spec, checked)
    return table.apply(spec, {"format": spec.format.lower()})


def _close(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(table.BY_NAME), n=1)
    return f"; did you mean {close[0]!r}?" if close else " (see audiogen.settings.SETTINGS)"


def render(
    article: PathLike | None = None,
    *,
    out: PathLike = "output",
    background: str | PathLike | AudioSegment | None = None,
    cache: bool = True,
    report: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **values: Any,
) -> SessionResult:
    """Render a session (None: the built-in sample article); returns what was written and measured.

    `background` is a background name (`"rain+theta"`), an audio file, or a pydub AudioSegment;
    `report` hears what each stage does, `progress` (done, total) the sentences spoken.
    """
    from audiogen.pipeline import render_session

    with tempfile.TemporaryDirectory(prefix="audiogen-api-") as scratch:
        if background is not None:
            values["background"] = _background_file(background, Path(scratch))
        return render_session(session_spec(article, out=out, cache=cache, **values), report, progress)


def _background_file(background: Any, scratch: Path) -> str:
    """A background setting: names and paths as they are; an AudioSegment written to a WAV file."""
    if isinstance(background, (str, Path)):
        return str(background)
    from pydub import AudioSegment

    if not isinstance(background, AudioSegment):
        raise SettingError(
            f"background: expected a name, a path or a pydub.AudioSegment, not {type(background).__name__}"
        )
    if len(background) < 500:
        raise SettingError("background: the AudioSegment is shorter than half a second; make a longer loop")
    path = scratch / "background.wav"
    background.export(path, format="wav")
    return str(path)


def themes(
    article: PathLike | None = None, *, filter_words: PathLike | None = None, language: str | None = None
) -> Themes:
    """What audiogen finds in an article: title, labels, insights, questions, affirmations, practices.
    An article in a language audiogen cannot narrate yet is refused (InputError) unless `language` says."""
    from audiogen.pipeline import article_themes

    return article_themes(session_spec(article, filter_words=filter_words, language=language))[1]


def script(article: PathLike | None = None, **values: Any) -> Script:
    """The session's script (markup and cues), without audio."""
    from audiogen.pipeline import session_script

    return session_script(session_spec(article, **values))


def build(
    manifest: PathLike,
    *,
    out: PathLike | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    prune: bool = False,
    cache_dir: PathLike | None = None,
    progress: BuildProgress | None = None,
    base_url: str | None = None,
) -> BuildSummary:
    """Build the library a manifest describes. A bad manifest raises ManifestError (every problem
    in `.problems`); sessions that fail are in `summary.with_status("failed")`, the rest are built.
    `base_url`, the library folder's public address, overrides [library] base_url (a feed.xml)."""
    from audiogen.library import build_library, load_manifest

    plan = load_manifest(
        Path(manifest), Path(out) if out else None, Path(cache_dir) if cache_dir else None, base_url
    )
    return build_library(plan, workers, scheduler, prune, progress)


def audio_segment(path: PathLike) -> AudioSegment:
    """A session's audio file as a pydub AudioSegment (decoded by audiogen's ffmpeg; no ffprobe needed)."""
    import mutagen
    from pydub import AudioSegment

    from audiogen.tools import decode_command

    path = Path(path)
    info = mutagen.File(path)
    if info is None or not getattr(info.info, "channels", None):
        raise InputError(f"{path}: not an audio file audiogen can read")
    channels, rate = int(info.info.channels), int(getattr(info.info, "sample_rate", 44100) or 44100)
    decoded = subprocess.run(decode_command(path, "s16le", channels, rate), capture_output=True)
    if decoded.returncode != 0:
        raise AudioError(
            f"{path}: ffmpeg cannot decode it ({decoded.stderr.decode(errors='replace').strip()})"
        )
    return AudioSegment(data=decoded.stdout, sample_width=2, frame_rate=rate, channels=channels)

"""The one orchestrator: calls the stages in order and hands each the previous one's data."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from audiogen.background import Bed
from audiogen.codec_offsets import CodecOffsets
from audiogen.errors import AudiogenError
from audiogen.export import check_format, encode, export_session, render_cover
from audiogen.mix import codec_loudness_change, master, output_channels, probe_excerpt
from audiogen.models import (
    Article,
    Clip,
    Script,
    SessionResult,
    SessionSpec,
    SoundSettings,
    Tags,
    Themes,
    Timeline,
    VoiceSettings,
)
from audiogen.read import read_article
from audiogen.scripting import build_script
from audiogen.speak import SpeechCache, default_cache_dir, prepare_for_speech, synthesize_track
from audiogen.theming import extract_themes
from audiogen.timing import plan_timeline

Report = Callable[[str], None]
Progress = Callable[[int, int], None]


def slugify(text: str, fallback: str = "session") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or fallback


def article_themes(spec: SessionSpec) -> tuple[Article, Themes]:
    article = read_article(spec.article, spec.filter_words, spec.language)
    return article, extract_themes(article)


def session_script(spec: SessionSpec) -> Script:
    _, themes = article_themes(spec)
    return build_script(
        themes, spec.minutes, spec.template, spec.listener, spec.intention, spec.templates_dir
    )


def fitted_sound(spec: SessionSpec, script: Script | None = None) -> SoundSettings:
    """Fades no longer than a twentieth of a short session, so the words still fit.

    A script that asks for a long fade-out ([fade 180s], e.g. sleep) gets it, up to a
    fifth of the session.
    """
    seconds = spec.minutes * 60
    fade_out, share = spec.sound.fade_out, 0.05
    if script is not None and script.fade_out is not None:
        fade_out, share = script.fade_out, 0.2
    return replace(
        spec.sound,
        fade_in=min(spec.sound.fade_in, max(1.0, seconds * 0.04)),
        fade_out=min(fade_out, max(2.0, seconds * share)),
    )


def _lead_in(sound: SoundSettings) -> float:
    """The first word or bell is heard once the fade-in is over, never faded itself (a
    'Welcome' 3 s into a 4 s fade was 5 dB down and the recognizer missed it), as the last
    ends before the fade-out (the timeline's tail)."""
    return max(1.5, sound.fade_in)


def estimated_timeline(script: Script, spec: SessionSpec) -> Timeline:
    """The timeline with speech lengths estimated from word counts: a plan without audio."""
    clips = {}
    for utterance in script.utterances():
        words = len(prepare_for_speech(utterance.text).split())  # as spoken: '7:30' is two words
        seconds = words * 60.0 / (spec.voice.rate * utterance.rate) + 0.5
        clips[utterance] = Clip(utterance, Path(), seconds, 22050)
    sound = fitted_sound(spec, script)
    return plan_timeline(script, clips, spec.minutes * 60, lead_in=_lead_in(sound), tail=sound.fade_out)


def _cache_folder(spec: SessionSpec) -> Path:
    return Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()


def codec_offset(spec: SessionSpec, sound: SoundSettings, measure_change: Callable[[], float]) -> float:
    """The encoder's loudness change for this format, bitrate and bed: measured once and kept
    in the cache folder (codec_offsets.py); --no-cache measures it every time."""
    if not spec.use_cache:
        return measure_change()
    key = f"{spec.format}:{spec.bitrate}:{sound.sample_rate}:{sound.channels}:{sound.background}"
    return CodecOffsets(_cache_folder(spec)).get(key, measure_change)


def clear_cache(cache_dir: Path | None = None) -> int:
    """Empty the cache folder: speech clips, engine records and the encoders' loudness changes
    (a stale change would misplace every later session's loudness). Returns the clips removed."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    removed = SpeechCache(folder).clear()
    CodecOffsets(folder).clear()
    return removed


def render_session(
    spec: SessionSpec,
    report: Report | None = None,
    speech_progress: Progress | None = None,
    file_name: str | None = None,
) -> SessionResult:
    report = report or (lambda message: None)

    def bed_factory() -> Bed:
        return Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate)

    bed = bed_factory()  # an unknown background or unreadable file fails now, before any speech is made
    channels = output_channels(bed, spec.sound)
    bed.close()
    check_format(spec.format, spec.bitrate)  # and so do an unknown format, bitrate or encoder
    article, themes = article_themes(spec)
    report(f"read {article.source}: {article.title!r} ({', '.join(themes.labels)})")
    script = build_script(
        themes, spec.minutes, spec.template, spec.listener, spec.intention, spec.templates_dir
    )
    sound = replace(fitted_sound(spec, script), channels=channels)
    utterances = script.utterances()
    report(f"script {script.template!r}: {len(utterances)} sentences to speak")
    track = synthesize_track(utterances, spec.voice, spec.cache_dir, spec.use_cache, speech_progress, report)
    timeline = plan_timeline(
        script,
        {c.utterance: c for c in track.clips},
        spec.minutes * 60,
        lead_in=_lead_in(sound),
        tail=sound.fade_out,
    )
    target = Path(spec.out_dir) / f"{file_name or slugify(script.title)}.{spec.format}"
    tags = Tags(
        title=script.title,
        artist=spec.narrator or f"audiogen ({track.settings.voice})",
        album=spec.album or "audiogen",
        comment=f"From the article {article.title!r} ({Path(article.source).name}); "
        f"template {script.template}, {spec.minutes:g} minute{'s' if spec.minutes != 1 else ''}"
        + "".join(f". {note}" for note in bed.notes),
        year=str(date.today().year),
        track=spec.track,
        themes=themes.labels,
    )

    def probe_codec(blocks, path):
        return encode(
            blocks,
            path.with_suffix(f".{spec.format}"),
            sound.sample_rate,
            sound.channels,
            spec.format,
            spec.bitrate,
        )

    codec_change = codec_offset(
        spec,
        sound,
        lambda: codec_loudness_change(
            probe_excerpt(timeline, bed_factory, sound), sound.sample_rate, probe_codec
        ),
    )
    report(f"mixing and encoding {target}")
    stats, files = master(
        timeline,
        bed_factory,
        sound,
        lambda blocks: export_session(
            blocks,
            target,
            timeline,
            tags,
            sound.sample_rate,
            sound.channels,
            spec.format,
            spec.bitrate,
            cover=spec.cover,
            transcript=spec.transcript,
        ),
        codec_change,
    )
    return SessionResult(
        target,
        script.title,
        timeline.duration,
        stats,
        files.chapters,
        files.cover,
        files.transcripts,
        themes,
        script.template,
        files.transcript_lines,
    )


# ---------------------------------------------------------------- checks without rendering
# The library stage validates a whole manifest before any work and fingerprints each session's
# inputs; these helpers ask the stages, so the library never imports a stage itself.


@functools.cache
def library_cover(name: str, themes: tuple[str, ...], subtitle: str) -> bytes:
    """A library's cover (its podcast artwork): drawn as a session's, with the library's name."""
    return render_cover(Tags(title=name, themes=themes), 0.0, subtitle)


def engine_info(engine: str, cache_dir: Path | None = None) -> tuple[str, tuple, tuple]:
    """The engine's version, voices and voice variants (from the speech cache's record of this
    engine build when it has one, else from a started engine; kept per engine and cache)."""
    from audiogen.speak import engine_identity

    identity = engine_identity(engine, cache_dir)
    return identity.version, identity.voices, identity.variants


def voice_name(voice: VoiceSettings) -> str:
    """The voice a session speaks with as the user would name it: the one asked for, else the
    engine's default."""
    from audiogen.speak import EngineUnavailable, engine_defaults

    if voice.voice:
        return voice.voice
    try:
        return engine_defaults(voice.engine)[0] or "default"
    except EngineUnavailable:  # an unknown engine: validate_spec reports it
        return "default"


def article_suffixes() -> tuple[str, ...]:
    """The file suffixes the readers take (a library's folders are searched for these)."""
    from audiogen.read import READERS

    return tuple(READERS)


def template_fingerprint(templates_dir: Path | None = None) -> str:
    """A hash of every template a session could use (the user's folder and the built-in ones)."""
    from audiogen.scripting.templating import templates_fingerprint

    return templates_fingerprint(templates_dir)


def validate_spec(spec: SessionSpec) -> dict[str, str]:
    """Problems with a session's settings, keyed by setting name; nothing is rendered."""
    from audiogen.scripting import list_templates
    from audiogen.speak import with_engine_defaults
    from audiogen.speak.voices import resolve_voice

    problems: dict[str, str] = {}
    try:
        Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate).close()
    except AudiogenError as exc:
        problems["background"] = str(exc)
    if spec.templates_dir is not None and not Path(spec.templates_dir).is_dir():
        problems["templates"] = f"{spec.templates_dir}: templates folder not found"
    elif spec.template is not None:
        names = [t.name for t in list_templates(spec.templates_dir)]
        if spec.template not in names:
            problems["template"] = f"unknown template {spec.template!r}; known: {', '.join(names)}"
    try:  # the same check a render makes: format, bitrate and the installed encoder
        check_format(spec.format, spec.bitrate)
    except AudiogenError as exc:
        problems["format"] = str(exc)
    try:
        _, voices, variants = engine_info(spec.voice.engine, spec.cache_dir)
    except AudiogenError as exc:
        problems["engine"] = str(exc)
    else:
        try:
            with_engine_defaults(spec.voice)
        except AudiogenError as exc:
            problems["pitch"] = str(exc).removeprefix("--pitch ")
        try:
            resolve_voice(
                spec.voice.voice or (voices[0].id if voices else ""), voices, variants, spec.voice.engine
            )
        except AudiogenError as exc:
            problems["voice"] = str(exc).removeprefix("--voice ")  # the manifest names its own key
    return problems

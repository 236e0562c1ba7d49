"""The one orchestrator: calls the stages in order and hands each the previous one's data."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from audiogen.background import Bed
from audiogen.codec_offsets import bed_keeper, codec_offset
from audiogen.export import encode, export_session, export_settings, list_encoders_soon
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
)
from audiogen.read import read_article
from audiogen.scripting import build_script
from audiogen.speak import cache_folder, prepare_for_speech, synthesize_track
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


def render_session(
    spec: SessionSpec,
    report: Report | None = None,
    speech_progress: Progress | None = None,
    file_name: str | None = None,
) -> SessionResult:
    report = report or (lambda message: None)
    list_encoders_soon()  # ffmpeg's start overlaps the reading; the encoder is checked below
    # An unknown background, unreadable file, format, bitrate or encoder fails before any speech is
    # made; each is resolved once, and every pass over the session plays a fresh copy of the bed.
    bed = Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate)
    channels = output_channels(bed, spec.sound)
    bed.close()  # its layers are only looked at; every pass plays a fresh copy (`bed.fresh`)
    article, themes = article_themes(spec)
    report(f"read {article.source}: {article.title!r} ({', '.join(themes.labels)})")
    script = build_script(
        themes, spec.minutes, spec.template, spec.listener, spec.intention, spec.templates_dir
    )
    sound = replace(fitted_sound(spec, script), channels=channels)
    export = export_settings(spec.format, spec.bitrate, spec.cover, spec.transcript)
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
    target = Path(spec.out_dir) / f"{file_name or slugify(script.title)}{export.format.suffix}"
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
            blocks, path.with_suffix(export.format.suffix), sound.sample_rate, sound.channels, export
        )

    kept = cache_folder(spec.cache_dir) if spec.use_cache else None
    codec_change = codec_offset(
        kept,
        export.format.name,
        export.kbps,
        sound,
        lambda: codec_loudness_change(
            probe_excerpt(timeline, bed.fresh, sound), sound.sample_rate, probe_codec
        ),
    )
    report(f"mixing and encoding {target}")
    stats, files = master(
        timeline,
        bed.fresh,
        sound,
        lambda blocks: export_session(
            blocks, target, timeline, tags, sound.sample_rate, sound.channels, export
        ),
        codec_change,
        bed_keeper(kept, sound),
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

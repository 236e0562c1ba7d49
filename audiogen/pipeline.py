"""The one orchestrator: calls the stages in order and hands each the previous one's data."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Callable

from audiogen.background import Bed
from audiogen.export import Tags, encode
from audiogen.mix import master_gain, mastered_blocks, output_channels
from audiogen.models import Article, Clip, Script, SessionResult, SessionSpec, SoundSettings, Themes, Timeline
from audiogen.read import read_article
from audiogen.script import build_script
from audiogen.speak import synthesize_track
from audiogen.themes import extract_themes
from audiogen.timing import plan_timeline

Report = Callable[[str], None]
Progress = Callable[[int, int], None]


def slugify(text: str, fallback: str = "session") -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:80].rstrip("-") or fallback


def article_themes(spec: SessionSpec) -> tuple[Article, Themes]:
    article = read_article(spec.article, spec.filter_words)
    return article, extract_themes(article)


def session_script(spec: SessionSpec) -> Script:
    _, themes = article_themes(spec)
    return build_script(themes, spec.minutes, spec.template, spec.listener, spec.intention, spec.templates_dir)


def fitted_sound(spec: SessionSpec) -> SoundSettings:
    """Fades no longer than a twentieth of a short session, so the words still fit."""
    seconds = spec.minutes * 60
    return replace(
        spec.sound,
        fade_in=min(spec.sound.fade_in, max(1.0, seconds * 0.04)),
        fade_out=min(spec.sound.fade_out, max(2.0, seconds * 0.05)),
    )


def estimated_timeline(script: Script, spec: SessionSpec) -> Timeline:
    """The timeline with speech lengths estimated from word counts: a plan without audio."""
    clips = {}
    for utterance in script.utterances():
        words = len(utterance.text.split())
        seconds = words * 60.0 / (spec.voice.rate * utterance.rate) + 0.5
        clips[utterance] = Clip(utterance, Path(), seconds, 22050)
    return plan_timeline(script, clips, spec.minutes * 60, tail=fitted_sound(spec).fade_out)


def render_session(
    spec: SessionSpec,
    report: Report | None = None,
    speech_progress: Progress | None = None,
    file_name: str | None = None,
) -> SessionResult:
    report = report or (lambda message: None)
    sound = fitted_sound(spec)

    def bed_factory() -> Bed:
        return Bed(sound.background, sound.seed, sound.sample_rate)

    bed = bed_factory()  # an unknown background or unreadable file fails now, before any speech is made
    sound = replace(sound, channels=output_channels(bed, sound))
    bed.close()
    article, themes = article_themes(spec)
    report(f"read {article.source}: {article.title!r} ({', '.join(themes.labels)})")
    script = build_script(themes, spec.minutes, spec.template, spec.listener, spec.intention, spec.templates_dir)
    utterances = script.utterances()
    report(f"script {script.template!r}: {len(utterances)} sentences to speak")
    track = synthesize_track(utterances, spec.voice, spec.cache_dir, spec.use_cache, speech_progress)
    timeline = plan_timeline(
        script, {c.utterance: c for c in track.clips}, spec.minutes * 60, tail=sound.fade_out
    )
    report("measuring loudness")
    stats = master_gain(timeline, bed_factory, sound, codec=lambda blocks, path: encode(
        blocks, path.with_suffix(f".{spec.format}"), sound.sample_rate, sound.channels, spec.format, spec.bitrate))
    target = Path(spec.out_dir) / f"{file_name or slugify(script.title)}.{spec.format}"
    report(f"encoding {target}")
    tags = Tags(
        title=script.title,
        artist=f"audiogen ({spec.voice.voice})",
        album="audiogen",
        comment=f"From the article {article.title!r} ({Path(article.source).name}); "
        f"template {script.template}, {spec.minutes:g} minutes" + "".join(f". {note}" for note in bed.notes),
        year=str(date.today().year),
    )
    encode(
        mastered_blocks(timeline, bed_factory, sound, stats.gain_db),
        target,
        sound.sample_rate,
        sound.channels,
        spec.format,
        spec.bitrate,
        tags,
        timeline.chapters,
        timeline.duration,
    )
    return SessionResult(target, script.title, timeline.duration, stats, timeline.chapters)

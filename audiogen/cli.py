"""The command line: parses options, calls the orchestrator, prints. Nothing else."""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import replace
from pathlib import Path

import click

from audiogen import __version__
from audiogen.errors import EXIT_CODES, AudiogenError
from audiogen.models import SessionSpec, SoundSettings, VoiceSettings

EXIT_HELP = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + "."


class AudiogenGroup(click.Group):
    """Turns AudiogenError into one line on stderr and its exit code (--debug: the traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AudiogenError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"audiogen: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("audiogen: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"audiogen: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)", err=True)
            sys.exit(1)


@click.group(cls=AudiogenGroup, epilog=EXIT_HELP)
@click.version_option(__version__, prog_name="audiogen")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print what each stage is doing.")
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, verbose: bool) -> None:
    """audiogen: turn an article about emotional life into a guided meditation you can play offline."""
    ctx.obj = {"debug": debug, "quiet": quiet, "verbose": verbose and not quiet}


article_argument = click.argument(
    "article", required=False, type=click.Path(path_type=Path, dir_okay=False)
)
filter_option = click.option(
    "--filter-words", type=click.Path(path_type=Path, dir_okay=False),
    help="File of extra boilerplate/spam rules (see README).",
)


def session_options(func):
    options = [
        click.option("--minutes", "-m", type=click.FloatRange(1, 90), default=10, show_default=True, help="Session length."),
        click.option("--template", "-t", help="Session template (see `audiogen templates`); default: chosen from the themes."),
        click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False), help="Your own templates folder, searched first."),
        click.option("--listener", help="The listener's name, used in the welcome and the close."),
        click.option("--intention", help="An intention to set at the start."),
        click.option("--rate", type=int, default=VoiceSettings.rate, show_default=True, help="Speech rate in words per minute."),
        filter_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _spec(article, minutes, template, templates_dir, listener, intention, rate, filter_words, **extra) -> SessionSpec:
    voice = replace(VoiceSettings(), rate=rate, **{k: v for k, v in extra.pop("voice", {}).items() if v is not None})
    return SessionSpec(
        article=article, minutes=minutes, template=template, templates_dir=templates_dir,
        listener=listener, intention=intention, voice=voice, filter_words=filter_words, **extra,
    )


@main.command()
@article_argument
@session_options
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("output"), show_default=True, help="Output folder.")
@click.option("--voice", help="Voice id or name (see `audiogen voices`).", default=VoiceSettings.voice, show_default=True)
@click.option("--pitch", type=click.IntRange(0, 99), default=VoiceSettings.pitch, show_default=True, help="Voice pitch (0-99, 50 is the voice's normal).")
@click.option("--engine", default=VoiceSettings.engine, show_default=True, help="Speech engine: pyttsx3 or espeak-ng.")
@click.option("--background", "-b", default=SoundSettings.background, show_default=True, help="Background layers joined with '+' (see `audiogen backgrounds`), an audio file, or 'none'.")
@click.option("--background-gain", type=click.FloatRange(-30, 12), default=SoundSettings.background_gain_db, show_default=True, help="Raise or lower the background, dB.")
@click.option("--mono", is_flag=True, help="One channel (with --background none: the voice alone).")
@click.option("--seed", type=int, default=SoundSettings.seed, show_default=True, help="Seed for the procedural background.")
@click.option("--loudness", type=click.FloatRange(-30, -10), default=SoundSettings.loudness, show_default=True, help="Integrated loudness target, LUFS.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Speech cache folder (default: your user cache folder).")
@click.option("--no-cache", is_flag=True, help="Synthesise everything afresh; keep nothing.")
@click.pass_context
def render(ctx, article, minutes, template, templates_dir, listener, intention, rate, filter_words,
           out_dir, voice, pitch, engine, background, background_gain, mono, seed, loudness, cache_dir, no_cache):
    """Render ARTICLE (.txt, .md, .html) as a meditation audio file; no ARTICLE renders the built-in sample."""
    from audiogen.pipeline import render_session

    spec = _spec(
        article, minutes, template, templates_dir, listener, intention, rate, filter_words,
        voice={"voice": voice, "pitch": pitch, "engine": engine},
        out_dir=out_dir, sound=replace(SoundSettings(), background=background, seed=seed, loudness=loudness,
                                       background_gain_db=background_gain, mono=mono),
        cache_dir=cache_dir, use_cache=not no_cache,
    )
    quiet, verbose = ctx.obj["quiet"], ctx.obj["verbose"]

    def report(message: str) -> None:
        if verbose:
            click.echo(message, err=True)

    bar = None

    def speech_progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="speaking", file=sys.stderr)
            bar.__enter__()
        bar.update(1)
        if done == total:
            bar.__exit__(None, None, None)

    result = render_session(spec, report, speech_progress)
    if verbose:
        click.echo(
            f"{result.duration:.1f} s, {result.master.integrated_lufs:.1f} LUFS, "
            f"true peak {result.master.true_peak_dbtp:.1f} dBTP, {len(result.chapters)} chapters",
            err=True,
        )
    click.echo(str(result.path))


@main.command()
@article_argument
@filter_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def themes(article, filter_words, as_json):
    """Show the themes audiogen finds in ARTICLE (default: the built-in sample)."""
    from audiogen.pipeline import article_themes

    _, found = article_themes(SessionSpec(article=article, filter_words=filter_words))
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(found.title)
    click.echo(f"labels: {', '.join(found.labels)}")
    for heading, items in (("insights", found.insights), ("questions", found.questions),
                           ("affirmations", found.affirmations), ("practices", found.practices)):
        click.echo(f"{heading}:")
        for item in items:
            click.echo(f"  - {item}")
    click.echo(f"keywords: {', '.join(found.keywords)}")


@main.command()
@article_argument
@session_options
def script(article, minutes, template, templates_dir, listener, intention, rate, filter_words):
    """Print the meditation script for ARTICLE with its planned timings; no audio is made."""
    from audiogen.pipeline import estimated_timeline, session_script

    spec = _spec(article, minutes, template, templates_dir, listener, intention, rate, filter_words)
    rendered = session_script(spec)
    timeline = estimated_timeline(rendered, spec)
    click.echo(f"# {rendered.title} — template {rendered.template}, {minutes:g} minutes")
    click.echo(rendered.markup.rstrip())
    click.echo("\n# planned timeline (speech lengths estimated from word counts)")
    events = [(c.start, c.title and f"== {c.title} ==") for c in timeline.chapters]
    events += [(p.start, p.clip.utterance.text) for p in timeline.clips]
    events += [(b.start, f"(bell: {b.kind})") for b in timeline.bells]
    for start, text in sorted(events, key=lambda e: e[0]):
        click.echo(f"{int(start // 60):02d}:{start % 60:04.1f}  {text}")
    click.echo(f"{int(timeline.duration // 60):02d}:{timeline.duration % 60:04.1f}  (end)")


@main.command()
@click.option("--engine", default=VoiceSettings.engine, show_default=True, help="Speech engine to ask.")
def voices(engine):
    """List the voices the speech engine has installed."""
    from audiogen.speak import list_voices

    for v in sorted(list_voices(engine), key=lambda v: v.id):
        click.echo(f"{v.id:<24} {v.name:<28} {','.join(v.languages):<10} {v.gender or ''}")


@main.command()
@click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False), help="Your own templates folder.")
def templates(templates_dir):
    """List the session templates with a line on each."""
    from audiogen.script import list_templates

    for info in list_templates(templates_dir):
        click.echo(f"{info.name:<22} {info.description}")


@main.command()
def backgrounds():
    """List the procedural backgrounds (join several with '+')."""
    from audiogen.background import list_backgrounds

    for info in list_backgrounds():
        click.echo(f"{info.name:<13} {info.description}")


@main.group()
def cache():
    """Manage the speech cache."""


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Cache folder (default: your user cache folder).")
def cache_clear(cache_dir):
    """Remove every cached speech clip."""
    from audiogen.speak import SpeechCache, default_cache_dir

    removed = SpeechCache(cache_dir or default_cache_dir()).clear()
    click.echo(f"removed {removed} cached clips")

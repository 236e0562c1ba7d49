"""The command line: parses options, calls the orchestrator, prints. Nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import click
from click.core import ParameterSource

from audiogen import __version__
from audiogen.errors import EXIT_CODES, AudiogenError, Terminated
from audiogen.models import SessionSpec, SoundSettings, VoiceSettings

EXIT_HELP = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + "."


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """While a command runs, SIGTERM raises Terminated: the command unwinds (temporary files
    go, a build stops its workers) instead of dying where it stands."""
    try:
        previous = signal.signal(signal.SIGTERM, Terminated.on_signal)
    except ValueError:  # not the main thread (an embedding program): leave its handler alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class AudiogenGroup(click.Group):
    """Turns AudiogenError into one line on stderr and its exit code (--debug: the traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            with _sigterm_stops():
                return super().invoke(ctx)
        except AudiogenError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"audiogen: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("audiogen: interrupted", err=True)
            sys.exit(130)
        except Terminated:
            click.echo("audiogen: terminated", err=True)
            sys.exit(Terminated.exit_code)
        except BrokenPipeError:
            # The reader went away (`audiogen script | head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
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
    "--filter-words", type=click.Path(path_type=Path, dir_okay=False), envvar="AUDIOGEN_FILTER_WORDS",
    show_envvar=True, help="File of extra boilerplate/spam rules (see README).",
)


def session_options(func):
    options = [
        click.option("--minutes", "-m", type=click.FloatRange(1, 90), default=10, show_default=True, help="Session length in minutes: 5 to 90 for listening, 1 for a quick preview."),
        click.option("--template", "-t", help="Session template (see `audiogen templates`); default: chosen from the themes."),
        click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False), help="Your own templates folder, searched first."),
        click.option("--listener", help="The listener's name, used in the welcome and the close."),
        click.option("--intention", help="An intention to set at the start."),
        click.option("--rate", type=int, default=VoiceSettings.rate, show_default=True, help="Speech rate in words per minute."),
        click.option("--profile", type=click.Path(path_type=Path, dir_okay=False), help="Listener profile (TOML: name, intention, rate, voice, template, minutes); options given here win."),
        filter_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _spec(article, minutes, template, templates_dir, listener, intention, rate, filter_words, profile=None, **extra) -> SessionSpec:
    voice = replace(VoiceSettings(), rate=rate, **{k: v for k, v in extra.pop("voice", {}).items() if v is not None})
    spec = SessionSpec(
        article=article, minutes=minutes, template=template, templates_dir=templates_dir,
        listener=listener, intention=intention, voice=voice, filter_words=filter_words, **extra,
    )
    if profile is not None:
        from audiogen.profile import PROFILE_OPTIONS, apply_profile, load_profile

        ctx = click.get_current_context()
        given = {o for o in PROFILE_OPTIONS.values() if ctx.get_parameter_source(o) not in (None, ParameterSource.DEFAULT)}
        spec = apply_profile(spec, load_profile(profile), given)
    return spec


@main.command()
@article_argument
@session_options
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("output"), show_default=True, help="Output folder.")
@click.option("--voice", help="Voice id, name or a fragment of one, +variant optional (see `audiogen voices`).", default=VoiceSettings.voice, show_default=True)
@click.option("--pitch", type=click.IntRange(0, 99), default=VoiceSettings.pitch, show_default=True, help="Voice pitch (0-99, 50 is the voice's normal).")
@click.option("--engine", default=VoiceSettings.engine, show_default=True, help="Speech engine: pyttsx3, espeak-ng (the command line), a plug-in's name, or module:Class.")
@click.option("--voice-warmth", type=click.FloatRange(0, 1), default=VoiceSettings.warmth, show_default=True, help="0 (off) to 1: gentle EQ and a light room make the voice less harsh.")
@click.option("--background", "-b", default=SoundSettings.background, show_default=True, help="Background layers joined with '+' (see `audiogen backgrounds`), an audio file, or 'none'.")
@click.option("--background-gain", type=click.FloatRange(-30, 12), default=SoundSettings.background_gain_db, show_default=True, help="Raise or lower the background, dB.")
@click.option("--mono", is_flag=True, help="One channel (with --background none: the voice alone).")
@click.option("--seed", type=int, default=SoundSettings.seed, show_default=True, help="Seed for the procedural background.")
@click.option("--loudness", type=click.FloatRange(-30, -10), default=SoundSettings.loudness, show_default=True, help="Integrated loudness target, LUFS.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Speech cache folder (default: your user cache folder).")
@click.option("--no-cache", is_flag=True, help="Synthesise everything afresh; keep nothing.")
@click.option("--format", "-f", "audio_format", default=SessionSpec.format, show_default=True, help="Audio format: mp3, ogg, opus, m4a, flac or wav (see `audiogen formats`).")
@click.option("--bitrate", default=SessionSpec.bitrate, show_default=True, help="Bitrate of lossy formats, e.g. 96k (ignored by flac and wav).")
@click.option("--narrator", help="Artist tag (default: audiogen and the voice).")
@click.option("--no-cover", is_flag=True, help="No cover art, embedded or beside the audio.")
@click.option("--no-transcript", is_flag=True, help="No .vtt, .lrc and .txt transcripts.")
@click.pass_context
def render(ctx, article, minutes, template, templates_dir, listener, intention, rate, profile, filter_words,
           out_dir, voice, pitch, engine, voice_warmth, background, background_gain, mono, seed, loudness,
           cache_dir, no_cache, audio_format, bitrate, narrator, no_cover, no_transcript):
    """Render ARTICLE (.txt, .md, .html) as a meditation audio file; no ARTICLE renders the built-in sample."""
    from audiogen.pipeline import render_session

    spec = _spec(
        article, minutes, template, templates_dir, listener, intention, rate, filter_words, profile,
        voice={"voice": voice, "pitch": pitch, "engine": engine, "warmth": voice_warmth},
        out_dir=out_dir, sound=replace(SoundSettings(), background=background, seed=seed, loudness=loudness,
                                       background_gain_db=background_gain, mono=mono),
        cache_dir=cache_dir, use_cache=not no_cache,
        format=audio_format.lower(), bitrate=bitrate, narrator=narrator, cover=not no_cover, transcript=not no_transcript,
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
        for extra in (result.cover, *result.transcripts):
            if extra is not None:
                click.echo(f"also wrote {extra}", err=True)
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
def script(article, minutes, template, templates_dir, listener, intention, rate, profile, filter_words):
    """Print the meditation script for ARTICLE with its planned timings; no audio is made."""
    from audiogen.pipeline import estimated_timeline, fitted_sound, session_script

    spec = _spec(article, minutes, template, templates_dir, listener, intention, rate, filter_words, profile)
    rendered = session_script(spec)
    timeline = estimated_timeline(rendered, spec)
    speech = sum(end - start for start, end in timeline.speech_intervals)
    click.echo(f"# {rendered.title} — template {rendered.template}, {spec.minutes:g} minutes")
    click.echo(rendered.markup.rstrip())
    click.echo("\n# planned timeline (speech lengths estimated from word counts)")
    click.echo(
        f"# speech {speech:.0f} s, silence {timeline.duration - speech:.0f} s, "
        f"fade-out {fitted_sound(spec, rendered).fade_out:.0f} s, optional levels dropped: "
        + (", ".join(map(str, timeline.dropped_levels)) or "none")
    )
    ends = [c.start for c in timeline.chapters[1:]] + [timeline.duration]
    events = [(c.start, f"== {c.title} == ({end - c.start:.0f} s)") for c, end in zip(timeline.chapters, ends)]
    events += [(p.start, p.clip.utterance.text) for p in timeline.clips]
    events += [(b.start, f"(bell: {b.kind})") for b in timeline.bells]
    for start, text in sorted(events, key=lambda e: e[0]):
        click.echo(f"{int(start // 60):02d}:{start % 60:04.1f}  {text}")
    click.echo(f"{int(timeline.duration // 60):02d}:{timeline.duration % 60:04.1f}  (end)")


@main.command()
@click.option("--engine", default=VoiceSettings.engine, show_default=True, help="Speech engine to ask.")
def voices(engine):
    """List the voices the speech engine has installed: id, name, languages, gender."""
    from audiogen.speak import voice_catalog

    catalog = voice_catalog(engine)
    click.echo(f"{'ID':<24} {'NAME':<34} {'LANGUAGES':<16} GENDER")
    for v in sorted(catalog.voices, key=lambda v: v.id):
        click.echo(f"{v.id:<24} {v.name:<34} {','.join(v.languages):<16} {v.gender or ''}")
    if catalog.variants:
        example = "f4" if any(v.id == "f4" for v in catalog.variants) else catalog.variants[0].id
        click.echo(f"\nvariants, added to a voice with '+' (e.g. --voice en-us+{example}):")
        click.echo(" ".join(sorted((v.id for v in catalog.variants), key=str.lower)))


@main.command()
@click.option("--templates", "templates_dir", type=click.Path(path_type=Path, file_okay=False), help="Your own templates folder.")
def templates(templates_dir):
    """List the session templates with a line on each."""
    from audiogen.script import list_templates

    for info in list_templates(templates_dir):
        labels = f" (themes: {', '.join(info.labels)})" if info.labels else ""
        click.echo(f"{info.name:<22} {info.description}{labels}")


@main.command()
def backgrounds():
    """List the procedural backgrounds (join several with '+')."""
    from audiogen.background import list_backgrounds

    for info in list_backgrounds():
        click.echo(f"{info.name:<13} {info.description}")


@main.command()
def formats():
    """List the audio formats and whether this machine's ffmpeg can write them."""
    from audiogen.export import list_formats

    for info in list_formats():
        status = "" if info.available else f"  (unavailable: {info.reason})"
        click.echo(f"{info.name:<6} {info.description}{status}")


@main.group()
def cache():
    """Manage the speech cache."""


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Cache folder (default: your user cache folder).")
def cache_clear(cache_dir):
    """Remove every cached speech clip and the measurements kept beside them."""
    from audiogen.pipeline import clear_cache

    removed = clear_cache(cache_dir)
    click.echo(f"removed {removed} cached clips")


@cache.command("info")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Cache folder (default: your user cache folder).")
def cache_info(cache_dir):
    """Show where the speech cache is, how many clips it holds and its size cap."""
    from audiogen.speak import SpeechCache, default_cache_dir

    info = SpeechCache(cache_dir or default_cache_dir()).info()
    click.echo(f"folder: {info.folder}")
    click.echo(f"clips:  {info.clips}")
    click.echo(f"size:   {info.size_bytes / 1024**2:.1f} MB of {info.cap_bytes / 1024**2:.0f} MB "
               "(cap: AUDIOGEN_CACHE_MAX_MB)")


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="Library folder (default: the manifest's [library] out).")
@click.option("--workers", "-j", type=click.IntRange(1), help="Sessions rendered at once (default: the number of cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Run the sessions on a Dask distributed cluster, e.g. tcp://host:8786.")
@click.option("--prune", is_flag=True, help="Remove the files of sessions no longer in the manifest.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Speech cache folder (overrides the manifest).")
@click.option("--base-url", metavar="URL", help="The library folder's public address (overrides [library] base_url): the build writes a podcast feed, feed.xml.")
@click.option("-q", "--quiet", "quiet_build", is_flag=True, help="No progress; only failures and the index path.")
@click.pass_context
def build(ctx, manifest, out_dir, workers, scheduler, prune, cache_dir, base_url, quiet_build):
    """Build the session library MANIFEST.toml describes: playlist, catalog and index.html included."""
    if scheduler is None:
        from audiogen.processes import start_fork_server

        start_fork_server()  # its imports overlap this process's own, and the manifest's checks
    from audiogen.errors import LibraryError, ManifestError
    from audiogen.library import ProgressDisplay, build_library, load_manifest, summary_lines
    from audiogen.library.manifest import base_url_problem

    if base_url is not None and base_url_problem(base_url):
        raise click.BadParameter(base_url_problem(base_url), param_hint="--base-url")
    quiet = quiet_build or ctx.obj["quiet"]
    try:
        plan = load_manifest(manifest, out_dir, cache_dir, base_url)
    except ManifestError as exc:  # every problem, one line each
        for line in exc.problems:
            click.echo(f"audiogen: error: {line}", err=True)
        sys.exit(exc.exit_code)
    progress = None if quiet else ProgressDisplay(sys.stderr, sys.stderr.isatty())
    summary = build_library(plan, workers, scheduler, prune, progress)
    failed = [o for o in summary.outcomes if o.status == "failed"]
    for line in summary_lines(summary)[0 if not quiet else 1:]:
        if not quiet or line.startswith("failed "):
            click.echo(line, err=True)
    click.echo(str(summary.outputs[-1]))
    if failed:
        raise LibraryError(f"{len(failed)} of {len(summary.outcomes)} sessions failed (listed above); "
                           "the rest are built; fix them and rerun to finish the library")


@main.command()
@click.argument("library", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on: 0.0.0.0 serves every network this machine is on (prints a QR code to scan).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--token/--no-token", default=None, help="Serve the library under a random path, so only those given the address find it (default: on unless the host is loopback).")
@click.option("-v", "--verbose", "log_requests", is_flag=True, help="Print one line per request.")
@click.pass_context
def serve(ctx, library, host, port, token, log_requests):
    """Serve the library folder LIBRARY over HTTP, with a podcast feed a phone can subscribe to; Ctrl-C stops."""
    from audiogen.serve import serve_library

    log = (lambda line: click.echo(line, err=True)) if log_requests or ctx.obj["verbose"] else None
    serve_library(library, host, port, token, log, click.echo)

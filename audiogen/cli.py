"""The command line: parses options, calls the orchestrator, prints. Nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import click
from click.core import ParameterSource

from audiogen import __version__
from audiogen.errors import EXIT_CODES, AudiogenError, Terminated
from audiogen.settings import BY_NAME, SETTINGS, Setting, flag

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


def _worded(exc: AudiogenError) -> str:
    """The error as the command line says it: the setting at fault as its flag (--voice 'x': ...)."""
    return exc.worded(flag)


class AudiogenGroup(click.Group):
    """Turns AudiogenError into one line on stderr and its exit code (--debug: the traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            with _sigterm_stops():
                return super().invoke(ctx)
        except AudiogenError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"audiogen: error: {_worded(exc)}", err=True)
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
            click.echo(
                f"audiogen: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                err=True,
            )
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


article_argument = click.argument("article", required=False, type=click.Path(path_type=Path, dir_okay=False))


def _global_options(func):
    """-q, -v and --debug after a subcommand too (`audiogen render -q`), as before it."""

    def set_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            obj = ctx.find_root().obj
            obj[param.name] = True
            obj["verbose"] = obj["verbose"] and not obj["quiet"]

    for flags, name, text in (
        (("--debug",), "debug", "Show full tracebacks on errors."),
        (("-q", "--quiet"), "quiet", "Print only results and errors."),
        (("-v", "--verbose"), "verbose", "Print what each stage is doing."),
    ):
        func = click.option(*flags, name, is_flag=True, expose_value=False, callback=set_flag, help=text)(
            func
        )
    return func


def _command(group: click.Group = main, **kwargs):
    """A subcommand of `group` that also takes the global options."""

    def decorate(func):
        command = group.command(**kwargs)(_global_options(func))
        shared = {"debug", "quiet", "verbose"}  # listed after the command's own options
        command.params = [p for p in command.params if p.name not in shared] + [
            p for p in command.params if p.name in shared
        ]
        return command

    return decorate


def _setting_option(setting: Setting):
    """The Click option of a setting in the table (audiogen/settings.py)."""
    names = [setting.option] + ([setting.short] if setting.short else [])
    extra = {"envvar": setting.envvar, "show_envvar": True} if setting.envvar else {}
    if setting.kind is bool:
        # --mono turns a setting on; --no-cover turns one off that is on by default.
        return click.option(
            *names,
            setting.name,
            is_flag=True,
            flag_value=not setting.default,
            default=setting.default,
            help=setting.help,
            **extra,
        )
    if setting.kind is Path:
        kind = click.Path(path_type=Path, file_okay=not setting.path_is_dir, dir_okay=setting.path_is_dir)
    elif setting.low is not None:
        kind = (click.IntRange if setting.kind is int else click.FloatRange)(setting.low, setting.high)
    else:
        kind = setting.kind
    shown = setting.default is not None
    return click.option(
        *names,
        setting.name,
        type=kind,
        default=setting.default,
        show_default=shown,
        help=setting.help,
        **extra,
    )


def setting_options(names: tuple[str, ...] | None = None):
    """Options for the named settings (all of them by default) and --profile."""
    chosen = [s for s in SETTINGS if names is None or s.name in names]

    def decorate(func):
        func = click.option(
            "--profile",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Listener profile (TOML: any session setting, e.g. name, intention, rate, "
            "voice); options given here win.",
        )(func)
        for setting in reversed(chosen):
            func = _setting_option(setting)(func)
        return func

    return decorate


# `audiogen script` plans a session without audio: the settings that shape its words and length.
SCRIPT_SETTINGS = (
    "minutes",
    "template",
    "templates",
    "listener",
    "intention",
    "rate",
    "filter_words",
    "language",
)


def _settings(ctx: click.Context, values: dict) -> dict:
    """The settings the options give, then the profile's wherever no option was given."""
    from audiogen import settings

    chosen = {name: value for name, value in values.items() if name in settings.BY_NAME}
    if values.get("profile") is not None:
        from audiogen.profile import load_profile

        for name, value in load_profile(values["profile"]).items():
            if ctx.get_parameter_source(name) in (None, ParameterSource.DEFAULT):
                chosen[name] = value
    return chosen


@_command()
@article_argument
@setting_options()
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("output"),
    show_default=True,
    help="Output folder.",
)
@click.option("--no-cache", is_flag=True, help="Synthesise everything afresh; keep nothing.")
@click.pass_context
def render(ctx, article, out_dir, no_cache, **values):
    """Render ARTICLE (.txt, .md, .html) as a meditation audio file; no ARTICLE renders the
    built-in sample."""
    from audiogen import api

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

    result = api.render(
        article,
        out=out_dir,
        cache=not no_cache,
        report=report,
        progress=speech_progress,
        **_settings(ctx, values),
    )
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


@_command()
@article_argument
@_setting_option(BY_NAME["filter_words"])
@_setting_option(BY_NAME["language"])
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def themes(article, filter_words, language, as_json):
    """Show the themes audiogen finds in ARTICLE (default: the built-in sample)."""
    from audiogen import api

    found = api.themes(article, filter_words=filter_words, language=language)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(found.title)
    click.echo(f"labels: {', '.join(found.labels)}")
    for heading, items in (
        ("insights", found.insights),
        ("questions", found.questions),
        ("affirmations", found.affirmations),
        ("practices", found.practices),
    ):
        click.echo(f"{heading}:")
        for item in items:
            click.echo(f"  - {item}")
    click.echo(f"keywords: {', '.join(found.keywords)}")


@_command()
@article_argument
@setting_options(SCRIPT_SETTINGS)
@click.pass_context
def script(ctx, article, **values):
    """Print the meditation script for ARTICLE with its planned timings; no audio is made."""
    from audiogen import api
    from audiogen.pipeline import estimated_timeline, fitted_sound, session_script

    spec = api.session_spec(article, **_settings(ctx, values))
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
    events = [
        (c.start, f"== {c.title} == ({end - c.start:.0f} s)") for c, end in zip(timeline.chapters, ends)
    ]
    events += [(p.start, p.clip.utterance.text) for p in timeline.clips]
    events += [(b.start, f"(bell: {b.kind})") for b in timeline.bells]
    for start, text in sorted(events, key=lambda e: e[0]):
        click.echo(f"{int(start // 60):02d}:{start % 60:04.1f}  {text}")
    click.echo(f"{int(timeline.duration // 60):02d}:{timeline.duration % 60:04.1f}  (end)")


@_command()
@click.option("--engine", help="Only this speech engine's voices (default: every built-in engine's).")
def voices(engine):
    """List the voices each speech engine has installed: id, name, languages, gender; * marks the default."""
    from audiogen.models import VoiceSettings
    from audiogen.speak import voice_catalog, with_engine_defaults
    from audiogen.speak.engines import BUILTIN_ENGINES
    from audiogen.speak.voices import resolve_voice

    for index, name in enumerate([engine] if engine else list(BUILTIN_ENGINES)):
        default = " (the default engine)" if name == BY_NAME["engine"].default else ""
        click.echo(("\n" if index else "") + f"engine {name}{default}")
        try:
            catalog = voice_catalog(name)
            settings = with_engine_defaults(VoiceSettings(engine=name))
        except AudiogenError as exc:
            if engine:
                raise
            click.echo(f"  unavailable: {_worded(exc)}")
            continue
        try:
            default_id = resolve_voice(
                settings.voice or catalog.voices[0].id, catalog.voices, catalog.variants
            ).partition("+")[0]
        except (AudiogenError, IndexError):
            default_id = None
        click.echo(f"  {'ID':<24} {'NAME':<44} {'LANGUAGES':<16} GENDER")
        for v in sorted(catalog.voices, key=lambda v: v.id):
            mark = "*" if v.id == default_id else " "
            click.echo(f"{mark} {v.id:<24} {v.name:<44} {','.join(v.languages):<16} {v.gender or ''}")
        if settings.voice and default_id:
            pitch = f", pitch {settings.pitch}" if settings.pitch is not None else ""
            click.echo(f"  default: --voice {settings.voice}{pitch}")
        if catalog.variants:
            example = "f4" if any(v.id == "f4" for v in catalog.variants) else catalog.variants[0].id
            click.echo(f"  variants, added to a voice with '+' (e.g. --voice en-us+{example}):")
            click.echo("  " + " ".join(sorted((v.id for v in catalog.variants), key=str.lower)))


@_command()
@_setting_option(BY_NAME["templates"])
def templates(templates):
    """List the session templates with a line on each."""
    from audiogen.scripting import list_templates

    for info in list_templates(templates):
        labels = f" (themes: {', '.join(info.labels)})" if info.labels else ""
        click.echo(f"{info.name:<22} {info.description}{labels}")


@_command()
def backgrounds():
    """List the procedural backgrounds (join several with '+')."""
    from audiogen.background import list_backgrounds

    for info in list_backgrounds():
        click.echo(f"{info.name:<13} {info.description}")


@_command()
def formats():
    """List the audio formats and whether this machine's ffmpeg can write them."""
    from audiogen.export import list_formats

    for info in list_formats():
        status = "" if info.available else f"  (unavailable: {info.reason})"
        click.echo(f"{info.name:<6} {info.description}{status}")


@main.group()
def cache():
    """Manage the speech cache."""


@_command(cache, name="clear")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Cache folder (default: your user cache folder).",
)
def cache_clear(cache_dir):
    """Remove every cached speech clip and the measurements kept beside them."""
    from audiogen.speak import clear_cache

    removed = clear_cache(cache_dir)
    click.echo(f"removed {removed} cached clips")


@_command(cache, name="info")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Cache folder (default: your user cache folder).",
)
def cache_info(cache_dir):
    """Show where the speech cache is, how many clips it holds and its size cap."""
    from audiogen.speak import SpeechCache, default_cache_dir

    info = SpeechCache(cache_dir or default_cache_dir()).info()
    click.echo(f"folder: {info.folder}")
    click.echo(f"clips:  {info.clips}")
    click.echo(
        f"size:   {info.size_bytes / 1024**2:.1f} MB of {info.cap_bytes / 1024**2:.0f} MB "
        "(cap: AUDIOGEN_CACHE_MAX_MB)"
    )


@_command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Library folder (default: the manifest's [library] out).",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(1),
    help="Sessions rendered at once (default: the number of cores).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the sessions on a Dask distributed cluster, e.g. tcp://host:8786.",
)
@click.option("--prune", is_flag=True, help="Remove the files of sessions no longer in the manifest.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Speech cache folder (overrides the manifest).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help=(
        "The library folder's public address (overrides [library] base_url): "
        "the build writes a podcast feed, feed.xml."
    ),
)
@click.pass_context
def build(ctx, manifest, out_dir, workers, scheduler, prune, cache_dir, base_url):
    """Build the session library MANIFEST.toml describes: playlist, catalog and index.html included."""
    if scheduler is None:
        from audiogen.processes import start_fork_server

        start_fork_server()  # its imports overlap this process's own, and the manifest's checks
    from audiogen import api
    from audiogen.errors import LibraryError, ManifestError
    from audiogen.library import ProgressDisplay, summary_lines
    from audiogen.library.manifest import base_url_problem

    if base_url is not None and base_url_problem(base_url):
        raise click.BadParameter(base_url_problem(base_url), param_hint="--base-url")
    quiet = ctx.obj["quiet"]
    progress = None if quiet else ProgressDisplay(sys.stderr, sys.stderr.isatty())
    try:
        summary = api.build(
            manifest,
            out=out_dir,
            workers=workers,
            scheduler=scheduler,
            prune=prune,
            cache_dir=cache_dir,
            progress=progress,
            base_url=base_url,
        )
    except ManifestError as exc:  # every problem, one line each
        for line in exc.problems:
            click.echo(f"audiogen: error: {line}", err=True)
        sys.exit(exc.exit_code)
    failed = [o for o in summary.outcomes if o.status == "failed"]
    for line in summary_lines(summary)[0 if not quiet else 1 :]:
        if not quiet or line.startswith("failed "):
            click.echo(line, err=True)
    click.echo(str(summary.outputs[-1]))
    if failed:
        raise LibraryError(
            f"{len(failed)} of {len(summary.outcomes)} sessions failed (listed above); "
            "the rest are built; fix them and rerun to finish the library"
        )


@_command()
@click.argument("library", type=click.Path(path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: 0.0.0.0 serves every network this machine is on (prints a QR code to scan).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--token/--no-token",
    default=None,
    help=(
        "Serve the library under its random path, so only those given the address find it "
        "(default: on unless the host is loopback)."
    ),
)
@click.pass_context
def serve(ctx, library, host, port, token):
    """Serve the library folder LIBRARY over HTTP, with a podcast feed a phone can subscribe to;
    -v prints one line per request; Ctrl-C stops."""
    from audiogen.serve import serve_library

    log = (lambda line: click.echo(line, err=True)) if ctx.obj["verbose"] else None
    serve_library(library, host, port, token, log, click.echo)

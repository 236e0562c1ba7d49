"""What the library asks of the stages without rendering.

The library validates a whole manifest before any work and fingerprints each session's inputs;
these helpers ask the stages, so the library never imports a stage itself. Like the pipeline,
this module is not a stage: it may import them (the speech, reading and templating ones only
when asked, so `import audiogen.checks` stays light).
"""

from __future__ import annotations

import functools
from pathlib import Path

from audiogen.background import check_background
from audiogen.errors import AudiogenError
from audiogen.export import export_settings, render_cover
from audiogen.models import SessionSpec, Tags, VoiceSettings


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


def _problem(problems: dict[str, str], key: str, exc: AudiogenError) -> None:
    """Keyed by the setting the error names, else by what was checked; the message without it."""
    problems.setdefault(exc.setting or key, exc.message)


def validate_spec(spec: SessionSpec) -> dict[str, str]:
    """Problems with a session's settings, keyed by setting name, each message worded to follow
    the setting's name (the manifest adds its key path); nothing is rendered."""
    from audiogen.scripting import list_templates
    from audiogen.speak import with_engine_defaults
    from audiogen.speak.voices import resolve_voice

    problems: dict[str, str] = {}
    try:  # names and files only: a whole bed would analyse a background file
        check_background(spec.sound.background)
    except AudiogenError as exc:
        _problem(problems, "background", exc)
    if spec.templates_dir is not None and not Path(spec.templates_dir).is_dir():
        problems["templates"] = f"{spec.templates_dir}: templates folder not found"
    elif spec.template is not None:
        names = [t.name for t in list_templates(spec.templates_dir)]
        if spec.template not in names:
            problems["template"] = f"unknown template {spec.template!r}; known: {', '.join(names)}"
    try:  # the same check a render makes: format, bitrate and the installed encoder
        export_settings(spec.format, spec.bitrate)
    except AudiogenError as exc:
        _problem(problems, "format", exc)
    try:
        _, voices, variants = engine_info(spec.voice.engine, spec.cache_dir)
    except AudiogenError as exc:
        _problem(problems, "engine", exc)
    else:
        try:
            with_engine_defaults(spec.voice)
        except AudiogenError as exc:
            _problem(problems, "pitch", exc)
        try:
            resolve_voice(
                spec.voice.voice or (voices[0].id if voices else ""), voices, variants, spec.voice.engine
            )
        except AudiogenError as exc:
            _problem(problems, "voice", exc)
    return problems

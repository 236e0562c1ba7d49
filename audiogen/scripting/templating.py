"""Render a meditation script from Jinja2 templates in a sandbox."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace

from audiogen.errors import TemplateError, mention
from audiogen.models import Themes

# The built-in templates are the package `audiogen.scripts_templates` (the top-level
# scripts_templates/ folder, mapped in pyproject.toml), found by Jinja's PackageLoader wherever
# the package is installed: a wheel, an editable install, a zip.
BUILTIN_PACKAGE = "audiogen.scripts_templates"


def template_loader(user_dir: Path | None = None) -> jinja2.BaseLoader:
    """The user's templates folder first (if any), then the built-in templates."""
    if user_dir is not None and not Path(user_dir).is_dir():
        raise TemplateError(
            f"{user_dir}: templates folder not found; pass an existing folder to {mention('templates')}"
        )
    builtin = jinja2.PackageLoader(BUILTIN_PACKAGE, ".")
    if user_dir is None:
        return builtin
    return jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(user_dir)), builtin])


def _template_files(loader: jinja2.BaseLoader) -> list[str]:
    return [name for name in loader.list_templates() if name.endswith(".j2") and "/" not in name]


def templates_fingerprint(user_dir: Path | None = None) -> str:
    """A hash of every template a session could use (templates extend and include each other)."""
    loader = template_loader(user_dir)
    digest = hashlib.sha256()
    for name in _template_files(loader):
        source = loader.get_source(None, name)[0]  # type: ignore[arg-type]
        digest.update(name.encode("utf-8") + b"\0" + source.encode("utf-8") + b"\0")
    return digest.hexdigest()


def speakable_text(value: object) -> str:
    """Every {{ expression }} passes through here: user text cannot break the markup."""
    if value is None:
        return ""
    text = str(value).replace("[", "(").replace("]", ")")
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    labels: tuple[str, ...]
    origin: str  # the file it was read from


_META = re.compile(r"\{#-?\s*(description|labels):\s*(.*?)\s*-?#\}")


def _read_meta(source: str) -> tuple[str, tuple[str, ...]]:
    meta = dict(_META.findall(source[:2000]))
    labels = tuple(label.strip() for label in meta.get("labels", "").split(",") if label.strip())
    return meta.get("description", ""), labels


def list_templates(user_dir: Path | None = None) -> list[TemplateInfo]:
    """Session templates (not partials or bases, whose names start with '_'); the user's
    folder wins over a built-in template of the same name."""
    loader = template_loader(user_dir)
    found = []
    for file_name in _template_files(loader):
        if file_name.startswith("_"):
            continue
        source, origin, _ = loader.get_source(None, file_name)  # type: ignore[arg-type]
        description, labels = _read_meta(source)
        found.append(TemplateInfo(file_name[: -len(".j2")], description, labels, origin or file_name))
    return sorted(found, key=lambda t: t.name)


def choose_template(themes: Themes, user_dir: Path | None = None, requested: str | None = None) -> str:
    templates = list_templates(user_dir)
    names = [t.name for t in templates]
    if requested:
        if requested not in names:
            raise TemplateError(
                f"unknown template {requested!r}; known: {', '.join(names)} (see `audiogen templates`)"
            )
        return requested
    # The first label the article carries that a template is made for wins.
    for label in themes.labels:
        for info in templates:
            if label in info.labels:
                return info.name
    return "gentle-reflection" if "gentle-reflection" in names else names[0]


def scaled_count(minutes: float) -> Callable[[int, int], int]:
    """`scaled(at_5, at_30)` for templates: a count that grows with the session's length.

    Linear through (5 minutes, at_5) and (30 minutes, at_30), never below at_5, and
    continuing past 30 minutes, so a 60-minute session has more rounds than a 30-minute one.
    """

    def scaled(at_5: int, at_30: int) -> int:
        value = at_5 + (at_30 - at_5) * (max(minutes, 5.0) - 5.0) / 25.0
        return max(int(at_5), int(round(value)))

    return scaled


# Only what a meditation script needs: no lipsum, cycler or joiner to poke at.
_TEMPLATE_GLOBALS = {"range": range, "dict": dict, "namespace": Namespace}


def _environment(user_dir: Path | None) -> ImmutableSandboxedEnvironment:
    # Immutable: a template cannot change the themes it is given (e.g. list.append).
    env = ImmutableSandboxedEnvironment(
        loader=template_loader(user_dir),
        undefined=jinja2.StrictUndefined,
        finalize=speakable_text,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.globals = dict(_TEMPLATE_GLOBALS)
    return env


def _template_line(exc: BaseException) -> tuple[str, int] | None:
    """Where in a template an error was raised (Jinja rewrites tracebacks to template lines)."""
    tb = exc.__traceback__
    where = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = (Path(filename).name, tb.tb_lineno)
        tb = tb.tb_next
    return where


def render_template(name: str, context: dict, user_dir: Path | None = None) -> str:
    env = _environment(user_dir)
    try:
        return env.get_template(f"{name}.j2").render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"{exc.filename or exc.name}, line {exc.lineno}: template syntax error: {exc.message}"
        ) from None
    except jinja2.TemplateNotFound as exc:
        where = f"{user_dir} or the built-in templates" if user_dir is not None else "the built-in templates"
        raise TemplateError(f"template {exc.name!r} not found in {where}") from None
    except jinja2.UndefinedError as exc:
        where = _template_line(exc)
        place = f"{where[0]}, line {where[1]}" if where else f"{name}.j2"
        raise TemplateError(f"{place}: {exc.message} (missing template variable)") from None
    except SecurityError as exc:
        where = _template_line(exc)
        place = f"{where[0]}, line {where[1]}" if where else f"{name}.j2"
        raise TemplateError(f"{place}: not allowed in a template: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        where = _template_line(exc)
        place = f"{where[0]}, line {where[1]}" if where else f"{name}.j2"
        raise TemplateError(f"{place}: {type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise TemplateError(f"{name}.j2: template recursion too deep") from None
    except jinja2.TemplateError as exc:
        where = _template_line(exc)
        place = f"{where[0]}, line {where[1]}" if where else f"{name}.j2"
        raise TemplateError(f"{place}: {exc}") from None


_REFERENCE = re.compile(r"""\{%-?\s*(?:extends|include|import|from)\s+["']([^"']+)["']""")
_JINJA_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")


def _template_chain(name: str, user_dir: Path | None) -> Iterator[tuple[str, str]]:
    """(file name, source) of a template and every template it extends, includes or imports."""
    loader = _environment(user_dir).loader
    pending, seen = [f"{name}.j2"], set()
    while pending:
        file_name = pending.pop(0)
        if file_name in seen:
            continue
        seen.add(file_name)
        try:
            source = loader.get_source(None, file_name)[0]  # type: ignore[arg-type]
        except jinja2.TemplateNotFound:
            continue
        yield file_name, source
        pending.extend(_REFERENCE.findall(source))


def markup_source(name: str, rendered_line: str, user_dir: Path | None = None) -> str | None:
    """`file.j2, line N`: where in the template sources a rendered markup line was written.

    Markup errors are found after rendering; this points the author back at the
    source line (the template itself first, then what it extends or includes),
    treating any {{ expression }} or {% tag %} in a source line as a wildcard.
    """
    wanted = rendered_line.strip()
    for file_name, source in _template_chain(name, user_dir):
        for line_no, line in enumerate(source.splitlines(), 1):
            parts = _JINJA_PART.split(line.strip())
            if not "".join(parts).strip():
                continue
            pattern = ".*?".join(re.escape(part) for part in parts)
            if re.fullmatch(pattern, wanted):
                return f"{file_name}, line {line_no}"
    return None

"""Render a meditation script from Jinja2 templates in a sandbox."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from audiogen.errors import TemplateError
from audiogen.models import Themes

BUILTIN_DIR = Path(__file__).resolve().parent.parent.parent / "scripts_templates"


def builtin_templates_dir() -> Path:
    """scripts_templates/ beside the package (source checkout) or inside it (wheel)."""
    if BUILTIN_DIR.is_dir():
        return BUILTIN_DIR
    from importlib import resources

    return Path(str(resources.files("audiogen.scripts_templates")))


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
    path: Path


_META = re.compile(r"\{#-?\s*(description|labels):\s*(.*?)\s*-?#\}")


def _read_meta(path: Path) -> tuple[str, tuple[str, ...]]:
    head = path.read_text("utf-8", errors="replace")[:2000]
    meta = dict(_META.findall(head))
    labels = tuple(l.strip() for l in meta.get("labels", "").split(",") if l.strip())
    return meta.get("description", ""), labels


def list_templates(user_dir: Path | None = None) -> list[TemplateInfo]:
    """Session templates (not partials or bases, whose names start with '_')."""
    found: dict[str, TemplateInfo] = {}
    for folder in [d for d in (user_dir, builtin_templates_dir()) if d is not None]:
        for path in sorted(Path(folder).glob("*.j2")):
            name = path.stem
            if name.startswith("_") or name in found:
                continue
            description, labels = _read_meta(path)
            found[name] = TemplateInfo(name, description, labels, path)
    return sorted(found.values(), key=lambda t: t.name)


def choose_template(themes: Themes, user_dir: Path | None = None, requested: str | None = None) -> str:
    templates = list_templates(user_dir)
    names = [t.name for t in templates]
    if requested:
        if requested not in names:
            raise TemplateError(f"unknown template {requested!r}; known: {', '.join(names)} (see `audiogen templates`)")
        return requested
    # The first label the article carries that a template is made for wins.
    for label in themes.labels:
        for info in templates:
            if label in info.labels:
                return info.name
    return "gentle-reflection" if "gentle-reflection" in names else names[0]


def _environment(user_dir: Path | None) -> SandboxedEnvironment:
    folders = [str(d) for d in (user_dir, builtin_templates_dir()) if d is not None]
    if user_dir is not None and not Path(user_dir).is_dir():
        raise TemplateError(f"{user_dir}: templates folder not found; pass an existing folder to --templates")
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        finalize=speakable_text,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


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
        raise TemplateError(f"{exc.filename or exc.name}, line {exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {exc.name!r} not found in {', '.join(env.loader.searchpath)}") from None
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

"""Script stage: themes and a template become a `Script` of typed cues."""

from __future__ import annotations

from pathlib import Path

from audiogen.models import Script, Themes
from audiogen.script.markup import parse_markup
from audiogen.script.templating import choose_template, list_templates, render_template

__all__ = ["build_script", "list_templates", "parse_markup"]


def build_script(
    themes: Themes,
    minutes: float,
    template: str | None = None,
    listener: str | None = None,
    intention: str | None = None,
    templates_dir: Path | None = None,
) -> Script:
    name = choose_template(themes, templates_dir, template)
    context = {
        "title": themes.title,
        "themes": themes.as_dict(),
        "minutes": minutes,
        "listener": listener or "",
        "intention": intention or "",
    }
    markup = render_template(name, context, templates_dir)
    return Script(title=themes.title, template=name, markup=markup, cues=parse_markup(markup, f"{name}.j2"))

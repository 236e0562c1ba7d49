"""Script stage: themes and a template become a `Script` of typed cues."""

from __future__ import annotations

import re
from pathlib import Path

from audiogen.models import Script, Themes
from audiogen.scripting.markup import parse_markup, parse_script_markup
from audiogen.scripting.templating import (
    choose_template,
    list_templates,
    markup_source,
    render_template,
    scaled_count,
    speakable_text,
)

__all__ = ["build_script", "list_templates", "parse_markup"]


def _phrase(text: str | None) -> str:
    """Free text as it is spoken inside a template's sentence: one line, no trailing stop."""
    return re.sub(r"[\s.!?;:,]+$", "", speakable_text(text))


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
        "scaled": scaled_count(minutes),
        "listener": _phrase(listener),
        "intention": _phrase(intention),
    }
    markup = render_template(name, context, templates_dir)

    def locate(line_no: int, line: str) -> str | None:
        source = markup_source(name, line, templates_dir)
        return f"{source} (script line {line_no})" if source else None

    parsed = parse_script_markup(markup, f"{name}.j2", locate)
    return Script(
        title=themes.title, template=name, markup=markup, cues=parsed.cues, fade_out=parsed.fade_out
    )

"""Library stage: a manifest of many sessions built in parallel, resumably, into a playable library.

It is orchestration over `audiogen.pipeline` (one render per session) and `audiogen.checks` (what
it asks of the stages without rendering); it never imports a stage.
Names are loaded on first use, so `audiogen serve`, which only reads a library's files
(outputs, feed), starts without the pipeline's imports.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "LibrarySettings": "manifest",
    "Manifest": "manifest",
    "PlannedSession": "manifest",
    "load_manifest": "manifest",
    "ProgressDisplay": "progress",
    "summary_lines": "progress",
    "BuildSummary": "runner",
    "SessionOutcome": "runner",
    "build_library": "runner",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"audiogen.library.{_HOMES[name]}"), name)

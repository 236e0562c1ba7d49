"""Library stage: a manifest of many sessions built in parallel, resumably, into a playable library.

It is orchestration over `audiogen.pipeline` (one render per session); it never imports a stage.
"""

from audiogen.library.manifest import LibrarySettings, Manifest, PlannedSession, load_manifest
from audiogen.library.progress import ProgressDisplay, summary_lines
from audiogen.library.runner import BuildSummary, SessionOutcome, build_library

__all__ = [
    "BuildSummary", "LibrarySettings", "Manifest", "PlannedSession", "ProgressDisplay", "SessionOutcome",
    "build_library", "load_manifest", "summary_lines",
]

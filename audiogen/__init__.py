"""audiogen: turn articles about emotional life into offline guided-meditation audio.

The Python API (audiogen/api.py) is loaded on first use, so `import audiogen` and the command
line's `--help` stay light:

    import audiogen
    result = audiogen.render("article.md", minutes=5, background="rain")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("render", "build", "themes", "script", "session_spec", "audio_segment")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from audiogen import api

        return getattr(api, name)
    raise AttributeError(f"module 'audiogen' has no attribute {name!r}")

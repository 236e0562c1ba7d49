"""audiogen: turn articles about emotional life into offline guided-meditation audio."""

__version__ = "0.1.0"

"""What a person sees while a library builds: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from audiogen.library.outputs import clock
from audiogen.library.runner import BUILT, FAILED, SKIPPED, BuildSummary, SessionOutcome


class ProgressDisplay:
    """Counts sessions and audio minutes; the time left is estimated from the minutes rendered so far."""

    def __init__(self, stream: TextIO, terminal: bool) -> None:
        self.stream = stream
        self.terminal = terminal
        self.sessions = self.done = 0
        self.minutes = self.done_minutes = self.rendered_minutes = 0.0
        self.started = time.monotonic()
        self.finish_at: float | None = None  # estimated, from the pace of the sessions rendered so far

    def start(self, sessions: int, minutes: float, skipped: int, skipped_minutes: float) -> None:
        self.sessions, self.minutes = sessions, minutes
        self.done, self.done_minutes = skipped, skipped_minutes
        self.started = time.monotonic()
        self._line(
            f"{sessions} sessions, {minutes:g} min of audio: {skipped} up to date, "
            f"{sessions - skipped} to build"
        )
        self._draw()

    def advance(self, outcome: SessionOutcome) -> None:
        self.done += 1
        self.done_minutes += outcome.minutes
        self.rendered_minutes += outcome.minutes
        now = time.monotonic()
        pace = (now - self.started) / self.rendered_minutes  # seconds per audio minute, all workers together
        self.finish_at = now + pace * (self.minutes - self.done_minutes)
        if outcome.status == FAILED:
            self._line(f"failed {outcome.name}: {outcome.error}")
        elif not self.terminal:
            self._line(f"{outcome.status} {outcome.name} ({outcome.minutes:g} min)")
        self._draw()

    def tick(self) -> None:
        """Between sessions the bar counts the time left down (plain lines would only repeat)."""
        if self.terminal:
            self._draw()

    def finish(self) -> None:
        if self.terminal and self.sessions:
            self.stream.write("\n")
            self.stream.flush()

    def eta(self) -> str:
        if self.done_minutes >= self.minutes:
            return "0:00"
        if self.finish_at is None:
            return "--:--"
        return clock(max(0.0, self.finish_at - time.monotonic()))

    def status(self) -> str:
        return (
            f"{self.done}/{self.sessions} sessions, {self.done_minutes:g}/{self.minutes:g} min of audio, "
            f"ETA {self.eta()}"
        )

    def _draw(self) -> None:
        if not self.terminal:
            if self.done > 0 and self.rendered_minutes:
                self._line(f"  {self.status()}")
            return
        width = 24
        filled = int(width * self.done / self.sessions) if self.sessions else width
        line = f"[{'#' * filled}{'-' * (width - filled)}] {self.status()}"
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r\033[K" + line[: columns - 1])
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.terminal:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


def summary_lines(summary: BuildSummary) -> list[str]:
    built, skipped, failed = (summary.with_status(s) for s in (BUILT, SKIPPED, FAILED))
    minutes = sum(o.minutes for o in built)
    lines = [
        f"built {len(built)} ({minutes:g} min of audio), skipped {len(skipped)} (up to date), "
        f"failed {len(failed)} in {clock(summary.seconds)}"
    ]
    lines += [f"failed {o.name}: {o.error}" for o in failed]
    if summary.stale:
        lines.append(
            f"kept {len(summary.stale)} sessions no longer in the manifest "
            f"({', '.join(summary.stale)}); remove them with --prune"
        )
    if summary.pruned:
        lines.append(f"pruned {len(summary.pruned)} files: {', '.join(summary.pruned)}")
    return lines

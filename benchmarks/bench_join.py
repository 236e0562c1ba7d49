"""Two MP3 encoders at once against one: a warm session's mastered stream encoded both ways.

    python3 benchmarks/bench_join.py [--minutes 5 20] [--runs 3]

Renders the built-in sample once per length (warming the speech cache), keeps its mastered
stream, then encodes that same stream to MP3 with one encoder and with two side by side (each on
an overlapping piece, joined at a frame in a pause), alternating, in this process. It prints
medians of wall time and CPU (this process's threads and its ffmpeg children) for both, their
ratio, and how long the join itself takes against copying the joined file (the baseline, in the
same run).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from threadpoolctl import threadpool_limits  # noqa: E402

import audiogen.export as export  # noqa: E402
import audiogen.pipeline as pipeline  # noqa: E402
from audiogen import api  # noqa: E402


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _captured_session(minutes: float, cache: Path, out: Path) -> tuple:
    """The render's own arguments to export_session (its mastered stream among them)."""
    captured = []
    real = pipeline.export_session

    def keep(*args):
        captured.append(args)
        return real(*args)

    pipeline.export_session = keep
    try:
        api.render(minutes=minutes, out=out, cache_dir=str(cache))
    finally:
        pipeline.export_session = real
    return captured[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    joins: list[float] = []
    copies: list[float] = []
    real_join = export.FORMATS["mp3"].pieces.join

    def timed_join(first, second, start, total, window, out):
        began = time.perf_counter()
        switch = real_join(first, second, start, total, window, out)
        joins.append(time.perf_counter() - began)
        began = time.perf_counter()
        shutil.copyfile(out, out.with_name("copy.mp3"))
        copies.append(time.perf_counter() - began)
        return switch

    pieces = dataclasses.replace(export.FORMATS["mp3"].pieces, join=timed_join)
    export.FORMATS["mp3"] = dataclasses.replace(export.FORMATS["mp3"], pieces=pieces)
    found = export.quiet_stretch
    print("minutes  one s  two s  two/one  one CPU s  two CPU s  join s  copy s  join/copy")
    with tempfile.TemporaryDirectory(prefix="audiogen-bench-join-") as folder:
        scratch = Path(folder)
        for minutes in options.minutes:
            stream, target, *rest = _captured_session(minutes, scratch / "cache", scratch / "render")
            timings: dict[str, list[tuple[float, float]]] = {"one": [], "two": []}
            joins.clear()
            copies.clear()
            with threadpool_limits(limits=1, user_api="blas"):  # as master() runs the stream
                for _ in range(options.runs):
                    for way, stretch in (("one", lambda timeline: None), ("two", found)):
                        export.quiet_stretch = stretch
                        wall, cpu = time.perf_counter(), _cpu()
                        export.export_session(stream, scratch / f"{way}.mp3", *rest)
                        timings[way].append((time.perf_counter() - wall, _cpu() - cpu))
            export.quiet_stretch = found
            one, two = ([statistics.median(t[i] for t in timings[w]) for i in (0, 1)] for w in ("one", "two"))
            join, copy = statistics.median(joins), statistics.median(copies)
            print(
                f"{minutes:7g} {one[0]:6.2f} {two[0]:6.2f} {two[0] / one[0]:8.2f}"
                f" {one[1]:10.2f} {two[1]:10.2f} {join:7.3f} {copy:7.3f} {join / copy:10.1f}"
            )


if __name__ == "__main__":
    main()

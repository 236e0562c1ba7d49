"""Batch throughput: a 12-session library built with 1 and with 2 workers, as a ratio.

    python benchmarks/bench_batch.py [--runs 3]

The library is the three built-in sample articles x four short lengths. The
speech cache is warmed first (not timed), so the figure is the build's own
work: mixing, mastering and encoding spread over the worker processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "audiogen" / "samples"
MINUTES = [1, 1.5, 2, 2.5]


def build(manifest: Path, out: Path, cache: Path, workers: int) -> tuple[float, float]:
    """Wall seconds of one build, and the CPU seconds it and its processes (workers, encoders) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "audiogen", "build", str(manifest), "--out", str(out), "--cache-dir", str(cache),
         "--workers", str(workers), "-q"],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audiogen-batch-") as scratch:
        scratch = Path(scratch)
        manifest = scratch / "library.toml"
        articles = ", ".join(f'"{p}"' for p in sorted(SAMPLES.glob("*.md")))
        manifest.write_text(
            f'[library]\nname = "Benchmark"\n[[sessions]]\narticles = [{articles}]\nminutes = {MINUTES}\n',
            encoding="utf-8",
        )
        cache = scratch / "cache"
        build(manifest, scratch / "warm-up", cache, os.cpu_count() or 1)  # not timed
        sessions = len(list((scratch / "warm-up").glob("*.mp3")))
        audio_minutes = sessions // len(MINUTES) * sum(MINUTES)
        times, cpu = {1: [], 2: []}, {1: [], 2: []}
        for run in range(args.runs):
            for workers in (1, 2):
                out = scratch / f"out-{workers}-{run}"
                wall, used = build(manifest, out, cache, workers)
                times[workers].append(wall)
                cpu[workers].append(used)
                shutil.rmtree(out)
        one, two = statistics.median(times[1]), statistics.median(times[2])
        print(f"machine: {os.cpu_count()} cores; {sessions} sessions, {audio_minutes:g} min of audio, warm speech cache")
        print(f"{'workers':>7} {'median s':>9} {'sessions/min':>13} {'audio min/s':>12} {'CPU s':>6} {'cores busy':>10}")
        for workers, seconds in ((1, one), (2, two)):
            used = statistics.median(cpu[workers])
            print(f"{workers:>7} {seconds:>9.1f} {sessions / seconds * 60:>13.1f} {audio_minutes / seconds:>12.2f} "
                  f"{used:>6.1f} {used / seconds:>10.2f}")
        print(f"2 workers vs 1: {one / two:.2f}x the throughput")
        # A render mixes in Python while its encoder runs beside it, so one worker already keeps
        # more than one core busy; 2 workers can gain at most (cores) / (cores one worker keeps busy).
        print(f"ceiling for 2 workers on {os.cpu_count()} cores: "
              f"{(os.cpu_count() or 1) / (statistics.median(cpu[1]) / one):.2f}x")


if __name__ == "__main__":
    main()

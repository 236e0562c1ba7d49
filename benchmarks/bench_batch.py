"""Batch throughput: a 12-session library built with 1 and with 2 workers, as a ratio.

    python benchmarks/bench_batch.py [--runs 3]

The library is the three built-in sample articles x four short lengths. The
speech cache is warmed first (not timed), so the figure is the build's own
work: mixing, mastering and encoding spread over the worker processes.

Each worker count is built twice: with the whole machine (what `--workers N`
gets), and with one core per worker (the build and its children pinned to N
cores, Linux only). A render mixes beside its encoder, so on the whole machine
one worker already keeps more than one core busy; pinned, the ratio shows how
the batch itself scales when each worker brings one core.
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


def adopt_orphans() -> None:
    """Become the reaper of our descendants' orphans (Linux): a build's fork server outlives the
    build by a moment, and its CPU (its workers' included) counts only if someone waits for it."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap() -> None:
    """Wait for every descendant left over from the build, so their CPU time is counted."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def build(
    manifest: Path, out: Path, cache: Path, workers: int, cores: set[int] | None = None
) -> tuple[float, float]:
    """Wall seconds of one build, and the CPU seconds it and its processes (workers, encoders) used.
    With `cores`, the build and everything it starts run on those cores only."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "audiogen",
            "build",
            str(manifest),
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
            "--workers",
            str(workers),
            "-q",
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    reap()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    adopt_orphans()
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
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        modes = {"whole machine": {1: None, 2: None}}
        if len(available) >= 2:
            # Pinned to every core there is, a build has the whole machine: that one is not built twice.
            modes["one core per worker"] = {
                w: None if w == len(available) else set(available[:w]) for w in (1, 2)
            }
        builds = {(w, frozenset(cores or ())) for pinning in modes.values() for w, cores in pinning.items()}
        times = {key: [] for key in builds}
        cpu = {key: [] for key in builds}
        for run in range(args.runs):  # the builds take turns, so a slow spell of the machine hits all of them
            for workers, cores in sorted(builds, key=lambda b: (b[0], sorted(b[1]))):
                out = scratch / f"out-{run}"
                wall, used = build(manifest, out, cache, workers, set(cores) or None)
                times[workers, cores].append(wall)
                cpu[workers, cores].append(used)
                shutil.rmtree(out)
        times = {
            (mode, w): times[w, frozenset(cores or ())]
            for mode, pinning in modes.items()
            for w, cores in pinning.items()
        }
        cpu = {
            (mode, w): cpu[w, frozenset(cores or ())]
            for mode, pinning in modes.items()
            for w, cores in pinning.items()
        }
        print(
            f"machine: {os.cpu_count()} cores; {sessions} sessions, {audio_minutes:g} min of audio, "
            f"warm speech cache; medians of {args.runs}"
        )
        print(
            f"{'cores':<20} {'workers':>7} {'median s':>9} {'sessions/min':>13} {'audio min/s':>12} "
            f"{'CPU s':>6} {'cores busy':>10}"
        )
        for mode in modes:
            for workers in (1, 2):
                seconds, used = statistics.median(times[mode, workers]), statistics.median(cpu[mode, workers])
                print(
                    f"{mode:<20} {workers:>7} {seconds:>9.1f} {sessions / seconds * 60:>13.1f} "
                    f"{audio_minutes / seconds:>12.2f} {used:>6.1f} {used / seconds:>10.2f}"
                )
        for mode in modes:
            one, two = statistics.median(times[mode, 1]), statistics.median(times[mode, 2])
            print(f"2 workers vs 1, {mode}: {one / two:.2f}x the throughput")
        # On the whole machine one worker already keeps more than one core busy (mixing beside its
        # encoder), so 2 workers can gain at most (cores) / (cores one worker keeps busy).
        busy = statistics.median(cpu["whole machine", 1]) / statistics.median(times["whole machine", 1])
        print(
            f"ceiling for 2 workers vs 1 on the whole machine ({os.cpu_count()} cores): "
            f"{(os.cpu_count() or 1) / busy:.2f}x"
        )


if __name__ == "__main__":
    main()

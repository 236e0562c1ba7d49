"""Startup benchmark: how long the command line takes to answer, and what a render imports.

    python benchmarks/bench_startup.py [--runs 11]

Each command runs in a fresh process; the baseline is the same Python starting and doing
nothing (`python -c pass`), timed in the same run, so the figures read as the command's own
cost; CPU seconds say what the wall times mean on a busy machine. `import audiogen.pipeline`
(everything a render loads before it starts work) is timed the same way, with its peak RSS,
and the modules it loads are checked for the heavy ones a render should not need up front.
Figures are medians over --runs runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

from measure import ROOT, run_measured

HEAVY = ("scipy", "PIL", "pyloudnorm", "trafilatura", "lxml")
REPORT_IMPORTS = (
    f"import sys, audiogen.pipeline; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} "
    f"& set({HEAVY!r}))) or 'none')"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    commands = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "audiogen --help": [sys.executable, "-m", "audiogen", "--help"],
        "audiogen render --help": [sys.executable, "-m", "audiogen", "render", "--help"],
        "import audiogen.pipeline": [sys.executable, "-c", "import audiogen.pipeline"],
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"medians of {args.runs} runs"
    )
    figures = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved, so a busy moment touches every command alike
        for name, command in commands.items():
            figures[name].append(run_measured(command))
    baseline = statistics.median(wall for wall, _, _ in figures["python -c pass (baseline)"])
    print(f"{'command':<28} {'seconds':>8} {'minus baseline':>14} {'CPU s':>6} {'peak RSS MB':>11}")
    for name, values in figures.items():
        seconds, cpu, rss = (statistics.median(column) for column in zip(*values))
        print(f"{name:<28} {seconds:>8.3f} {seconds - baseline:>14.3f} {cpu:>6.3f} {rss:>11.0f}")
    loaded = subprocess.run([sys.executable, "-c", REPORT_IMPORTS], capture_output=True, text=True, cwd=ROOT)
    print(
        f"heavy modules loaded by import audiogen.pipeline: {loaded.stdout.strip() or loaded.stderr.strip()}"
    )


if __name__ == "__main__":
    main()

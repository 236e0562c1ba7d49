"""Library benchmark: an unchanged library of 100, 300 and 1,000 sessions, rebuilt (every session
skipped) and its manifest validated, each in a fresh process.

    python benchmarks/bench_library.py [--sessions 100 300 1000] [--runs 3]

One session is really rendered (1 minute, the default voice, over pink noise); the others are
made cheaply from it: each has its own article file (a copy of the sample) and its own
[[sessions]] entry in the manifest (so every entry is checked on its own, the worst case), and
its files are hard links to the rendered session's under its own name, with a key file holding
the key a build computes for it. A rebuild then finds every session current, as it would after
a real build, and only rewrites the playlist, catalog and index. The baseline, timed in the same
run, is `audiogen --version` (Python, Click and the command line's imports): the rest is what a
rebuild or a validation costs. Figures are medians over --runs runs; CPU seconds (user and
system, the build's fork server included) say what the wall times mean on a busy machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import ROOT, run_measured

sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "audiogen" / "samples" / "sample_article.md"
VALIDATE = (
    "import sys; from audiogen.library import load_manifest; "
    "load_manifest(sys.argv[1], cache_dir=sys.argv[2])"
)


def write_manifest(folder: Path, count: int) -> Path:
    """`count` articles, one [[sessions]] entry each."""
    articles = folder / "articles"
    articles.mkdir(exist_ok=True)
    entries = []
    for i in range(count):
        article = articles / f"a{i:04d}.md"
        if not article.exists():
            os.link(SAMPLE, article)
        entries.append(f'[[sessions]]\narticles = "articles/{article.name}"\n')
    manifest = folder / "library.toml"
    manifest.write_text(
        '[library]\nname = "Bench"\nout = "library"\n\n[defaults]\nminutes = 1\n'
        'background = "pink"\n\n' + "\n".join(entries),
        encoding="utf-8",
    )
    return manifest


def fill_library(manifest: Path, cache: Path) -> None:
    """Every session of the manifest made current from the one that was rendered (not timed)."""
    from audiogen.library import load_manifest, state

    plan = load_manifest(manifest, cache_dir=cache)
    out = plan.settings.out_dir
    first = plan.sessions[0]
    built = state.read_key(out, first.name)
    if built is None:
        raise SystemExit("the rendered session has no key file")
    for session in plan.sessions[1:]:
        if state.read_key(out, session.name) is not None:
            continue
        files = []
        for file_name in built.entry.files:
            renamed = session.name + file_name[len(first.name) :]
            target = out / renamed
            if not target.exists():
                os.link(out / file_name, target)
            files.append(renamed)
        key = state.input_key(session)
        entry = dataclasses.replace(
            built.entry,
            name=session.name,
            file=files[[f.endswith(".mp3") for f in files].index(True)],
            files=tuple(files),
            article=f"articles/{session.article.name}",
            key=key,
        )
        state.write_key(out, session.name, key, entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    audiogen = [sys.executable, "-m", "audiogen"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"medians of {args.runs} run{'s' if args.runs != 1 else ''}"
    )
    with tempfile.TemporaryDirectory(prefix="audiogen-bench-library-") as scratch:
        folder, cache = Path(scratch), Path(scratch) / "cache"
        manifest = write_manifest(folder, 1)
        subprocess.run(
            [*audiogen, "-q", "build", str(manifest), "--cache-dir", str(cache)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        print(
            f"{'sessions':>8} {'baseline s':>10} {'rebuild s':>9} {'CPU s':>6} {'ms/session':>10} "
            f"{'validate s':>10} {'CPU s':>6} {'ms/session':>10}"
        )
        for count in sorted(args.sessions):
            manifest = write_manifest(folder, count)
            fill_library(manifest, cache)
            figures: dict[str, list[tuple[float, float, float]]] = {
                "baseline": [],
                "rebuild": [],
                "validate": [],
            }
            for _ in range(args.runs):
                figures["baseline"].append(run_measured([*audiogen, "--version"]))
                figures["rebuild"].append(
                    run_measured([*audiogen, "-q", "build", str(manifest), "--cache-dir", str(cache)])
                )
                figures["validate"].append(
                    run_measured([sys.executable, "-c", VALIDATE, str(manifest), str(cache)])
                )
            m = {name: statistics.median(wall for wall, _, _ in values) for name, values in figures.items()}
            cpu = {name: statistics.median(used for _, used, _ in values) for name, values in figures.items()}
            built = sum(1 for p in (folder / "library").glob("*.mp3"))
            if built != count:
                raise SystemExit(f"the library holds {built} sessions, not {count}")
            print(
                f"{count:>8} {m['baseline']:>10.2f} {m['rebuild']:>9.2f} {cpu['rebuild']:>6.2f} "
                f"{1000 * (m['rebuild'] - m['baseline']) / count:>10.2f} {m['validate']:>10.2f} "
                f"{cpu['validate']:>6.2f} {1000 * (m['validate'] - m['baseline']) / count:>10.2f}",
                flush=True,
            )
        shutil.rmtree(folder / "library")


if __name__ == "__main__":
    main()

"""Bed benchmark: CPU per 2-second block for every background layer and the common beds.

    python3 benchmarks/bench_bed.py [--rounds 7] [--blocks 20]

The mixer asks the bed for 2-s blocks (88200 frames at 44.1 kHz, stereo float32).
For each layer (its own `block`) and each bed (`Bed.block`, layers summed at
their gains) it prints the CPU milliseconds per block (process time, the best
of `--rounds` rounds of `--blocks` blocks, so other load on the machine counts
as little as possible) and the ratio to a baseline timed in the same rounds:
`rng.standard_normal((2, 88200), dtype=float32)`, one block's worth of white
noise drawn the plain numpy way. A ratio of 1.0 means the layer costs what
drawing its noise alone used to. A 20-minute session is 600 blocks.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiogen.background import LAYERS, Bed  # noqa: E402

RATE = 44100
FRAMES = 2 * RATE
LAYER_NAMES = ("white", "pink", "brown", "rain", "ocean", "drone", "theta")
BED_SPECS = ("pink+drone", "rain", "ocean", "theta", "rain+theta", "FILE")


def cpu_ms(step, blocks: int) -> float:
    """CPU milliseconds per call of `step` over `blocks` calls."""
    start = time.process_time()
    for _ in range(blocks):
        step()
    return (time.process_time() - start) / blocks * 1000


def music_file(folder: Path) -> Path:
    """A 20-s stereo WAV (a chord and a little noise): short enough that the bed holds it decoded."""
    t = np.arange(20 * RATE) / RATE
    rng = np.random.default_rng(0)
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    data = np.stack(
        [chord + 0.01 * rng.standard_normal(len(t)), chord + 0.01 * rng.standard_normal(len(t))], axis=1
    )
    path = folder / "music.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(data, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds; the best one counts")
    parser.add_argument("--blocks", type=int, default=20, help="2-s blocks per round")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    baseline = lambda: rng.standard_normal((2, FRAMES), dtype=np.float32)  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        units = {}
        for name in LAYER_NAMES:
            layer = LAYERS[name][1](np.random.default_rng(1), RATE)
            units[f"layer {name}"] = lambda layer=layer: layer.block(FRAMES, RATE)
        beds = []
        for spec in BED_SPECS:
            label = "bed music.wav (file)" if spec == "FILE" else f"bed {spec}"
            bed = Bed(str(music_file(Path(folder))) if spec == "FILE" else spec, 1, RATE)
            beds.append(bed)
            units[label] = lambda bed=bed: bed.block(FRAMES)

        best = {label: float("inf") for label in units}
        best_base = float("inf")
        for _ in range(args.rounds):
            for label, step in units.items():
                step()  # warm: first-call allocations and caches are not what a session pays for
                best[label] = min(best[label], cpu_ms(step, args.blocks))
                best_base = min(best_base, cpu_ms(baseline, args.blocks))
        for bed in beds:
            bed.close()

    print(
        f"# {platform.machine()}, {platform.python_version()}, numpy {np.__version__}; "
        f"best of {args.rounds} rounds x {args.blocks} blocks of {FRAMES} frames"
    )
    print(f"{'unit':<26} {'ms/block':>9} {'x baseline':>11} {'s per 20 min':>13}")
    print(f"{'baseline standard_normal':<26} {best_base:9.3f} {1.0:11.2f} {best_base * 0.6:13.2f}")
    for label, ms in best.items():
        print(f"{label:<26} {ms:9.3f} {ms / best_base:11.2f} {ms * 0.6:13.2f}")


if __name__ == "__main__":
    main()

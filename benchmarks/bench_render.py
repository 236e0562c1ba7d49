"""End-to-end render benchmark: time, real-time factor and peak memory, against an ffmpeg-only floor.

    python benchmarks/bench_render.py [--minutes 5 20 60] [--runs 3]

For each length it renders the built-in sample with a cold speech cache and
with a warm one, each run in its own process (peak RSS from the kernel's
rusage of that process). The floor is ffmpeg alone mixing the same voice track
with a pink-noise bed and encoding it to MP3 at the same settings, timed in the
same run; figures are medians, and our time is quoted as a ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_measured(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def render_command(minutes: float, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "audiogen", "-q", "render", "--minutes", str(minutes),
            "--out", str(out), "--cache-dir", str(cache)]


def voice_stem(minutes: float, cache: Path, path: Path) -> float:
    """The session's voice track alone, as the ffmpeg floor's input (not timed)."""
    from audiogen.models import SessionSpec
    from audiogen.pipeline import fitted_sound, session_script
    from audiogen.speak import synthesize_track
    from audiogen.timing import plan_timeline

    spec = SessionSpec(article=None, minutes=minutes, cache_dir=cache)
    script = session_script(spec)
    track = synthesize_track(script.utterances(), spec.voice, cache)
    timeline = plan_timeline(script, {c.utterance: c for c in track.clips}, minutes * 60,
                             tail=fitted_sound(spec).fade_out)
    rate = 22050
    voice = np.zeros(int(timeline.duration * rate), dtype=np.int16)
    for placed in timeline.clips:
        with wave.open(str(placed.clip.path)) as clip:
            samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        start = int(placed.start * rate)
        end = min(len(voice), start + len(samples))
        voice[start:end] = samples[: end - start]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(voice.tobytes())
    return timeline.duration


def floor_command(voice: Path, seconds: float, out: Path) -> list[str]:
    return [
        "ffmpeg", "-v", "error", "-y", "-i", str(voice),
        "-f", "lavfi", "-i", f"anoisesrc=color=pink:r=44100:a=0.01:d={seconds}",
        "-filter_complex", "[0]aresample=44100,aformat=channel_layouts=stereo[v];[v][1]amix=inputs=2:normalize=0",
        "-c:a", "libmp3lame", "-compression_level", "5", "-b:a", "128k", str(out),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is needed for the floor")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'minutes':>7} {'cold s':>8} {'warm s':>8} {'floor s':>8} {'warm/floor':>10} "
          f"{'RTF warm':>9} {'RSS cold MB':>11} {'RSS warm MB':>11}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="audiogen-bench-") as scratch:
        scratch = Path(scratch)
        for minutes in args.minutes:
            cold, warm, floor, rss_cold, rss_warm = [], [], [], [], []
            for run in range(args.runs):
                cache = scratch / f"cache-{minutes}-{run}"
                out = scratch / "out"
                seconds, rss = run_measured(render_command(minutes, out, cache))
                cold.append(seconds)
                rss_cold.append(rss)
                seconds, rss = run_measured(render_command(minutes, out, cache))
                warm.append(seconds)
                rss_warm.append(rss)
                stem = scratch / "voice.wav"
                duration = voice_stem(minutes, cache, stem)
                seconds, _ = run_measured(floor_command(stem, duration, scratch / "floor.mp3"))
                floor.append(seconds)
                shutil.rmtree(cache)
            row = (minutes, statistics.median(cold), statistics.median(warm), statistics.median(floor),
                   statistics.median(rss_cold), statistics.median(rss_warm))
            rows.append(row)
            m, c, w, f, rc, rw = row
            print(f"{m:>7g} {c:>8.1f} {w:>8.1f} {f:>8.1f} {w / f:>10.2f} {m * 60 / w:>9.1f} {rc:>11.0f} {rw:>11.0f}",
                  flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"peak memory, {last[0]:g} min vs {first[0]:g} min (warm): {last[5] / first[5]:.2f}x")


if __name__ == "__main__":
    main()

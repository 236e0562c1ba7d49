"""End-to-end render benchmark: time, real-time factor and peak memory, against an ffmpeg-only floor.

    python benchmarks/bench_render.py [--minutes 5 20 60] [--runs 3]

For each length it renders the built-in sample with a cold speech cache and
with a warm one, each run in its own process (peak RSS from the kernel's
rusage of that process). The floor is ffmpeg alone mixing the same voice track
over the same background (both written out beforehand, not timed) and encoding
it to MP3, timed in the same run: at ffmpeg's default MP3 settings (the floor
the targets are set against) and at audiogen's own encoder settings (LAME
quality 5, a stricter floor). A third floor does the encoder's work and no
mixing at all: ffmpeg re-encoding the warm render's own MP3 at its default MP3
settings (the floor the render targets use). Figures are medians over --runs runs; our warm
time is quoted as a ratio to each floor.
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
import wave
from pathlib import Path

import numpy as np
from measure import ROOT, run_measured

sys.path.insert(0, str(ROOT))


def render_command(minutes: float, out: Path, cache: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "audiogen",
        "-q",
        "render",
        "--minutes",
        str(minutes),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]


def write_stems(minutes: float, cache: Path, voice_path: Path, bed_path: Path) -> float:
    """The session's voice track and its background, each alone, as the ffmpeg floor's inputs (not timed).

    The voice is the clips at their places (22050 Hz mono, as the engine made them); the bed is
    the session's own background at about its level in the master's pauses (44.1 kHz WAV).
    """
    from audiogen.background import Bed
    from audiogen.mix import output_channels
    from audiogen.models import SessionSpec
    from audiogen.pipeline import fitted_sound, session_script
    from audiogen.speak import synthesize_track
    from audiogen.timing import plan_timeline

    spec = SessionSpec(article=None, minutes=minutes, cache_dir=cache)
    script = session_script(spec)
    track = synthesize_track(script.utterances(), spec.voice, cache)
    sound = fitted_sound(spec, script)
    timeline = plan_timeline(script, {c.utterance: c for c in track.clips}, minutes * 60, tail=sound.fade_out)
    rate = 22050
    voice = np.zeros(int(timeline.duration * rate), dtype=np.int16)
    for placed in timeline.clips:
        with wave.open(str(placed.clip.path)) as clip:
            samples = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        start = int(placed.start * rate)
        end = min(len(voice), start + len(samples))
        voice[start:end] = samples[: end - start]
    with wave.open(str(voice_path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(voice.tobytes())

    bed = Bed(sound.background, sound.seed, sound.sample_rate)
    channels = output_channels(bed, sound)
    with wave.open(str(bed_path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sound.sample_rate)
        frames, block = int(timeline.duration * sound.sample_rate), 2 * sound.sample_rate
        for start in range(0, frames, block):
            # About the level it has in the master's pauses (-26 dBFS RMS); ffmpeg mixes it as it is.
            samples = bed.block(min(block, frames - start)) * 0.5
            samples = samples if channels == 2 else samples.mean(axis=1, keepdims=True)
            out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    bed.close()
    return timeline.duration


def floor_command(voice: Path, bed: Path, out: Path, encoder_options: list[str]) -> list[str]:
    """ffmpeg alone: the voice resampled and mixed over the bed, encoded to MP3."""
    return [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(voice),
        "-i",
        str(bed),
        "-filter_complex",
        "[0]aresample=44100,aformat=channel_layouts=stereo[v];[v][1]amix=inputs=2:normalize=0",
        *encoder_options,
        str(out),
    ]


# The floor: ffmpeg's default MP3 settings (libmp3lame, 128 kbps, LAME's default quality).
DEFAULT_MP3 = ["-c:a", "libmp3lame"]
# audiogen's own MP3 settings (LAME quality 5): the stricter floor, the same encoder work as ours.
OUR_MP3 = ["-c:a", "libmp3lame", "-compression_level", "5", "-b:a", "128k"]


def reencode_command(rendered: Path, out: Path) -> list[str]:
    """ffmpeg alone re-encoding our own output at its default MP3 settings: the encoder's work, no mixing."""
    return ["ffmpeg", "-v", "error", "-y", "-i", str(rendered), *DEFAULT_MP3, str(out)]


def main() -> None:
    if sys.argv[1:2] == ["--stems"]:  # the floor's inputs, written by a child process
        minutes, cache, voice, bed = sys.argv[2:6]
        write_stems(float(minutes), Path(cache), Path(voice), Path(bed))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is needed for the floor")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"medians of {args.runs} run{'s' if args.runs != 1 else ''}"
    )
    print(
        f"{'minutes':>7} {'cold s':>7} {'warm s':>7} {'reenc s':>7} {'warm/reenc':>10} {'floor s':>8} "
        f"{'warm/floor':>10} {'floor q5 s':>10} {'warm/q5':>7} {'RTF warm':>8} "
        f"{'RSS cold MB':>11} {'RSS warm MB':>11} "
        f"{'CPU warm s':>10} {'CPU reenc s':>11}"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="audiogen-bench-") as scratch:
        scratch = Path(scratch)
        for minutes in args.minutes:
            figures = {
                name: []
                for name in (
                    "cold",
                    "warm",
                    "reencode",
                    "floor",
                    "floor_q5",
                    "rss_cold",
                    "rss_warm",
                    "cpu_warm",
                    "cpu_reencode",
                )
            }
            for run in range(args.runs):
                cache = scratch / f"cache-{minutes}-{run}"
                out = scratch / "out"
                seconds, _, rss = run_measured(render_command(minutes, out, cache))
                figures["cold"].append(seconds)
                figures["rss_cold"].append(rss)
                seconds, cpu, rss = run_measured(render_command(minutes, out, cache))
                figures["warm"].append(seconds)
                figures["rss_warm"].append(rss)
                figures["cpu_warm"].append(cpu)
                rendered = next(out.glob("*.mp3"))
                seconds, cpu, _ = run_measured(reencode_command(rendered, scratch / "reencoded.mp3"))
                figures["reencode"].append(seconds)
                figures["cpu_reencode"].append(cpu)
                rendered.unlink()
                voice, bed = scratch / "voice.wav", scratch / "bed.wav"
                # In a process of its own: this one stays small, since a child's peak RSS as the
                # kernel reports it includes what it was forked from.
                subprocess.run(
                    [sys.executable, __file__, "--stems", str(minutes), str(cache), str(voice), str(bed)],
                    check=True,
                    cwd=ROOT,
                )
                figures["floor"].append(
                    run_measured(floor_command(voice, bed, scratch / "floor.mp3", DEFAULT_MP3))[0]
                )
                figures["floor_q5"].append(
                    run_measured(floor_command(voice, bed, scratch / "floor.mp3", OUR_MP3))[0]
                )
                shutil.rmtree(cache)
            m = {name: statistics.median(values) for name, values in figures.items()}
            rows.append((minutes, m))
            print(
                f"{minutes:>7g} {m['cold']:>7.1f} {m['warm']:>7.1f} {m['reencode']:>7.1f} "
                f"{m['warm'] / m['reencode']:>10.2f} {m['floor']:>8.1f} {m['warm'] / m['floor']:>10.2f} "
                f"{m['floor_q5']:>10.1f} {m['warm'] / m['floor_q5']:>7.2f} {minutes * 60 / m['warm']:>8.1f} "
                f"{m['rss_cold']:>11.0f} {m['rss_warm']:>11.0f} "
                f"{m['cpu_warm']:>10.1f} {m['cpu_reencode']:>11.1f}",
                flush=True,
            )
    if len(rows) > 1:
        (first, a), (last, b) = rows[0], rows[-1]
        print(f"peak memory, {last:g} min vs {first:g} min (warm): {b['rss_warm'] / a['rss_warm']:.2f}x")


if __name__ == "__main__":
    main()

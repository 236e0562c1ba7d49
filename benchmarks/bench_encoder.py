"""MP3 encoder levels on a real session: how long LAME takes at each, and what each does to the sound.

    python benchmarks/bench_encoder.py [--minutes 5] [--levels 2 3 5 7] [--cache-dir DIR]

It masters the built-in sample as a render does (default voice, bed and loudness), keeps the
mastered PCM, then encodes it with ffmpeg's libmp3lame at 128 kbps at each level, decodes the
result and compares it with the source:

- CPU time of the encoder, as a ratio to level 5 (audiogen's level) in the same run;
- a noise-to-mask ratio (NMR) per critical band: the coding error's energy over a masking
  threshold estimated from the source (Johnston's model: 1-Bark bands, Schroeder's spreading
  function, a tonality-weighted offset, the threshold in quiet at 96 dB SPL full scale). Reported:
  the share of 2048-sample frames where the error crosses the mask anywhere in the voice's bands
  (200 Hz to 4 kHz), the 99th percentile of the NMR in the bands where the voice's fundamental
  and first formants lie (300 Hz to 1.6 kHz), and the share of frames whose worst band is more
  than 1.5 dB worse than at level 5;
- the plain log-spectral distance to the source (not perceptual; for comparison).

The model is simple and conservative (every level crosses its mask above 4 kHz, where 128 kbps
cannot code a noise bed exactly), so the figures are read against each other, not as absolutes.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import ROOT
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, str(ROOT))

RATE, FRAME, HOP = 44100, 2048, 1024
BITRATE = "128k"


def mastered_pcm(minutes: float, cache: Path, out: Path) -> int:
    """The built-in sample's session, mastered exactly as a render masters it, as f32 PCM; returns
    its channel count."""
    from dataclasses import replace

    from audiogen.background import Bed
    from audiogen.mix import mastered_blocks, output_channels, plan_master
    from audiogen.models import SessionSpec
    from audiogen.pipeline import _lead_in, fitted_sound, session_script
    from audiogen.speak import synthesize_track
    from audiogen.timing import plan_timeline

    spec = SessionSpec(article=None, minutes=minutes, cache_dir=cache)
    script = session_script(spec)
    track = synthesize_track(script.utterances(), spec.voice, cache)

    def bed_factory():
        return Bed(spec.sound.background, spec.sound.seed, spec.sound.sample_rate)

    bed = bed_factory()
    sound = replace(fitted_sound(spec, script), channels=output_channels(bed, spec.sound))
    bed.close()
    timeline = plan_timeline(
        script,
        {clip.utterance: clip for clip in track.clips},
        minutes * 60,
        lead_in=_lead_in(sound),
        tail=sound.fade_out,
    )
    plan = plan_master(timeline, bed_factory, sound)
    with open(out, "wb") as pcm:
        for block in mastered_blocks(timeline, bed_factory, sound, plan):
            pcm.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
    return sound.channels


def encode(pcm: Path, channels: int, level: str, out: Path) -> float:
    """CPU seconds ffmpeg (libmp3lame) takes to encode the PCM at this level."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", str(channels), "-i", str(pcm)]
        + ["-c:a", "libmp3lame", "-compression_level", level, "-b:a", BITRATE, str(out)],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def decode(path: Path, channels: int) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "f32le",
            "-ac",
            str(channels),
            "-ar",
            str(RATE),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).astype(np.float64)


class MaskModel:
    """Johnston's (1988) masking threshold per 1-Bark band of each frame."""

    def __init__(self) -> None:
        freqs = np.fft.rfftfreq(FRAME, 1 / RATE)
        bark = 13 * np.arctan(0.00076 * freqs) + 3.5 * np.arctan((freqs / 7500) ** 2)
        self.band = np.floor(bark).astype(int)
        self.bands = int(self.band.max()) + 1
        self.window = np.hanning(FRAME)
        self.centre = np.array([freqs[self.band == b].mean() for b in range(self.bands)])
        # Levels: a full-scale sine is 96 dB SPL; the threshold in quiet (Terhardt) at each band's centre.
        t = np.arange(4 * FRAME) / RATE
        full_scale = self.spectra(np.sin(2 * np.pi * 1000 * t)).sum(axis=1).mean()
        khz = np.maximum(self.centre, 20) / 1000
        quiet_db = 3.64 * khz**-0.8 - 6.5 * np.exp(-0.6 * (khz - 3.3) ** 2) + 1e-3 * khz**4
        self.quiet = full_scale * 10 ** ((quiet_db - 96) / 10)
        dz = np.arange(self.bands)[:, None] - np.arange(self.bands)[None, :] + 0.474
        self.spreading = 10 ** ((15.81 + 7.5 * dz - 17.5 * np.sqrt(1 + dz**2)) / 10)

    def spectra(self, x: np.ndarray) -> np.ndarray:
        frames = sliding_window_view(x, FRAME)[::HOP] * self.window
        return np.abs(np.fft.rfft(frames, axis=1)) ** 2

    def band_sums(self, power: np.ndarray) -> np.ndarray:
        return np.stack([power[:, self.band == b].sum(axis=1) for b in range(self.bands)], axis=1)

    def nmr(self, reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
        """(frames, bands): coding error energy over the masking threshold."""
        power = self.spectra(reference)
        error = self.band_sums(self.spectra(decoded - reference))
        spread = self.band_sums(power) @ self.spreading.T
        # Tonality from the spectral flatness: a tone masks noise less (offset 14.5 + b dB) than
        # noise does (5.5 dB).
        geometric = np.exp(np.mean(np.log(power[:, 1:] + 1e-30), axis=1))
        flatness_db = 10 * np.log10(geometric / (power[:, 1:].mean(axis=1) + 1e-30) + 1e-30)
        tonality = np.minimum(flatness_db / -60, 1.0)[:, None]
        offset = tonality * (14.5 + np.arange(self.bands)) + (1 - tonality) * 5.5
        mask = np.maximum(spread * 10 ** (-offset / 10), self.quiet)
        return error / mask


def spectral_distance(reference: np.ndarray, decoded: np.ndarray) -> float:
    """Mean log-spectral distance (dB) over 2048-sample frames, 50 Hz-15 kHz, frames within 50 dB of the
    loudest (first channel)."""
    window = np.hanning(FRAME)
    frames = min(len(reference), len(decoded)) // FRAME

    def power(x):
        return np.abs(np.fft.rfft(x[: frames * FRAME, 0].reshape(frames, FRAME) * window, axis=1)) ** 2

    ref, dec = power(reference), power(decoded)
    freqs = np.fft.rfftfreq(FRAME, 1 / RATE)
    keep = (freqs > 50) & (freqs < 15000)
    ref, dec = ref[:, keep], dec[:, keep]
    energy = 10 * np.log10(ref.sum(axis=1) + 1e-20)
    loud = energy > energy.max() - 50
    diff = 10 * np.log10((ref[loud] + 1e-12) / (dec[loud] + 1e-12))
    return float(np.sqrt(np.mean(diff**2, axis=1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--levels", nargs="+", default=["2", "3", "5", "7"])
    parser.add_argument("--cache-dir", type=Path, help="a speech cache to reuse (default: a fresh one)")
    args = parser.parse_args()
    levels = list(dict.fromkeys(["5", *args.levels]))  # level 5 is the baseline
    with tempfile.TemporaryDirectory(prefix="audiogen-bench-encoder-") as scratch:
        scratch = Path(scratch)
        pcm = scratch / "master.f32"
        channels = mastered_pcm(args.minutes, args.cache_dir or scratch / "cache", pcm)
        reference = np.fromfile(pcm, dtype="<f4").reshape(-1, channels).astype(np.float64)
        model = MaskModel()
        voice = (model.centre > 200) & (model.centre < 4000)
        formants = (model.centre > 300) & (model.centre < 1600)
        results = {}
        for level in levels:
            out = scratch / f"level{level}.mp3"
            cpu = encode(pcm, channels, level, out)
            decoded = decode(out, channels)[: len(reference)]
            ratios = np.concatenate([model.nmr(reference[:, c], decoded[:, c]) for c in range(channels)])
            results[level] = (cpu, ratios, spectral_distance(reference, decoded))
    base_cpu, base_ratios, _ = results["5"]
    base_worst = 10 * np.log10(base_ratios.max(axis=1))
    print(
        f"{args.minutes:g}-minute session (built-in sample, default voice and bed), {channels} channels, "
        f"MP3 {BITRATE}; NMR by Johnston's masking model, frames of {FRAME} samples"
    )
    print(
        f"{'level':>5} {'CPU s':>6} {'CPU vs 5':>8} {'frames over mask 0.2-4 kHz':>26} "
        f"{'p99 NMR 0.3-1.6 kHz':>20} {'frames >1.5 dB worse than 5':>27} {'spectral dist':>13}"
    )
    for level, (cpu, ratios, distance) in results.items():
        over = 10 * np.log10(ratios[:, voice].max(axis=1)) > 0
        p99 = 10 * np.log10(np.percentile(ratios[:, formants], 99, axis=0))
        worse = 10 * np.log10(ratios.max(axis=1)) > base_worst + 1.5
        print(
            f"{level:>5} {cpu:>6.2f} {cpu / base_cpu:>7.2f}x {100 * over.mean():>25.1f}% "
            f"{p99.min():>+8.1f} to {p99.max():>+5.1f} dB {100 * worse.mean():>26.1f}% {distance:>10.2f} dB"
        )


if __name__ == "__main__":
    main()

"""Export: every format rendered for real (1-minute sessions), decoded and read back.

Speech onsets are measured in the decoded audio, independently of the timeline: the
first 5 ms frame near a cue that rises 10 dB above the sound just before it, in the
full band or above 2.5 kHz (where a ringing bell, all partials below 2.3 kHz, does not
hide the start of a word).
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
from pathlib import Path

import mutagen
import numpy as np
import pytest
from click.testing import CliRunner
from mutagen.flac import Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.wave import WAVE
from PIL import Image
from scipy.signal import butter, sosfilt

from audiogen.cli import main
from audiogen.export import FORMATS
from audiogen.models import SessionSpec, SoundSettings, VoiceSettings
from audiogen.pipeline import render_session
from conftest import cli_render, decode, probe

RATE = 44100
TOLERANCE = 0.05  # seconds: cues and chapters sit this close to the sound they mark
CODECS = {"mp3": "mp3", "ogg": "vorbis", "opus": "opus", "m4a": "aac", "flac": "flac", "wav": "pcm_s16le"}


@pytest.fixture(scope="module", params=list(FORMATS))
def session(request, tmp_path_factory, speech_cache):
    """The built-in sample as a 1-minute session in one format, with library tags."""
    out = tmp_path_factory.mktemp(f"export-{request.param}")
    # A bed 20 dB quieter than usual: speech onsets are measured in the decoded mix, and a soft
    # first consonant under the bed and the opening bell would otherwise be found late. pyttsx3's
    # espeak voice starts its words abruptly, so a cue can be checked against the mix within 50 ms;
    # hibari's "W" of "Welcome" swells over 150 ms under the bell's tail (cues: test_speak_hibari).
    spec = SessionSpec(
        article=None,
        minutes=1,
        out_dir=out,
        format=request.param,
        cache_dir=speech_cache,
        narrator="Test Narrator",
        album="Test Library",
        track=3,
        voice=VoiceSettings(engine="pyttsx3"),
        sound=SoundSettings(background_gain_db=-20.0),
    )
    return render_session(spec)


@pytest.fixture(scope="module")
def decoded(session):
    return decode(session.path, RATE).mean(axis=1)


def _id3(path: Path) -> ID3:
    """The ID3 tag of an MP3, or of a WAV's ID3 chunk."""
    return WAVE(path).tags if path.suffix == ".wav" else ID3(path)


def _audio_stream(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "audio")


def _frame_levels(samples: np.ndarray, frame: int) -> np.ndarray:
    usable = len(samples) // frame * frame
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def onset_near(samples: np.ndarray, seconds: float) -> float | None:
    """The start of a sound within 0.25 s of `seconds`, measured in the samples."""
    frame = int(RATE * 0.005)
    step = frame / RATE
    high = sosfilt(butter(6, 2500, "highpass", fs=RATE, output="sos"), samples)
    found = []
    for signal in (samples, high):
        levels = _frame_levels(signal, frame)
        i = int(round(seconds / step))
        before = np.median(levels[max(0, i - int(0.4 / step)) : max(1, i - int(0.1 / step))])
        first = i - int(0.25 / step)
        rising = np.flatnonzero(levels[first : i + int(0.25 / step)] > before + 10)
        if len(rising):
            found.append((first + rising[0]) * step)
    return min(found) if found else None


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    assert text.startswith("WEBVTT\n")
    clock = r"(\d\d):(\d\d):(\d\d\.\d\d\d)"
    cues = []
    for block in text.strip().split("\n\n")[1:]:
        number, timing, words = block.split("\n", 2)
        match = re.fullmatch(f"{clock} --> {clock}", timing)
        assert number.isdigit() and match, block
        h1, m1, s1, h2, m2, s2 = match.groups()
        cues.append(
            (int(h1) * 3600 + int(m1) * 60 + float(s1), int(h2) * 3600 + int(m2) * 60 + float(s2), words)
        )
    return cues


def parse_lrc(text: str) -> list[tuple[float, str]]:
    lines = []
    for line in text.splitlines():
        match = re.fullmatch(r"\[(\d\d):(\d\d\.\d\d)\](.*)", line)
        if match:
            lines.append((int(match[1]) * 60 + float(match[2]), match[3]))
        else:
            assert re.fullmatch(r"\[(ti|ar|al|length|re):.*\]", line), line
    return lines


# ---------------------------------------------------------------- the audio


def test_format_decodes_fully_with_the_right_duration(session, decoded):
    fmt = session.path.suffix[1:]
    info = probe(session.path)
    stream = _audio_stream(info)
    assert stream["codec_name"] == CODECS[fmt]
    assert int(stream["sample_rate"]) == (48000 if fmt == "opus" else 44100)
    if fmt == "mp3":
        assert int(stream["bit_rate"]) == 128000, "constant bitrate"
    check = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(session.path), "-map", "0:a", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and not check.stderr.strip()
    assert float(info["format"]["duration"]) == pytest.approx(60, abs=0.05)
    assert len(decoded) / RATE == pytest.approx(60, abs=0.01)
    assert 0.05 < np.max(np.abs(decoded)) < 0.99


def test_only_the_session_files_are_left(session):
    names = sorted(p.name for p in session.path.parent.iterdir())
    stem = session.path.stem
    assert names == sorted(f"{stem}{s}" for s in (session.path.suffix, ".jpg", ".lrc", ".txt", ".vtt"))
    assert session.cover == session.path.with_suffix(".jpg")
    assert set(session.transcripts) == {session.path.with_suffix(s) for s in (".vtt", ".lrc", ".txt")}


# ---------------------------------------------------------------- tags


def test_tags_read_back_with_mutagen_and_ffprobe(session):
    fmt = session.path.suffix[1:]
    easy = mutagen.File(session.path, easy=True)
    assert easy is not None
    if fmt == "wav":
        id3 = _id3(session.path)  # mutagen has no easy interface for WAV's ID3 chunk
        values = {
            key: str(id3[frame])
            for key, frame in (
                ("title", "TIT2"),
                ("artist", "TPE1"),
                ("album", "TALB"),
                ("genre", "TCON"),
                ("tracknumber", "TRCK"),
            )
        }
    else:
        values = {key: easy[key][0] for key in ("title", "artist", "album", "genre", "tracknumber")}
    assert values["title"] == "Making Room for a Gentle Heart"
    assert values["artist"] == "Test Narrator"
    assert values["album"] == "Test Library"
    assert values["genre"] == "Meditation"
    assert values["tracknumber"].split("/")[0] == "3"

    info = probe(session.path)
    tags = {
        k.lower(): v
        for k, v in {**info["format"].get("tags", {}), **_audio_stream(info).get("tags", {})}.items()
    }
    assert tags["title"] == "Making Room for a Gentle Heart"
    assert tags["genre"] == "Meditation"
    assert re.fullmatch(r"\d{4}", tags["date"])
    comment = tags["comment"]
    assert "built-in sample article" in comment and "template" in comment and "1 minute" in comment
    if fmt in ("mp3", "wav"):
        assert _id3(session.path).version == (2, 3, 0)


# ---------------------------------------------------------------- chapters


def test_chapters_start_at_their_first_sound(session, decoded):
    fmt = session.path.suffix[1:]
    chapters = probe(session.path)["chapters"]
    if fmt == "m4a":
        # An MP4 chapter track has no gap: the lead-in before the first sound is a chapter of its own.
        opening = chapters.pop(0)
        assert opening["tags"]["title"] == "Opening" and float(opening["start_time"]) == 0.0
        assert float(opening["end_time"]) == pytest.approx(session.chapters[0].start, abs=0.002)
    titles = [c["tags"]["title"] for c in chapters]
    assert titles == [c.title for c in session.chapters]
    assert len(titles) >= 3
    starts = [float(c["start_time"]) for c in chapters]
    assert starts == sorted(starts), "chapters are listed in time order"
    for i, (start, expected) in enumerate(zip(starts, session.chapters)):
        assert start == pytest.approx(expected.start, abs=0.002)
        heard = onset_near(decoded, start)
        assert heard is not None and abs(heard - start) <= TOLERANCE, (titles[i], start, heard)


def test_chapters_read_back_with_mutagen(session):
    fmt = session.path.suffix[1:]
    expected = [(round(c.start * 1000), c.title) for c in session.chapters]
    if fmt in ("mp3", "wav"):
        id3 = _id3(session.path)
        toc = id3.getall("CTOC")[0]
        chaps = {f.element_id: f for f in id3.getall("CHAP")}
        assert [c.element_id for c in id3.getall("CHAP")] == toc.child_element_ids, (
            "CHAP frames in time order"
        )
        found = [(chaps[e].start_time, chaps[e].sub_frames["TIT2"].text[0]) for e in toc.child_element_ids]
    elif fmt == "m4a":
        found = [(round(c.start * 1000), c.title) for c in MP4(session.path).chapters]  # the Nero chpl list
        assert found.pop(0) == (0, "Opening")  # the lead-in, as in the chapter track
    else:
        tags = mutagen.File(session.path).tags
        numbers = sorted({k[7:10] for k in tags.keys() if re.fullmatch(r"(?i)chapter\d{3}", k)})
        found = []
        for n in numbers:
            h, m, s = tags[f"CHAPTER{n}"][0].split(":")
            found.append((round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000), tags[f"CHAPTER{n}NAME"][0]))
    assert found == expected


# ---------------------------------------------------------------- cover


def _embedded_cover(path: Path) -> bytes:
    fmt = path.suffix[1:]
    if fmt in ("mp3", "wav"):
        return _id3(path).getall("APIC")[0].data
    if fmt == "flac":
        return mutagen.File(path).pictures[0].data
    if fmt == "m4a":
        return bytes(MP4(path).tags["covr"][0])
    block = mutagen.File(path).tags["METADATA_BLOCK_PICTURE"][0]
    return Picture(base64.b64decode(block)).data


def test_cover_is_embedded_and_beside_the_audio(session):
    beside = session.cover.read_bytes()
    assert _embedded_cover(session.path) == beside
    with Image.open(io.BytesIO(beside)) as image:
        assert image.format == "JPEG" and image.size == (1400, 1400)
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.std() > 10, "not a flat colour"
    attached = [s for s in probe(session.path)["streams"] if s.get("disposition", {}).get("attached_pic")]
    assert len(attached) == 1 and attached[0]["codec_name"] == "mjpeg"


# ---------------------------------------------------------------- transcripts


def test_transcripts_parse_and_match_the_speech_onsets(session, decoded):
    vtt = parse_vtt(session.path.with_suffix(".vtt").read_text(encoding="utf-8"))
    lrc = parse_lrc(session.path.with_suffix(".lrc").read_text(encoding="utf-8"))
    txt = session.path.with_suffix(".txt").read_text(encoding="utf-8")
    assert len(vtt) >= 5
    assert all(start < end for start, end, _ in vtt)
    assert all(a[1] <= b[0] for a, b in zip(vtt, vtt[1:])), "cues do not overlap"
    spoken_lrc = [(t, words) for t, words in lrc if words]
    assert [words for _, words in spoken_lrc] == [words for _, _, words in vtt]
    for _, _, words in vtt:
        assert words in txt
    for chapter in session.chapters:
        assert chapter.title in txt

    for start, _, words in vtt:  # every cue, the first and last included
        heard = onset_near(decoded, start)
        assert heard is not None and abs(heard - start) <= TOLERANCE, (words, start, heard)
    for start, words in (spoken_lrc[0], spoken_lrc[-1]):
        heard = onset_near(decoded, start)
        assert heard is not None and abs(heard - start) <= TOLERANCE, (words, start, heard)
    # Between cues there is no speech: the last cue ends before the fade-out's silence.
    assert vtt[-1][1] < 60


# ---------------------------------------------------------------- the command line


def test_cli_format_narrator_and_no_companions(tmp_path, speech_cache):
    options = ["--format", "ogg", "--bitrate", "96k", "--narrator", "Ana", "--no-cover", "--no-transcript"]
    result = cli_render(tmp_path, speech_cache, *options)
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip().splitlines()[-1])
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.suffix == ".ogg"
    audio = mutagen.File(path)
    assert audio.tags["artist"] == ["Ana"] and "METADATA_BLOCK_PICTURE" not in audio.tags
    assert audio.info.bitrate == pytest.approx(96000, rel=0.25)


def test_formats_command_lists_every_format():
    result = CliRunner().invoke(main, ["formats"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(FORMATS)
    assert "unavailable" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "aiff"], "--format 'aiff' is unknown"),
        (["--bitrate", "100k"], "--bitrate '100k' does not suit mp3"),
        (["--format", "opus", "--bitrate", "fast"], "--bitrate 'fast' does not suit opus"),
    ],
)
def test_bad_format_or_bitrate_fails_before_any_work(tmp_path, args, message):
    result = CliRunner().invoke(main, ["render", *args, "--out", str(tmp_path)])
    assert result.exit_code == 7
    assert result.output.count("\n") == 1 and message in result.output
    assert not any(tmp_path.iterdir())


def test_missing_encoder_is_a_clear_error(tmp_path, monkeypatch):
    from audiogen.tools import ffmpeg_path

    # An ffmpeg built without libopus: a wrapper that hides it from the encoder list.
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = "-encoders" ] && '
        '{ ffmpeg "$@" | grep -v libopus; exit 0; }; done\n'
        'exec ffmpeg "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("AUDIOGEN_FFMPEG", str(fake))
    ffmpeg_path.cache_clear()
    try:
        out = tmp_path / "out"
        result = CliRunner().invoke(main, ["render", "--format", "opus", "--out", str(out)])
        listing = CliRunner().invoke(main, ["formats"]).output
    finally:
        monkeypatch.delenv("AUDIOGEN_FFMPEG")
        ffmpeg_path.cache_clear()
    assert result.exit_code == 8
    assert "no libopus encoder" in result.output and "--format opus" in result.output
    assert not out.exists() or not any(out.iterdir())
    assert re.search(r"^opus .*unavailable: .*no libopus encoder", listing, re.M)
    assert re.search(r"^mp3 (?!.*unavailable)", listing, re.M)

"""Export pieces on small synthetic input: onsets, chapters, transcripts, cover, atomic writes."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audiogen.errors import AudioError, OutputError
from audiogen.export import encode, export_session, export_settings
from audiogen.export.cover import render_cover
from audiogen.export.formats import FORMATS, ffmetadata_chapters
from audiogen.export.timings import SpokenLine, heard_chapters, spoken_lines, voiced_span
from audiogen.export.transcript import lrc, plain_text, webvtt
from audiogen.models import ChapterMark, Clip, PlacedBell, PlacedClip, Tags, Timeline, Utterance
from conftest import probe

RATE = 44100


def _clip(path: Path, lead: float, sound: float, tail: float, text: str, rate: int = 22050) -> Clip:
    """A mono 16-bit clip: `lead` s of silence, `sound` s of a tone, `tail` s of silence."""
    t = np.arange(int(sound * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    samples = np.concatenate([np.zeros(int(lead * rate)), tone, np.zeros(int(tail * rate))])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return Clip(Utterance(text), path, len(samples) / rate, rate)


@pytest.fixture
def timeline(tmp_path) -> Timeline:
    first = _clip(tmp_path / "a.wav", 0.120, 0.5, 0.3, "Arrive here.")
    second = _clip(tmp_path / "b.wav", 0.0, 0.8, 0.4, "Rest now.")
    return Timeline(
        duration=6.0,
        clips=(PlacedClip(1.0, first), PlacedClip(4.0, second)),
        bells=(PlacedBell(3.0, "bowl"),),
        chapters=(ChapterMark(1.0, "One"), ChapterMark(3.0, "Two")),
    )


def _blocks(seconds: float, channels: int = 2, block: float = 1.0):
    rng = np.random.default_rng(0)
    left = int(seconds * RATE)
    while left > 0:
        n = min(left, int(block * RATE))
        yield 0.1 * rng.standard_normal((n, channels))
        left -= n


def test_voiced_span_measures_leading_and_trailing_silence(timeline):
    onset, end = voiced_span(timeline.clips[0].clip.path)
    assert onset == pytest.approx(0.120, abs=0.006)
    assert end == pytest.approx(0.620, abs=0.006)


def test_lines_and_chapters_sit_where_sound_is_heard(timeline):
    lines = spoken_lines(timeline)
    assert [line.text for line in lines] == ["Arrive here.", "Rest now."]
    assert lines[0].start == pytest.approx(1.12, abs=0.006) and lines[0].end == pytest.approx(1.62, abs=0.006)
    assert lines[1].start == pytest.approx(4.0, abs=0.006)
    chapters = heard_chapters(timeline)
    assert chapters[0] == ChapterMark(pytest.approx(1.12, abs=0.006), "One")  # after the clip's silence
    assert chapters[1] == ChapterMark(3.0, "Two")  # a bell sounds at once


def test_transcript_formats(timeline):
    lines = spoken_lines(timeline)
    tags = Tags("A Title", artist="Ana", themes=("grief",))
    vtt = webvtt(lines)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:01.12") and "\n2\n00:00:04.000 --> 00:00:04.8" in vtt
    text = lrc(lines, tags, timeline.duration)
    assert "[ti:A Title]" in text and "[00:01.12]Arrive here." in text and "[00:04.00]Rest now." in text
    assert "[00:01.62]\n" in text, "the display clears during the long pause"
    plain = plain_text(lines, heard_chapters(timeline), tags, timeline.duration)
    assert plain.splitlines()[:2] == ["A Title", "0 minutes · grief"]
    assert "One (00:01)\n  00:01  Arrive here.\n\nTwo (00:03)\n  00:04  Rest now." in plain


def test_ffmetadata_escapes_titles():
    text = ffmetadata_chapters((ChapterMark(1.5, "A=B; #1\\"),), 10.0)
    assert "START=1500\nEND=10000\ntitle=A\\=B\\; \\#1\\\\" in text


def test_cover_is_deterministic_and_follows_title_and_theme():
    tags = Tags("Letting the Day Go", themes=("letting go", "sleep"))
    first = render_cover(tags, 600)
    assert first == render_cover(tags, 600)
    assert first != render_cover(Tags("Another Title", themes=("letting go",)), 600)
    assert first != render_cover(Tags("Letting the Day Go", themes=("grief",)), 600)
    assert first[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_session_writes_every_file(tmp_path, timeline, fmt):
    target = tmp_path / "out" / f"s.{fmt}"
    export = export_settings(fmt, "128k")
    files = export_session(_blocks(6.0), target, timeline, Tags("T", themes=("trust",)), RATE, 2, export)
    assert files.audio == target and files.cover == target.with_suffix(".jpg")
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        ["s.jpg", "s.lrc", "s.txt", "s.vtt", f"s.{fmt}"]
    )
    assert float(probe(target)["format"]["duration"]) == pytest.approx(6.0, abs=0.05)


def test_interrupted_export_leaves_no_file(tmp_path, timeline):
    def interrupted():
        blocks = _blocks(6.0)
        yield next(blocks)
        yield next(blocks)
        raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export_session(interrupted(), out / "s.mp3", timeline, Tags("T"), RATE, 2)
    assert list(out.iterdir()) == []


def test_encoder_failure_leaves_no_file_and_says_why(tmp_path, timeline, monkeypatch):
    # An encoder option ffmpeg rejects stands in for any encoding failure.
    monkeypatch.setitem(FORMATS, "mp3", replace(FORMATS["mp3"], arguments=("-joint_stereo", "sometimes")))
    out = tmp_path / "out"
    with pytest.raises(AudioError, match="ffmpeg could not encode s.mp3: .*sometimes"):
        export_session(_blocks(6.0), out / "s.mp3", timeline, Tags("T"), RATE, 2)
    assert list(out.iterdir()) == []


def test_unwritable_folder_is_an_output_error(tmp_path, timeline):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        encode(_blocks(1.0), blocker / "sub" / "s.mp3", RATE, 2)


def test_encode_alone_keeps_its_interface(tmp_path):
    chapters = (ChapterMark(0.5, "A"), ChapterMark(1.5, "B"))
    mp3 = export_settings("mp3", "128k")
    path = encode(_blocks(3.0), tmp_path / "plain.mp3", RATE, 2, mp3, Tags("Plain"), chapters)
    info = probe(path)
    assert [(c["tags"]["title"], float(c["end_time"])) for c in info["chapters"]] == [("A", 1.5), ("B", 3.0)]
    assert info["format"]["tags"]["TLEN"] == "3000", (
        "without a duration given, the length written is measured"
    )
    assert list(tmp_path.iterdir()) == [path]


def test_files_get_the_usual_mode_not_a_private_one(tmp_path, timeline):
    old = os.umask(0o022)
    try:
        files = export_session(_blocks(6.0), tmp_path / "s.mp3", timeline, Tags("T"), RATE, 2)
    finally:
        os.umask(old)
    for path in (files.audio, files.cover, *files.transcripts):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_webvtt_escapes_its_markup_characters():
    vtt = webvtt((SpokenLine(1.0, 2.0, "You & I <rest> --> here."),))
    assert "You &amp; I &lt;rest&gt; --&gt; here." in vtt


KILLED_EXPORT = """
import sys
import numpy as np
from pathlib import Path
from audiogen.export import export_session
from audiogen.models import ChapterMark, Tags, Timeline

def blocks():
    yield np.zeros((44100, 2))
    print("encoding", flush=True)
    sys.stdin.readline()  # never answered: the parent kills this process here
    yield np.zeros((44100, 2))

timeline = Timeline(2.0, (), (), (ChapterMark(0.0, "A"),))
export_session(blocks(), Path(sys.argv[1]), timeline, Tags("T"), 44100, 2)
"""


def _wait_for_processes_writing_into(folder: Path, timeout: float = 60.0) -> None:
    """A kill -9 cannot take the killed run's encoder along: ffmpeg, orphaned, writes its temporary
    file until it reads the end of its input, and on a busy machine it may only now be opening it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writers = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                if str(folder).encode() in cmdline.read_bytes():
                    writers.append(cmdline)
        if not writers:
            return
        time.sleep(0.1)


def test_killed_export_leaves_no_final_file_and_the_next_run_sweeps_its_temporaries(tmp_path, timeline):
    target = tmp_path / "out" / "s.mp3"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout.readline().strip() == "encoding"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    _wait_for_processes_writing_into(target.parent)
    left = sorted(p.name for p in target.parent.iterdir())
    assert left and all(name.startswith(".s.") and ".part." in name for name in left), left

    export_session(_blocks(6.0), target, timeline, Tags("T"), RATE, 2)
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.jpg", "s.lrc", "s.mp3", "s.txt", "s.vtt"]


def test_lead_in_before_the_first_chapter_becomes_an_opening_chapter():
    text = ffmetadata_chapters((ChapterMark(1.5, "Arrival"), ChapterMark(30.0, "Breath")), 60.0)
    blocks = text.split("[CHAPTER]")[1:]
    assert "START=0\nEND=1500\ntitle=Opening" in blocks[0]
    assert "START=1500\nEND=30000\ntitle=Arrival" in blocks[1]
    assert "Opening" not in ffmetadata_chapters((ChapterMark(0.0, "Arrival"),), 60.0)


def test_the_cover_is_drawn_while_the_audio_is_encoded_and_a_failure_leaves_nothing(
    tmp_path, timeline, monkeypatch
):
    """The cover is drawn on a thread of its own while the blocks are encoded, and embedded and
    written once both are done; if drawing fails, no file of the session is left."""
    import threading

    import audiogen.export as export

    seen = {}
    encoding = threading.Event()

    def blocks():
        encoding.set()
        yield from _blocks(3.0)

    def draw(tags, duration, subtitle=None):
        seen["thread"] = threading.current_thread().name
        seen["while_encoding"] = encoding.wait(30)
        return render_cover(tags, duration, subtitle)

    monkeypatch.setattr(export, "render_cover", draw)
    target = tmp_path / "out" / "s.mp3"
    files = export_session(blocks(), target, timeline, Tags("T"), RATE, 2)
    assert seen == {"thread": "audiogen-cover_0", "while_encoding": True}
    assert files.cover.read_bytes()[:2] == b"\xff\xd8"
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.jpg", "s.lrc", "s.mp3", "s.txt", "s.vtt"]

    def broken(tags, duration, subtitle=None):
        raise OutputError("cover: cannot draw")

    monkeypatch.setattr(export, "render_cover", broken)
    other = tmp_path / "other" / "t.mp3"
    with pytest.raises(OutputError, match="cannot draw"):
        export_session(_blocks(3.0), other, timeline, Tags("T"), RATE, 2)
    assert list(other.parent.iterdir()) == []


def _placed(starts_and_lengths, duration, bells=(), chapters=()) -> Timeline:
    placed = tuple(
        PlacedClip(start, Clip(Utterance(f"line {i}"), Path(f"{i}.wav"), length, 22050))
        for i, (start, length) in enumerate(starts_and_lengths)
    )
    return Timeline(duration, placed, tuple(PlacedBell(t, "bowl") for t in bells), tuple(chapters))


def test_the_quiet_stretch_is_in_the_pause_nearest_the_middle():
    from audiogen.export.timings import BELL_RING_SECONDS, QUIET_MARGIN_SECONDS, quiet_stretch

    speech = [(t, 4.0) for t in range(0, 300, 5)]  # 4 s sentences, 1 s apart
    speech = [(s, n) for s, n in speech if not 140 <= s < 170] + [(170, 4.0)]
    stretch = quiet_stretch(_placed(speech, 300))  # the pause 139..170 holds the middle
    assert stretch == pytest.approx((153.5, 155.5))
    # A bell rings in it: the quiet left before it is nearer the middle than the quiet after its ring.
    assert quiet_stretch(_placed(speech, 300, bells=[150])) == pytest.approx((143.5, 145.5))
    after_ring = 139.6 + BELL_RING_SECONDS + QUIET_MARGIN_SECONDS  # a bell as the speech ends
    centre = (after_ring + 170 - QUIET_MARGIN_SECONDS) / 2
    assert quiet_stretch(_placed(speech, 300, bells=[139.6])) == pytest.approx((centre - 1, centre + 1))
    # Short gaps only (under a second once the margins are kept): no stretch.
    assert quiet_stretch(_placed([(t, 4.8) for t in range(0, 300, 5)], 300)) is None
    # The pause must lie in the middle half.
    assert quiet_stretch(_placed([(t, 4.0) for t in range(0, 300, 5) if t < 280], 300)) is None

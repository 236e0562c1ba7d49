"""An MP3 session made by two encoders at once (one per core), each on an overlapping piece of the
mix, joined at a frame in a pause: what the listener gets is the one-encoder file's equal."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import audiogen.export as export
from audiogen.errors import AudioError
from audiogen.export import splice
from audiogen.models import SessionSpec, Timeline
from audiogen.pipeline import render_session
from conftest import decode, probe

RATE = 44100
MINUTES = 3


def _render(out: Path, cache: Path, **changes) -> object:
    spec = SessionSpec(article=None, minutes=MINUTES, out_dir=out, cache_dir=cache)
    return render_session(replace(spec, **changes))


@pytest.fixture(scope="module")
def sessions(tmp_path_factory, speech_cache):
    """The sample session three ways: joined from two encoders (the default), one encoder, and
    16-bit WAV (the mix itself, as the reference the encoders are measured against)."""
    stretches: list[tuple[float, float] | None] = []
    found = export.quiet_stretch

    def noted(timeline: Timeline):
        stretches.append(found(timeline))
        return stretches[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "quiet_stretch", noted)
        joined = _render(tmp_path_factory.mktemp("joined"), speech_cache)
        patch.setattr(export, "quiet_stretch", lambda timeline: None)
        single = _render(tmp_path_factory.mktemp("single"), speech_cache)
        mix = _render(tmp_path_factory.mktemp("wav"), speech_cache, format="wav")
    assert stretches[0] is not None
    return joined, single, mix, stretches[0]


def _error_db(coded: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(np.mean((coded - reference) ** 2) / np.mean(reference**2)))


def test_the_joined_file_decodes_to_every_sample_cleanly(sessions):
    joined, single, _, _ = sessions
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(joined.path), "-f", "f32le", "-"], capture_output=True, check=True
    )
    assert result.stderr == b""  # no damaged frame, no reservoir complaint
    assert len(result.stdout) == MINUTES * 60 * RATE * 2 * 4
    assert probe(joined.path)["format"]["duration"] == probe(single.path)["format"]["duration"]
    assert joined.path.read_bytes() != single.path.read_bytes()  # two encoders did make it
    # The pieces' files are gone: the folder holds the session's files, nothing hidden.
    assert sorted(p.name for p in joined.path.parent.iterdir()) == sorted(
        p.name for p in single.path.parent.iterdir()
    )


def test_the_join_is_in_the_pause_and_as_clean_as_the_one_encoder_file(sessions):
    joined, single, mix, stretch = sessions
    a, b, reference = decode(joined.path), decode(single.path), decode(mix.path)
    assert a.shape == b.shape == reference.shape
    differs = np.flatnonzero(np.any(a != b, axis=1))
    # Before the join the two files are the same frames, bit for bit (up to two frames before it).
    start, end = (round(t * RATE) for t in stretch)
    assert start - 4 * splice.FRAME_SAMPLES <= differs[0] <= end
    # Around the join and over the whole session, the joined file's coding error is the one
    # encoder's: LAME's noise, nothing added by the join.
    join = differs[0] + 3 * splice.FRAME_SAMPLES
    for left in range(join - RATE // 10, join + RATE // 10, RATE // 20):
        window = slice(left, left + RATE // 20)
        assert _error_db(a[window], reference[window]) <= _error_db(b[window], reference[window]) + 1.5
    assert _error_db(a, reference) == pytest.approx(_error_db(b, reference), abs=0.1)
    # The meter measured both pieces as one session.
    assert joined.master.integrated_lufs == pytest.approx(single.master.integrated_lufs, abs=0.02)
    assert joined.master.true_peak_dbtp == pytest.approx(single.master.true_peak_dbtp, abs=0.01)


def test_the_joined_file_keeps_its_tags_and_chapters(sessions):
    joined, single, _, _ = sessions
    mine, theirs = probe(joined.path), probe(single.path)
    assert [c["start_time"] for c in mine["chapters"]] == [c["start_time"] for c in theirs["chapters"]]
    assert mine["format"]["tags"] == theirs["format"]["tags"]
    assert joined.chapters == single.chapters and joined.transcript_lines == single.transcript_lines


def test_a_join_that_cannot_be_made_falls_back_to_one_encoder(tmp_path, speech_cache, sessions, monkeypatch):
    _, single, _, _ = sessions

    def refuse(*args):
        raise splice.SpliceError("no frame in the window can join")

    pieces = replace(export.FORMATS["mp3"].pieces, join=refuse)
    monkeypatch.setitem(export.FORMATS, "mp3", replace(export.FORMATS["mp3"], pieces=pieces))
    fallback = _render(tmp_path, speech_cache)
    assert np.array_equal(decode(fallback.path), decode(single.path))
    assert fallback.master == single.master
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in single.path.parent.iterdir())


class _Stream:
    """A mastered stream of noise in 1 s blocks; its second piece may be interrupted (Ctrl-C) after
    five blocks, and each block may take `seconds` to make."""

    frames = 60 * RATE

    def __init__(self, interrupted: bool = True, seconds: float = 0.0) -> None:
        self.interrupted, self.seconds = interrupted, seconds

    def __iter__(self):
        return iter(self.pieces([(0, self.frames)])[0])

    def pieces(self, spans):
        def piece(start, stop, interrupted):
            rng = np.random.default_rng(start)
            for at in range(start, stop, RATE):
                if interrupted and at - start >= 5 * RATE:
                    raise KeyboardInterrupt
                time.sleep(self.seconds)
                yield 0.05 * rng.standard_normal((min(RATE, stop - at), 2)).astype(np.float32)

        return [piece(start, stop, self.interrupted and i == 1) for i, (start, stop) in enumerate(spans)]


def test_an_interrupt_stops_both_encoders_and_leaves_no_file(tmp_path):
    timeline = Timeline(60.0, (), (), ())
    with pytest.raises(KeyboardInterrupt):
        export.export_session(_Stream(), tmp_path / "session.mp3", timeline, export.Tags("Session"), RATE, 2)
    assert list(tmp_path.iterdir()) == []  # no audio file, no piece, no companion
    assert _encoders_writing_into(tmp_path) == []


def test_a_failing_encoder_stops_the_other_and_says_why(tmp_path, monkeypatch):
    """The second piece's ffmpeg refuses its options: the render stops at once with ffmpeg's reason,
    the first encoder is stopped too, and nothing is left."""
    timeline = Timeline(60.0, (), (), ())
    pieces = replace(export.FORMATS["mp3"].pieces, second_arguments=("-write_xing", "sideways"))
    monkeypatch.setitem(export.FORMATS, "mp3", replace(export.FORMATS["mp3"], pieces=pieces))
    stream, fed = _Stream(interrupted=False, seconds=0.05), []  # a minute of blocks takes over 3 s
    real = stream.pieces
    stream.pieces = lambda spans: [_counted(piece, fed) for piece in real(spans)]
    with pytest.raises(AudioError, match="ffmpeg could not encode session.mp3"):
        export.export_session(stream, tmp_path / "session.mp3", timeline, export.Tags("Session"), RATE, 2)
    assert len(fed) < 60  # it stopped when the encoder did, not after mixing both pieces whole
    assert list(tmp_path.iterdir()) == []
    assert _encoders_writing_into(tmp_path) == []


def _counted(piece, fed: list):
    for block in piece:
        fed.append(len(block))
        yield block


def _encoders_writing_into(folder: Path) -> list[int]:
    """ffmpeg processes whose command line names a file in `folder` (only this test's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ffmpeg" in arguments[0] and any(str(folder).encode() in argument for argument in arguments):
            found.append(int(cmdline.parent.name))
    return found


def test_other_formats_are_encoded_whole(tmp_path):
    timeline = Timeline(60.0, (), (), ())
    assert export.quiet_stretch(timeline) is not None  # the bed alone: one long pause
    stream, asked = _Stream(), []
    real = stream.pieces
    stream.pieces = lambda spans: asked.append(spans) or real(spans)
    ogg = export.export_settings("ogg", "96k")
    files = export.export_session(stream, tmp_path / "session.ogg", timeline, export.Tags("S"), RATE, 2, ogg)
    assert asked == [[(0, stream.frames)]]
    assert float(probe(files.audio)["format"]["duration"]) == pytest.approx(60.0, abs=0.05)

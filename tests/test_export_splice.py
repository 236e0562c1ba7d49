"""Two LAME encodes of overlapping pieces of one session joined into one MP3 (export.splice),
measured by decoding with ffmpeg against the source samples and a single encode of the whole."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate, lfilter

from audiogen.export import splice
from audiogen.export.formats import MP3_PIECES
from audiogen.export.splice import (
    COLD_FRAMES,
    ENCODER_DELAY,
    FRAME_SAMPLES,
    SpliceError,
    crc16_arc,
    splice_mp3,
)
from conftest import probe

RAW_FRAMES = MP3_PIECES.second_arguments  # what a render gives the second encoder
ERROR_WINDOW_SECONDS = 0.05
# How much more coding error than the single encode a 50 ms window near the switch may have.
ERROR_MARGIN_DB = 2.0


def _session(seconds: float, rate: int, channels: int, pause: tuple[float, float]) -> np.ndarray:
    """A session-like signal: soft pink noise (-35 dBFS) under bursts of a gliding harmonic voice
    (-15 dBFS, four syllables a second, a click every half second that makes LAME switch to short
    blocks),
    and a pause of noise alone; float32, (samples, channels)."""
    rng = np.random.default_rng(7)
    count = int(seconds * rate)
    pinking = (
        [0.049922035, -0.095993537, 0.050612699, -0.004408786],
        [1, -2.494956002, 2.017265875, -0.5221894],
    )
    noise = lfilter(*pinking, rng.standard_normal((count, channels)), axis=0)
    noise *= 10 ** (-35 / 20) / np.sqrt(np.mean(noise**2))
    t = np.arange(count) / rate
    phase = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.7 * t)) / rate
    speaking = np.zeros(count)
    for start in np.arange(1.0, seconds - 1, 4.0):
        speaking[int(start * rate) : int((start + 2.5) * rate)] = 1
    speaking[int(pause[0] * rate) : int(pause[1] * rate)] = 0
    voice = sum(np.sin(k * phase) / k for k in range(1, 9)) * np.sin(2 * np.pi * 2 * t) ** 2 * speaking
    voice *= 10 ** (-15 / 20) / np.sqrt(np.mean(voice[speaking > 0] ** 2))
    click = (
        0.3 * rng.standard_normal(int(0.004 * rate)) * np.exp(-np.arange(int(0.004 * rate)) / (0.001 * rate))
    )
    for onset in np.flatnonzero(np.diff(np.floor(t * 2)) * speaking[1:]):  # each syllable's start
        voice[onset : onset + len(click)] += click[: count - onset]
    pans = np.array([0.9, 0.7])[:channels]
    return (noise + voice[:, None] * pans).astype(np.float32)


def _encode(samples: np.ndarray, rate: int, out: Path, *options: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(rate), "-ac", str(samples.shape[1])]
        + ["-i", "pipe:0", "-c:a", "libmp3lame", "-compression_level", "5", "-b:a", "128k", *options]
        + ["-f", "mp3", str(out)],
        input=samples.tobytes(),
        check=True,
    )
    return out


def _decode(path: Path, channels: int) -> np.ndarray:
    """ffmpeg's decoding, which must have nothing to complain about (no overread, no bad backstep)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"], capture_output=True)
    assert done.returncode == 0 and done.stderr.decode() == ""
    return np.frombuffer(done.stdout, dtype="<f4").reshape(-1, channels)


@dataclass(frozen=True)
class Encodes:
    """A session encoded once whole (`reference`) and as the two pieces a splice joins."""

    rate: int
    source: np.ndarray
    reference: Path
    reference_decoded: np.ndarray
    first: Path  # the samples [0, first_end)
    first_end: int
    second: Path  # the samples [second_start, len(source))
    second_start: int
    pause: tuple[int, int]  # samples

    def seconds(self, start: float, stop: float) -> tuple[int, int]:
        return int(start * self.rate), int(stop * self.rate)


def _encodes(folder: Path, rate: int, channels: int, seconds: float, pause: tuple[float, float]) -> Encodes:
    source = _session(seconds, rate, channels, pause)
    second_start = int(pause[0] - 2) * rate // FRAME_SAMPLES * FRAME_SAMPLES
    first_end = int((pause[1] + 4) * rate)
    jobs = [
        (source, folder / "reference.mp3"),
        (source[:first_end], folder / "first.mp3"),
        (source[second_start:], folder / "second.mp3", *RAW_FRAMES),
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        reference, first, second = pool.map(lambda job: _encode(job[0], rate, *job[1:]), jobs)
    return Encodes(
        rate=rate,
        source=source,
        reference=reference,
        reference_decoded=_decode(reference, channels),
        first=first,
        first_end=first_end,
        second=second,
        second_start=second_start,
        pause=(int(pause[0] * rate), int(pause[1] * rate)),
    )


@pytest.fixture(scope="module")
def stereo(tmp_path_factory) -> Encodes:
    """60 s at 44.1 kHz stereo; the pieces overlap from 26 s to 37 s, a pause from 28 s to 33 s."""
    return _encodes(tmp_path_factory.mktemp("stereo"), 44100, 2, 60.0, (28.0, 33.0))


@pytest.fixture(scope="module")
def mono(tmp_path_factory) -> Encodes:
    """40 s at 48 kHz mono; the pieces overlap from 16 s to 27 s, a pause from 18 s to 23 s."""
    return _encodes(tmp_path_factory.mktemp("mono"), 48000, 1, 40.0, (18.0, 23.0))


def _error_db(decoded: np.ndarray, source: np.ndarray, start: int, width: int) -> float:
    difference = decoded[start : start + width] - source[start : start + width]
    return float(10 * np.log10(np.mean(difference.astype(np.float64) ** 2)))


def _best_lag(decoded: np.ndarray, source: np.ndarray, start: int, stop: int, reach: int) -> int:
    """The shift of `decoded` against `source` over [start, stop) that correlates best, within +-reach."""
    heard, meant = decoded.sum(axis=1), source.sum(axis=1)
    scores = correlate(heard[start - reach : stop + reach], meant[start:stop], mode="valid", method="fft")
    return int(np.argmax(scores)) - reach


def _main_data_clashes(path: Path) -> list[int]:
    """The audio frames whose main data starts before the previous frame's ends or ends after the
    frame itself (ffmpeg decodes the first kind without a word): none in a sound file."""
    frames = splice._read_tagged(path.read_bytes(), path.name).audio
    clashes, stream_length, previous_end = [], 0, 0
    for index, header in enumerate(frames.headers):
        side = frames.side_info(index)
        start = stream_length - side.main_data_begin
        stream_length += header.size - header.data_start
        if start < previous_end or start + side.main_data_bits / 8 > stream_length:
            clashes.append(index)
        previous_end = start + -(-side.main_data_bits // 8)
    return clashes


def _encoder_string(path: Path) -> str:
    """The LAME tag's encoder string (ffmpeg's "Lavc..."), which ffmpeg's demuxer reports as the
    stream's encoder only when the tag CRC is right."""
    tagged = splice._read_tagged(path.read_bytes(), path.name)
    return tagged.info[tagged.layout.lame : tagged.layout.lame + 9].rstrip(b"\0").decode()


def _check_splice(encodes: Encodes, out: Path, switch: int) -> list[float]:
    """The spliced file decodes cleanly to the session's length, identical to the single encode
    before the switch, aligned to the source after it, and with no more coding error near the
    switch than the single encode; returns the excess error (dB) of each 50 ms window there."""
    source, reference = encodes.source, encodes.reference_decoded
    decoded = _decode(out, source.shape[1])
    assert decoded.shape == source.shape
    assert _main_data_clashes(out) == []
    # `first`'s frames before the switch are the single encode's own, reservoir included.
    assert np.array_equal(decoded[:switch], reference[:switch])
    width = int(ERROR_WINDOW_SECONDS * encodes.rate)
    excess = [
        _error_db(decoded, source, start, width) - _error_db(reference, source, start, width)
        for start in range(switch - 4 * width, switch + 10 * width, width)
    ]
    assert max(excess) <= ERROR_MARGIN_DB, excess
    whole = len(source) - FRAME_SAMPLES
    assert _error_db(decoded, source, 0, whole) - _error_db(reference, source, 0, whole) < 0.5
    # A frame's slip either way would put the peak at +-1152.
    assert _best_lag(decoded, source, switch, switch + 2 * encodes.rate, 2 * FRAME_SAMPLES) == 0
    return excess


def test_crc16_arc_matches_a_bitwise_reference(monkeypatch):
    def bitwise(data: bytes) -> int:
        register = 0
        for byte in data:
            register ^= byte
            for _bit in range(8):
                register = (register >> 1) ^ 0xA001 if register & 1 else register >> 1
        return register

    assert crc16_arc(b"123456789") == 0xBB3D  # CRC-16/ARC's check value
    rng = np.random.default_rng(3)
    for length in (0, 1, 2, 3, 255, 256, 257, 511, 4099, 65537):
        data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        assert crc16_arc(data) == bitwise(data), length
    monkeypatch.setattr(splice, "_CRC_BLOCK", 3)  # several passes over blocks of chunks
    data = rng.integers(0, 256, 7 * 256 + 13, dtype=np.uint8).tobytes()
    assert crc16_arc(bytearray(data)) == bitwise(data)


def test_crc16_arc_continues_from_a_register():
    rng = np.random.default_rng(6)
    for length in (1, 2, 300, 5000):
        head, tail = (rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (length, 777))
        assert crc16_arc(tail, crc16_arc(head)) == crc16_arc(head + tail)


def _recomputed_info(encodes: Encodes) -> tuple[bytes, splice._Tagged]:
    """The reference encode's Info frame as splice recomputes it for its own frames, and the file read."""
    data = encodes.reference.read_bytes()
    tagged = splice._read_tagged(data, "reference")
    audio = tagged.info_start + len(tagged.info)
    sizes = tagged.audio.sizes()
    return splice._info_frame(
        tagged.info, tagged.layout, sizes, crc16_arc(data[audio:]), len(encodes.source), "reference"
    ), tagged


def test_info_frame_recomputed_for_an_unspliced_file_is_ffmpegs(stereo):
    """Counts, seek table, padding, both CRCs: every byte of ffmpeg's own Info frame."""
    recomputed, tagged = _recomputed_info(stereo)
    assert tagged.layout.lame == 156
    assert recomputed == tagged.info


def test_info_frame_of_mono_has_the_tag_crc_readers_check(mono):
    """ffmpeg's muxer takes its tag CRC over 190 bytes, LAME's layout for stereo; for mono that runs
    past the CRC's own place (141 + 34), and ffmpeg's demuxer, which checks the bytes before it,
    rejects the tag. Everything else is ffmpeg's to the byte."""
    recomputed, tagged = _recomputed_info(mono)
    tag_crc = tagged.layout.lame + 34
    assert tagged.layout.lame == 141
    assert (
        recomputed[:tag_crc] == tagged.info[:tag_crc]
        and recomputed[tag_crc + 2 :] == tagged.info[tag_crc + 2 :]
    )
    assert int.from_bytes(recomputed[tag_crc : tag_crc + 2], "big") == crc16_arc(recomputed[:tag_crc])


def test_splice_in_a_pause(stereo, tmp_path):
    window = stereo.seconds(29.0, 32.0)
    out = tmp_path / "spliced.mp3"
    switch = splice_mp3(stereo.first, stereo.second, stereo.second_start, len(stereo.source), window, out)
    assert window[0] <= switch <= window[1] and abs(switch - sum(window) / 2) <= FRAME_SAMPLES * 4
    assert (switch - stereo.second_start + ENCODER_DELAY) % FRAME_SAMPLES == 0
    _check_splice(stereo, out, switch)


def test_splice_while_speaking(stereo, tmp_path):
    """In a syllable: clicks and short blocks about, no pause to hide a seam."""
    window = stereo.seconds(34.6, 35.4)
    out = tmp_path / "spliced.mp3"
    switch = splice_mp3(stereo.first, stereo.second, stereo.second_start, len(stereo.source), window, out)
    assert window[0] <= switch <= window[1]
    _check_splice(stereo, out, switch)


def test_splice_as_late_as_first_allows(stereo, tmp_path):
    """A window past `first`'s end: the switch leaves `first` two frames after it, and the frames
    before are still the single encode's (their look-ahead was complete)."""
    window = (stereo.first_end - 2 * stereo.rate, stereo.first_end + 5 * stereo.rate)
    out = tmp_path / "spliced.mp3"
    switch = splice_mp3(stereo.first, stereo.second, stereo.second_start, len(stereo.source), window, out)
    first_frames = len(splice._read_tagged(stereo.first.read_bytes(), "first").audio)
    last_switch = (first_frames - splice.LOOKAHEAD_FRAMES) * FRAME_SAMPLES - ENCODER_DELAY
    assert last_switch - 8 * FRAME_SAMPLES <= switch <= last_switch
    _check_splice(stereo, out, switch)


def test_a_splice_against_the_reservoir_rule_is_caught(stereo, tmp_path, monkeypatch):
    """The control for the checks above: a join where `second`'s back pointer is longer than
    `first`'s overwrites the end of `first`'s last frame's main data. ffmpeg decodes it without
    a word; the reservoir walk and the comparison with the single encode do not pass it."""
    first = splice._read_tagged(stereo.first.read_bytes(), "first").audio
    second = splice._read_frames(stereo.second.read_bytes(), 0, "second")
    shift = stereo.second_start // FRAME_SAMPLES
    frame = next(
        j
        for j in range(COLD_FRAMES, len(second))
        if splice._why_not(first, second, j, j + shift) == "bit reservoir"
    )
    switch = splice._switch_sample(stereo.second_start, frame)
    out = tmp_path / "spliced.mp3"
    monkeypatch.setattr(splice, "_why_not", lambda *_: None)
    splice_mp3(stereo.first, stereo.second, stereo.second_start, len(stereo.source), (switch, switch), out)
    assert _main_data_clashes(out) == [frame + shift]
    decoded = _decode(out, 2)
    assert not np.array_equal(decoded[:switch], stereo.reference_decoded[:switch])


def test_info_tag_of_a_spliced_file(stereo, tmp_path):
    """Read at the offsets of ffmpeg's stereo MPEG-1 Info frame: the fields are the file's own."""
    out = tmp_path / "spliced.mp3"
    splice_mp3(stereo.first, stereo.second, stereo.second_start, len(stereo.source), stereo.pause, out)
    data = out.read_bytes()
    info_start = 10 + sum((data[6 + i] & 0x7F) << (7 * (3 - i)) for i in range(4))  # after the ID3v2 tag
    frames = splice._read_frames(data, info_start, "spliced")
    audio = frames.offsets[1]
    info = data[info_start:audio]
    assert info[36:40] == b"Info" and int.from_bytes(info[40:44], "big") == 0x0F

    def field(offset: int, size: int) -> int:
        return int.from_bytes(info[offset : offset + size], "big")

    assert field(44, 4) == len(frames) - 1
    assert field(48, 4) == len(data) - info_start == field(156 + 28, 4)
    assert field(156 + 21, 3) >> 12 == 576
    assert field(156 + 21, 3) & 0xFFF == (len(frames) - 1) * FRAME_SAMPLES - 576 - len(stereo.source)
    assert field(156 + 32, 2) == crc16_arc(data[audio:])
    assert field(156 + 34, 2) == crc16_arc(info[:190])
    toc = info[52:152]
    assert toc[0] == 0 and list(toc) == sorted(toc) and toc[99] >= 250
    # ffmpeg's demuxer names the encoder only when the tag CRC checks out.
    assert probe(out)["streams"][0]["tags"]["encoder"] == _encoder_string(out)


def test_mono_48k(mono, tmp_path):
    out = tmp_path / "spliced.mp3"
    window = mono.seconds(19.0, 22.0)
    switch = splice_mp3(mono.first, mono.second, mono.second_start, len(mono.source), window, out)
    assert window[0] <= switch <= window[1]
    _check_splice(mono, out, switch)
    assert probe(out)["streams"][0]["tags"]["encoder"] == _encoder_string(out)  # its demuxer takes the tag


def test_a_window_without_a_frame_that_may_switch(stereo, tmp_path):
    """The window holds only `second`'s first frames, encoded from a cold start: none may switch."""
    start = stereo.second_start
    window = (start, start + 6 * FRAME_SAMPLES)
    with pytest.raises(SpliceError, match="no frame in samples"):
        splice_mp3(stereo.first, stereo.second, start, len(stereo.source), window, tmp_path / "out.mp3")
    assert not (tmp_path / "out.mp3").exists()


def test_pieces_that_do_not_fit_the_contract(stereo, tmp_path):
    first, start, total = stereo.first, stereo.second_start, len(stereo.source)
    with pytest.raises(SpliceError, match="multiple of 1152"):
        splice_mp3(first, stereo.second, start + 1, total, stereo.pause, tmp_path / "out.mp3")
    with pytest.raises(SpliceError, match="cannot decode to"):  # the second piece ends early
        splice_mp3(first, stereo.second, start, total + 2000, stereo.pause, tmp_path / "out.mp3")
    # A second piece with ffmpeg's tags: rejected, the encoder ran with options other than agreed.
    with pytest.raises(SpliceError, match="ID3v2"):
        splice_mp3(first, first, start, total, stereo.pause, tmp_path / "out.mp3")
    untagged = tmp_path / "info-frame-first.mp3"
    untagged.write_bytes(first.read_bytes()[splice._id3v2_size(first.read_bytes()) :])
    with pytest.raises(SpliceError, match="Info frame"):
        splice_mp3(first, untagged, start, total, stereo.pause, tmp_path / "out.mp3")
    with pytest.raises(SpliceError, match="no Info frame"):
        splice_mp3(stereo.second, stereo.second, start, total, stereo.pause, tmp_path / "out.mp3")


@pytest.mark.parametrize("rate", [22050, 24000])
def test_mpeg2_sample_rates_are_refused(rate, tmp_path):
    source = _session(6.0, rate, 2, (2.0, 3.0))
    start = 2 * FRAME_SAMPLES
    first = _encode(source[: 5 * rate], rate, tmp_path / "first.mp3")
    second = _encode(source[start:], rate, tmp_path / "second.mp3", *RAW_FRAMES)
    with pytest.raises(SpliceError, match=f"MPEG-2 Layer III frame at {rate} Hz"):
        splice_mp3(first, second, start, len(source), (2 * rate, 3 * rate), tmp_path / "out.mp3")

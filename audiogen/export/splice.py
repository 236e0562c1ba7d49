"""Two LAME encodes of overlapping pieces of one session, joined into one gapless MP3.

A render may encode a session with two ffmpeg/LAME processes at once: `first` from the session's
samples [0, E) (ffmpeg's ID3v2 tag, its Info frame, audio frames), `second` from [R, N) as raw
audio frames (`-write_xing 0 -id3v2_version 0`), where R is a whole number of frames and the
samples in [R, E) are the same in both. LAME delays both outputs by the same 1105 samples, so
`second`'s frame j covers the session samples of `first`'s frame j + R/1152, and the joined file
is `first`'s frames [0, K) followed by `second`'s frames [j, ...), K = j + R/1152, once three
things are right at the join:

- the bit reservoir: frame j's main data starts main_data_begin bytes back, in the data areas of
  the frames before it. Those bytes are copied from `second` over the end of `first`'s reservoir
  before frame K, which no frame before K uses when `second`'s back pointer is no longer than
  `first`'s frame K's;
- the window shapes: long blocks on both sides of the join, so the decoder's overlap-add of
  `first`'s last granule with `second`'s first is the one both encoders assumed;
- the Info frame (the LAME tag): frame count, byte count, seek table, end padding and CRCs.
"""

from __future__ import annotations

import functools
import os
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

FRAME_SAMPLES = 1152  # one MPEG-1 Layer III frame
LAME_DELAY = 576  # the encoder delay LAME writes in its tag
DECODER_DELAY = 529  # the synthesis filterbank's; decoders trim it along with LAME's
ENCODER_DELAY = LAME_DELAY + DECODER_DELAY  # decoded frame k starts at input sample k*1152 - 1105
COLD_FRAMES = 8  # `second`'s first frames: its filterbank and psychoacoustic model started from silence
# `first`'s frames that must follow the join: the frames before them had their full look-ahead
# (measured: they are bit for bit those of an encode that runs on).
LOOKAHEAD_FRAMES = 2

MPEG1_RATES = (32000, 44100, 48000)  # the rates joining works at (MPEG-2's frames and side info differ)


def piece_spans(window: tuple[int, int], total_samples: int) -> list[tuple[int, int]]:
    """The two pieces to encode for a join inside `window` (session samples): `second` from a frame
    boundary early enough that its warmed-up frames reach back to the window's start, `first`
    from 0 until past the window's end by the frames that must follow the join (and their
    look-ahead)."""
    second_start = max(1, (window[0] + ENCODER_DELAY) // FRAME_SAMPLES - COLD_FRAMES) * FRAME_SAMPLES
    first_stop = min(total_samples, window[1] + ENCODER_DELAY + (LOOKAHEAD_FRAMES + 2) * FRAME_SAMPLES)
    return [(0, first_stop), (second_start, total_samples)]


MPEG1_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # Layer III, kbps
_BITRATES_KBPS = (None, *MPEG1_BITRATES, None)  # by the header's index: free format and "bad"
_SAMPLE_RATES = (44100, 48000, 32000, None)
_VERSIONS = {3: ("MPEG-1", 0), 2: ("MPEG-2", 1), 0: ("MPEG-2.5", 2)}  # name, sample rate shift
_MONO = 3  # the header's channel mode
_DUAL_CHANNEL = 2

# The LAME extension of an Info frame, from its 9-byte encoder string.
_LAME_DELAYS = 21  # 12-bit encoder delay, 12-bit end padding
_LAME_MUSIC_LENGTH = 28
_LAME_MUSIC_CRC = 32
_LAME_TAG_CRC = 34  # over the Info frame's bytes before it
_LAME_SIZE = 36
_XING_FRAMES, _XING_BYTES, _XING_TOC, _XING_QUALITY = 1, 2, 4, 8
_XING_TOC_SIZE = 100
_XING_BAGS = 400  # ffmpeg's muxer samples frame positions for the seek table into this many entries

_CRC_CHUNK = 256  # bytes per chunk whose CRCs are computed side by side
_CRC_BLOCK = 16384  # chunks per pass: a block's words stay in the cache


class SpliceError(ValueError):
    """The two encodes cannot be joined; encode the session with one encoder instead."""


class _FileBytes:
    """A file read as if it were bytes (slices and len), a window at a time: an hour's encodes are
    never held whole (a render's memory does not grow with the session's length)."""

    WINDOW = 1 << 20

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.size = file, os.fstat(file.fileno()).st_size
        self.start, self.window = 0, b""

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, span: slice) -> bytes:
        start, stop, step = span.indices(self.size)
        if step != 1:
            raise ValueError("a file's bytes are sliced in order")
        if stop <= start:
            return b""
        if not self.start <= start <= stop <= self.start + len(self.window):
            self.file.seek(start)
            self.start, self.window = start, self.file.read(max(stop - start, self.WINDOW))
        return self.window[start - self.start : stop - self.start]

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        """The bytes [start, stop) in pieces of at most a window."""
        for at in range(start, stop, self.WINDOW):
            yield self[at : min(stop, at + self.WINDOW)]


Bytes = bytes | _FileBytes


@dataclass(frozen=True)
class _Header:
    sample_rate: int
    kbps: int
    channels: int
    protected: bool  # a 16-bit CRC follows the header
    size: int  # the whole frame's bytes

    @property
    def side_info_start(self) -> int:
        return 6 if self.protected else 4

    @property
    def side_info_size(self) -> int:
        return 17 if self.channels == 1 else 32

    @property
    def data_start(self) -> int:
        """Where the frame's data area (its share of the reservoir stream) starts, from its first byte."""
        return self.side_info_start + self.side_info_size


@functools.lru_cache(maxsize=1024)
def _header(word: int) -> _Header | None:
    """The header an MPEG-1 Layer III frame starts with, or None for anything else (`_describe`)."""
    if word >> 21 != 0x7FF or (word >> 19) & 3 != 3 or (word >> 17) & 3 != 1:
        return None
    kbps = _BITRATES_KBPS[(word >> 12) & 15]
    sample_rate = _SAMPLE_RATES[(word >> 10) & 3]
    mode = (word >> 6) & 3
    if kbps is None or sample_rate is None or mode == _DUAL_CHANNEL:
        return None
    return _Header(
        sample_rate=sample_rate,
        kbps=kbps,
        channels=1 if mode == _MONO else 2,
        protected=not (word >> 16) & 1,
        size=144_000 * kbps // sample_rate + ((word >> 9) & 1),
    )


def _describe(word: int) -> str:
    """What four bytes that `_header` refused are, for an error message."""
    version, layer = (word >> 19) & 3, (word >> 17) & 3
    if word >> 21 != 0x7FF:
        return "no MPEG audio frame"
    if version not in _VERSIONS or layer == 0:
        return "a frame of a reserved MPEG version or layer"
    name, shift = _VERSIONS[version]
    rate = _SAMPLE_RATES[(word >> 10) & 3]
    if version != 3 or layer != 1:
        return f"an {name} Layer {'I' * (4 - layer)} frame" + (f" at {rate >> shift} Hz" if rate else "")
    if _BITRATES_KBPS[(word >> 12) & 15] is None:
        return "a free-format or bad-bitrate frame"
    if rate is None:
        return "a frame with a reserved sample rate"
    return "a dual-channel frame"


@dataclass(frozen=True)
class _SideInfo:
    main_data_begin: int  # bytes back from the frame's data area to where its main data starts
    main_data_bits: int
    long_blocks: bool  # no window switching in any granule or channel


@dataclass(frozen=True)
class _Frames:
    """An MP3 file's frames in order: where each starts and what its header says."""

    name: str  # for error messages
    data: Bytes
    offsets: array  # 'q': a frame's first byte (an hour's frames take 1.2 MB, not a list's 5)
    headers: list[_Header]

    def __len__(self) -> int:
        return len(self.offsets)

    def end(self, index: int) -> int:
        return self.offsets[index] + self.headers[index].size

    def sizes(self) -> np.ndarray:
        return np.array([header.size for header in self.headers], dtype=np.int64)

    def side_info(self, index: int) -> _SideInfo:
        header = self.headers[index]
        start = self.offsets[index] + header.side_info_start
        bits = int.from_bytes(self.data[start : start + header.side_info_size], "big")
        unread = header.side_info_size * 8

        def take(count: int) -> int:
            nonlocal unread
            unread -= count
            return (bits >> unread) & ((1 << count) - 1)

        main_data_begin = take(9)
        take(5 if header.channels == 1 else 3)  # private bits
        take(4 * header.channels)  # scfsi
        main_data_bits, long_blocks = 0, True
        for _granule_channel in range(2 * header.channels):
            main_data_bits += take(12)  # part2_3_length
            take(9 + 8 + 4)  # big_values, global_gain, scalefac_compress
            long_blocks &= take(1) == 0  # window_switching_flag
            take(22 + 3)  # block type and tables or tables and regions; preflag, scalefac_scale, count1table
        return _SideInfo(main_data_begin, main_data_bits, long_blocks)

    def reservoir_spans(self, index: int, length: int) -> list[tuple[int, int]]:
        """File byte ranges, in stream order, of the `length` reservoir bytes just before frame
        `index`'s data area: the tails of the data areas of frames index-1, index-2, ..."""
        spans: list[tuple[int, int]] = []
        before = index - 1
        while length > 0:
            if before < 0:
                raise SpliceError(f"{self.name}: frame {index} reaches back before the first frame")
            end = self.end(before)
            taken = min(length, end - self.offsets[before] - self.headers[before].data_start)
            spans.append((end - taken, end))
            length -= taken
            before -= 1
        return spans[::-1]


def _read_frames(data: Bytes, start: int, name: str) -> _Frames:
    """Every frame from `start` to the end of `data`, which they must fill exactly."""
    offsets = array("q")
    headers: list[_Header] = []
    position, end = start, len(data)
    while position < end:
        word = int.from_bytes(data[position : position + 4], "big") if position + 4 <= end else 0
        header = _header(word)
        if header is None:
            raise SpliceError(
                f"{name}: {_describe(word)} at byte {position}; "
                "splicing takes MPEG-1 Layer III (32, 44.1 or 48 kHz), mono or stereo, frames only"
            )
        if position + header.size > end:
            raise SpliceError(f"{name}: the frame at byte {position} is cut short")
        offsets.append(position)
        headers.append(header)
        position += header.size
    return _Frames(name, data, offsets, headers)


def _id3v2_size(data: Bytes) -> int:
    head = data[:10]
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)  # the flag for a footer


def _info_tag_offset(frames: _Frames, index: int) -> int | None:
    """Where frame `index`'s b"Info" or b"Xing" is, from the frame's first byte, if it is an Info frame
    (its side info all zeros, the tag right after)."""
    header, offset = frames.headers[index], frames.offsets[index]
    side_info = frames.data[offset + header.side_info_start : offset + header.data_start]
    tag = frames.data[offset + header.data_start : offset + header.data_start + 4]
    return header.data_start if tag in (b"Info", b"Xing") and not any(side_info) else None


@dataclass(frozen=True)
class _InfoLayout:
    """Where an Info frame's fields are, from the frame's first byte; None for one its flags leave out."""

    frames: int
    bytes: int | None
    toc: int | None
    lame: int  # the LAME extension: its 9-byte encoder string


def _info_layout(info: bytes, tag_offset: int, name: str) -> _InfoLayout:
    flags = struct.unpack_from(">I", info, tag_offset + 4)[0]
    position = tag_offset + 8
    fields: dict[int, int | None] = {}
    for flag, size in ((_XING_FRAMES, 4), (_XING_BYTES, 4), (_XING_TOC, _XING_TOC_SIZE), (_XING_QUALITY, 4)):
        fields[flag] = position if flags & flag else None
        position += size if flags & flag else 0
    frames = fields[_XING_FRAMES]
    if frames is None or position + _LAME_SIZE > len(info):
        raise SpliceError(f"{name}: its Info frame has no frame count or no LAME tag to patch")
    return _InfoLayout(frames=frames, bytes=fields[_XING_BYTES], toc=fields[_XING_TOC], lame=position)


@dataclass(frozen=True)
class _Tagged:
    """An MP3 as ffmpeg's muxer writes it: ID3v2 tag, Info frame, audio frames."""

    info_start: int
    info: bytes
    info_header: _Header
    layout: _InfoLayout
    audio: _Frames


def _read_tagged(data: Bytes, name: str) -> _Tagged:
    everything = _read_frames(data, _id3v2_size(data), name)
    tag_offset = _info_tag_offset(everything, 0) if len(everything) else None
    if tag_offset is None:
        raise SpliceError(
            f"{name}: no Info frame after its ID3v2 tag; encode it with ffmpeg's default mp3 muxer"
        )
    info = data[everything.offsets[0] : everything.end(0)]
    return _Tagged(
        info_start=everything.offsets[0],
        info=info,
        info_header=everything.headers[0],
        layout=_info_layout(info, tag_offset, name),
        audio=_Frames(name, data, everything.offsets[1:], everything.headers[1:]),
    )


def _seek_table(ends: np.ndarray, total: int) -> bytes:
    """The Xing seek table as ffmpeg's muxer writes it: `ends[n]` is the byte after audio frame n,
    counted from the Info frame's start. ffmpeg records the position after every `step` frames,
    `step` doubling whenever 400 records fill up, and entry i is the record i*records/100 of
    those: a frame or two past the exact i-th percent, which its demuxer's seek looks around."""
    step = 1
    while len(ends) // step >= _XING_BAGS:
        step *= 2
    records = len(ends) // step
    table = bytearray(_XING_TOC_SIZE)
    for entry in range(1, _XING_TOC_SIZE if records else 0):
        position = int(ends[(entry * records // _XING_TOC_SIZE + 1) * step - 1])
        table[entry] = min(255, 256 * position // total)
    return bytes(table)


def _info_frame(
    info: bytes, layout: _InfoLayout, frame_sizes: np.ndarray, music_crc: int, total_samples: int, name: str
) -> bytes:
    """`info` with its counts, seek table, end padding and CRCs made those of these audio frames
    (`frame_sizes`, the Info frame not among them) decoding to `total_samples` samples."""
    patched = bytearray(info)
    ends = len(info) + np.cumsum(frame_sizes)
    total_bytes = int(ends[-1]) if len(ends) else len(info)
    lame = layout.lame
    delays = int.from_bytes(info[lame + _LAME_DELAYS : lame + _LAME_DELAYS + 3], "big")
    if delays >> 12 != LAME_DELAY:
        raise SpliceError(
            f"{name}: its LAME tag gives an encoder delay of {delays >> 12}, not LAME's {LAME_DELAY}"
        )
    # Decoders keep frames*1152 - delay - padding samples: the padding must lie in the last frames' output.
    padding = len(frame_sizes) * FRAME_SAMPLES - LAME_DELAY - total_samples
    if not DECODER_DELAY <= padding < 1 << 12:
        raise SpliceError(
            f"{len(frame_sizes)} frames cannot decode to {total_samples} samples; "
            "does the second encode run to the session's end?"
        )
    struct.pack_into(">I", patched, layout.frames, len(frame_sizes))
    if layout.bytes is not None:
        struct.pack_into(">I", patched, layout.bytes, total_bytes)
    if layout.toc is not None:
        patched[layout.toc : layout.toc + _XING_TOC_SIZE] = _seek_table(ends, total_bytes)
    patched[lame + _LAME_DELAYS : lame + _LAME_DELAYS + 3] = (LAME_DELAY << 12 | padding).to_bytes(3, "big")
    struct.pack_into(">I", patched, lame + _LAME_MUSIC_LENGTH, total_bytes)
    struct.pack_into(">H", patched, lame + _LAME_MUSIC_CRC, music_crc)
    # LAME's definition, and what readers check; ffmpeg's muxer covers 190 bytes, the same for stereo
    # MPEG-1 only (for mono its tag CRC fails its own demuxer's check).
    struct.pack_into(">H", patched, lame + _LAME_TAG_CRC, crc16_arc(patched[: lame + _LAME_TAG_CRC]))
    return bytes(patched)


@functools.cache
def _crc_tables() -> tuple[np.ndarray, np.ndarray]:
    """CRC-16/ARC tables: the register after a 16-bit little-endian word (`word_step[register ^ word]`),
    and the register after one chunk of zero bytes (`chunk_step[register]`)."""
    byte_step = np.arange(256, dtype=np.uint32)
    for _bit in range(8):
        byte_step = np.where(byte_step & 1, (byte_step >> 1) ^ 0xA001, byte_step >> 1)
    register = np.arange(1 << 16, dtype=np.uint32)
    for _byte in range(2):
        register = (register >> 8) ^ byte_step[register & 0xFF]
    word_step = register.astype(np.uint16)
    chunk_step = np.arange(1 << 16, dtype=np.uint16)
    for _word in range(_CRC_CHUNK // 2):
        chunk_step = word_step[chunk_step]
    return word_step, chunk_step


def crc16_arc(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """CRC-16/ARC (reflected polynomial 0xA001, initial 0): the LAME tag's music and tag CRCs.

    The CRC is linear and leading zero bytes leave its register at 0, so `data` is zero-padded at
    the front to whole chunks, every chunk's CRC is computed at once (a loop over the words of a
    chunk, vectorised over chunks), and pairs of neighbouring CRCs are combined level by level:
    the left one advanced over its right neighbour's length, xor the right one. `initial` continues
    a CRC over data that came before: the register is where the two bytes that make it leave it.
    """
    word_step, chunk_step = _crc_tables()
    if initial:
        data = _register_bytes()[initial].tobytes() + bytes(data)
    raw = np.frombuffer(data, dtype=np.uint8)
    padded = np.zeros(-(-len(raw) // _CRC_CHUNK) * _CRC_CHUNK, dtype=np.uint8)
    padded[len(padded) - len(raw) :] = raw
    words = padded.view("<u2").reshape(-1, _CRC_CHUNK // 2)
    crcs = np.zeros(len(words), dtype=np.uint16)
    for first in range(0, len(words), _CRC_BLOCK):
        block = np.ascontiguousarray(words[first : first + _CRC_BLOCK].T)  # one row per word position
        registers = np.zeros(block.shape[1], dtype=np.uint16)
        for column in block:
            registers = word_step[registers ^ column]
        crcs[first : first + _CRC_BLOCK] = registers
    advance = chunk_step  # over the length of the CRCs' chunks, which doubles each level
    while len(crcs) > 1:
        if len(crcs) % 2:
            crcs = np.concatenate([np.zeros(1, dtype=np.uint16), crcs])  # a leading chunk of zeros
        crcs = advance[crcs[0::2]] ^ crcs[1::2]
        advance = advance[advance]
    return int(crcs[0]) if len(crcs) else 0


@functools.cache
def _register_bytes() -> np.ndarray:
    """For each register value, the two bytes (little-endian word) whose CRC from 0 it is: the CRC of a
    16-bit word is a permutation of the words."""
    word_step, _ = _crc_tables()
    words = np.empty(1 << 16, dtype="<u2")
    words[word_step] = np.arange(1 << 16, dtype=np.uint16)
    return words


def _switch_sample(second_start: int, frame: int) -> int:
    """The session sample where `second`'s frame `frame` starts, as decoded."""
    return second_start + frame * FRAME_SAMPLES - ENCODER_DELAY


def _why_not(first: _Frames, second: _Frames, frame: int, first_frame: int) -> str | None:
    """Why `second`'s frame `frame` cannot follow `first`'s frame `first_frame` - 1; None if it can."""
    sides = (first.side_info(first_frame - 1), second.side_info(frame - 1), second.side_info(frame))
    if not all(side.long_blocks for side in sides):
        return "short blocks"
    if sides[2].main_data_begin > first.side_info(first_frame).main_data_begin:
        return "bit reservoir"
    return None


def _choose_frame(first: _Frames, second: _Frames, second_start: int, window: tuple[int, int]) -> int:
    """The `second` frame to switch at: of those that may, the one nearest the window's middle."""
    low, high = window
    shift = second_start // FRAME_SAMPLES
    earliest = max(COLD_FRAMES, -(-(low - second_start + ENCODER_DELAY) // FRAME_SAMPLES))
    latest = min(
        (high - second_start + ENCODER_DELAY) // FRAME_SAMPLES,
        len(second) - 1,
        len(first) - LOOKAHEAD_FRAMES - shift,
    )
    middle = (low + high) / 2
    candidates = sorted(
        range(earliest, latest + 1), key=lambda j: abs(_switch_sample(second_start, j) - middle)
    )
    refused: dict[str, int] = {}
    for frame in candidates:
        reason = _why_not(first, second, frame, frame + shift)
        if reason is None:
            return frame
        refused[reason] = refused.get(reason, 0) + 1
    detail = ", ".join(f"{count} for {reason}" for reason, count in refused.items())
    raise SpliceError(
        f"no frame in samples {low}..{high} can join the encodes"
        + (
            f" ({len(candidates)} tried: {detail})"
            if candidates
            else " (none lies where both encodes may be cut)"
        )
    )


def _check_format(first: _Tagged, second: _Frames) -> None:
    """One sample rate, channel count and bitrate for every audio frame of both (the Info frame's
    bitrate is its own)."""
    audio = {(h.sample_rate, h.channels, h.kbps) for h in {*first.audio.headers, *second.headers}}
    info = first.info_header
    if len(audio) != 1 or {(info.sample_rate, info.channels)} != {entry[:2] for entry in audio}:
        found = ", ".join(f"{rate} Hz {channels} ch {kbps}k" for rate, channels, kbps in sorted(audio))
        raise SpliceError(f"the encodes differ in format or are not CBR ({found})")


def splice_mp3(
    first: Path, second: Path, second_start: int, total_samples: int, window: tuple[int, int], out: Path
) -> int:
    """Write `out`: `first`'s MP3 up to a frame boundary in `window`, then `second`'s from there on,
    one gapless file decoding to `total_samples` samples; returns the session sample where
    `second`'s audio takes over (as decoded; the decoder blends the two over 576 samples from there).

    `first` is ffmpeg's LAME encode of the session's samples [0, E) with its ID3v2 tag and Info
    frame; `second` the same encoder's raw frames (`-write_xing 0 -id3v2_version 0`) of the samples
    [`second_start`, `total_samples`), `second_start` a multiple of 1152. `window` is the range of
    session samples (inclusive) where the switch may fall, such as a pause. Raises SpliceError when
    the files do not fit that contract or no frame in the window can join them. The files are read
    and written a window at a time.
    """
    with open(first, "rb") as first_file, open(second, "rb") as second_file:
        return _splice(
            _FileBytes(first_file), _FileBytes(second_file), second_start, total_samples, window, Path(out)
        )


def _splice(
    first_data: _FileBytes,
    second_data: _FileBytes,
    second_start: int,
    total_samples: int,
    window: tuple[int, int],
    out: Path,
) -> int:
    if second_start <= 0 or second_start % FRAME_SAMPLES:
        raise SpliceError(
            f"the second encode starts at sample {second_start}, not a positive multiple of 1152"
        )
    if total_samples <= second_start:
        raise SpliceError(f"the session ({total_samples} samples) ends before the second encode starts")
    tagged = _read_tagged(first_data, "first")
    first = tagged.audio
    # Raw frames are the contract: a tag or Info frame here means the encoder ran with other options.
    if _id3v2_size(second_data):
        raise SpliceError("second: starts with an ID3v2 tag; encode it with -id3v2_version 0 -write_xing 0")
    second = _read_frames(second_data, 0, "second")
    if len(second) and _info_tag_offset(second, 0) is not None:
        raise SpliceError("second: starts with an Info frame; encode it with -write_xing 0 -id3v2_version 0")
    _check_format(tagged, second)

    frame = _choose_frame(first, second, second_start, window)
    first_frame = frame + second_start // FRAME_SAMPLES
    cut = first.end(first_frame - 1)
    # `first`'s last bytes before the cut, with `second`'s reservoir for frame `frame` over their end.
    carried = second.side_info(frame).main_data_begin
    targets = first.reservoir_spans(first_frame, carried) if carried else []
    tail_start = min([start for start, _ in targets] + [cut])
    tail = bytearray(first_data[tail_start:cut])
    if carried:
        reservoir = b"".join(second_data[start:end] for start, end in second.reservoir_spans(frame, carried))
        used = 0
        for start, end in targets:
            tail[start - tail_start : end - tail_start] = reservoir[used : used + end - start]
            used += end - start

    info_start, info_end = tagged.info_start, tagged.info_start + len(tagged.info)
    music_crc = 0

    def write(piece: bytes) -> None:
        nonlocal music_crc
        sink.write(piece)
        music_crc = crc16_arc(piece, music_crc)

    frame_sizes = np.concatenate([first.sizes()[:first_frame], second.sizes()[frame:]])
    info = _info_frame(tagged.info, tagged.layout, frame_sizes, 0, total_samples, "first")  # checks first
    with open(out, "wb") as sink:
        sink.write(first_data[:info_start])
        sink.write(info)  # written again once the music's CRC is known
        for piece in first_data.chunks(info_end, tail_start):
            write(piece)
        write(bytes(tail))
        for piece in second_data.chunks(second.offsets[frame], len(second_data)):
            write(piece)
        sink.seek(info_start)
        sink.write(_info_frame(tagged.info, tagged.layout, frame_sizes, music_crc, total_samples, "first"))
    return _switch_sample(second_start, frame)

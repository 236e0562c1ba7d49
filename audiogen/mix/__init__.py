"""Mix and master stage: voice over the bed, ducked, faded, bells on top, at a loudness target.

Everything runs in float32 blocks, so memory does not grow with the session's
length. Four parts, each its own module:

- `loudness`: ITU-R BS.1770-4 measurement (K-weighting, gating, true peak), streaming;
- `blocks`: the mix as a block stream (levelled clips, ducking, fades, bells);
- `limiter`: the true-peak look-ahead limiter (4x oversampling);
- `master`: the master gain planned from the parts, then one pass that mixes,
  limits, measures and encodes (a second only if the measurement misses), whole
  or in pieces made side by side for two encoders (`MasteredStream`).

The bed is any `BedSource` (audiogen.models), made fresh for each pass by a `BedFactory`.
"""

from audiogen.mix.blocks import bed_gain_db, mix_blocks, output_channels, prepare_clip, speech_spans
from audiogen.mix.limiter import TruePeakLimiter, limited, limiter_ceiling_db
from audiogen.mix.loudness import LoudnessMeter, TruePeakEnvelope, gated_loudness, measure
from audiogen.mix.master import (
    Codec,
    MasteredStream,
    MasterPlan,
    codec_loudness_change,
    master,
    mastered_blocks,
    plan_master,
    probe_excerpt,
)

__all__ = [
    "Codec",
    "LoudnessMeter",
    "MasterPlan",
    "MasteredStream",
    "TruePeakEnvelope",
    "TruePeakLimiter",
    "bed_gain_db",
    "codec_loudness_change",
    "gated_loudness",
    "limited",
    "limiter_ceiling_db",
    "master",
    "mastered_blocks",
    "measure",
    "mix_blocks",
    "output_channels",
    "plan_master",
    "prepare_clip",
    "probe_excerpt",
    "speech_spans",
]

"""audiogen.dsp against scipy: the numpy replacements give scipy's numbers, to float precision."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal
from scipy.special import ndtri

from audiogen import dsp
from audiogen.mix.loudness import k_weighting

RATE = 44100
PINK = (
    [0.049922035, -0.095993537, 0.050612699, -0.004408786],
    [1.0, -2.494956002, 2.017265875, -0.522189400],
)


def test_kaiser_lowpass_is_firwin():
    for numtaps, cutoff, fs, beta in (
        (48, 21000, 4 * RATE, 6.0),
        (41, 0.5, 2.0, 5.0),
        (2941, 1 / 147, 2.0, 5.0),
    ):
        ours = dsp.kaiser_lowpass(numtaps, cutoff, fs, beta)
        assert np.allclose(
            ours, signal.firwin(numtaps, cutoff, fs=fs, window=("kaiser", beta)), rtol=0, atol=1e-15
        )


@pytest.mark.parametrize(
    "kind, freqs",
    [
        ("lowpass", 350),
        ("highpass", 2500),
        ("bandpass", (600, 7000)),
        ("bandpass", (300, 2500)),
        ("lowpass", 12000),
    ],
)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_butter_is_scipys_design(kind, freqs, order):
    b, a = dsp.butter(order, freqs, kind, RATE)
    ref_b, ref_a = signal.butter(order, freqs, btype=kind, fs=RATE)
    assert np.allclose(b, ref_b, rtol=1e-12, atol=1e-15) and np.allclose(a, ref_a, rtol=1e-12, atol=1e-15)


def test_normal_quantiles_are_ndtri():
    expected = ndtri((np.arange(1 << 16) + 0.5) / (1 << 16))
    assert np.allclose(dsp.normal_quantiles(1 << 16), expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("up, down", [(2, 1), (147, 80), (160, 147), (1, 2), (3, 2), (4, 4)])
@pytest.mark.parametrize("n", [1, 7, 1000, 12345])
def test_resample_is_resample_poly(up, down, n):
    x = np.random.default_rng(n).standard_normal(n)
    ours, theirs = dsp.resample(x, up, down), signal.resample_poly(x, up, down)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) < 1e-12


@pytest.mark.parametrize("width", [1, 2, 12, 48, 1781])
def test_running_extremes_and_means_are_ndimages(width):
    x = np.random.default_rng(width).standard_normal(50000).astype(np.float32)
    origin = (width - 1) // 2 - width + 1  # ndimage's window [i, i + width)
    assert np.array_equal(
        dsp.window_max(x, width), ndimage.maximum_filter1d(x, width, origin=origin)[: len(x) - width + 1]
    )
    assert np.array_equal(
        dsp.window_min(x, width), ndimage.minimum_filter1d(x, width, origin=origin)[: len(x) - width + 1]
    )
    odd = width | 1
    assert np.array_equal(dsp.centred_min(x, odd), ndimage.minimum_filter1d(x, odd, mode="nearest"))
    assert np.allclose(
        dsp.centred_mean(x, odd), ndimage.uniform_filter1d(x, odd, mode="nearest"), rtol=0, atol=1e-6
    )


def _filters():
    yield "pink", [PINK]
    yield "bandpass", [signal.butter(2, (600, 7000), btype="bandpass", fs=RATE)]
    yield "k-weighting", k_weighting(RATE)
    yield "one pole", [([0.5], [1.0, -0.5])]
    yield "fir", [([1.0, 2.0], [1.0])]


@pytest.mark.parametrize("name, sections", list(_filters()), ids=[name for name, _ in _filters()])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 3e-5)])
def test_iir_filter_is_lfilter_across_blocks(name, sections, dtype, tolerance):
    """Block after block, of every length (under a chunk, exact chunks, ragged), the state carries over."""
    rng = np.random.default_rng(7)
    ours = dsp.IIRFilter(sections, 2, dtype)
    states = [np.zeros((2, max(len(a), len(b)) - 1)) for b, a in sections]
    assert ours(np.zeros((2, 0), dtype=dtype)).shape == (2, 0)
    for n in (88200, 100, 31, 32, 5, 88200, 1, 40000):
        x = rng.standard_normal((2, n))
        expected = x
        for i, (b, a) in enumerate(sections):  # sosfilt's way: each section filters the last one's output
            expected, states[i] = signal.lfilter(b, a, expected, axis=1, zi=states[i])
        got = ours(x.astype(dtype))
        assert got.shape == (2, n) and got.dtype == dtype
        assert np.max(np.abs(got - expected)) <= tolerance * np.max(np.abs(expected))


def test_iir_filter_decays_to_exact_silence():
    """After the input stops, the state reaches exactly zero instead of lingering in subnormal numbers."""
    weighting = dsp.IIRFilter(k_weighting(RATE), 1)
    weighting(np.random.default_rng(1).standard_normal((1, 4410)))
    for _ in range(30):
        out = weighting(np.zeros((1, 88200)))
    assert not np.any(out) and not np.any(weighting.state)


def test_k_weighting_is_pyloudnorms():
    import pyloudnorm

    for stage, (b, a) in zip(pyloudnorm.Meter(RATE)._filters.values(), k_weighting(RATE), strict=True):
        assert np.allclose(b, stage.b / stage.a[0], rtol=1e-12) and np.allclose(
            a, stage.a / stage.a[0], rtol=1e-12
        )

"""audiomanip.rendering.iir: the numpy biquad cascade equals scipy.signal.sosfilt, streams exactly,
and has the response its coefficients say; plus the limiter's numpy running minimum."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from scipy.ndimage import minimum_filter1d

from audiomanip.training.sources import sine
from audiomanip.effects.eq import biquad_coefficients
from audiomanip.rendering.iir import SosFilter, sosfilt, state_space
from audiomanip.features import k_weighting_sos
from audiomanip.params import EQ_BAND_TYPES, effect
from audiomanip.rendering.limiter import running_min as _running_min

TOL = 1e-9
EQ = effect("eq")
FREQ, GAIN, Q = (next(p for p in EQ.params if p.name == n) for n in ("freq_hz", "gain_db", "q"))


def rbj_sos(sample_rate: float, types, freq_hz, gain_db, q) -> np.ndarray:
    """SOS [bands, 6] of the project's EQ biquads (float64)."""
    index = torch.tensor([EQ_BAND_TYPES.index(t) for t in types])
    f, g, qq = (torch.tensor(v, dtype=torch.float64) for v in (freq_hz, gain_db, q))
    b, a = biquad_coefficients(index, f, g, qq, float(sample_rate))
    return torch.cat([b, a], dim=-1).numpy()


def random_eq(rng: np.random.Generator, sample_rate: float) -> np.ndarray:
    """A random 5-band EQ over the schema's whole ranges (log-uniform frequencies and Qs)."""
    n = EQ.bands
    types = [EQ_BAND_TYPES[i] for i in rng.integers(0, len(EQ_BAND_TYPES), n)]
    freq = np.exp(rng.uniform(np.log(FREQ.low), np.log(FREQ.high), n))
    gain = rng.uniform(GAIN.low, GAIN.high, n)
    q = np.exp(rng.uniform(np.log(Q.low), np.log(Q.high), n))
    return rbj_sos(sample_rate, types, freq, gain, q)


def ringing_eq(sample_rate: float) -> np.ndarray:
    """The hardest corner of the schema: lowest frequencies, highest Q, extreme gains (poles
    within ~1e-4 of z = 1 at 192 kHz, ringing for tens of thousands of samples)."""
    lo, hi = FREQ.low, Q.high
    return rbj_sos(sample_rate, ["peak", "peak", "high_pass", "low_pass", "low_shelf"],
                   [lo, 1.25 * lo, lo, lo, lo], [GAIN.high, GAIN.low, 0.0, 0.0, GAIN.high],
                   [hi, hi, hi, Q.low, Q.low])


def stream(f: SosFilter, x: np.ndarray, sizes) -> np.ndarray:
    """Feed ``x`` [C, T] to ``f`` in pieces of the given sizes (cycled)."""
    out, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        out.append(f.process(x[:, i : i + n]))
        i, k = i + n, k + 1
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 48000, 96000, 192000])
def test_equals_scipy_for_random_and_ringing_eqs(sample_rate):
    rng = np.random.default_rng(sample_rate)
    x = rng.standard_normal((2, 30011))
    for sos in [ringing_eq(sample_rate)] + [random_eq(rng, sample_rate) for _ in range(4)]:
        ref = scipy.signal.sosfilt(sos, x, axis=-1)
        # pieces that do not divide the length nor the chunk length, and a streamed run
        y = stream(SosFilter(sos, 2), x, [1, 7, 64, 1000, 4097, 65536])
        assert np.max(np.abs(y - ref)) < TOL
        assert np.max(np.abs(sosfilt(sos, x) - ref)) < TOL


@pytest.mark.parametrize("block", [1, 2, 3, 37, 64, 500])
def test_block_length_changes_nothing(block):
    sos = ringing_eq(48000)
    x = np.random.default_rng(1).standard_normal((1, 5003))
    ref = scipy.signal.sosfilt(sos, x)
    assert np.max(np.abs(stream(SosFilter(sos, 1, block=block), x, [613, 1, 2000]) - ref)) < TOL


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 44100, 48000, 88200, 96000, 192000])
def test_k_weighting_equals_scipy(sample_rate):
    sos = k_weighting_sos(sample_rate)
    x = np.random.default_rng(2).standard_normal((2, 2 * sample_rate // 5 + 3))
    assert np.max(np.abs(sosfilt(sos, x, axis=1) - scipy.signal.sosfilt(sos, x, axis=1))) < TOL


def test_long_ringing_continues_across_many_chunks():
    """Impulse response of a 20 Hz, Q 10 peak at 192 kHz: the tail, 40 000 samples = 625
    chunks after the impulse, still matches scipy (the state carries it, not the chunk)."""
    sos = ringing_eq(192000)[:1]
    x = np.zeros((1, 60000))
    x[0, 0] = 1.0
    y = stream(SosFilter(sos, 1), x, [4096, 333])
    ref = scipy.signal.sosfilt(sos, x)
    tail = slice(40000, None)
    assert np.max(np.abs(ref[0, tail])) > 1e-4  # still ringing audibly
    assert np.max(np.abs(y[0, tail] - ref[0, tail])) < 1e-12


def test_peak_band_gain_at_its_centre():
    """+12 dB peak at 1 kHz: a 1 kHz sine comes out 12 dB louder (steady state)."""
    sr = 48000
    sos = rbj_sos(sr, ["peak"], [1000.0], [12.0], [1.0])
    x = sine(1000.0, 1.0, sr, amplitude=0.1, channels=1).astype(np.float64)
    y = SosFilter(sos, 1).process(x)
    steady = slice(sr // 2, None)
    gain_db = 20 * np.log10(np.sqrt(np.mean(y[0, steady] ** 2) / np.mean(x[0, steady] ** 2)))
    assert gain_db == pytest.approx(12.0, abs=0.01)


def test_sosfilt_filters_along_any_axis_and_normalises_a0():
    sos = scipy.signal.butter(5, 0.05, output="sos")  # includes a first-order section
    x = np.random.default_rng(3).standard_normal((3, 700, 4))
    assert np.max(np.abs(sosfilt(sos, x, axis=1) - scipy.signal.sosfilt(sos, x, axis=1))) < TOL
    assert sosfilt(sos, x, axis=1).shape == x.shape
    scaled = sos * np.array([[2.0], [3.0], [0.5]])  # a0 != 1: same filter
    assert np.max(np.abs(sosfilt(scaled, x[0, :, 0]) - scipy.signal.sosfilt(sos, x[0, :, 0]))) < TOL
    assert sosfilt(sos, np.zeros((2, 0))).shape == (2, 0)


def test_state_space_has_the_sections_poles():
    sos = rbj_sos(48000, ["peak", "low_pass"], [100.0, 5000.0], [6.0, 0.0], [4.0, 0.7])
    a, _, _, _ = state_space(sos)
    poles = np.sort_complex(np.concatenate([np.roots(row[3:]) for row in sos]))
    assert np.allclose(np.sort_complex(np.linalg.eigvals(a)), poles, atol=1e-12)


def test_silence_after_a_signal_decays_to_zero():
    sos = ringing_eq(48000)
    f = SosFilter(sos, 1)
    f.process(np.random.default_rng(4).standard_normal((1, 4800)))
    later = [f.process(np.zeros((1, 65536))) for _ in range(20)]
    assert np.all(np.isfinite(later[-1]))
    assert np.max(np.abs(later[-1])) < 1e-12 * np.max(np.abs(later[0]))


def test_bad_arguments_raise():
    sos = k_weighting_sos(48000)
    with pytest.raises(ValueError):
        SosFilter(sos, 0)
    with pytest.raises(ValueError):
        SosFilter(sos, 1, block=0)
    with pytest.raises(ValueError):
        SosFilter(np.ones((2, 5)), 1)
    with pytest.raises(ValueError):
        SosFilter([[1, 0, 0, 0, 0, 0]], 1)  # a0 == 0
    with pytest.raises(ValueError):
        SosFilter(sos, 2).process(np.zeros((1, 10)))


@pytest.mark.parametrize("length", [2, 3, 72, 288])
def test_limiter_running_minimum_equals_scipy(length):
    rng = np.random.default_rng(length)
    for n in (length, length + 1, 7 * length + 3, 65536 + length - 1):
        a = rng.uniform(0.2, 1.0, n)
        a[rng.uniform(size=n) < 0.5] = 1.0
        centred = minimum_filter1d(a, length, mode="nearest")
        expected = centred[length // 2 : length // 2 + n - length + 1]
        assert np.array_equal(_running_min(a, length), expected)

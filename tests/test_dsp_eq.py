"""EQ: RBJ biquads, the frequency-sampled torch EQ and the scipy render path agree."""

import numpy as np
import pytest
import scipy.signal as ss
import torch

from audiomanip.effects.eq import biquad_coefficients, eq, eq_response
from audiomanip.params import EQ_BAND_TYPES, effect

EQ = effect("eq")
FREQ = EQ.param("band1_freq_hz")
GAIN = EQ.param("band1_gain_db")
Q = EQ.param("band1_q")
PEAK = EQ_BAND_TYPES.index("peak")
BANDS = EQ.bands
TEST_FREQS = np.geomspace(20.0, 20000.0, 600)


def _db(h):
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-6))


def _sos(band_type, freq_hz, gain_db, q, sample_rate):
    """The render path's SOS matrix [bands, 6] from THE coefficient function."""
    b, a = biquad_coefficients(band_type, freq_hz, gain_db, q, sample_rate)
    return np.concatenate([b.numpy(), a.numpy()], axis=-1).astype(np.float64).reshape(-1, 6)


def _random_bands(rng, n, band_type=None, *, max_gain=None, q_range=(0.0, 1.0)):
    """Random settings [n, 5] drawn in the schema's normalised space (seeded)."""
    types = rng.integers(0, len(EQ_BAND_TYPES), size=(n, BANDS)) if band_type is None else np.full((n, BANDS), band_type)
    freq = [[FREQ.denormalize(u) for u in row] for row in rng.random((n, BANDS))]
    gain = [[GAIN.denormalize(u) for u in row] for row in rng.random((n, BANDS))]
    q = [[Q.denormalize(u) for u in row] for row in rng.uniform(*q_range, size=(n, BANDS))]
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    gain_t = t(gain) if max_gain is None else torch.clamp(t(gain), -max_gain, max_gain)
    return torch.tensor(types, dtype=torch.long), t(freq), gain_t, t(q)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("band_type", range(len(EQ_BAND_TYPES)), ids=EQ_BAND_TYPES)
def test_response_matches_sosfreqz_of_the_same_coefficients(sample_rate, band_type):
    rng = np.random.default_rng(1000 + band_type + sample_rate)
    types, freq, gain, q = _random_bands(rng, 4, band_type)
    worst = 0.0
    for dtype in (torch.float64, torch.float32):
        h = eq_response(sample_rate, torch.tensor(TEST_FREQS), types, freq.to(dtype), gain.to(dtype), q.to(dtype))
        assert h.shape == (4, TEST_FREQS.size)
        for i in range(4):
            sos = _sos(types[i], freq[i], gain[i], q[i], sample_rate)
            _, h_ref = ss.sosfreqz(sos, worN=TEST_FREQS, fs=sample_rate)
            worst = max(worst, np.max(np.abs(_db(h[i].numpy()) - _db(h_ref))))
    assert worst < 0.1, f"max |H| difference {worst:.3g} dB"


def test_coefficients_are_cookbook_values_and_stay_below_nyquist():
    # peak at 1 kHz, +6 dB, Q 1, 48 kHz: hand-computed RBJ coefficients
    w0 = 2 * np.pi * 1000 / 48000
    alpha, amp = np.sin(w0) / 2, 10 ** (6 / 40)
    a0 = 1 + alpha / amp
    expected_b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp]) / a0
    expected_a = np.array([a0, -2 * np.cos(w0), 1 - alpha / amp]) / a0
    t = lambda v: torch.tensor(v, dtype=torch.float64)
    b, a = biquad_coefficients(torch.tensor(PEAK), t(1000.0), t(6.0), t(1.0), 48000)
    np.testing.assert_allclose(b.numpy(), expected_b, rtol=1e-12)
    np.testing.assert_allclose(a.numpy(), expected_a, rtol=1e-12)
    # 20 kHz at 22.05 kHz is clamped to 0.49 * sr: poles inside the unit circle
    for band_type in range(len(EQ_BAND_TYPES)):
        _, a = biquad_coefficients(torch.tensor(band_type), t(20000.0), t(12.0), t(10.0), 22050)
        assert np.all(np.abs(np.roots(a.numpy())) < 1.0)


def test_filtering_noise_measures_the_designed_transfer_function():
    sample_rate = 48000
    rng = np.random.default_rng(7)
    types, freq, gain, q = _random_bands(rng, 2, max_gain=12.0, q_range=(0.2, 0.6))
    x = torch.from_numpy(rng.standard_normal((2, 1, 1 << 16)).astype(np.float32))
    y = eq(x, sample_rate, types, freq.float(), gain.float(), q.float())
    assert y.shape == x.shape and y.dtype == torch.float32
    for i in range(2):
        xi, yi = x[i, 0].double().numpy(), y[i, 0].double().numpy()
        f, pxy = ss.csd(xi, yi, fs=sample_rate, nperseg=4096)
        _, pxx = ss.welch(xi, fs=sample_rate, nperseg=4096)
        sel = (f >= 50) & (f <= 16000)
        _, h_ref = ss.sosfreqz(_sos(types[i], freq[i], gain[i], q[i], sample_rate), worN=f[sel], fs=sample_rate)
        err = np.abs(_db(pxy[sel] / pxx[sel]) - _db(h_ref))
        assert np.max(err) < 0.5, f"measured vs designed: max {np.max(err):.3g} dB"
        # and sample by sample against the render path (scipy sosfilt of the same biquads)
        y_ref = ss.sosfilt(_sos(types[i], freq[i], gain[i], q[i], sample_rate), xi)
        assert np.max(np.abs(y_ref - yi)) < 1e-3 * np.max(np.abs(y_ref))


@pytest.mark.parametrize("gain_db,q", [(9.0, 2.0), (-6.0, 0.7), (15.0, 8.0)])
def test_peak_gain_measured_on_a_sine_at_its_centre(gain_db, q):
    sample_rate, f0 = 44100, 1000.0
    n = sample_rate // 2
    t = np.arange(n) / sample_rate
    x = torch.from_numpy(0.5 * np.sin(2 * np.pi * f0 * t)).float()[None, None]
    types = torch.full((1, BANDS), PEAK)  # the other bands at 0 dB are the identity
    freq = torch.full((1, BANDS), f0)
    gain = torch.zeros(1, BANDS)
    gain[0, 2] = gain_db
    y = eq(x, sample_rate, types, freq, gain, torch.full((1, BANDS), q))
    mid = slice(n // 4, 3 * n // 4)
    rms = lambda v: np.sqrt(np.mean(v[0, 0, mid].double().numpy() ** 2))
    measured = 20 * np.log10(rms(y) / rms(x))
    assert abs(measured - gain_db) < 0.2, measured


def test_class_probabilities_mix_the_complex_responses():
    sample_rate = 48000
    rng = np.random.default_rng(3)
    types, freq, gain, q = _random_bands(rng, 1)
    one_hot = torch.nn.functional.one_hot(types, len(EQ_BAND_TYPES)).double()
    h_index = eq_response(sample_rate, 257, types, freq, gain, q)
    h_prob = eq_response(sample_rate, 257, one_hot, freq, gain, q)
    torch.testing.assert_close(h_prob, h_index)
    # one band mixed 30 % low_shelf + 70 % peak, the other four bands identity (peak, 0 dB)
    probs = torch.zeros(1, BANDS, len(EQ_BAND_TYPES), dtype=torch.float64)
    probs[:, :, PEAK] = 1.0
    probs[0, 0] = 0.0
    probs[0, 0, 0], probs[0, 0, PEAK] = 0.3, 0.7
    flat = torch.zeros(1, BANDS, dtype=torch.float64)
    gain = flat.clone()
    gain[0, 0] = 10.0
    mixed = eq_response(sample_rate, 257, probs, freq, gain, q)
    single = lambda k: eq_response(sample_rate, 257, torch.full((1, BANDS), PEAK).index_put_(
        (torch.tensor([0]), torch.tensor([0])), torch.tensor(k)), freq, gain, q)
    torch.testing.assert_close(mixed, 0.3 * single(0) + 0.7 * single(PEAK))

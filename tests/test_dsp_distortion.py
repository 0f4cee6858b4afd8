"""Distortion: harmonics grow with drive, color adds even harmonics, level is compensated, and
the DC blocker after the curve removes the offset that an asymmetric curve creates."""

import numpy as np
import scipy.signal
import torch

from audiomanip.effects.distortion import (
    DC_BLOCK_HZ,
    REFERENCE_PEAK,
    dc_blocker_coefficients,
    distortion,
    waveshape,
)
from audiomanip.params import effect

SR = 48000
F0 = 1000.0  # 48 samples per period: harmonics (and their aliases) land on exact FFT bins
N = 4800  # 100 periods analysed
# The DC blocker (10 Hz, time constant 22.5 ms) settles from the onset of a signal within
# ~0.5 s (to e^-22); harmonics and levels of the full distortion are measured after that.
SETTLE = SR // 2
DRIVE = effect("distortion").param("drive_db")
COLOR = effect("distortion").param("color")


def _sine(amplitude, n=SETTLE + N, f0=F0):
    t = np.arange(n) / SR
    return torch.from_numpy(amplitude * np.sin(2 * np.pi * f0 * t))[None, None]


def _harmonics(y):
    """Amplitudes of harmonics 1 … 23 of F0 (index 0 = fundamental) from an FFT of y [T]."""
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) * 2 / len(y)
    k0 = round(F0 * len(y) / SR)
    return np.array([spec[k0 * h] for h in range(1, 24)])


def _thd(y):
    h = _harmonics(y)
    return np.sqrt(np.sum(h[1:] ** 2)) / h[0]


def _full(b, value, dtype=torch.float64):
    return torch.full((b,), float(value), dtype=dtype)


def _run(x, drive, color):
    b = x.shape[0]
    return distortion(x, SR, _full(b, drive, x.dtype), _full(b, color, x.dtype))


def _steady(y):
    """The analysed steady-state part [..., N] of an output of a ``_sine``."""
    return y[..., SETTLE:]


def test_thd_grows_monotonically_with_drive():
    drives = np.linspace(DRIVE.low, DRIVE.high, 11)
    x = _sine(0.5).expand(len(drives), 1, -1).contiguous()
    for color in (COLOR.low, 0.5, COLOR.high):
        y = _steady(distortion(x, SR, torch.tensor(drives), _full(len(drives), color)))
        thd = np.array([_thd(y[i, 0].numpy()) for i in range(len(drives))])
        assert np.all(np.diff(thd) > 0), (color, thd)
        assert thd[0] < (0.05 if color == 0 else 0.15)  # mild at 0 dB drive
        assert thd[-1] > 0.4  # nearly a square wave (THD 48 %) at 40 dB


def test_color_adds_a_second_harmonic():
    x = _sine(0.5)
    for drive in (0.0, 12.0):
        h_clean = _harmonics(_steady(_run(x, drive, 0.0))[0, 0].numpy())
        h_color = _harmonics(_steady(_run(x, drive, 1.0))[0, 0].numpy())
        assert 20 * np.log10(h_clean[1] / h_clean[0]) < -100  # symmetric curve: odd harmonics only
        assert 20 * np.log10(h_color[1] / h_color[0]) > -30


def test_dc_offset_of_a_loud_asymmetric_signal_is_removed():
    """Color 1, high drive, −6 dBFS sine: the curve alone leaves a large DC offset (rectification);
    after the DC blocker the steady-state mean is < 1e-3 × peak, while the THD still grows with
    drive and the 2nd harmonic (even, from the asymmetry) is still there."""
    x = _sine(10.0 ** (-6.0 / 20.0)).expand(3, 1, -1).contiguous()
    drives = torch.tensor([12.0, 24.0, DRIVE.high], dtype=torch.float64)
    colors = _full(3, COLOR.high)
    shaped = _steady(waveshape(x, drives, colors))[:, 0].numpy()
    y = _steady(distortion(x, SR, drives, colors))[:, 0].numpy()
    for i in range(3):
        # without the blocker: mean ≈ −0.08 against a peak ≈ 0.26 … 0.31
        assert abs(shaped[i].mean()) > 0.2 * np.abs(shaped[i]).max()
        assert abs(y[i].mean()) < 1e-3 * np.abs(y[i]).max(), (i, y[i].mean())
        h = _harmonics(y[i])
        # 2nd harmonic present (−15 … −30 dB here; a symmetric curve gives < −100 dB)
        assert 20 * np.log10(h[1] / h[0]) > -40
        assert np.allclose(h, _harmonics(shaped[i]), rtol=1e-6, atol=1e-9)  # harmonics untouched
    thd = [_thd(y[i]) for i in range(3)]
    assert np.all(np.diff(thd) > 0), thd


def test_dc_blocker_is_the_rbj_high_pass_applied_to_the_curve():
    """distortion = the IIR biquad (scipy) of the waveshaper's output, up to the frequency-sampled
    path's circular aliasing of the filter tail (< 1e-12 for 1 s), with a 10 Hz corner."""
    x = torch.from_numpy(np.random.default_rng(2).uniform(-0.8, 0.8, (1, 2, SR)))
    drive, color = _full(1, 20.0), _full(1, 0.8)
    b, a = dc_blocker_coefficients(SR)
    sos = torch.cat([b, a])[None].numpy()
    expected = scipy.signal.sosfilt(sos, waveshape(x, drive, color).numpy(), axis=-1)
    assert np.max(np.abs(distortion(x, SR, drive, color).numpy() - expected)) < 1e-9
    _, h = scipy.signal.sosfreqz(sos, worN=[1e-3, DC_BLOCK_HZ, 20.0, 100.0, 1000.0], fs=SR)
    gain_db = 20 * np.log10(np.abs(h))
    assert gain_db[0] < -150  # DC is removed
    assert abs(gain_db[1] + 3.0103) < 1e-3  # −3 dB corner (Butterworth)
    assert -0.3 < gain_db[2] < -0.2 and abs(gain_db[3]) < 1e-3 and abs(gain_db[4]) < 1e-6


def test_silence_stays_silent_and_small_signals_pass_at_zero_drive():
    silence = torch.zeros(1, 2, 256, dtype=torch.float64)
    assert torch.all(_run(silence, 20.0, 1.0) == 0)  # the bias' DC offset is removed
    small = _sine(0.01)
    y = _steady(_run(small, 0.0, 0.0))
    gain_db = 20 * np.log10(y.std().item() / _steady(small).std().item())
    assert abs(gain_db) < 0.2


def test_reference_sine_keeps_its_level_at_every_setting():
    rng = np.random.default_rng(0)
    drives = torch.tensor([DRIVE.denormalize(u) for u in rng.random(6)])
    colors = torch.tensor([COLOR.denormalize(u) for u in rng.random(6)])
    # The curve: exact for a 187.5 Hz sine (256 samples per period, as the reference); within
    # 0.1 dB at 1 kHz, where a square-like output is sampled more coarsely. The full distortion
    # in steady state: the same up to the DC blocker's 3.5e-5 dB at 187.5 Hz.
    for f0, tolerance_db in ((SR / 256, 1e-6), (F0, 0.1)):
        x = _sine(REFERENCE_PEAK, n=SETTLE + 7680, f0=f0).expand(6, 1, -1).contiguous()
        ref_rms = _steady(x).pow(2).mean(dim=-1).sqrt()
        curve = _steady(waveshape(x, drives, colors))
        full = _steady(distortion(x, SR, drives, colors))
        for y, tol in ((curve, tolerance_db), (full, tolerance_db + 1e-4)):
            ac = y - y.mean(dim=-1, keepdim=True)
            level_db = 20 * torch.log10(ac.pow(2).mean(dim=-1).sqrt() / ref_rms)
            assert torch.max(torch.abs(level_db)) < tol, (f0, level_db)


def test_waveshaper_is_sample_wise_so_blocks_give_the_same_result():
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (1, 2, 1000)))
    d, c = _full(1, 25.0), _full(1, 0.7)
    whole = waveshape(x, d, c)
    blocks = torch.cat([waveshape(x[..., i : i + 300], d, c) for i in range(0, 1000, 300)], dim=-1)
    assert torch.equal(whole, blocks)
    assert waveshape(x.float(), d.float(), c.float()).dtype == torch.float32
    assert _run(x.float(), 25.0, 0.7).dtype == torch.float32

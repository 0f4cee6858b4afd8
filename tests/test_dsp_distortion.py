"""Distortion: harmonics grow with drive, color adds even harmonics, level is compensated."""

import numpy as np
import torch

from audiomanip.dsp.distortion import REFERENCE_PEAK, distortion
from audiomanip.params import effect

SR = 48000
F0 = 1000.0  # 48 samples per period: harmonics (and their aliases) land on exact FFT bins
N = 4800  # 100 periods
DRIVE = effect("distortion").param("drive_db")
COLOR = effect("distortion").param("color")


def _sine(amplitude, n=N):
    t = np.arange(n) / SR
    return torch.from_numpy(amplitude * np.sin(2 * np.pi * F0 * t))[None, None]


def _harmonics(y):
    """Amplitudes of harmonics 1 … 23 of F0 (index 0 = fundamental) from an FFT of y [T]."""
    spec = np.abs(np.fft.rfft(np.asarray(y, dtype=np.float64))) * 2 / len(y)
    k0 = round(F0 * len(y) / SR)
    return np.array([spec[k0 * h] for h in range(1, 24)])


def _thd(y):
    h = _harmonics(y)
    return np.sqrt(np.sum(h[1:] ** 2)) / h[0]


def _run(x, drive, color):
    b = x.shape[0]
    return distortion(x, torch.full((b,), float(drive), dtype=x.dtype), torch.full((b,), float(color), dtype=x.dtype))


def test_thd_grows_monotonically_with_drive():
    drives = np.linspace(DRIVE.low, DRIVE.high, 11)
    x = _sine(0.5).expand(len(drives), 1, N).contiguous()
    for color in (COLOR.low, 0.5, COLOR.high):
        y = distortion(x, torch.tensor(drives), torch.full((len(drives),), color, dtype=torch.float64))
        thd = np.array([_thd(y[i, 0].numpy()) for i in range(len(drives))])
        assert np.all(np.diff(thd) > 0), (color, thd)
        assert thd[0] < (0.05 if color == 0 else 0.15)  # mild at 0 dB drive
        assert thd[-1] > 0.4  # nearly a square wave (THD 48 %) at 40 dB


def test_color_adds_a_second_harmonic():
    x = _sine(0.5)
    for drive in (0.0, 12.0):
        h_clean = _harmonics(_run(x, drive, 0.0)[0, 0].numpy())
        h_color = _harmonics(_run(x, drive, 1.0)[0, 0].numpy())
        assert 20 * np.log10(h_clean[1] / h_clean[0]) < -100  # symmetric curve: odd harmonics only
        assert 20 * np.log10(h_color[1] / h_color[0]) > -30


def test_silence_stays_silent_and_small_signals_pass_at_zero_drive():
    silence = torch.zeros(1, 2, 256, dtype=torch.float64)
    assert torch.all(_run(silence, 20.0, 1.0) == 0)  # the bias' DC offset is removed
    small = _sine(0.01)
    y = _run(small, 0.0, 0.0)
    gain_db = 20 * np.log10(y.std().item() / small.std().item())
    assert abs(gain_db) < 0.2


def test_reference_sine_keeps_its_level_at_every_setting():
    rng = np.random.default_rng(0)
    drives = torch.tensor([DRIVE.denormalize(u) for u in rng.random(6)])
    colors = torch.tensor([COLOR.denormalize(u) for u in rng.random(6)])
    # exact for a 187.5 Hz sine (256 samples per period, as the reference); within 0.1 dB at
    # 1 kHz, where a square-like output is sampled more coarsely
    for f0, tolerance_db in ((SR / 256, 1e-6), (F0, 0.1)):
        t = np.arange(7680) / SR
        x = torch.from_numpy(REFERENCE_PEAK * np.sin(2 * np.pi * f0 * t)).expand(6, 1, -1).contiguous()
        y = distortion(x, drives, colors)
        ac = y - y.mean(dim=-1, keepdim=True)
        level_db = 20 * torch.log10(ac.pow(2).mean(dim=-1).sqrt() / x.pow(2).mean(dim=-1).sqrt())
        assert torch.max(torch.abs(level_db)) < tolerance_db, (f0, level_db)


def test_sample_wise_so_blocks_give_the_same_result():
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (1, 2, 1000)))
    whole = _run(x, 25.0, 0.7)
    blocks = torch.cat([_run(x[..., i:i + 300], 25.0, 0.7) for i in range(0, 1000, 300)], dim=-1)
    assert torch.equal(whole, blocks)
    assert _run(x.float(), 25.0, 0.7).dtype == torch.float32

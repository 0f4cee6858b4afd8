"""Compressor: the torch twin and the renderer's pedalboard.Compressor follow the same curve."""

import numpy as np
import pytest
import torch

from audiomanip.effects.compressor import KNEE_DB, compressor, static_curve_db

SR = 48000
LEVELS_DB = np.arange(-60.0, 0.1, 6.0)  # sine peak levels, dBFS
CONFIGS = [  # threshold_db, ratio, makeup_db
    (-30.0, 4.0, 6.0),
    (-20.0, 20.0, 0.0),
    (-45.0, 2.0, 12.0),
]
ATTACK_MS, RELEASE_MS = 1.0, 100.0


def _sines(levels_db, seconds=0.3, f0=1000.0):
    t = np.arange(int(SR * seconds)) / SR
    amps = 10.0 ** (np.asarray(levels_db) / 20.0)
    return amps[:, None, None] * np.sin(2 * np.pi * f0 * t)[None, None, :]


def _steady_gain_db(y, x):
    """Output/input RMS level difference over the second half (steady state), per item."""
    half = x.shape[-1] // 2
    rms = lambda v: np.sqrt(np.mean(np.asarray(v, dtype=np.float64)[..., half:] ** 2, axis=-1))
    return 20 * np.log10(rms(y) / rms(x)).reshape(-1)


def _torch_compress(x, threshold_db, ratio, makeup_db, attack_ms=ATTACK_MS, release_ms=RELEASE_MS):
    b = x.shape[0]
    full = lambda v: torch.full((b,), float(v), dtype=torch.float64)
    y = compressor(torch.from_numpy(x), SR, full(threshold_db), full(ratio), full(attack_ms), full(release_ms), full(makeup_db))
    return y.numpy()


@pytest.mark.parametrize("threshold_db,ratio,makeup_db", CONFIGS)
def test_torch_static_curve_on_steady_sines(threshold_db, ratio, makeup_db):
    x = _sines(LEVELS_DB)
    measured = _steady_gain_db(_torch_compress(x, threshold_db, ratio, makeup_db), x)
    expected = static_curve_db(torch.tensor(LEVELS_DB), threshold_db, ratio, makeup_db).numpy() - LEVELS_DB
    err = np.abs(measured - expected)
    assert np.max(err) < 0.5, dict(zip(LEVELS_DB, np.round(measured - expected, 3)))


@pytest.mark.parametrize("threshold_db,ratio,makeup_db", CONFIGS)
def test_pedalboard_render_path_static_curve(threshold_db, ratio, makeup_db):
    import pedalboard

    x = _sines(LEVELS_DB).astype(np.float32)
    comp = pedalboard.Compressor(threshold_db=threshold_db, ratio=ratio, attack_ms=ATTACK_MS, release_ms=RELEASE_MS)
    y = np.stack([comp(x[i], SR, reset=True) for i in range(len(LEVELS_DB))]) * 10.0 ** (makeup_db / 20.0)
    measured = _steady_gain_db(y, x)
    expected = static_curve_db(torch.tensor(LEVELS_DB), threshold_db, ratio, makeup_db, knee_db=0.0).numpy() - LEVELS_DB
    err = np.abs(measured - expected)
    assert np.max(err) < 0.5, dict(zip(LEVELS_DB, np.round(measured - expected, 3)))


def test_soft_knee_stays_near_the_hard_knee():
    levels = torch.linspace(-60.0, 0.0, 601, dtype=torch.float64)
    soft = static_curve_db(levels, -24.0, 8.0, 3.0)
    hard = static_curve_db(levels, -24.0, 8.0, 3.0, knee_db=0.0)
    diff = (soft - hard).abs()
    assert diff.max() <= KNEE_DB / 8 + 1e-12
    assert torch.all(diff[(levels - -24.0).abs() > KNEE_DB / 2] < 1e-12)
    assert torch.all(torch.diff(soft) > 0)  # monotonic: louder in, louder out


def _drum_loop(rng, n=SR, hits=8, rise_ms=2.0, decay_ms=80.0):
    """Decaying noise bursts (a 2 ms rise, 80 ms exponential decay) at -10 dBFS RMS-ish."""
    length = n // hits
    i = np.arange(length)
    shape = np.minimum(i / (rise_ms * 1e-3 * SR), 1.0) * np.exp(-i / (decay_ms * 1e-3 * SR))
    return np.concatenate([0.3 * rng.standard_normal(length) * shape for _ in range(hits)])


def _crest_db(v):
    return 20 * np.log10(np.max(np.abs(v)) / np.sqrt(np.mean(np.asarray(v, dtype=np.float64) ** 2)))


def test_crest_factor_of_drums_falls_as_ratio_grows():
    import pedalboard

    ratios = [1.0, 2.0, 4.0, 8.0, 20.0]
    drums = _drum_loop(np.random.default_rng(0))
    x = np.broadcast_to(drums, (len(ratios), 1, drums.size)).copy()
    y = compressor(
        torch.from_numpy(x), SR, torch.full((5,), -30.0, dtype=torch.float64), torch.tensor(ratios, dtype=torch.float64),
        torch.full((5,), 0.1, dtype=torch.float64), torch.full((5,), 20.0, dtype=torch.float64), torch.zeros(5, dtype=torch.float64),
    ).numpy()
    crest = np.array([_crest_db(y[i, 0]) for i in range(len(ratios))])
    assert np.all(np.diff(crest) < 0), crest
    assert crest[0] - crest[-1] > 6.0
    rendered = np.array([
        _crest_db(pedalboard.Compressor(threshold_db=-30.0, ratio=r, attack_ms=0.1, release_ms=20.0)(drums[None].astype(np.float32), SR))
        for r in ratios
    ])
    assert np.all(np.diff(rendered) < 0), rendered
    assert np.max(np.abs(crest - rendered)) < 0.5  # the two paths shape the transients alike


@pytest.mark.parametrize("release_ms", [50.0, 300.0])
def test_release_recovery_follows_pedalboard(release_ms):
    import pedalboard

    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 1000 * t) * np.where(t < 0.3, 1.0, 10 ** (-50 / 20))  # loud, then quiet
    y = _torch_compress(x[None, None], -20.0, 10.0, 0.0, attack_ms=1.0, release_ms=release_ms)[0, 0]
    comp = pedalboard.Compressor(threshold_db=-20.0, ratio=10.0, attack_ms=1.0, release_ms=release_ms)
    y_ref = comp(x[None].astype(np.float32), SR)[0]

    def gain_track(v):  # gain in dB over 1 ms windows after the drop
        seg = slice(int(0.3 * SR), int(0.3 * SR) + 48 * 400)
        a, b = v[seg].reshape(-1, 48), x[seg].reshape(-1, 48)
        return 20 * np.log10(np.sqrt(np.mean(a**2, axis=1)) / np.sqrt(np.mean(b**2, axis=1)))

    track, track_ref = gain_track(y), gain_track(y_ref)
    assert track[0] < -15  # compressed at the drop
    assert np.max(np.abs(track - track_ref)) < 1.0

"""What a recording sounds like, as a few numbers: the model's ``profile`` audio view and the
outcome features of training, written once for numpy (run time) and torch (training).

The formulas are written against the Python array API through ``array-api-compat`` (see
:mod:`audiomanip.effects.arrays`): called with numpy arrays they run on numpy and torch is never
imported (``apply``), called with torch tensors they run on torch with autograd (the training
loss measures the differentiable chain's output with them).

Every function reads mono-or-more audio ``[..., C, T]`` (channels are averaged) at
``sample_rate`` Hz. Spectral measures look only at 0 … :data:`ANALYSIS_TOP_HZ` so that a
recording at 44.1 kHz and a training clip at 16 kHz are measured alike.

:func:`profile` is the fixed-length vector ``[..., PROFILE_SIZE]``:

* :data:`N_BANDS` long-term band energy shares in dB relative to the total (bands log-spaced
  between :data:`BAND_RANGE_HZ`);
* RMS level (dBFS), crest factor (dB), the spread of 10 ms frame levels (dB, the dynamics) and
  the mean fall rate of those levels while they fall (dB/s: fast for dry, percussive sound,
  slow for reverberant sound).

:func:`read_analysis_audio` reads at most :data:`ANALYSIS_SECONDS` of a file as
:data:`N_EXCERPTS` evenly spaced excerpts (seeking, so a 20-minute file costs what a short one
does).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.effects.arrays import float_arrays, namespace

#: Log-spaced band edges of the profile's band shares (Hz).
BAND_RANGE_HZ = (50.0, 8000.0)
#: Number of band shares in the profile.
N_BANDS = 24
#: Spectral measures ignore energy above this frequency (Hz): the Nyquist of 16 kHz training clips.
ANALYSIS_TOP_HZ = 8000.0
#: Length (s) of the frames of the level statistics.
LEVEL_FRAME_S = 0.01
#: The fall rate compares frame levels this many frames apart (less sensitive to noise jitter).
FALL_LAG_FRAMES = 5
#: Floor of every dB value (relative levels and shares).
FLOOR_DB = -100.0
#: Names of the profile's entries after the band shares.
LEVEL_FEATURES = ("rms_db", "crest_db", "level_spread_db", "fall_rate_db_per_s")
#: Length of :func:`profile`'s vector.
PROFILE_SIZE = N_BANDS + len(LEVEL_FEATURES)
#: Typical scale of each profile entry (the network divides by it): band shares and levels
#: span tens of dB, fall rates hundreds of dB/s.
PROFILE_SCALE = np.array([20.0] * N_BANDS + [20.0, 10.0, 10.0, 200.0], dtype=np.float32)
#: At most this many seconds of a file are analysed for the profile view.
ANALYSIS_SECONDS = 4.0
#: ... as this many evenly spaced excerpts.
N_EXCERPTS = 4

_EPS = 1e-10


def band_edges_hz(n_bands: int = N_BANDS) -> np.ndarray:
    """The ``n_bands + 1`` log-spaced edges (Hz) of the profile's bands."""
    lo, hi = BAND_RANGE_HZ
    return np.geomspace(lo, hi, n_bands + 1)


def _mono(xp, x):
    """[..., C, T] (or [T]) -> [..., T]."""
    return x if x.ndim == 1 else xp.mean(x, axis=-2)


def _frames(xp, x, n: int):
    """Non-overlapping frames of ``n`` samples of [..., T] -> [..., F, n] (zero-padded to one frame)."""
    T = x.shape[-1]
    if T < n:
        pad = xp.zeros((*x.shape[:-1], n - T), dtype=x.dtype, device=getattr(x, "device", None))
        x = xp.concat([x, pad], axis=-1)
        T = n
    F = T // n
    return xp.reshape(x[..., :F * n], (*x.shape[:-1], F, n))


def fft_size(sample_rate: float) -> int:
    """Frame length of the long-term spectrum: the power of two giving bins of at most 12 Hz."""
    return int(2 ** math.ceil(math.log2(sample_rate / 12.0)))


def long_term_power(x, sample_rate: float):
    """Long-term power spectrum of ``x`` [..., C, T]: ``(freqs_hz [K], power [..., K])`` over
    the bins below :data:`ANALYSIS_TOP_HZ` (Hann frames of :func:`fft_size`, no overlap,
    averaged). ``freqs_hz`` is numpy."""
    xp = namespace(x)
    x = _mono(xp, x)
    n = fft_size(sample_rate)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    keep = int(np.searchsorted(freqs, min(ANALYSIS_TOP_HZ, sample_rate / 2.0), side="left"))
    window, = float_arrays(xp, np.hanning(n + 1)[:-1], dtype=x.dtype, device=getattr(x, "device", None))
    spec = xp.fft.rfft(_frames(xp, x, n) * window, axis=-1)[..., :keep]
    power = xp.mean(xp.real(spec) ** 2 + xp.imag(spec) ** 2, axis=-2)
    return freqs[:keep], power


def band_matrix(freqs_hz: np.ndarray, edges_hz: np.ndarray) -> np.ndarray:
    """[K, n_bands] 0/1 matrix: bin k belongs to band b when ``edges[b] <= f_k < edges[b + 1]``."""
    f = freqs_hz[:, None]
    return ((f >= edges_hz[None, :-1]) & (f < edges_hz[None, 1:])).astype(np.float32)


def _project(xp, power, matrix: np.ndarray):
    m, = float_arrays(xp, matrix, dtype=power.dtype, device=getattr(power, "device", None))
    return power @ m


def power_band_shares(power, freqs_hz: np.ndarray, edges_hz: np.ndarray):
    """Share (0 … 1) of a long-term power spectrum ``power`` [..., K] (bins ``freqs_hz`` [K],
    as :func:`long_term_power` gives them) that falls into each band between ``edges_hz``
    (Hz, ascending): [..., n_bands]."""
    xp = namespace(power)
    total = xp.sum(power, axis=-1, keepdims=True)
    return _project(xp, power, band_matrix(freqs_hz, np.asarray(edges_hz, dtype=np.float64))) / (total + _EPS)


def power_band_share(power, freqs_hz: np.ndarray, lo_hz: float, hi_hz: float):
    """Share (0 … 1) of a long-term power spectrum ``power`` [..., K] within ``lo_hz`` … ``hi_hz``: [...]."""
    return power_band_shares(power, freqs_hz, np.array([lo_hz, hi_hz]))[..., 0]


def band_shares(x, sample_rate: float, edges_hz: np.ndarray):
    """Share (0 … 1) of the energy below :data:`ANALYSIS_TOP_HZ` that falls into each band
    between ``edges_hz`` (Hz, ascending): [..., n_bands]."""
    freqs, power = long_term_power(x, sample_rate)
    return power_band_shares(power, freqs, edges_hz)


def band_share(x, sample_rate: float, lo_hz: float, hi_hz: float):
    """Share (0 … 1) of the energy below :data:`ANALYSIS_TOP_HZ` within ``lo_hz`` … ``hi_hz``: [...]."""
    return band_shares(x, sample_rate, np.array([lo_hz, hi_hz]))[..., 0]


def _db(xp, power_ratio):
    return 10.0 * xp.log10(xp.clip(power_ratio, 10.0 ** (FLOOR_DB / 10.0), None))


def frame_levels_db(x, sample_rate: float):
    """Levels (dBFS) of the :data:`LEVEL_FRAME_S` frames of ``x`` [..., C, T]: [..., F]."""
    xp = namespace(x)
    frames = _frames(xp, _mono(xp, x), max(1, int(round(LEVEL_FRAME_S * sample_rate))))
    return _db(xp, xp.mean(frames ** 2, axis=-1))


def crest_factor_db(x):
    """Peak over RMS (dB) of ``x`` [..., C, T] (channels averaged): [...]."""
    xp = namespace(x)
    m = _mono(xp, x)
    peak = xp.max(xp.abs(m), axis=-1)
    ms = xp.mean(m ** 2, axis=-1)
    return _db(xp, peak ** 2 / (ms + _EPS))


def level_statistics(x, sample_rate: float):
    """RMS level (dBFS), crest factor (dB), spread of the frame levels (dB; frames more than
    60 dB below the loudest count at that floor) and mean fall rate of the frame levels while
    they fall by more than 3 dB over :data:`FALL_LAG_FRAMES` frames (dB/s, floored like the spread): [..., 4] in the order of :data:`LEVEL_FEATURES`."""
    xp = namespace(x)
    m = _mono(xp, x)
    rms_db = _db(xp, xp.mean(m ** 2, axis=-1))
    levels = frame_levels_db(x, sample_rate)
    floor = xp.max(levels, axis=-1, keepdims=True) - 60.0
    levels = xp.maximum(levels, floor)
    spread = xp.std(levels, axis=-1)
    lag = FALL_LAG_FRAMES
    if levels.shape[-1] > lag:
        falls = xp.maximum(levels[..., :-lag] - levels[..., lag:], xp.zeros_like(levels[..., lag:]))
        falling = xp.astype(falls > 3.0, falls.dtype)
        rate = xp.sum(falls * falling, axis=-1) / (xp.sum(falling, axis=-1) + 1.0) / (lag * LEVEL_FRAME_S)
    else:
        rate = xp.zeros_like(spread)
    return xp.stack([rms_db, crest_factor_db(x), spread, rate], axis=-1)


def profile(x, sample_rate: float):
    """The profile vector of ``x`` [..., C, T] at ``sample_rate`` Hz: [..., PROFILE_SIZE]
    (see the module docstring; units: dB, dB/s)."""
    xp = namespace(x)
    shares = _db(xp, band_shares(x, sample_rate, band_edges_hz()))
    return xp.concat([shares, level_statistics(x, sample_rate)], axis=-1)


def excerpt_starts(total_frames: int, sample_rate: float, seconds: float = ANALYSIS_SECONDS,
                   n_excerpts: int = N_EXCERPTS) -> list[tuple[int, int]]:
    """``(start_frame, frames)`` of the excerpts :func:`read_analysis_audio` reads from
    ``total_frames`` frames: all of them when they last at most ``seconds``, else ``n_excerpts``
    evenly spaced excerpts of ``seconds / n_excerpts`` each (the first at the start, the last
    ending at the end)."""
    want = int(round(seconds * sample_rate))
    if total_frames <= want:
        return [(0, total_frames)]
    length = want // n_excerpts
    span = total_frames - length
    return [(int(round(span * k / (n_excerpts - 1))), length) for k in range(n_excerpts)]


def read_analysis_audio(path: str | Path, *, within_frames: int | None = None,
                        seconds: float = ANALYSIS_SECONDS) -> tuple[np.ndarray, int]:
    """The audio the profile view analyses: float32 ``[C, frames]`` (the excerpts of
    :func:`excerpt_starts` one after another) and the file's rate (Hz). ``within_frames``:
    look only at the file's first frames (``apply --audio-length``). Each excerpt is read by
    seeking, so the cost does not grow with the file's length."""
    from audiomanip import audio_io

    info = audio_io.info(path)
    total = info.frames if within_frames is None else min(info.frames, int(within_frames))
    parts = [audio_io.read(path, start_frame=start, frames=n)[0]
             for start, n in excerpt_starts(max(total, 1), info.sample_rate, seconds)]
    return np.concatenate(parts, axis=-1), info.sample_rate


def profile_of(audio: Any, sample_rate: float) -> np.ndarray:
    """:func:`profile` of numpy audio ``[C, T]`` or ``[T]``, as float32 ``[1, PROFILE_SIZE]``
    (the network's ``profile`` input)."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    return np.asarray(profile(x, float(sample_rate)), dtype=np.float32)[None, :]

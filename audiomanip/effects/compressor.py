"""Differentiable feed-forward compressor (the twin of the renderer's pedalboard.Compressor).

The renderer uses ``pedalboard.Compressor`` (JUCE): a per-channel peak envelope follower with
one-pole attack/release ballistics (coefficient ``exp(-2π·1000 / (sr · time_ms))``), a hard
knee, gain ``(env / threshold) ** (1 / ratio - 1)`` above threshold, then make-up gain.

This module computes the same thing without a loop over samples:

1. **Level detection (release).** A peak-hold whose held value decays with the release time
   constant, ``p(t) = max_{s <= t} |x(s)| · exp(-(t - s) / τ_r)``, computed as a *soft* maximum
   (a power mean of order :data:`PEAK_ORDER`, weights normalised so a constant input reads
   its exact level) with ``torch.logcumsumexp`` in the log domain: parallel and smooth.
2. **Attack.** A one-pole smoother ``e(t) = a e(t-1) + (1 - a) p(t)``, ``a = exp(-1 / τ_a)``,
   on the linear-amplitude peak signal, also via ``logcumsumexp`` (the input is positive).
   Steps 1-2 are the "decoupled" peak detector of Giannoulis, Massberg & Reiss (2012). JUCE
   instead switches one state between the attack and release coefficients; for steady signals
   both settle to the peak level, transients differ slightly in shape (attack and release are
   applied in sequence instead of alternately).
3. **Gain computer** in dB, :func:`static_curve_db`: JUCE's curve with a quadratic soft knee
   :data:`KNEE_DB` wide (at most ``KNEE_DB / 8`` dB from the hard knee, at the threshold) so
   the gain is differentiable everywhere.

Time constants follow JUCE: ``τ = sr · time_ms / (2π · 1000)`` samples. Channels are
compressed independently (unlinked), as pedalboard does. The scans run in float64 internally.

The gain computer (:func:`gain_reduction_db`, :func:`static_curve_db`) is written against the
array API: numpy or torch, the library of its arguments. The level detector needs
``logcumsumexp`` and exists for torch only (training); the renderer's detector is pedalboard's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from audiomanip.effects.arrays import as_batch, float_arrays, namespace
from audiomanip.effects.registry import EffectEntry
from audiomanip.params import effect
from audiomanip.rendering.stage import Stage

#: Width of the soft knee in dB (the renderer's pedalboard curve is a hard knee).
KNEE_DB = 2.0
#: Order of the power mean that approximates the peak-hold maximum (larger = closer to max).
PEAK_ORDER = 128.0
#: Floor of the level detector (amplitude), avoids log(0): −200 dBFS.
_FLOOR = 1e-10
_DB_PER_NEPER = 20.0 / math.log(10.0)


def gain_reduction_db(level_db, threshold_db, ratio, knee_db: float = KNEE_DB):
    """Gain change in dB (<= 0) for a detector level ``level_db`` (dBFS), elementwise; arrays
    (numpy or torch) or numbers that broadcast together.

    Hard knee when ``knee_db`` is 0, otherwise the quadratic soft knee of Giannoulis et al.
    """
    xp = namespace(level_db, threshold_db, ratio)
    over = level_db - threshold_db
    slope = 1.0 / ratio - 1.0
    hard = slope * xp.clip(over, min=0.0)
    if knee_db <= 0.0:
        return hard
    half = 0.5 * knee_db
    inside = xp.clip(over + half, min=0.0, max=knee_db)
    soft = slope * inside * inside / (2.0 * knee_db)
    return xp.where(over >= half, hard, soft)


def static_curve_db(level_db, threshold_db, ratio, makeup_db, knee_db: float = KNEE_DB):
    """Static input/output curve: output level in dB for a steady input at ``level_db``.

    Arguments are arrays (numpy or torch) or numbers that broadcast together (dBFS, dBFS, plain
    ratio, dB); numbers become arrays of the arrays' library and floating dtype (numpy float64
    when all are numbers). ``knee_db = 0`` gives the renderer's (JUCE) hard-knee curve. The level is the peak
    level the detector sees (for a sine: its peak amplitude in dBFS).
    """
    xp = namespace(level_db, threshold_db, ratio, makeup_db)
    level_db, threshold_db, ratio, makeup_db = float_arrays(xp, level_db, threshold_db, ratio, makeup_db)
    return level_db + gain_reduction_db(level_db, threshold_db, ratio, knee_db) + makeup_db


def _time_constant_samples(time_ms, sample_rate: float):
    """JUCE ballistics: coefficient exp(-2π·1000 / (sr·ms)) = exp(-1/τ) with τ in samples."""
    return float(sample_rate) * time_ms / (2.0 * math.pi * 1000.0)


def _leaky_log_sum(log_x, decay):
    """``log Σ_{s<=t} exp(log_x(s) - decay · (t - s))`` along the last axis (torch).

    ``decay`` (nepers per sample, > 0) broadcasts against ``log_x [B, C, T]``.
    """
    import torch

    t = torch.arange(log_x.shape[-1], device=log_x.device, dtype=log_x.dtype)
    ramp = decay * t
    return torch.logcumsumexp(log_x + ramp, dim=-1) - ramp


def envelope_db(x, sample_rate: float, attack_ms, release_ms):
    """Detector level in dBFS ``[B, C, T]`` of the tensor ``x [B, C, T]`` (float64), see module
    doc (torch only)."""
    import torch

    xd = x.to(torch.float64)
    attack = as_batch(attack_ms, xd)[:, None, None]
    release = as_batch(release_ms, xd)[:, None, None]
    log_abs = 0.5 * torch.log(xd * xd + _FLOOR * _FLOOR)
    # 1. soft peak-hold with release decay (power mean of order PEAK_ORDER)
    k_rel = PEAK_ORDER / _time_constant_samples(release, sample_rate)
    norm_rel = torch.log(-torch.expm1(-k_rel))  # log(1 - e^{-k}): constant input reads exact
    log_peak = (_leaky_log_sum(PEAK_ORDER * log_abs, k_rel) + norm_rel) / PEAK_ORDER
    # 2. one-pole attack smoother on the linear peak amplitude
    k_att = 1.0 / _time_constant_samples(attack, sample_rate)
    norm_att = torch.log(-torch.expm1(-k_att))  # log(1 - a)
    log_env = _leaky_log_sum(log_peak, k_att) + norm_att
    return _DB_PER_NEPER * log_env


def compressor(x, sample_rate: float, threshold_db, ratio, attack_ms, release_ms, makeup_db):
    """Compress the tensor ``x [B, C, T]`` (torch only: the renderer uses pedalboard's).

    Args:
        x: audio ``[B, C, T]``.
        sample_rate: in Hz.
        threshold_db: ``[B]`` dBFS (peak level of the detector).
        ratio: ``[B]`` input dB over threshold per output dB (>= 1).
        attack_ms, release_ms: ``[B]`` JUCE-style ballistics times in ms.
        makeup_db: ``[B]`` gain after compression in dB.

    Returns:
        ``[B, C, T]`` in the dtype/device of ``x``; differentiable w.r.t. every argument.
    """
    env = envelope_db(x, sample_rate, attack_ms, release_ms)
    thr = as_batch(threshold_db, env)[:, None, None]
    rat = as_batch(ratio, env)[:, None, None]
    makeup = as_batch(makeup_db, env)[:, None, None]
    gain_db = gain_reduction_db(env, thr, rat) + makeup
    gain = 10.0 ** (gain_db / 20.0)
    return (x.double() * gain).to(x.dtype)


class Compressor(Stage):
    """The compressor settings ``values`` on float32 blocks ``[channels, n]`` at ``sample_rate``
    Hz: ``pedalboard.Compressor`` (``reset=False``, so its state carries across blocks), then
    the make-up gain."""

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int):
        import pedalboard

        self.channels = channels
        self.sample_rate = sample_rate
        self.plugin = pedalboard.Compressor(
            threshold_db=float(values["threshold_db"]),
            ratio=float(values["ratio"]),
            attack_ms=float(values["attack_ms"]),
            release_ms=float(values["release_ms"]),
        )
        self.makeup = 10.0 ** (float(values["makeup_db"]) / 20.0)

    def process(self, x):
        if x.shape[1] == 0:
            return x
        if x.shape[0] == x.shape[1] > 1:
            # pedalboard cannot tell channels from samples in a square block: split it in two
            # non-square ones (the compressor's state carries over, so the result is the same)
            return np.concatenate([self.process(x[:, :1]), self.process(x[:, 1:])], axis=1)
        y = self.plugin.process(x.astype(np.float32, copy=False), self.sample_rate, reset=False)
        y *= np.float32(self.makeup)
        return y


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str:
    """``acompressor`` with the same threshold, ratio, attack, release and make-up, peak
    detection and a hard knee (ffmpeg links the channels; ballistics differ slightly)."""
    from audiomanip.export import filter_number as num

    threshold = max(10.0 ** (float(values["threshold_db"]) / 20.0), 0.000976563)
    makeup = 10.0 ** (float(values["makeup_db"]) / 20.0)
    return (f"acompressor=threshold={num(threshold)}:ratio={num(values['ratio'])}"
            f":attack={num(values['attack_ms'])}:release={num(values['release_ms'])}:makeup={num(makeup)}"
            ":knee=1:detection=peak")


EFFECT = EffectEntry(schema=effect("compressor"), torch_function=compressor, render_stage=Compressor,
                     ffmpeg_filter=ffmpeg_filter)

"""Differentiable waveshaping distortion: a biased tanh curve followed by a DC blocker.

The curve is a biased hyperbolic tangent::

    u = g * x,                 g = 10 ** (drive_db / 20)
    s = tanh(u + b) - tanh(b), b = MAX_BIAS * color
      = tanh(u) · (1 − tanh²b) / (1 + tanh(u) · tanh b)   (:func:`biased_tanh`)
    w = k * s                  (:func:`waveshape`, memoryless)
    y = HP(w)                  (the DC blocker, :func:`dc_blocker_coefficients`)

* ``drive_db`` (0 … 40 dB) is the gain into the curve: more drive, more clipping, more
  harmonics.
* ``color`` (0 … 1) shifts the operating point by ``b`` so the curve is asymmetric and
  produces even harmonics (2nd, 4th …) besides the odd ones. Subtracting ``tanh(b)`` removes
  the DC offset the bias creates, so silence stays silence. The curve is evaluated in the
  second form, which is exactly 0 at u = 0 in any precision (the first one is 0 only when both
  ``tanh`` calls round alike) and has no cancellation (the denominator is at least
  ``1 − tanh(MAX_BIAS)`` ≈ 0.54).
* **DC blocker.** An asymmetric curve also rectifies: a loud signal comes out with a
  signal-dependent DC offset (color 1, high drive, −6 dBFS sine: mean ≈ −0.08 against a peak
  ≈ 0.26), which no memoryless curve can remove. Like the coupling capacitor of a real
  saturation stage, a high-pass filter after the curve removes it: the RBJ cookbook 2nd-order
  high-pass of :func:`audiomanip.effects.eq.biquad_coefficients` at :data:`DC_BLOCK_HZ` = 10 Hz
  with :data:`DC_BLOCK_Q` = 1/√2 (Butterworth: maximally flat, no resonant bump). 10 Hz is
  below hearing and well below music's lowest fundamentals: −0.26 dB at 20 Hz, −0.02 dB at
  40 Hz, < 0.001 dB above 100 Hz; the poles decay with a time constant of
  ``Q / (π · DC_BLOCK_HZ)`` ≈ 22.5 ms, so an offset that appears settles within ~0.2 s.
  The differentiable (torch) path applies it by frequency sampling on a zero-padded rFFT
  (:func:`audiomanip.effects.eq.filter_by_response`, as :func:`audiomanip.effects.eq.eq` does); the
  renderer runs the same biquad as an exact IIR with state (``audiomanip.rendering.iir.SosFilter``)
  and the ffmpeg export as ``highpass``. Both start at rest, so they agree from the first
  sample up to the frequency-sampled path's circular aliasing of the filter's tail beyond
  ``n_fft − T`` (≥ T) samples: max. error ≈ 1e-6 for a 0.1 s clip, ≈ 1e-11 from 0.5 s on (the
  impulse response is below 1e-12 after 0.5 s).
* Level compensation: ``k`` is chosen so that a reference sine of peak amplitude
  :data:`REFERENCE_PEAK` (−12 dBFS) keeps its RMS level (DC excluded) through the curve.
  ``k`` is computed exactly from the curve on :data:`_REFERENCE_POINTS` phases of one period,
  so it is smooth in ``drive_db`` and ``color``. At drive 0 dB and color 0 the curve is
  ``tanh(x) * k`` with ``k ≈ 1.01``: nearly transparent for small signals. The DC blocker
  removes exactly the DC that the compensation already leaves out, so it does not change
  the compensated level (above ~50 Hz).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from audiomanip.effects.arrays import device, float_arrays, namespace, numpy_namespace
from audiomanip.effects.eq import biquad_coefficients, biquad_response, filter_by_response
from audiomanip.effects.registry import EffectEntry
from audiomanip.params import EQ_BAND_TYPES, effect
from audiomanip.rendering.stage import Stage

#: Bias (in units of the tanh argument) at color = 1.
MAX_BIAS = 0.5
#: Peak amplitude of the reference sine whose RMS level the compensation preserves (−12 dBFS).
REFERENCE_PEAK = 10.0 ** (-12.0 / 20.0)
#: Cut-off (−3 dB) of the DC blocker after the curve, Hz.
DC_BLOCK_HZ = 10.0
#: Q of the DC blocker (1/√2: Butterworth).
DC_BLOCK_Q = 1.0 / math.sqrt(2.0)
_REFERENCE_POINTS = 256
_HIGH_PASS = EQ_BAND_TYPES.index("high_pass")


def compensation_gain(drive_db, color):
    """Output gain ``k [B]`` that keeps the RMS of a −12 dBFS reference sine (linear factor);
    ``drive_db`` and ``color`` ``[B]`` (numpy or torch)."""
    xp = namespace(drive_db, color)
    drive_db, color = float_arrays(xp, drive_db, color)
    gain = (10.0 ** (drive_db / 20.0))[..., None]
    bias = (MAX_BIAS * color)[..., None]
    phase = xp.arange(_REFERENCE_POINTS, dtype=drive_db.dtype, device=device(drive_db))
    ref = REFERENCE_PEAK * xp.sin(2.0 * math.pi * phase / _REFERENCE_POINTS)
    shaped = biased_tanh(gain * ref, xp.tanh(bias))
    ac = shaped - xp.mean(shaped, axis=-1, keepdims=True)
    rms_out = xp.sqrt(xp.mean(ac * ac, axis=-1))
    return (REFERENCE_PEAK / math.sqrt(2.0)) / rms_out



def dc_blocker_coefficients(sample_rate: float, xp=None):
    """Biquad ``(b [3], a [3])`` (float64, a0 = 1) of the DC blocker at ``sample_rate`` Hz: the
    RBJ high-pass at :data:`DC_BLOCK_HZ` with :data:`DC_BLOCK_Q`, as arrays of the namespace
    ``xp`` (default: torch, the training path; the renderer passes numpy's). As an SOS row for
    ``SosFilter`` / scipy: ``concatenate([b, a])``."""
    xp = xp or namespace(default="torch")
    return biquad_coefficients(
        xp.asarray(_HIGH_PASS),
        xp.asarray(DC_BLOCK_HZ, dtype=xp.float64),
        xp.asarray(0.0, dtype=xp.float64),
        xp.asarray(DC_BLOCK_Q, dtype=xp.float64),
        float(sample_rate),
    )


def biased_tanh(u, tanh_bias):
    """``tanh(u + b) − tanh(b)`` as ``tanh(u) · (1 − tanh²b) / (1 + tanh(u) · tanh b)``,
    elementwise (numpy or torch); ``tanh_bias = tanh(b)``."""
    xp = namespace(u, tanh_bias)
    t = xp.tanh(u)
    return t * (1.0 - tanh_bias * tanh_bias) / (1.0 + tanh_bias * t)


def curve_constants(drive_db, color) -> tuple:
    """The constants of the curve ``k · (tanh(g·x + b) − tanh(b))`` for ``drive_db`` and
    ``color`` ``[B]`` (numpy or torch): ``(g, tanh(b), k)``, each ``[B]``. Computed once per
    setting by the renderer, which applies :func:`apply_curve` block by block."""
    xp = namespace(drive_db, color)
    drive_db, color = float_arrays(xp, drive_db, color)
    return 10.0 ** (drive_db / 20.0), xp.tanh(MAX_BIAS * color), compensation_gain(drive_db, color)


def apply_curve(x, gain, tanh_bias, k):
    """``k · (tanh(gain·x + b) − tanh(b))`` (:func:`biased_tanh`), sample-wise on ``x`` (any
    shape that the constants broadcast against; numpy or torch)."""
    return k * biased_tanh(gain * x, tanh_bias)


def waveshape(x, drive_db, color):
    """The memoryless, level-compensated curve ``k · (tanh(g·x + b) − tanh(b))`` alone (no DC
    blocker) on ``x [B, C, T]`` with ``drive_db [B]`` (dB) and ``color [B]``; sample-wise, so it
    may be applied block by block. Returns ``[B, C, T]`` in the dtype/device of ``x`` (numpy or
    torch, differentiable in torch)."""
    xp = namespace(x, drive_db, color)
    drive_db, color = float_arrays(xp, drive_db, color, dtype=x.dtype, device=device(x))
    drive_db, color = xp.reshape(drive_db, (-1,)), xp.reshape(color, (-1,))
    gain, tanh_bias, k = (c[:, None, None] for c in curve_constants(drive_db, color))
    return apply_curve(x, gain, tanh_bias, k)


def distortion(x, sample_rate: float, drive_db, color):
    """Distort ``x [B, C, T]`` at ``sample_rate`` Hz with ``drive_db [B]`` (dB, 0 … 40) and
    ``color [B]`` (0 … 1): :func:`waveshape`, then the DC blocker by frequency sampling.

    Returns ``[B, C, T]`` in the dtype/device of ``x``; level compensated as the module
    docstring describes. Differentiable w.r.t. ``x``, ``drive_db`` and ``color`` (torch).
    """
    xp = namespace(x)
    shaped = waveshape(x, drive_db, color)
    b, a = (xp.asarray(c, device=device(x)) for c in dc_blocker_coefficients(sample_rate, xp))

    def response(n_bins: int):
        return biquad_response(sample_rate, n_bins, b, a)[None]  # [1, F]

    return filter_by_response(shaped, response)


class Distortion(Stage):
    """The distortion settings ``values`` on float32 blocks ``[channels, n]`` at ``sample_rate``
    Hz: the curve (its constants computed once, in float64, by :func:`curve_constants`, then
    applied to float32 blocks by :func:`apply_curve`), then the DC blocker of
    :func:`dc_blocker_coefficients` as an exact IIR with state (``audiomanip.rendering.iir.SosFilter``)."""

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int):
        from audiomanip.rendering.iir import SosFilter

        self.channels = channels
        constants = curve_constants(np.array([float(values["drive_db"])]), np.array([float(values["color"])]))
        self.constants = [np.float32(c[0]) for c in constants]  # g, tanh(b), k
        b, a = dc_blocker_coefficients(sample_rate, numpy_namespace())
        self.dc_blocker = SosFilter(np.concatenate([b, a])[None], channels, dtype=np.float32)

    def process(self, x):
        if x.shape[1] == 0:
            return x
        return self.dc_blocker.process(apply_curve(x.astype(np.float32), *self.constants))


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str:
    """``aeval`` with the exact curve ``k·(tanh(g·x + b) − tanh(b))`` (constants computed here),
    then the DC blocker: ffmpeg's RBJ 2-pole ``highpass`` at :data:`DC_BLOCK_HZ`, Q
    :data:`DC_BLOCK_Q` (the renderer's biquad: within 3e-8 of it on float input at 40 dB drive,
    color 1)."""
    from audiomanip.export import filter_number as num

    drive_db, color = float(values["drive_db"]), float(values["color"])
    k = float(compensation_gain(np.array([drive_db]), np.array([color]))[0])
    g = 10.0 ** (drive_db / 20.0)
    b = MAX_BIAS * color
    curve = f"{num(k)}*(tanh({num(g)}*val(ch)+{num(b)})-tanh({num(b)}))"
    return f"aeval='{curve}':c=same,highpass=f={num(DC_BLOCK_HZ)}:p=2:t=q:w={num(DC_BLOCK_Q)}"


EFFECT = EffectEntry(schema=effect("distortion"), torch_function=distortion, render_stage=Distortion,
                     ffmpeg_filter=ffmpeg_filter)

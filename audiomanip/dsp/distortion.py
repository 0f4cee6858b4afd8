"""Differentiable memoryless waveshaping distortion.

The curve is a biased hyperbolic tangent::

    u = g * x,                 g = 10 ** (drive_db / 20)
    s = tanh(u + b) - tanh(b), b = MAX_BIAS * color
    y = k * s

* ``drive_db`` (0 … 40 dB) is the gain into the curve: more drive, more clipping, more
  harmonics.
* ``color`` (0 … 1) shifts the operating point by ``b`` so the curve is asymmetric and
  produces even harmonics (2nd, 4th …) besides the odd ones. Subtracting ``tanh(b)`` removes
  the DC offset the bias creates, so silence stays silence. (A memoryless curve cannot remove
  the small signal-dependent DC that rectification of loud asymmetric signals creates; that
  would need a high-pass filter with state.)
* Level compensation: ``k`` is chosen so that a reference sine of peak amplitude
  :data:`REFERENCE_PEAK` (−12 dBFS) keeps its RMS level (DC excluded) through the curve.
  ``k`` is computed exactly from the curve on :data:`_REFERENCE_POINTS` phases of one period,
  so it is smooth in ``drive_db`` and ``color``. At drive 0 dB and color 0 the curve is
  ``tanh(x) * k`` with ``k ≈ 1.01``: nearly transparent for small signals.

The function is pure and sample-wise (no state), so the renderer applies it block by block
(float64 blocks included) with exactly the same result.
"""

from __future__ import annotations

import math

import torch

#: Bias (in units of the tanh argument) at color = 1.
MAX_BIAS = 0.5
#: Peak amplitude of the reference sine whose RMS level the compensation preserves (−12 dBFS).
REFERENCE_PEAK = 10.0 ** (-12.0 / 20.0)
_REFERENCE_POINTS = 256


def _curve(u: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.tanh(u + bias) - torch.tanh(bias)


def compensation_gain(drive_db: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Output gain ``k [B]`` that keeps the RMS of a −12 dBFS reference sine (linear factor)."""
    drive_db, color = torch.broadcast_tensors(drive_db, color)
    gain = torch.pow(10.0, drive_db / 20.0)[..., None]
    bias = (MAX_BIAS * color)[..., None]
    phase = torch.arange(_REFERENCE_POINTS, device=drive_db.device, dtype=drive_db.dtype)
    ref = REFERENCE_PEAK * torch.sin(2.0 * math.pi * phase / _REFERENCE_POINTS)
    shaped = _curve(gain * ref, bias)
    ac = shaped - shaped.mean(dim=-1, keepdim=True)
    rms_out = torch.sqrt(torch.mean(ac * ac, dim=-1))
    return (REFERENCE_PEAK / math.sqrt(2.0)) / rms_out


def distortion(x: torch.Tensor, drive_db: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Waveshape ``x [B, C, T]`` with ``drive_db [B]`` (dB, 0 … 40) and ``color [B]`` (0 … 1).

    Returns ``[B, C, T]`` in the dtype/device of ``x``; level compensated as the module
    docstring describes. Differentiable w.r.t. ``x``, ``drive_db`` and ``color``.
    """
    drive_db = torch.as_tensor(drive_db, device=x.device, dtype=x.dtype).reshape(-1)
    color = torch.as_tensor(color, device=x.device, dtype=x.dtype).reshape(-1)
    gain = torch.pow(10.0, drive_db / 20.0)[:, None, None]
    bias = (MAX_BIAS * color)[:, None, None]
    k = compensation_gain(drive_db, color)[:, None, None]
    return k * _curve(gain * x, bias)

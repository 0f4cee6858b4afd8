"""Differentiable 5-band parametric EQ of RBJ Audio-EQ-Cookbook biquads.

:func:`biquad_coefficients` is the single coefficient function of the project: the renderer
filters with the same coefficients (``scipy.signal.sosfilt``) and :func:`eq` samples their
frequency response on the rFFT grid of a zero-padded signal (as dasp-pytorch does), so the two
paths have the same magnitude response.

Band types index :data:`audiomanip.params.EQ_BAND_TYPES`
(low_shelf, peak, high_shelf, low_pass, high_pass). Shelves use the cookbook's Q form
(``alpha = sin(w0) / (2 Q)``); pass filters ignore ``gain_db``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

from audiomanip.params import EQ_BAND_TYPES

#: Largest frequency used for the biquads, as a fraction of the sample rate (below Nyquist).
MAX_FREQ_FRACTION = 0.49

_LOW_SHELF, _PEAK, _HIGH_SHELF, _LOW_PASS, _HIGH_PASS = (
    EQ_BAND_TYPES.index(name) for name in ("low_shelf", "peak", "high_shelf", "low_pass", "high_pass")
)


def _all_type_coefficients(
    freq_hz: torch.Tensor, gain_db: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients of every band type: ``(b, a)`` each ``[..., n_types, 3]`` with a0 = 1."""
    freq = torch.clamp(freq_hz, max=MAX_FREQ_FRACTION * float(sample_rate))
    w0 = 2.0 * math.pi * freq / float(sample_rate)
    cos_w0 = torch.cos(w0)
    alpha = torch.sin(w0) / (2.0 * q)
    amp = torch.pow(10.0, gain_db / 40.0)  # A of the cookbook
    sqrt_amp_alpha2 = 2.0 * torch.sqrt(amp) * alpha
    one = torch.ones_like(cos_w0)

    coeffs: list[tuple[torch.Tensor, ...]] = [()] * len(EQ_BAND_TYPES)
    # low shelf
    ap1, am1 = amp + 1.0, amp - 1.0
    coeffs[_LOW_SHELF] = (
        amp * (ap1 - am1 * cos_w0 + sqrt_amp_alpha2),
        2.0 * amp * (am1 - ap1 * cos_w0),
        amp * (ap1 - am1 * cos_w0 - sqrt_amp_alpha2),
        ap1 + am1 * cos_w0 + sqrt_amp_alpha2,
        -2.0 * (am1 + ap1 * cos_w0),
        ap1 + am1 * cos_w0 - sqrt_amp_alpha2,
    )
    # peak
    coeffs[_PEAK] = (
        1.0 + alpha * amp,
        -2.0 * cos_w0,
        1.0 - alpha * amp,
        1.0 + alpha / amp,
        -2.0 * cos_w0,
        1.0 - alpha / amp,
    )
    # high shelf
    coeffs[_HIGH_SHELF] = (
        amp * (ap1 + am1 * cos_w0 + sqrt_amp_alpha2),
        -2.0 * amp * (am1 + ap1 * cos_w0),
        amp * (ap1 + am1 * cos_w0 - sqrt_amp_alpha2),
        ap1 - am1 * cos_w0 + sqrt_amp_alpha2,
        2.0 * (am1 - ap1 * cos_w0),
        ap1 - am1 * cos_w0 - sqrt_amp_alpha2,
    )
    # low pass
    coeffs[_LOW_PASS] = (
        (1.0 - cos_w0) / 2.0,
        1.0 - cos_w0,
        (1.0 - cos_w0) / 2.0,
        1.0 + alpha,
        -2.0 * cos_w0,
        1.0 - alpha,
    )
    # high pass
    coeffs[_HIGH_PASS] = (
        (1.0 + cos_w0) / 2.0,
        -(1.0 + cos_w0),
        (1.0 + cos_w0) / 2.0,
        1.0 + alpha,
        -2.0 * cos_w0,
        1.0 - alpha,
    )
    b_all, a_all = [], []
    for b0, b1, b2, a0, a1, a2 in coeffs:
        b_all.append(torch.stack([b0 / a0, b1 / a0, b2 / a0], dim=-1))
        a_all.append(torch.stack([one, a1 / a0, a2 / a0], dim=-1))
    return torch.stack(b_all, dim=-2), torch.stack(a_all, dim=-2)


def biquad_coefficients(
    band_type: torch.Tensor,
    freq_hz: torch.Tensor,
    gain_db: torch.Tensor,
    q: torch.Tensor,
    sample_rate: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RBJ cookbook biquad coefficients.

    Args:
        band_type: LongTensor ``[...]``, indices into ``params.EQ_BAND_TYPES``.
        freq_hz: centre / corner / cut-off frequency in Hz ``[...]``; clamped to
            ``0.49 * sample_rate`` so the filter stays below Nyquist.
        gain_db: gain of shelves and peaks in dB ``[...]`` (ignored by pass filters).
        q: quality factor ``[...]`` (> 0).
        sample_rate: in Hz.

    Returns:
        ``(b, a)``, each ``[..., 3]`` in the dtype/device of ``freq_hz``, normalised so that
        ``a[..., 0] == 1``. For scipy, ``np.concatenate([b, a], -1)`` is one SOS row.
    """
    freq_hz, gain_db, q = (
        v if torch.is_tensor(v) else torch.as_tensor(v, dtype=torch.float64) for v in (freq_hz, gain_db, q)
    )
    freq_hz, gain_db, q = torch.broadcast_tensors(freq_hz, gain_db, q)
    band_type = torch.as_tensor(band_type)
    b_all, a_all = _all_type_coefficients(freq_hz, gain_db, q, sample_rate)
    index = band_type.to(device=freq_hz.device, dtype=torch.long).expand(freq_hz.shape)
    index = index[..., None, None].expand(*index.shape, 1, 3)
    return b_all.gather(-2, index).squeeze(-2), a_all.gather(-2, index).squeeze(-2)


def _biquad_response(b: torch.Tensor, a: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Complex response of biquads ``b, a [..., 3]`` at angular frequencies ``omega [F]``
    (radians per sample) -> ``[..., F]``."""
    z1 = torch.polar(torch.ones_like(omega), -omega)  # e^{-j w}
    z2 = z1 * z1
    num = b[..., 0:1] + b[..., 1:2] * z1 + b[..., 2:3] * z2
    den = a[..., 0:1] + a[..., 1:2] * z1 + a[..., 2:3] * z2
    return num / den


def _frequencies(sample_rate: float, n_bins_or_freqs, device, dtype) -> torch.Tensor:
    if isinstance(n_bins_or_freqs, numbers.Integral):
        n_bins_or_freqs = int(n_bins_or_freqs)
        return torch.linspace(0.0, sample_rate / 2.0, n_bins_or_freqs, device=device, dtype=dtype)
    return torch.as_tensor(n_bins_or_freqs, device=device).to(dtype).reshape(-1)


def eq_response(
    sample_rate: float,
    n_bins_or_freqs,
    type: torch.Tensor,
    freq_hz: torch.Tensor,
    gain_db: torch.Tensor,
    q: torch.Tensor,
) -> torch.Tensor:
    """Complex frequency response of the 5-band EQ (product of its biquads).

    Args:
        sample_rate: in Hz.
        n_bins_or_freqs: an int ``F`` (the rFFT grid 0 … sample_rate/2 with ``F`` bins, i.e.
            ``n_fft // 2 + 1``) or a 1-D tensor/array of frequencies in Hz.
        type: LongTensor ``[B, bands]`` of band type indices, or class probabilities
            ``[B, bands, 5]``; probabilities mix the five types' complex responses per band.
        freq_hz, gain_db, q: ``[B, bands]`` in Hz, dB and plain Q.

    Returns:
        complex Tensor ``[B, F]``. Computed in float64 (complex128) internally so that
        low-frequency, high-Q biquads are exact; returned as complex64 for float32 inputs.
    """
    out_dtype = torch.complex128 if freq_hz.dtype == torch.float64 else torch.complex64
    calc = torch.float64
    freqs = _frequencies(sample_rate, n_bins_or_freqs, freq_hz.device, calc)
    omega = 2.0 * math.pi * freqs / float(sample_rate)
    f64 = [t.to(calc) for t in (freq_hz, gain_db, q)]
    if type.is_floating_point():
        b_all, a_all = _all_type_coefficients(*f64, sample_rate)  # [B, bands, 5, 3]
        per_type = _biquad_response(b_all, a_all, omega)  # [B, bands, 5, F]
        band = (type.to(calc)[..., None] * per_type).sum(dim=-2)  # [B, bands, F]
    else:
        b, a = biquad_coefficients(type, *f64, sample_rate)
        band = _biquad_response(b, a, omega)  # [B, bands, F]
    return torch.prod(band, dim=-2).to(out_dtype)


def biquad_response(sample_rate: float, n_bins_or_freqs, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Complex response of biquads ``b, a [..., 3]`` (a0 = 1, e.g. from
    :func:`biquad_coefficients`) at ``n_bins_or_freqs`` (as in :func:`eq_response`) ->
    ``[..., F]``, computed in float64 (complex128)."""
    freqs = _frequencies(sample_rate, n_bins_or_freqs, b.device, torch.float64)
    omega = 2.0 * math.pi * freqs / float(sample_rate)
    return _biquad_response(b.to(torch.float64), a.to(torch.float64), omega)


def _fft_size(n_samples: int) -> int:
    """Power of two >= 2 T - 1, so the filtered signal does not wrap around circularly."""
    return 1 << max(1, (2 * n_samples - 1 - 1).bit_length())


def eq(
    x: torch.Tensor,
    sample_rate: float,
    type: torch.Tensor,
    freq_hz: torch.Tensor,
    gain_db: torch.Tensor,
    q: torch.Tensor,
) -> torch.Tensor:
    """Apply the 5-band EQ to ``x [B, C, T]`` by frequency sampling.

    The signal is zero-padded to a power of two of at least ``2T - 1`` samples, multiplied in
    the rFFT domain by :func:`eq_response` on that grid and cut back to ``T`` samples. This is
    the biquad cascade up to the (tiny) time-aliasing of impulse-response tails longer than the
    padded length.

    Args:
        x: audio ``[B, C, T]``.
        sample_rate: in Hz.
        type: LongTensor ``[B, 5]`` (indices into ``params.EQ_BAND_TYPES``) or probabilities
            ``[B, 5, 5]``.
        freq_hz, gain_db, q: ``[B, 5]`` in Hz, dB and plain Q.

    Returns:
        filtered audio ``[B, C, T]``, dtype/device of ``x``.
    """
    return filter_by_response(x, lambda n_bins: eq_response(sample_rate, n_bins, type, freq_hz, gain_db, q))


def filter_by_response(x: torch.Tensor, response: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Filter ``x [B, C, T]`` by frequency sampling of a linear filter.

    ``x`` is zero-padded to a power of two of at least ``2T - 1`` samples; ``response(F)`` gives
    the filter's complex response on that rFFT grid (``F = n_fft // 2 + 1`` bins from 0 to
    sample_rate / 2) as ``[B, F]`` or ``[1, F]``; the product's inverse rFFT is cut back to
    ``T`` samples. This is the filter itself up to the circular time-aliasing of impulse-response
    tails longer than ``n_fft - T`` samples. Returns ``[B, C, T]``, dtype/device of ``x``.
    """
    n = x.shape[-1]
    n_fft = _fft_size(n)
    spec = torch.fft.rfft(x, n=n_fft)
    h = response(n_fft // 2 + 1).to(spec.dtype)
    y = torch.fft.irfft(spec * h[:, None, :], n=n_fft)
    return y[..., :n].to(x.dtype)

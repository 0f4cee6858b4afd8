"""5-band parametric EQ of RBJ Audio-EQ-Cookbook biquads, for numpy and torch.

:func:`biquad_coefficients` is the single coefficient function of the project, written against
the array API (:mod:`audiomanip.effects.arrays`): the render stage :class:`EQ` calls it with numpy
arrays and filters with the coefficients (``audiomanip.rendering.iir.SosFilter``), training calls it
with torch tensors and :func:`eq` samples the same biquads' frequency response on the rFFT grid of
a zero-padded signal (as dasp-pytorch does), so the two paths have the same magnitude response.
:func:`eq_response` follows its arguments' library as well. The plot's curve is
:func:`response_db`; the ffmpeg export, :func:`ffmpeg_filter`.

Band types index :data:`audiomanip.params.EQ_BAND_TYPES`
(low_shelf, peak, high_shelf, low_pass, high_pass). Shelves use the cookbook's Q form
(``alpha = sin(w0) / (2 Q)``); pass filters ignore ``gain_db``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from audiomanip.effects.arrays import device, float_arrays, namespace
from audiomanip.effects.registry import EffectEntry
from audiomanip.params import EQ_BAND_TYPES, effect, eq_bands
from audiomanip.rendering.stage import Stage

#: Largest frequency used for the biquads, as a fraction of the sample rate (below Nyquist).
MAX_FREQ_FRACTION = 0.49

_LOW_SHELF, _PEAK, _HIGH_SHELF, _LOW_PASS, _HIGH_PASS = (
    EQ_BAND_TYPES.index(name) for name in ("low_shelf", "peak", "high_shelf", "low_pass", "high_pass")
)


def _all_type_coefficients(xp, freq_hz, gain_db, q, sample_rate: float):
    """Coefficients of every band type: ``(b, a)`` each ``[..., n_types, 3]`` with a0 = 1."""
    freq = xp.clip(freq_hz, max=MAX_FREQ_FRACTION * float(sample_rate))
    w0 = 2.0 * math.pi * freq / float(sample_rate)
    cos_w0 = xp.cos(w0)
    alpha = xp.sin(w0) / (2.0 * q)
    amp = 10.0 ** (gain_db / 40.0)  # A of the cookbook
    sqrt_amp_alpha2 = 2.0 * xp.sqrt(amp) * alpha
    one = xp.ones_like(cos_w0)

    coeffs: list[tuple] = [()] * len(EQ_BAND_TYPES)
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
        b_all.append(xp.stack([b0 / a0, b1 / a0, b2 / a0], axis=-1))
        a_all.append(xp.stack([one, a1 / a0, a2 / a0], axis=-1))
    return xp.stack(b_all, axis=-2), xp.stack(a_all, axis=-2)


def biquad_coefficients(band_type, freq_hz, gain_db, q, sample_rate: float):
    """RBJ cookbook biquad coefficients, on numpy or torch (the library of the arguments).

    Args:
        band_type: integer array ``[...]``, indices into ``params.EQ_BAND_TYPES``.
        freq_hz: centre / corner / cut-off frequency in Hz ``[...]``; clamped to
            ``0.49 * sample_rate`` so the filter stays below Nyquist.
        gain_db: gain of shelves and peaks in dB ``[...]`` (ignored by pass filters).
        q: quality factor ``[...]`` (> 0).
        sample_rate: in Hz.

    Returns:
        ``(b, a)``, each ``[..., 3]`` in the dtype/device of ``freq_hz`` (float64 for plain
        numbers; numpy when no argument is a tensor), normalised so that ``a[..., 0] == 1``.
        ``concatenate([b, a], axis=-1)`` is one SOS row.
    """
    xp = namespace(band_type, freq_hz, gain_db, q)
    freq_hz, gain_db, q = float_arrays(xp, freq_hz, gain_db, q)
    b_all, a_all = _all_type_coefficients(xp, freq_hz, gain_db, q, sample_rate)
    index = xp.asarray(band_type, device=device(freq_hz))
    index = xp.broadcast_to(xp.astype(index, xp.int64), freq_hz.shape)
    index = xp.broadcast_to(index[..., None, None], (*index.shape, 1, 3))
    pick = lambda c: xp.take_along_axis(c, index, axis=-2)[..., 0, :]
    return pick(b_all), pick(a_all)


def _biquad_response(xp, b, a, omega):
    """Complex response of biquads ``b, a [..., 3]`` at angular frequencies ``omega [F]``
    (radians per sample) -> ``[..., F]``."""
    z1 = xp.exp(-1j * xp.astype(omega, xp.complex128))  # e^{-j w}
    z2 = z1 * z1
    num = b[..., 0:1] + b[..., 1:2] * z1 + b[..., 2:3] * z2
    den = a[..., 0:1] + a[..., 1:2] * z1 + a[..., 2:3] * z2
    return num / den


def _frequencies(xp, sample_rate: float, n_bins_or_freqs, device):
    """float64 frequencies in Hz: the rFFT grid of ``F`` bins, or the given frequencies."""
    if isinstance(n_bins_or_freqs, numbers.Integral):
        return xp.linspace(0.0, sample_rate / 2.0, int(n_bins_or_freqs), dtype=xp.float64, device=device)
    return xp.reshape(xp.astype(xp.asarray(n_bins_or_freqs, device=device), xp.float64), (-1,))


def eq_response(sample_rate: float, n_bins_or_freqs, type, freq_hz, gain_db, q):
    """Complex frequency response of the 5-band EQ (product of its biquads), numpy or torch.

    Args:
        sample_rate: in Hz.
        n_bins_or_freqs: an int ``F`` (the rFFT grid 0 … sample_rate/2 with ``F`` bins, i.e.
            ``n_fft // 2 + 1``) or a 1-D array of frequencies in Hz.
        type: integer array ``[B, bands]`` of band type indices, or class probabilities
            ``[B, bands, 5]``; probabilities mix the five types' complex responses per band.
        freq_hz, gain_db, q: ``[B, bands]`` in Hz, dB and plain Q.

    Returns:
        complex ``[B, F]``. Computed in float64 (complex128) internally so that low-frequency,
        high-Q biquads are exact; returned as complex64 for float32 inputs.
    """
    xp = namespace(type, freq_hz, gain_db, q)
    out_dtype = xp.complex128 if freq_hz.dtype == xp.float64 else xp.complex64
    dev = device(freq_hz)
    freqs = _frequencies(xp, sample_rate, n_bins_or_freqs, dev)
    omega = 2.0 * math.pi * freqs / float(sample_rate)
    f64 = float_arrays(xp, freq_hz, gain_db, q, dtype=xp.float64)
    if xp.isdtype(type.dtype, "real floating"):
        b_all, a_all = _all_type_coefficients(xp, *f64, sample_rate)  # [B, bands, 5, 3]
        per_type = _biquad_response(xp, b_all, a_all, omega)  # [B, bands, 5, F]
        band = xp.sum(xp.astype(type, xp.float64)[..., None] * per_type, axis=-2)  # [B, bands, F]
    else:
        b, a = biquad_coefficients(type, *f64, sample_rate)
        band = _biquad_response(xp, b, a, omega)  # [B, bands, F]
    return xp.astype(xp.prod(band, axis=-2), out_dtype)


def biquad_response(sample_rate: float, n_bins_or_freqs, b, a):
    """Complex response of biquads ``b, a [..., 3]`` (a0 = 1, e.g. from
    :func:`biquad_coefficients`) at ``n_bins_or_freqs`` (as in :func:`eq_response`) ->
    ``[..., F]``, computed in float64 (complex128), numpy or torch."""
    xp = namespace(b, a)
    freqs = _frequencies(xp, sample_rate, n_bins_or_freqs, device(b))
    omega = 2.0 * math.pi * freqs / float(sample_rate)
    return _biquad_response(xp, xp.astype(b, xp.float64), xp.astype(a, xp.float64), omega)


def _fft_size(n_samples: int) -> int:
    """Power of two >= 2 T - 1, so the filtered signal does not wrap around circularly."""
    return 1 << max(1, (2 * n_samples - 1 - 1).bit_length())


def eq(x, sample_rate: float, type, freq_hz, gain_db, q):
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


def filter_by_response(x, response: Callable[[int], object]):
    """Filter ``x [B, C, T]`` by frequency sampling of a linear filter.

    ``x`` is zero-padded to a power of two of at least ``2T - 1`` samples; ``response(F)`` gives
    the filter's complex response on that rFFT grid (``F = n_fft // 2 + 1`` bins from 0 to
    sample_rate / 2) as ``[B, F]`` or ``[1, F]``; the product's inverse rFFT is cut back to
    ``T`` samples. This is the filter itself up to the circular time-aliasing of impulse-response
    tails longer than ``n_fft - T`` samples. Returns ``[B, C, T]``, dtype/device of ``x``.
    """
    xp = namespace(x)
    n = x.shape[-1]
    n_fft = _fft_size(n)
    spec = xp.fft.rfft(x, n=n_fft)
    h = xp.astype(response(n_fft // 2 + 1), spec.dtype)
    y = xp.fft.irfft(spec * h[:, None, :], n=n_fft)
    return xp.astype(y[..., :n], x.dtype)


# ---------------------------------------------------------------- a preset's EQ
def eq_sos(values: Mapping[str, Any], sample_rate: float) -> np.ndarray:
    """SOS matrix [bands, 6] (float64) of the EQ settings ``values`` (a Preset's ``eq`` values,
    read band by band by :func:`audiomanip.params.eq_bands`)."""
    bands = eq_bands(values)
    band_type = np.array([EQ_BAND_TYPES.index(band.type) for band in bands])
    freq, gain, q = (np.array([getattr(band, name) for band in bands], dtype=np.float64)
                     for name in ("freq_hz", "gain_db", "q"))
    b, a = biquad_coefficients(band_type, freq, gain, q, float(sample_rate))
    return np.concatenate([b, a], axis=-1)


def response_db(values: Mapping[str, Any], sample_rate: float, freqs_hz: np.ndarray) -> np.ndarray:
    """Magnitude response in dB of the EQ settings ``values`` at ``freqs_hz`` (shape [F]): the
    renderer's biquads (:func:`eq_sos`), numpy only."""
    sos = eq_sos(values, sample_rate)  # [bands, 6]
    mag = np.abs(np.prod(biquad_response(sample_rate, freqs_hz, sos[:, :3], sos[:, 3:]), axis=0))
    return 20.0 * np.log10(np.maximum(mag, 1e-12))


class EQ(Stage):
    """The EQ settings ``values`` on float32 blocks ``[channels, n]`` at ``sample_rate`` Hz: the
    biquads of :func:`eq_sos` as an exact IIR with state (``audiomanip.rendering.iir.SosFilter``,
    float32 output products from float64 states; the filter of ``scipy.signal.sosfilt``)."""

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int):
        from audiomanip.rendering.iir import SosFilter

        self.channels = channels
        self.sos = eq_sos(values, sample_rate)
        self.filter = SosFilter(self.sos, channels, dtype=np.float32)

    def process(self, x):
        if x.shape[1] == 0:
            return x
        return self.filter.process(x)


#: ffmpeg's biquad filter of each band type (its RBJ cookbook filters are ours, ``width_type=q``).
_FFMPEG_BIQUADS = {"peak": "equalizer", "low_shelf": "lowshelf", "high_shelf": "highshelf",
                   "low_pass": "lowpass", "high_pass": "highpass"}


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str | None:
    """Per band ``lowshelf`` / ``equalizer`` / ``highshelf`` (f, gain, Q; skipped at 0 dB) and
    2-pole ``lowpass`` / ``highpass`` (f, Q): ffmpeg's biquads are the same RBJ cookbook filters
    as ours (``width_type=q``), so the response is identical. None when every band is flat."""
    from audiomanip.export import filter_number as num

    filters = []
    for band in eq_bands(values):
        name = _FFMPEG_BIQUADS[band.type]
        if band.type in ("low_pass", "high_pass"):
            filters.append(f"{name}=f={num(band.freq_hz)}:p=2:t=q:w={num(band.q)}")
        elif abs(band.gain_db) > 1e-9:
            filters.append(f"{name}=f={num(band.freq_hz)}:t=q:w={num(band.q)}:g={num(band.gain_db)}")
    return ",".join(filters) or None


EFFECT = EffectEntry(schema=effect("eq"), torch_function=eq, render_stage=EQ, ffmpeg_filter=ffmpeg_filter,
                     response_db=response_db)

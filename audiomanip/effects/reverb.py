"""Convolution reverb with a synthesised stereo room impulse response (numpy or torch).

The impulse response (IR) is built from fixed, seeded noise (numpy's generator), so the same
parameters always give the bit-identical IR, in training (:func:`reverb`) and in the file
renderer (:class:`Reverb` calls :func:`reverb_ir` itself with numpy arrays). :func:`reverb_ir` is
written once against the array API. Where no gradient is needed, torch callers get the numpy
evaluation in float64 too (bit-identical to the renderer's IR: numpy and torch round
transcendental functions differently in the last bit); where a parameter needs a gradient
(training), torch evaluates the same function with autograd, equal up to that rounding. Its
parts:

* a diffuse tail: a mix of dense Gaussian noise and sparse ±1 pulses (``diffusion`` crossfades
  from sparse, distinct reflections at 0 to a smooth dense tail at 1), split into four frequency
  bands that each decay exponentially; all bands reach −60 dB at T60 when ``damping`` is 0, and
  higher bands decay faster as ``damping`` rises;
* early reflections: a few discrete taps (at fractional, room-size-scaled times) in the first
  4…84 ms, the first one at time 0, i.e. exactly at the pre-delay;
* pre-delay: an integer shift plus a windowed-sinc fractional delay (differentiable in
  ``pre_delay_ms``).

Each channel of the IR is normalised to unit energy, so the wet level is comparable across
room sizes: convolving white noise with it keeps its RMS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.effects.arrays import device, float_arrays, is_torch, namespace, numpy_namespace, scalar
from audiomanip.effects.registry import EffectEntry
from audiomanip.params import effect, room_size_to_t60_s
from audiomanip.rendering.convolution import Convolver

#: Seed of the noise the IR is made of (fixed: the IR is part of the preset's sound).
IR_SEED = 0x5EED_0A7B
#: The noise is generated and band-split in chunks of this many samples (prefix-stable).
_CHUNK = 32768
#: Crossover frequencies (Hz) of the four decay bands.
_BAND_EDGES_HZ = (400.0, 1600.0, 6400.0)
#: Per band: at damping 1 the band decays ``1 + rate`` times faster than T60.
_DAMPING_RATE = (0.0, 0.7, 2.0, 5.0)
#: Pulses per second of the sparse (low-diffusion) reflection sequence.
_SPARSE_DENSITY_PER_S = 150.0
#: Early reflections per channel.
_N_EARLY = 10
#: IR length as a multiple of T60 (−72 dB at the end).
IR_LENGTH_T60 = 1.2
#: Fractional pre-delay interpolator: taps and Kaiser window shape.
_SINC_TAPS = 32
_KAISER_BETA = 8.0
#: Terms of the power series of the Bessel function I0 (exact to rounding for x <= _KAISER_BETA).
_I0_TERMS = 30
_LN_1000 = math.log(1000.0)


def ir_length(sample_rate: float, room_size: float, pre_delay_ms: float) -> int:
    """Number of samples of the IR :func:`reverb_ir` returns for one set of parameters."""
    return _core_length(sample_rate, room_size) + math.ceil(float(pre_delay_ms) * 1e-3 * sample_rate) + 1


def _core_length(sample_rate: float, room_size: float) -> int:
    """Samples of the IR before pre-delay (computed in float64 whatever the arrays' dtype)."""
    return math.ceil(IR_LENGTH_T60 * room_size_to_t60_s(float(room_size)) * sample_rate)


@lru_cache(maxsize=36)
def _noise_chunk(sample_rate: int, index: int) -> np.ndarray:
    """Chunk ``index`` of the IR noise: float32 [2 kinds (dense, sparse), 2 channels, 4 bands, _CHUNK].

    Each kind has unit mean power per sample; the four bands sum to the full-band noise.
    """
    rng = np.random.default_rng([IR_SEED, index])
    dense = rng.standard_normal((2, _CHUNK))
    n_pulses = max(1, round(_CHUNK * _SPARSE_DENSITY_PER_S / sample_rate))
    pos = rng.integers(0, _CHUNK, (2, n_pulses))
    signs = rng.integers(0, 2, (2, n_pulses)) * 2.0 - 1.0
    sparse = np.zeros((2, _CHUNK))
    np.add.at(sparse, (np.arange(2)[:, None], pos), signs)
    sparse *= math.sqrt(_CHUNK / n_pulses)
    spec = np.fft.rfft(np.stack([dense, sparse]), axis=-1)  # [2, 2, F]
    freqs = np.fft.rfftfreq(_CHUNK, 1.0 / sample_rate)
    lows = [1.0 / (1.0 + (freqs / edge) ** 4) for edge in _BAND_EDGES_HZ]
    masks = np.stack([lows[0]] + [lows[i] - lows[i - 1] for i in range(1, len(lows))] + [1.0 - lows[-1]])
    bands = np.fft.irfft(spec[:, :, None, :] * masks[None, None], n=_CHUNK, axis=-1)
    return bands.astype(np.float32)


def _noise(sample_rate: int, n: int) -> np.ndarray:
    """The first ``n`` samples of the IR noise: float32 [2 kinds, 2 channels, 4 bands, n]."""
    chunks = [_noise_chunk(sample_rate, k) for k in range((n + _CHUNK - 1) // _CHUNK)]
    return np.concatenate(chunks, axis=-1)[..., :n]


@lru_cache(maxsize=1)
def _early_pattern() -> tuple[np.ndarray, np.ndarray]:
    """Fixed early-reflection pattern: (times in [0, 1) as a fraction of the ER span, signed
    relative amplitudes), each float64 [2 channels, _N_EARLY]; the first tap at time 0."""
    rng = np.random.default_rng([IR_SEED, 1 << 20])
    u = np.sort(rng.random((2, _N_EARLY)), axis=-1)
    u[:, 0] = 0.0
    signs = rng.integers(0, 2, (2, _N_EARLY)) * 2.0 - 1.0
    signs[:, 0] = 1.0
    level = 0.5 + 0.5 * rng.random((2, _N_EARLY))
    level[:, 0] = 1.0
    return u, signs * level


def reverb_ir(sample_rate: float, room_size, pre_delay_ms, diffusion, damping):
    """Synthesise the stereo room impulse response.

    Args: ``sample_rate`` in Hz; ``room_size`` [B] in [0, 1] (T60 = :func:`room_size_to_t60_s`),
    ``pre_delay_ms`` [B] in ms, ``diffusion`` [B] in [0, 1], ``damping`` [B] in [0, 1]
    (numpy arrays, torch tensors or numbers; dtype and device follow the arrays; plain numbers
    give a float32 torch tensor, the training path's default).

    Returns: [B, 2, N] (numpy or torch, as the arguments), N = max over the batch of
    :func:`ir_length`; each item is zero after its own length. Each channel has unit energy.
    Deterministic: the same parameters give the bit-identical IR whatever else is in the batch,
    on numpy and torch alike when no gradient is needed (see the module doc). Differentiable in
    every parameter (torch).
    """
    xp = namespace(room_size, pre_delay_ms, diffusion, damping, default="torch")
    params = [xp.reshape(p, (-1,)) for p in float_arrays(xp, room_size, pre_delay_ms, diffusion, damping)]
    sr = round(sample_rate)
    if not is_torch(xp):
        return _batch_ir(xp, sr, params)
    import torch

    if torch.is_grad_enabled() and any(p.requires_grad for p in params):
        return _batch_ir(xp, sr, params)
    xnp = numpy_namespace()
    exact = _batch_ir(xnp, sr, [p.detach().cpu().double().numpy() for p in params])
    return torch.from_numpy(exact).to(device=device(params[0]), dtype=params[0].dtype)


def _batch_ir(xp, sr: int, params: list):
    """:func:`reverb_ir` of ``params`` [4 arrays of shape [B]] in the namespace ``xp``."""
    irs = [_single_ir(xp, sr, *item) for item in zip(*params)]
    n_total = max(ir.shape[-1] for ir in irs)
    return xp.stack([_pad_right(xp, ir, n_total - ir.shape[-1]) for ir in irs])


def _pad_right(xp, x, n: int):
    """``x [..., M]`` followed by ``n`` zeros along the last axis."""
    if n <= 0:
        return x
    return xp.concat([x, xp.zeros((*x.shape[:-1], n), dtype=x.dtype, device=device(x))], axis=-1)


def _pad_left(xp, x, n: int):
    """``n`` zeros followed by ``x [..., M]`` along the last axis."""
    if n <= 0:
        return x
    return xp.concat([xp.zeros((*x.shape[:-1], n), dtype=x.dtype, device=device(x)), x], axis=-1)


def _single_ir(xp, sr: int, room_size, pre_delay_ms, diffusion, damping):
    """The IR of one parameter set (0-dim arrays of ``xp``): [2, ir_length(...)]."""
    dtype, dev = room_size.dtype, device(room_size)
    t60 = room_size_to_t60_s(room_size)
    n_core = _core_length(sr, scalar(room_size))
    noise = xp.astype(xp.asarray(_noise(sr, n_core), device=dev), dtype)  # [2 kinds, 2 ch, 4 bands, M]
    t = xp.arange(n_core, dtype=dtype, device=dev) / sr
    w_dense = xp.sin(0.5 * math.pi * diffusion)
    w_sparse = xp.cos(0.5 * math.pi * diffusion)
    tail = xp.zeros((2, n_core), dtype=dtype, device=dev)
    for k, rate in enumerate(_DAMPING_RATE):
        decay = _LN_1000 / t60 * (1.0 + damping * rate)
        tail = tail + xp.exp(-decay * t) * (w_dense * noise[0, :, k, :] + w_sparse * noise[1, :, k, :])
    er_span_s = 0.004 + 0.08 * room_size
    tail = tail * (1.0 - xp.exp(-t / (0.3 * er_span_s)))

    # Early reflections at fractional positions (linear interpolation between two samples),
    # built over the first samples only (one-hot rows, no scatter: the array API has none).
    u, amp = (xp.astype(xp.asarray(v, device=dev), dtype) for v in _early_pattern())
    times = er_span_s * u  # [2, E]
    amp = amp * xp.exp(-_LN_1000 / t60 * times)
    pos = times * sr
    idx = xp.floor(pos)
    frac = pos - idx
    n_head = min(n_core, int(scalar(xp.max(idx))) + 2)
    grid = xp.arange(n_head, dtype=dtype, device=dev)
    at = xp.astype(grid == idx[..., None], dtype)  # [2, E, n_head]
    after = xp.astype(grid == idx[..., None] + 1.0, dtype)
    head = xp.sum(at * (amp * (1.0 - frac))[..., None] + after * (amp * frac)[..., None], axis=1)
    er_fraction = 0.15 + 0.25 * (1.0 - diffusion)
    head = head * xp.sqrt(er_fraction * xp.sum(tail * tail, axis=-1, keepdims=True)
                          / xp.sum(head * head, axis=-1, keepdims=True))
    ir = tail + _pad_right(xp, head, n_core - n_head)
    n_out = ir_length(sr, scalar(room_size), scalar(pre_delay_ms))
    ir = _fractional_delay(xp, ir, pre_delay_ms * 1e-3 * sr, n_out)
    return ir / xp.sqrt(xp.sum(ir * ir, axis=-1, keepdims=True))


def _bessel_i0(xp, x):
    """Modified Bessel function of the first kind, order 0, by its power series
    Σ ((x/2)^k / k!)^2 (all terms positive: accurate to rounding for 0 <= x <= _KAISER_BETA)."""
    quarter_sq = x * x / 4.0
    term = xp.ones_like(x)
    total = term
    for k in range(1, _I0_TERMS):
        term = term * quarter_sq / float(k * k)
        total = total + term
    return total


def _sinc(xp, x):
    """sin(πx)/(πx), 1 at 0 (with a finite gradient there)."""
    nonzero = x != 0.0
    safe = xp.where(nonzero, math.pi * x, xp.ones_like(x))
    return xp.where(nonzero, xp.sin(safe) / safe, xp.ones_like(x))


def _fractional_delay(xp, x, delay, n_out: int):
    """Delay [..., M] by ``delay`` samples (0-dim array, >= 0; differentiable) into [..., n_out].

    Integer part by shifting, fractional part by a Kaiser-windowed sinc of _SINC_TAPS taps
    (flat to within 0.1 dB up to 0.4 × the sample rate; ringing confined to 16 samples either
    side; an integer delay is an exact shift).
    """
    whole = math.floor(scalar(delay))
    frac = delay - whole
    half = _SINC_TAPS // 2
    offsets = xp.arange(-(half - 1), half + 1, dtype=x.dtype, device=device(x))  # o = j - c
    pos = offsets - frac
    window = _bessel_i0(xp, _KAISER_BETA * xp.sqrt(xp.clip(1.0 - (pos / half) ** 2, min=0.0)))
    taps = _sinc(xp, pos) * window
    taps = taps / xp.sum(taps)
    # full[i] = sum_j taps[j] * x[i - j];  out[n] = full[n - whole + c], c = half - 1.
    m = x.shape[-1] + _SINC_TAPS - 1
    padded = _pad_right(xp, _pad_left(xp, x, _SINC_TAPS - 1), _SINC_TAPS - 1)
    full = taps[0] * padded[..., _SINC_TAPS - 1 : _SINC_TAPS - 1 + m]
    for j in range(1, _SINC_TAPS):
        full = full + taps[j] * padded[..., _SINC_TAPS - 1 - j : _SINC_TAPS - 1 - j + m]
    shift = whole - (half - 1)
    full = full[..., -shift:] if shift < 0 else _pad_left(xp, full, shift)
    return full[..., :n_out] if full.shape[-1] >= n_out else _pad_right(xp, full, n_out - full.shape[-1])


def _ir_for_channels(xp, ir, channels: int):
    """[B, 2, N] -> [B, channels, N]: channel c uses IR channel c % 2."""
    return xp.stack([ir[:, c % 2, :] for c in range(channels)], axis=1)


def reverb(x, sample_rate: float, room_size, pre_delay_ms, diffusion, damping, wet):
    """Convolution reverb: (1 − wet)·x + wet·(x ⊛ IR), by FFT, cut to the input length.

    ``x`` [B, C, T] (torch for training; numpy works too); the other parameters [B] in the units
    of :func:`reverb_ir`, ``wet`` in [0, 1]. Channel c is convolved with IR channel c % 2.
    Returns [B, C, T]. ``wet`` 0 returns the dry signal exactly.
    """
    xp = namespace(x)
    _batch, channels, length = x.shape
    room_size, pre_delay_ms, diffusion, damping, wet = (
        xp.reshape(p, (-1,)) for p in float_arrays(xp, room_size, pre_delay_ms, diffusion, damping, wet,
                                                    dtype=x.dtype, device=device(x)))
    ir = _ir_for_channels(xp, reverb_ir(sample_rate, room_size, pre_delay_ms, diffusion, damping), channels)
    n = length + ir.shape[-1] - 1
    wet_signal = xp.fft.irfft(xp.fft.rfft(x, n=n) * xp.fft.rfft(ir, n=n), n=n)[..., :length]
    wet = wet[:, None, None]
    return (1.0 - wet) * x + wet * wet_signal


# ---------------------------------------------------------------- rendering and export
def reverb_ir_numpy(values: Mapping[str, Any], sample_rate: float) -> np.ndarray:
    """The reverb's IR as numpy float64 [2, N]: exactly :func:`reverb_ir` of ``values`` (a
    Preset's ``reverb`` values) with float64 parameters."""
    args = [np.array([float(values[n])]) for n in ("room_size", "pre_delay_ms", "diffusion", "damping")]
    return reverb_ir(sample_rate, *args)[0]


class Reverb(Convolver):
    """The reverb settings ``values`` on float32 blocks ``[channels, n]`` at ``sample_rate`` Hz:
    FFT overlap-add convolution (:class:`audiomanip.rendering.convolution.Convolver`) with the very
    IR of :func:`reverb_ir` (:func:`reverb_ir_numpy`), mixed ``(1 − wet)·x + wet·(x ⊛ IR)``.
    With ``tail`` (default) :meth:`flush` adds the IR's ring-out, ``IR length − 1`` frames."""

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int, *, tail: bool = True):
        super().__init__(reverb_ir_numpy(values, sample_rate), channels, wet=float(values["wet"]), tail=tail)

    @classmethod
    def in_chain(cls, values, sample_rate, channels, *, tail=True):
        return cls(values, sample_rate, channels, tail=tail)


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str:
    """``apad`` (room for the whole tail, as the renderer writes it), ``asplit``;
    ``amovie=<IR WAV>`` (``settings.ir_path``; ``pan`` to the audio's channel count when not
    stereo) into ``afir`` (IR gain normalisation off) and ``amix`` of dry and wet with the
    weights ``1 − wet`` and ``wet``."""
    from audiomanip.export import filter_number as num
    from audiomanip.export import filter_path

    if settings.ir_path is None:
        raise ValueError("the reverb is enabled: an IR file (ir_path) is needed for afir")
    rate, channels = settings.sample_rate, settings.input_channels
    dry_w, wet_w = 1.0 - float(values["wet"]), float(values["wet"])
    tail_s = ir_length(rate, float(values["room_size"]), float(values["pre_delay_ms"])) / rate
    norm, gain = settings.afir_normalisation()
    wet_w /= gain
    ir = filter_path(Path(settings.ir_path).resolve())
    if channels == 2:
        pick = ""
    elif channels == 1:
        pick = ",pan=mono|c0=c0"
    else:
        pick = f",pan={channels}c|" + "|".join(f"c{c}=c{c % 2}" for c in range(channels))
    return (
        f"apad=pad_dur={num(tail_s)},asplit=2[am_dry][am_send];"
        f"amovie={ir}{pick}[am_ir];"
        f"[am_send][am_ir]afir={norm}:dry=1:wet=1[am_wet];"
        f"[am_dry][am_wet]amix=inputs=2:weights={num(dry_w)} {num(wet_w)}:normalize=0:duration=longest"
    )


EFFECT = EffectEntry(schema=effect("reverb"), torch_function=reverb, render_stage=Reverb,
                     ffmpeg_filter=ffmpeg_filter)

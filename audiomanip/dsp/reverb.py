"""Convolution reverb with a synthesised stereo room impulse response (torch, differentiable).

The impulse response (IR) is built from fixed, seeded noise, so the same parameters always give
the bit-identical IR, in training (:func:`reverb`) and in the file renderer (``render.py`` calls
:func:`reverb_ir` itself). Its parts:

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
from functools import lru_cache

import torch

from audiomanip.params import room_size_to_t60_s

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
_LN_1000 = math.log(1000.0)


def ir_length(sample_rate: float, room_size: float, pre_delay_ms: float) -> int:
    """Number of samples of the IR :func:`reverb_ir` returns for one set of parameters."""
    return _core_length(sample_rate, room_size) + math.ceil(float(pre_delay_ms) * 1e-3 * sample_rate) + 1


def _core_length(sample_rate: float, room_size: float) -> int:
    """Samples of the IR before pre-delay (computed in float64 whatever the tensors' dtype)."""
    return math.ceil(IR_LENGTH_T60 * room_size_to_t60_s(float(room_size)) * sample_rate)


@lru_cache(maxsize=36)
def _noise_chunk(sample_rate: int, index: int) -> torch.Tensor:
    """Chunk ``index`` of the IR noise: float32 [2 kinds (dense, sparse), 2 channels, 4 bands, _CHUNK].

    Each kind has unit mean power per sample; the four bands sum to the full-band noise.
    """
    gen = torch.Generator().manual_seed(IR_SEED + 7919 * index)
    dense = torch.randn(2, _CHUNK, dtype=torch.float64, generator=gen)
    n_pulses = max(1, round(_CHUNK * _SPARSE_DENSITY_PER_S / sample_rate))
    pos = torch.randint(0, _CHUNK, (2, n_pulses), generator=gen)
    signs = torch.randint(0, 2, (2, n_pulses), generator=gen).to(torch.float64) * 2.0 - 1.0
    sparse = torch.zeros(2, _CHUNK, dtype=torch.float64).scatter_add_(1, pos, signs)
    sparse *= math.sqrt(_CHUNK / n_pulses)
    spec = torch.fft.rfft(torch.stack([dense, sparse]), dim=-1)  # [2, 2, F]
    freqs = torch.fft.rfftfreq(_CHUNK, 1.0 / sample_rate, dtype=torch.float64)
    lows = [1.0 / (1.0 + (freqs / edge) ** 4) for edge in _BAND_EDGES_HZ]
    masks = [lows[0]] + [lows[i] - lows[i - 1] for i in range(1, len(lows))] + [1.0 - lows[-1]]
    bands = torch.fft.irfft(spec[:, :, None, :] * torch.stack(masks)[None, None], n=_CHUNK, dim=-1)
    return bands.to(torch.float32)


def _noise(sample_rate: int, n: int) -> torch.Tensor:
    """The first ``n`` samples of the IR noise: float32 [2 kinds, 2 channels, 4 bands, n]."""
    chunks = [_noise_chunk(sample_rate, k) for k in range((n + _CHUNK - 1) // _CHUNK)]
    return torch.cat(chunks, dim=-1)[..., :n]


@lru_cache(maxsize=1)
def _early_pattern() -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed early-reflection pattern: (times in [0, 1) as a fraction of the ER span, signed
    relative amplitudes), each float64 [2 channels, _N_EARLY]; the first tap at time 0."""
    gen = torch.Generator().manual_seed(IR_SEED + 1)
    u = torch.rand(2, _N_EARLY, dtype=torch.float64, generator=gen).sort(dim=-1).values
    u[:, 0] = 0.0
    signs = torch.randint(0, 2, (2, _N_EARLY), generator=gen).to(torch.float64) * 2.0 - 1.0
    signs[:, 0] = 1.0
    level = 0.5 + 0.5 * torch.rand(2, _N_EARLY, dtype=torch.float64, generator=gen)
    level[:, 0] = 1.0
    return u, signs * level


def _as_batch(*values, dtype=None, device=None) -> list[torch.Tensor]:
    tensors = [torch.as_tensor(v) for v in values]
    if dtype is None:
        floats = [t.dtype for t in tensors if t.is_floating_point()]
        dtype = floats[0] if floats else torch.get_default_dtype()
    if device is None:
        devs = [t.device for t in tensors if t.device.type != "cpu"]
        device = devs[0] if devs else torch.device("cpu")
    tensors = [t.to(dtype=dtype, device=device).reshape(-1) for t in tensors]
    return list(torch.broadcast_tensors(*tensors))


def reverb_ir(sample_rate: float, room_size, pre_delay_ms, diffusion, damping) -> torch.Tensor:
    """Synthesise the stereo room impulse response.

    Args: ``sample_rate`` in Hz; ``room_size`` [B] in [0, 1] (T60 = :func:`room_size_to_t60_s`),
    ``pre_delay_ms`` [B] in ms, ``diffusion`` [B] in [0, 1], ``damping`` [B] in [0, 1]
    (tensors or floats; dtype and device follow the tensors, float32 for plain floats).

    Returns: Tensor [B, 2, N], N = max over the batch of :func:`ir_length`; each item is zero
    after its own length. Each channel has unit energy. Deterministic: the same parameters give
    the bit-identical IR whatever else is in the batch. Differentiable in every parameter.
    """
    params = _as_batch(room_size, pre_delay_ms, diffusion, damping)
    sr = round(sample_rate)
    irs = [_single_ir(sr, *item) for item in zip(*params)]
    n_total = max(ir.shape[-1] for ir in irs)
    return torch.stack([torch.nn.functional.pad(ir, (0, n_total - ir.shape[-1])) for ir in irs])


def _single_ir(sr: int, room_size, pre_delay_ms, diffusion, damping) -> torch.Tensor:
    """The IR of one parameter set (0-dim tensors): [2, ir_length(...)]."""
    dtype, device = room_size.dtype, room_size.device
    t60 = room_size_to_t60_s(room_size)
    n_core = _core_length(sr, float(room_size.detach()))
    noise = _noise(sr, n_core).to(device=device, dtype=dtype)  # [2 kinds, 2 ch, 4 bands, M]
    t = torch.arange(n_core, device=device, dtype=dtype) / sr
    w_dense = torch.sin(0.5 * math.pi * diffusion)
    w_sparse = torch.cos(0.5 * math.pi * diffusion)
    tail = torch.zeros(2, n_core, device=device, dtype=dtype)
    for k, rate in enumerate(_DAMPING_RATE):
        decay = _LN_1000 / t60 * (1.0 + damping * rate)
        tail = tail + torch.exp(-decay * t) * (w_dense * noise[0, :, k] + w_sparse * noise[1, :, k])
    er_span_s = 0.004 + 0.08 * room_size
    tail = tail * (1.0 - torch.exp(-t / (0.3 * er_span_s)))

    # Early reflections at fractional positions (linear interpolation between two samples).
    u, amp = (v.to(device=device, dtype=dtype) for v in _early_pattern())
    times = er_span_s * u  # [2, E]
    amp = amp * torch.exp(-_LN_1000 / t60 * times)
    pos = times * sr
    idx = torch.floor(pos).detach()
    frac = pos - idx
    idx = idx.long()
    early = torch.zeros(2, n_core + 1, device=device, dtype=dtype)
    early = early.scatter_add(1, idx, amp * (1.0 - frac)).scatter_add(1, idx + 1, amp * frac)[:, :n_core]
    er_fraction = 0.15 + 0.25 * (1.0 - diffusion)
    early = early * torch.sqrt(er_fraction * tail.pow(2).sum(-1, keepdim=True) / early.pow(2).sum(-1, keepdim=True))
    n_out = ir_length(sr, float(room_size.detach()), float(pre_delay_ms.detach()))
    ir = _fractional_delay(tail + early, pre_delay_ms * 1e-3 * sr, n_out)
    return ir / torch.sqrt(ir.pow(2).sum(-1, keepdim=True))


def _fractional_delay(x: torch.Tensor, delay, n_out: int) -> torch.Tensor:
    """Delay [..., M] by ``delay`` samples (0-dim tensor, >= 0; differentiable) into [..., n_out].

    Integer part by shifting, fractional part by a Kaiser-windowed sinc of _SINC_TAPS taps
    (flat to within 0.1 dB up to 0.4 × the sample rate; ringing confined to 16 samples either
    side; an integer delay is an exact shift).
    """
    whole = math.floor(float(delay.detach()))
    frac = delay - whole
    half = _SINC_TAPS // 2
    offsets = torch.arange(-(half - 1), half + 1, device=x.device, dtype=x.dtype)  # o = j - c
    pos = offsets - frac
    window = torch.special.i0(_KAISER_BETA * torch.sqrt(torch.clamp(1.0 - (pos / half) ** 2, min=0.0)))
    taps = torch.sinc(pos) * window
    taps = taps / taps.sum()
    # full[i] = sum_j taps[j] * x[i - j];  out[n] = full[n - whole + c], c = half - 1.
    m = x.shape[-1] + _SINC_TAPS - 1
    padded = torch.nn.functional.pad(x, (_SINC_TAPS - 1, _SINC_TAPS - 1))
    full = sum(taps[j] * padded[..., _SINC_TAPS - 1 - j : _SINC_TAPS - 1 - j + m] for j in range(_SINC_TAPS))
    shift = whole - (half - 1)
    full = full[..., -shift:] if shift < 0 else torch.nn.functional.pad(full, (shift, 0))
    if full.shape[-1] >= n_out:
        return full[..., :n_out]
    return torch.nn.functional.pad(full, (0, n_out - full.shape[-1]))


def _ir_for_channels(ir: torch.Tensor, channels: int) -> torch.Tensor:
    """[B, 2, N] -> [B, channels, N]: channel c uses IR channel c % 2."""
    return ir[:, [c % 2 for c in range(channels)]]


def reverb(x: torch.Tensor, sample_rate: float, room_size, pre_delay_ms, diffusion, damping, wet) -> torch.Tensor:
    """Convolution reverb: (1 − wet)·x + wet·(x ⊛ IR), by FFT, cut to the input length.

    ``x`` [B, C, T]; the other parameters [B] in the units of :func:`reverb_ir`, ``wet`` in
    [0, 1]. Channel c is convolved with IR channel c % 2. Returns [B, C, T]. ``wet`` 0 returns
    the dry signal exactly.
    """
    _batch, channels, length = x.shape
    room_size, pre_delay_ms, diffusion, damping, wet = _as_batch(
        room_size, pre_delay_ms, diffusion, damping, wet, dtype=x.dtype, device=x.device
    )
    ir = _ir_for_channels(reverb_ir(sample_rate, room_size, pre_delay_ms, diffusion, damping), channels)
    n = length + ir.shape[-1] - 1
    wet_signal = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(ir, n=n), n=n)[..., :length]
    wet = wet[:, None, None]
    return (1.0 - wet) * x + wet * wet_signal

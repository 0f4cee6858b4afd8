"""Measurements on audio: spectrum shape, decay time, dynamics, distortion, pitch, loudness.

Every function takes audio as numpy ``[channels, samples]`` or ``[samples]`` (any float dtype)
and a sample rate in Hz, and returns plain Python floats (or a dict of them). Used by the
evaluation and by tests, so each one is checked against signals with a known answer.

Unless a function says otherwise, a multi-channel input is measured on the power summed over
channels (spectral measures) or on all samples together (peak, crest factor).
"""

from __future__ import annotations

import math

import numpy as np

from audiomanip.rendering.iir import SosFilter

#: Band edges (Hz) of :func:`band_energy_ratios`: low < 200 ≤ low_mid < 2000 ≤ high_mid < 6000 ≤ high.
BAND_EDGES_HZ: dict[str, tuple[float, float]] = {
    "low": (0.0, 200.0),
    "low_mid": (200.0, 2000.0),
    "high_mid": (2000.0, 6000.0),
    "high": (6000.0, math.inf),
}


def _as_2d(x: np.ndarray, dtype=np.float64) -> np.ndarray:
    a = np.asarray(x, dtype=dtype)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"audio must be [channels, samples] or [samples], got shape {np.shape(x)}")
    if a.shape[1] == 0:
        raise ValueError("audio has no samples")
    return a


def power_spectrum(
    x: np.ndarray, sample_rate: float, n_fft: int | None = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Long-term power spectrum of ``x`` [C, T] or [T], channels' powers summed → (freqs_hz [F],
    power [F]); power in arbitrary but consistent units per bin (|FFT|², not a density).

    ``n_fft`` (default): Welch's average of periodic-Hann frames of ``n_fft`` samples, 50 %
    overlap. Frames never run past the signal (zero padding would add truncation leakage), so
    ``n_fft`` shrinks to the largest power of two within the signal; signals shorter than 16
    samples are zero-padded. ``n_fft=None``: one symmetric Hann window over the whole signal (a
    periodogram: the finest resolution, for band levels of short signals).
    """
    a = _as_2d(x)
    n = a.shape[1]
    if n_fft is None:
        power = np.sum(np.abs(np.fft.rfft(a * np.hanning(n), axis=1)) ** 2, axis=0)
        return np.fft.rfftfreq(n, 1.0 / sample_rate), power
    n_fft = int(min(n_fft, 2 ** math.floor(math.log2(max(n, 16)))))
    if n < n_fft:
        a = np.pad(a, ((0, 0), (0, n_fft - n)))
        n = n_fft
    hop = n_fft // 2
    win = np.hanning(n_fft + 1)[:-1]
    starts = np.arange(0, n - n_fft + 1, hop)
    power = np.zeros(n_fft // 2 + 1)
    for s0 in range(0, len(starts), 256):  # bounded memory for long inputs
        idx = starts[s0 : s0 + 256, None] + np.arange(n_fft)[None, :]
        frames = a[:, idx] * win  # [C, F, n_fft]
        power += np.sum(np.abs(np.fft.rfft(frames, axis=-1)) ** 2, axis=(0, 1))
    power /= len(starts)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return freqs, power


def spectral_centroid_hz(x: np.ndarray, sample_rate: float) -> float:
    """Centroid (Hz) of the long-term power spectrum: Σ f·|X(f)|² / Σ |X(f)|².

    Power weighting (not magnitude) makes the value independent of where a partial falls
    between FFT bins and less sensitive to a low noise floor. A sine at f → f; two equal sines
    → the mean of their frequencies. Returns 0.0 for silence.
    """
    freqs, power = power_spectrum(x, sample_rate)
    total = power.sum()
    return float((freqs * power).sum() / total) if total > 0 else 0.0


def band_energy_ratios(x: np.ndarray, sample_rate: float) -> dict[str, float]:
    """Share of the signal's energy in each band of :data:`BAND_EDGES_HZ`.

    Returns ``{"low", "low_mid", "high_mid", "high"}`` → fractions that sum to 1 (all 0.0 for
    silence). Bands above Nyquist get 0.
    """
    freqs, power = power_spectrum(x, sample_rate)
    total = power.sum()
    out = {}
    for name, (lo, hi) in BAND_EDGES_HZ.items():
        sel = (freqs >= lo) & (freqs < hi)
        out[name] = float(power[sel].sum() / total) if total > 0 else 0.0
    return out


def spectral_tilt_db_per_octave(
    x: np.ndarray, sample_rate: float, fmin_hz: float = 50.0, fmax_hz: float = 16000.0
) -> float:
    """Slope (dB/octave) of the power spectral density against log2(frequency).

    The PSD is averaged in 1/3-octave bands between ``fmin_hz`` and min(``fmax_hz``, 0.9·Nyquist)
    and the band levels (dB) are fitted by least squares against log2 of the band centres.
    White noise → 0 dB/oct, pink noise → −3.01 dB/oct, brown noise → −6 dB/oct.
    """
    freqs, power = power_spectrum(x, sample_rate, n_fft=16384)
    fmax_hz = min(fmax_hz, 0.9 * sample_rate / 2)
    if fmax_hz <= fmin_hz * 2:
        raise ValueError(f"sample rate {sample_rate} Hz too low to measure a tilt from {fmin_hz} Hz")
    centres, levels = [], []
    fc = fmin_hz * 2 ** (1 / 6)
    while fc * 2 ** (1 / 6) <= fmax_hz:
        sel = (freqs >= fc * 2 ** (-1 / 6)) & (freqs < fc * 2 ** (1 / 6))
        if sel.any():
            p = power[sel].mean()
            if p > 0:
                centres.append(math.log2(fc))
                levels.append(10 * math.log10(p))
        fc *= 2 ** (1 / 3)
    if len(centres) < 3:
        return 0.0
    slope, _ = np.polyfit(np.array(centres), np.array(levels), 1)
    return float(slope)


def schroeder_decay_db(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Energy decay curve (dB, 0 at the start) by Schroeder backward integration → [T'].

    The curve starts at the onset: the first sample within 20 dB of the peak (ISO 3382-1).
    Channels' energies are summed.
    """
    a = _as_2d(x)
    energy = np.sum(a**2, axis=0)
    peak = energy.max()
    if peak <= 0:
        raise ValueError("cannot measure a decay on silence")
    onset = int(np.argmax(energy >= peak * 1e-2))
    edc = np.cumsum(energy[onset:][::-1])[::-1]
    with np.errstate(divide="ignore"):
        return 10 * np.log10(edc / edc[0])


#: Fit ranges (dB below the start of the decay curve) and the factor up to 60 dB.
_DECAY_METHODS = {"edt": (0.0, -10.0), "t20": (-5.0, -25.0), "t30": (-5.0, -35.0)}


def decay_time_s(x: np.ndarray, sample_rate: float, method: str = "t30") -> float:
    """Reverberation time (s) of an impulse response ``x`` from its Schroeder decay curve.

    ``method``: "t30" fits the curve from −5 to −35 dB, "t20" from −5 to −25 dB, "edt" from 0 to
    −10 dB (early decay time); the least-squares slope (dB/s) is extrapolated to 60 dB. The
    response must decay through the fit range above its noise floor (trailing silence is fine);
    otherwise ValueError.
    """
    if method not in _DECAY_METHODS:
        raise ValueError(f"method must be one of {sorted(_DECAY_METHODS)}, not {method!r}")
    edc = schroeder_decay_db(x, sample_rate)
    hi, lo = _DECAY_METHODS[method]
    # A response cut off before it decayed also ends in a plunging curve (the integral reaches
    # zero at the cut): compare the envelope's last 10 ms with its first 10 ms after the onset.
    energy = np.sum(_as_2d(x) ** 2, axis=0)
    onset = int(np.argmax(energy >= energy.max() * 1e-2))
    w = max(1, int(0.01 * sample_rate))
    start, end = energy[onset : onset + w].mean(), energy[-w:].mean()
    if start > 0 and end > 0 and 10 * math.log10(end / start) > lo - 5:
        raise ValueError(
            f"the response is cut off {-10 * math.log10(end / start):.0f} dB below its start; "
            f"{method.upper()} needs it to decay more than {-lo + 5:.0f} dB"
        )
    sel = np.flatnonzero((edc <= hi) & (edc >= lo))
    if edc.min() > lo or sel.size < 3:
        raise ValueError(
            f"the decay curve does not fall {-lo:.0f} dB (it reaches {edc[np.isfinite(edc)].min():.1f} dB); "
            f"cannot measure {method.upper()}"
        )
    sel = np.arange(sel[0], sel[-1] + 1)
    t = sel / sample_rate
    slope, _ = np.polyfit(t, edc[sel], 1)
    if slope >= 0:
        raise ValueError("the decay curve does not decay")
    # ISO 3382-2 non-linearity ξ = 1000·(1 − r²) ‰: an exponential decay gives < 1 ‰, a double
    # slope ~10 ‰; above 100 ‰ the curve is not a decay (steady noise, no impulse response).
    r = np.corrcoef(t, edc[sel])[0, 1]
    xi = 1000 * (1 - r * r)
    if xi > 100:
        raise ValueError(
            f"the decay curve is not exponential (non-linearity {xi:.0f} per mille); "
            f"is this an impulse response? cannot measure {method.upper()}"
        )
    return float(-60.0 / slope)


def peak_dbfs(x: np.ndarray) -> float:
    """Sample peak level in dBFS (20·log10 max|x|; full scale 1.0 = 0 dBFS; −inf for silence)."""
    a = _as_2d(x)
    p = float(np.max(np.abs(a)))
    return 20 * math.log10(p) if p > 0 else -math.inf


def crest_factor_db(x: np.ndarray) -> float:
    """Peak-to-RMS ratio in dB over all samples (sine: 3.01 dB, square: 0 dB); 0.0 for silence."""
    a = _as_2d(x)
    rms = math.sqrt(float(np.mean(a**2)))
    p = float(np.max(np.abs(a)))
    return 20 * math.log10(p / rms) if rms > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4, EBU Tech 3342)
# ---------------------------------------------------------------------------------------------


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """BS.1770 K-weighting as second-order sections ``[2, 6]`` for any sample rate (Hz).

    Stage 1: the high-shelf (+4 dB above ~1.7 kHz) modelling the head; stage 2: the RLB
    high-pass (~38 Hz). Coefficients come from the analogue prototypes through the bilinear
    transform (as libebur128 does) and equal the standard's tables at 48 kHz.
    """
    fs = float(sample_rate)
    # Stage 1: high shelf.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2 * (k * k - 1) / a0,
        (1 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770-4 channel weights: 1.0 for each channel, except for 6 channels (5.1 in the order
    L, R, C, LFE, Ls, Rs): LFE excluded (0) and the surrounds Ls, Rs weighted 1.41."""
    w = np.ones(channels)
    if channels == 6:
        w[3] = 0.0
        w[4] = w[5] = 1.41
    return w


def _block_loudness(x: np.ndarray, sample_rate: float, block_s: float, hop_s: float) -> np.ndarray:
    """Loudness (LUFS, ungated) of blocks of ``block_s`` seconds every ``hop_s`` seconds.

    Signals shorter than one block give one block over the whole signal. Float32 audio (what
    ``audio_io.read`` gives) is K-weighted in float32 (the filter state stays float64; about 1e-7
    relative to float64 filtering, 1e-6 LU), any other dtype in float64; the block sums are
    float64 either way.
    """
    single = np.asarray(x).dtype == np.float32
    a = _as_2d(x, np.float32 if single else np.float64)
    y = SosFilter(k_weighting_sos(sample_rate), a.shape[0], dtype=a.dtype).process(a)
    z = _block_mean_squares(y, round(block_s * sample_rate), round(hop_s * sample_rate))
    weighted = channel_weights(a.shape[0]) @ z
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(np.maximum(weighted, 0.0))


def _block_mean_squares(y: np.ndarray, block: int, hop: int) -> np.ndarray:
    """Mean square (float64) of ``y [C, n]`` over blocks of ``block`` samples every ``hop`` samples:
    ``[C, blocks]`` (``[C, 1]``, the whole signal, when it is shorter than one block).

    When ``hop`` divides ``block`` (400 ms every 100 ms at every rate that is a multiple of 10
    Hz), each block sums ``block // hop`` hop sums, taken without a squared copy of the signal;
    otherwise a running sum of squares gives every block."""
    c, n = y.shape
    if n < block:
        return np.einsum("cn,cn->c", y, y, dtype=np.float64)[:, None] / n
    blocks = (n - block) // hop + 1
    if block % hop == 0:
        per_block = block // hop
        hops = blocks - 1 + per_block
        frames = y[:, : hops * hop].reshape(c, hops, hop)
        hop_sums = np.einsum("cmh,cmh->cm", frames, frames, dtype=np.float64)
        csum = np.concatenate([np.zeros((c, 1)), np.cumsum(hop_sums, axis=1)], axis=1)
        return (csum[:, per_block:] - csum[:, : blocks]) / block
    csum = np.concatenate([np.zeros((c, 1)), np.cumsum(np.square(y, dtype=np.float64), axis=1)], axis=1)
    starts = np.arange(0, n - block + 1, hop)
    return (csum[:, starts + block] - csum[:, starts]) / block


def _power_mean_lufs(levels: np.ndarray) -> float:
    return -0.691 + 10 * math.log10(float(np.mean(10 ** ((levels + 0.691) / 10))))


#: Lowest sample rate (Hz) at which loudness is measured: BS.1770's K-weighting shelf sits at
#: 1.68 kHz and must lie below the Nyquist frequency (its filters are unstable at 1 or 2 kHz).
LOUDNESS_MIN_SAMPLE_RATE_HZ = 4000


def loudness_measurable(sample_rate: float) -> bool:
    """Whether :func:`integrated_loudness_lufs` can measure audio at ``sample_rate`` Hz."""
    return sample_rate >= LOUDNESS_MIN_SAMPLE_RATE_HZ


def integrated_loudness_lufs(x: np.ndarray, sample_rate: float) -> float:
    """Integrated loudness (LUFS) per ITU-R BS.1770-4.

    K-weighting for the actual sample rate, 400 ms blocks with 75 % overlap, absolute gate at
    −70 LUFS, relative gate 10 LU below the absolute-gated loudness, channel weights from
    :func:`channel_weights`. A 997 Hz sine at −20 dBFS gives −23.0 LUFS; a full-scale 1 kHz
    sine in one channel −3.01 LUFS. Signals shorter than 400 ms are measured as one block;
    returns −inf when every block is below the absolute gate. ValueError below
    :data:`LOUDNESS_MIN_SAMPLE_RATE_HZ`.
    """
    if not loudness_measurable(sample_rate):
        raise ValueError(f"loudness is not measurable below {LOUDNESS_MIN_SAMPLE_RATE_HZ} Hz, got {sample_rate:g} Hz")
    levels = _block_loudness(x, sample_rate, 0.4, 0.1)
    gated = levels[levels > -70.0]
    if gated.size == 0:
        return -math.inf
    relative = _power_mean_lufs(gated) - 10.0
    gated = gated[gated > relative]
    return _power_mean_lufs(gated)


def loudness_range_lu(x: np.ndarray, sample_rate: float) -> float:
    """Loudness range (LU) per EBU Tech 3342.

    Short-term loudness in 3 s windows every 0.1 s; absolute gate −70 LUFS, relative gate 20 LU
    below the power mean of the absolute-gated windows; LRA = 95th − 10th percentile of what
    remains. Tech 3342's test signals (−20 then −30 dBFS, 20 s each) give 10 LU. Returns 0.0 when
    fewer than two windows pass the gates.
    """
    levels = _block_loudness(x, sample_rate, 3.0, 0.1)
    gated = levels[levels > -70.0]
    if gated.size < 2:
        return 0.0
    relative = _power_mean_lufs(gated) - 20.0
    gated = gated[gated > relative]
    if gated.size < 2:
        return 0.0
    lo, hi = np.percentile(gated, [10, 95])
    return float(hi - lo)


# ---------------------------------------------------------------------------------------------
# Distortion and pitch
# ---------------------------------------------------------------------------------------------


def _blackman_harris(n: int) -> np.ndarray:
    k = np.arange(n) * 2 * np.pi / n
    return 0.35875 - 0.48829 * np.cos(k) + 0.14128 * np.cos(2 * k) - 0.01168 * np.cos(3 * k)


def harmonic_amplitudes(
    x: np.ndarray, sample_rate: float, f0_hz: float, n_harmonics: int | None = None
) -> np.ndarray:
    """RMS-proportional amplitudes of harmonics 1..N of ``f0_hz`` (same arbitrary unit) → [N].

    Windowed FFT (4-term Blackman-Harris, side lobes −92 dB); the power of harmonic k is summed
    over ±5 bins around the largest bin within ±1 % (at least ±3 bins) of k·f0. Channels' powers
    add. ``n_harmonics`` defaults to every harmonic at least 6 bins below Nyquist. The signal
    must span at least 12 periods of f0 (ValueError otherwise).
    """
    a = _as_2d(x)
    n = a.shape[1]
    if f0_hz <= 0 or f0_hz >= sample_rate / 2:
        raise ValueError(f"f0_hz must lie in (0, {sample_rate / 2}) Hz, not {f0_hz}")
    bin_hz = sample_rate / n
    if f0_hz < 12 * bin_hz:
        raise ValueError(f"signal too short to resolve harmonics of {f0_hz} Hz: need >= {12 / f0_hz:.3f} s")
    spec = np.sum(np.abs(np.fft.rfft(a * _blackman_harris(n), axis=1)) ** 2, axis=0)
    n_bins = spec.shape[0]
    max_k = int((n_bins - 7) * bin_hz // f0_hz)
    n_harmonics = max_k if n_harmonics is None else min(n_harmonics, max_k)
    out = np.zeros(max(n_harmonics, 1))
    for k in range(1, n_harmonics + 1):
        centre = k * f0_hz / bin_hz
        span = max(3, int(0.01 * centre))
        lo, hi = max(0, int(centre) - span), min(n_bins, int(centre) + span + 2)
        peak = lo + int(np.argmax(spec[lo:hi]))
        out[k - 1] = math.sqrt(spec[max(0, peak - 5) : peak + 6].sum())
    return out


def thd(x: np.ndarray, sample_rate: float, f0_hz: float, n_harmonics: int | None = None) -> float:
    """Total harmonic distortion as a ratio (not %, not dB): RMS of harmonics 2..N over the
    fundamental's RMS, sqrt(Σ_{k≥2} A_k²) / A_1. A pure sine → ~0; a square wave → 0.483.

    ``n_harmonics`` defaults to every harmonic below Nyquist (see :func:`harmonic_amplitudes`).
    """
    amps = harmonic_amplitudes(x, sample_rate, f0_hz, n_harmonics)
    if amps[0] <= 0:
        raise ValueError(f"no energy at the fundamental {f0_hz} Hz")
    return float(math.sqrt(float(np.sum(amps[1:] ** 2))) / amps[0])


def _yin_cmnd(frames: np.ndarray, w: int, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-mean-normalised difference [F, max_lag + 1] and window energy [F] of frames
    [F, w + max_lag + 1]; the difference function comes from FFT cross-correlation."""
    n_fft = 2 ** math.ceil(math.log2(2 * frames.shape[1]))
    spec_full = np.fft.rfft(frames, n_fft, axis=1)
    spec_head = np.fft.rfft(frames[:, :w], n_fft, axis=1)
    cross = np.fft.irfft(np.conj(spec_head) * spec_full, n_fft, axis=1)[:, : max_lag + 1]
    sq = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(max_lag + 1)
    e_head = sq[:, w][:, None]
    e_shift = sq[:, lags + w] - sq[:, lags]
    diff = np.maximum(e_head + e_shift - 2 * cross, 0.0)  # d(τ)
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        cmnd[:, 1:] = np.where(cum > 0, diff[:, 1:] * lags[1:] / cum, 1.0)
    return cmnd, e_head[:, 0]


def _yin_pick(
    c: np.ndarray, min_lag: int, max_lag: int, threshold: float, sample_rate: float
) -> tuple[float, bool]:
    """f0 (Hz) of one frame's normalised difference ``c`` and whether it dipped under threshold."""
    region = c[min_lag:max_lag]
    below = np.flatnonzero(region < threshold)
    if below.size:
        t = int(below[0]) + min_lag
        while t + 1 < max_lag and c[t + 1] < c[t]:
            t += 1
        periodic = True
    else:
        t = int(np.argmin(region)) + min_lag
        periodic = False
    y0, y1, y2 = c[t - 1], c[t], c[t + 1]  # min_lag >= 2 and t < max_lag: all exist
    den = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / den if den > 0 else 0.0
    return sample_rate / (t + float(np.clip(shift, -1, 1))), periodic


def yin_track(
    x: np.ndarray,
    sample_rate: float,
    fmin: float = 50.0,
    fmax: float = 1000.0,
    hop_s: float = 0.01,
    threshold: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """YIN pitch track of the channel mean → (f0_hz [F], voiced [F] bool), one frame per ``hop_s``.

    Per frame: cumulative-mean-normalised difference function over lags sample_rate/fmax ..
    sample_rate/fmin, the first dip under ``threshold`` (else the global minimum, marked
    unvoiced), parabolic interpolation of the lag. Frames more than 40 dB below the loudest
    frame are unvoiced. Memory is bounded (frames are processed 256 at a time).
    """
    a = _as_2d(x).mean(axis=0)
    if not 0 < fmin < fmax < sample_rate / 2:
        raise ValueError(f"need 0 < fmin < fmax < Nyquist, got fmin={fmin}, fmax={fmax}")
    max_lag = math.ceil(sample_rate / fmin) + 1
    min_lag = max(2, math.floor(sample_rate / fmax))
    w = max_lag  # integration window: one longest period
    hop = max(1, round(hop_s * sample_rate))
    length = w + max_lag + 1
    if a.shape[0] < length:
        a = np.pad(a, (0, length - a.shape[0]))
    starts = np.arange(0, a.shape[0] - length + 1, hop)
    f0 = np.zeros(len(starts))
    periodic = np.zeros(len(starts), bool)
    energy = np.zeros(len(starts))
    for s0 in range(0, len(starts), 256):
        frames = a[starts[s0 : s0 + 256, None] + np.arange(length)[None, :]]
        cmnd, energy[s0 : s0 + len(frames)] = _yin_cmnd(frames, w, max_lag)
        for i, c in enumerate(cmnd):
            f0[s0 + i], periodic[s0 + i] = _yin_pick(c, min_lag, max_lag, threshold, sample_rate)
    loud = energy > energy.max() * 1e-4 if energy.max() > 0 else np.zeros_like(periodic)
    voiced = periodic & loud & (f0 >= fmin) & (f0 <= fmax)
    return f0, voiced


def estimate_f0_hz(x: np.ndarray, sample_rate: float, fmin: float = 50.0, fmax: float = 1000.0) -> float:
    """Fundamental frequency (Hz): median of the YIN track over voiced frames.

    Robust to a few octave errors (median). Returns nan when no frame is voiced.
    """
    f0, voiced = yin_track(x, sample_rate, fmin, fmax)
    if not voiced.any():
        return math.nan
    return float(np.median(f0[voiced]))

"""Fast, streaming file renderer of the effect chain: the same math as :mod:`audiomanip.effects`.

Order (``params.EFFECT_ORDER``): pitch → eq → distortion → compressor → reverb → output gain,
then peak safety. Disabled effects are skipped (bit-transparent). Every stage keeps its state
across blocks, so memory does not grow with the length of the file. Everything runs on numpy
(the shared formulas of :mod:`audiomanip.effects` are called with numpy arrays; torch is never
imported); the audio is float32, coefficients, impulse response and curve constants are
computed once per render in float64 (within 1e-7 of the float64 torch path in the tests):

* pitch: Rubber Band through ``pedalboard.time_stretch`` (stretch 1, high-quality "finer"
  engine with its short window, no formant preservation: a classic pitch shift; the short
  window measured as steady as the default long one on sines from 82 Hz to 2 kHz shifted by
  −5 and +7 semitones, at 2.7× less CPU). ``pedalboard.PitchShift`` is not used: its
  streaming mode (``reset=False``) outputs silence in pedalboard 0.9.x (spotify/pedalboard#415),
  and its real-time engine makes tonal sounds waver (dips of up to 8 dB on a 440 Hz sine shifted
  by −5 semitones, against ±0.3 dB here). The signal is shifted in fixed segments of
  :data:`PITCH_SEGMENT` frames with warm-up context either side (the call is latency
  compensated and length preserving), joined by a crossfade aligned by cross-correlation (so
  periodic sounds do not cancel) and normalised by that correlation (so noise keeps its power).
  The segment grid is fixed, so the result does not depend on the caller's block sizes.
* eq: the RBJ biquads from ``dsp.eq.biquad_coefficients`` filtered by ``dsp.iir.SosFilter``
  (float32 output products from float64 states, state carried; the filter of
  ``scipy.signal.sosfilt`` without importing scipy).
* distortion: the memoryless curve of ``dsp.distortion`` (``curve_constants`` once,
  ``apply_curve`` per block), then its DC blocker (the RBJ high-pass of
  ``dsp.distortion.dc_blocker_coefficients``) by ``dsp.iir.SosFilter`` with state carried.
* compressor: ``pedalboard.Compressor`` (``reset=False``) plus make-up gain.
* reverb: FFT overlap-add convolution with the very IR of ``dsp.reverb.reverb_ir``: one
  partition for short IRs, uniformly partitioned for long tails (:func:`reverb_partition`);
  the tail is flushed at the end.
* output gain, then peak safety: a look-ahead limiter (ceiling :data:`PEAK_CEILING_DBFS`,
  :data:`LIMITER_LOOKAHEAD_MS` look-ahead; latency compensated) and a final clip, so no
  sample exceeds the ceiling.

The output is aligned with the input and has its length, plus the reverb tail when reverb is
enabled and ``tail`` is true.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiomanip.effects.iir import SosFilter
from audiomanip.params import EFFECT_ORDER, EQ_BAND_TYPES, Preset, eq_bands

#: Peak safety ceiling in dBFS.
PEAK_CEILING_DBFS = -0.1
#: Look-ahead (and attack/release ramp) of the peak limiter in ms.
LIMITER_LOOKAHEAD_MS = 1.5
#: Frames per block when rendering files.
BLOCK_FRAMES = 65536
#: Frames per pitch-shift segment (plus warm-up context and crossfade).
PITCH_SEGMENT = 1 << 18
#: Longest IR (frames) convolved as one partition; longer ones are cut into partitions of at
#: least this length (:func:`reverb_partition`).
REVERB_PARTITION = 16384
#: Work of the two FFTs per sample and log2 of their length, in complex multiply-adds (measured).
_FFT_COST = 2.0

Progress = Callable[[dict], None]


class _Stage:
    """A streaming processor of float32 blocks [C, n]: ``process`` returns whatever output is
    ready ([C, m], m may differ from n), ``flush`` the rest once the input has ended."""

    def process(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def flush(self) -> np.ndarray:
        return np.zeros((self.channels, 0))


class _Gain(_Stage):
    def __init__(self, channels: int, gain_db: float):
        self.channels = channels
        self.gain = 10.0 ** (gain_db / 20.0)

    def process(self, x):
        return x * self.gain


class _Distortion(_Stage):
    """The curve of ``dsp.distortion`` (its constants computed once, in float64, then applied
    to float32 blocks by ``dsp.distortion.apply_curve``), then the DC blocker of
    ``dsp.distortion.dc_blocker_coefficients`` as an exact IIR with state (``SosFilter``)."""

    def __init__(self, channels: int, sample_rate: float, drive_db: float, color: float):
        import array_api_compat.numpy as xnp

        from audiomanip.effects.distortion import curve_constants, dc_blocker_coefficients

        self.channels = channels
        constants = curve_constants(np.array([drive_db]), np.array([color]))
        self.constants = [np.float32(c[0]) for c in constants]  # g, tanh(b), k
        b, a = dc_blocker_coefficients(sample_rate, xnp)
        self.dc_blocker = SosFilter(np.concatenate([b, a])[None], channels, dtype=np.float32)

    def process(self, x):
        from audiomanip.effects.distortion import apply_curve

        if x.shape[1] == 0:
            return x
        return self.dc_blocker.process(apply_curve(x.astype(np.float32), *self.constants))


class _EQ(_Stage):
    def __init__(self, channels: int, sample_rate: float, values: dict):
        self.channels = channels
        self.sos = eq_sos(values, sample_rate)
        self.filter = SosFilter(self.sos, channels, dtype=np.float32)

    def process(self, x):
        if x.shape[1] == 0:
            return x
        return self.filter.process(x)


def eq_sos(values: dict, sample_rate: float) -> np.ndarray:
    """SOS matrix [bands, 6] (float64) of the EQ settings ``values`` (a Preset's ``eq`` values)."""
    from audiomanip.effects.eq import biquad_coefficients

    bands = eq_bands(values)
    band_type = np.array([EQ_BAND_TYPES.index(band.type) for band in bands])
    freq, gain, q = (np.array([getattr(band, name) for band in bands], dtype=np.float64)
                     for name in ("freq_hz", "gain_db", "q"))
    b, a = biquad_coefficients(band_type, freq, gain, q, float(sample_rate))
    return np.concatenate([b, a], axis=-1)


class _Compressor(_Stage):
    def __init__(self, channels: int, sample_rate: float, values: dict):
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


class _Reverb(_Stage):
    """(1 − wet)·x + wet·(x ⊛ IR) by FFT overlap-add convolution in float32.

    The IR (float64, kept as :attr:`ir`) is cut into ``K`` partitions of ``P`` samples
    (:func:`reverb_partition`): one partition (plain FFT overlap-add) for short IRs, uniformly
    partitioned convolution for long tails. All whole partitions of a block go through one
    batched rFFT; partition ``j``'s output spectrum is ``Σ_k X[j − k] · H[k]`` over the input
    spectra of this block and the ``K − 1`` before it (the frequency-domain delay line).
    """

    def __init__(self, channels: int, sample_rate: float, values: dict, tail: bool):
        self.channels = channels
        self.ir = reverb_ir_numpy(values, sample_rate)  # [2, N]
        self.wet = float(values["wet"])
        self.tail = tail
        n_ir = self.ir.shape[1]
        p = self.partition = reverb_partition(n_ir)
        k = self.n_parts = -(-n_ir // p)
        padded = np.zeros((2, k * p))
        padded[:, :n_ir] = self.ir
        spectra = np.fft.rfft(padded.reshape(2, k, p).astype(np.float32), n=2 * p, axis=-1)  # [2, K, P+1]
        self.h = spectra[[c % 2 for c in range(channels)]]  # [C, K, P+1] complex64
        # the input spectra of the K − 1 latest partitions, oldest first
        self.history = np.zeros((channels, k - 1, p + 1), dtype=np.complex64)
        self.overlap = np.zeros((channels, p), dtype=np.float32)
        self.pending = np.zeros((channels, 0), dtype=np.float32)
        self.frames_in = 0
        self.frames_out = 0

    @property
    def tail_frames(self) -> int:
        return self.ir.shape[1] - 1

    def _partitions(self, x: np.ndarray) -> np.ndarray:
        """Whole partitions ``x [C, J·P]`` (float32) → their output ``[C, J·P]``."""
        p, k = self.partition, self.n_parts
        c, n = x.shape
        j = n // p
        spectra = np.concatenate([self.history, np.fft.rfft(x.reshape(c, j, p), n=2 * p, axis=-1)], axis=1)
        acc = spectra[:, k - 1 :] * self.h[:, 0, None]
        for i in range(1, k):
            acc += spectra[:, k - 1 - i : k - 1 - i + j] * self.h[:, i, None]
        self.history = spectra[:, j:]
        y = np.fft.irfft(acc, n=2 * p, axis=-1)  # [C, J, 2P]
        out = y[:, :, :p]
        out[:, 0] += self.overlap
        out[:, 1:] += y[:, :-1, p:]
        self.overlap = y[:, -1, p:].copy()
        out = out.reshape(c, n)
        out *= np.float32(self.wet)
        out += np.float32(1.0 - self.wet) * x
        return out

    def process(self, x):
        self.frames_in += x.shape[1]
        buf = np.concatenate([self.pending, x.astype(np.float32, copy=False)], axis=1)
        whole = buf.shape[1] // self.partition * self.partition
        out = self._partitions(buf[:, :whole]) if whole else np.zeros((self.channels, 0), np.float32)
        self.pending = buf[:, whole:]
        return self._emit(out, self.frames_in)

    def flush(self):
        total = self.frames_in + (self.tail_frames if self.tail and self.frames_in else 0)
        p = self.partition
        needed = max(0, total - self.frames_out)
        n = -(-needed // p) * p
        buf = np.zeros((self.channels, n), dtype=np.float32)
        buf[:, : self.pending.shape[1]] = self.pending[:, :n]
        self.pending = np.zeros((self.channels, 0), dtype=np.float32)
        out = self._partitions(buf) if n else buf
        return self._emit(out, total)

    def _emit(self, y: np.ndarray, limit: int) -> np.ndarray:
        y = y[:, : max(0, limit - self.frames_out)]
        self.frames_out += y.shape[1]
        return y


def reverb_partition(n_ir: int) -> int:
    """Partition length (samples, a power of two) for an IR of ``n_ir`` samples.

    Time-domain (direct) convolution only pays off below ~64 taps, far shorter than any IR of
    the schema (T60 >= 0.15 s). So: one partition (plain FFT overlap-add) up to
    :data:`REVERB_PARTITION` samples, otherwise the partition length that minimises the
    estimated work per sample: two FFTs of ``2P`` points (∝ log2 2P) plus ``K = ⌈N / P⌉``
    complex multiply-adds per bin.
    """
    single = 1 << max(6, (n_ir - 1).bit_length())
    if single <= REVERB_PARTITION:
        return single

    def cost(p: int) -> float:
        return _FFT_COST * math.log2(2 * p) + -(-n_ir // p)

    return min((1 << b for b in range(REVERB_PARTITION.bit_length() - 1, 18)), key=cost)


def reverb_ir_numpy(values: dict, sample_rate: float) -> np.ndarray:
    """The reverb's IR as numpy float64 [2, N]: exactly ``dsp.reverb.reverb_ir`` of ``values``
    (a Preset's ``reverb`` values) with float64 parameters."""
    from audiomanip.effects.reverb import reverb_ir

    args = [np.array([float(values[n])]) for n in ("room_size", "pre_delay_ms", "diffusion", "damping")]
    return reverb_ir(sample_rate, *args)[0]


class _Pitch(_Stage):
    """Pitch shift (tempo kept) in fixed segments, joined by correlation-aligned crossfades
    (module doc)."""

    WARMUP = 8192
    CROSSFADE = 4096

    def __init__(self, channels: int, sample_rate: float, semitones: float):
        import pedalboard

        self.channels = channels
        self.sample_rate = sample_rate
        self._time_stretch = pedalboard.time_stretch
        self.semitones = float(semitones)
        self.max_lag = min(self.WARMUP // 2, int(sample_rate / 40.0))
        self.segment = 0  # index of the next segment to produce
        self.buf = np.zeros((channels, self.WARMUP))  # input from segment * S - WARMUP on
        self.frames_in = 0
        self.prev_tail: np.ndarray | None = None

    def _window_len(self) -> int:
        return PITCH_SEGMENT + self.CROSSFADE + 2 * self.WARMUP

    def _run_segment(self) -> np.ndarray:
        s, w, xf = PITCH_SEGMENT, self.WARMUP, self.CROSSFADE
        # Past the end of the input the window only needs the remaining samples and W of zeros.
        length = min(self._window_len(), self.buf.shape[1] + w)
        window = np.zeros((self.channels, length), dtype=np.float32)
        avail = self.buf[:, :length]
        window[:, : avail.shape[1]] = avail
        y = self._time_stretch(window, self.sample_rate, stretch_factor=1.0, pitch_shift_in_semitones=self.semitones,
                               high_quality=True, use_long_fft_window=False,
                               preserve_formants=False).astype(np.float64)
        lag, rho = 0, 1.0
        if self.prev_tail is not None:
            lag, rho = _best_lag(self.prev_tail, y[:, w - self.max_lag : w + xf + self.max_lag], self.max_lag)
        seg = y[:, w + lag : w + lag + s + xf]
        if self.prev_tail is not None:
            k = min(xf, seg.shape[1])
            ramp = (np.arange(k) + 0.5) / xf
            g_old, g_new = 1.0 - ramp, ramp
            norm = np.sqrt(g_old**2 + g_new**2 + 2.0 * rho * g_old * g_new)
            seg = seg.copy()
            seg[:, :k] = (g_old * self.prev_tail[:, :k] + g_new * seg[:, :k]) / norm
        self.prev_tail = seg[:, s:]
        self.buf = self.buf[:, s:]
        self.segment += 1
        return seg[:, :s]

    def process(self, x):
        self.frames_in += x.shape[1]
        self.buf = np.concatenate([self.buf, x], axis=1)
        outs = []
        while self.buf.shape[1] >= self._window_len():
            outs.append(self._run_segment())
        return np.concatenate(outs, axis=1) if outs else np.zeros((self.channels, 0))

    def flush(self):
        outs = []
        while self.segment * PITCH_SEGMENT < self.frames_in:
            outs.append(self._run_segment())
        y = np.concatenate(outs, axis=1) if outs else np.zeros((self.channels, 0))
        done = (self.segment - len(outs)) * PITCH_SEGMENT
        return y[:, : self.frames_in - done]


def _best_lag(ref: np.ndarray, cand: np.ndarray, max_lag: int) -> tuple[int, float]:
    """Lag in [-max_lag, max_lag] at which ``cand[:, max_lag + lag :][:, :n]`` best matches
    ``ref`` [C, n] (normalised cross-correlation summed over channels), and that correlation
    clipped to [0, 1]."""
    n = ref.shape[1]
    size = 1 << (cand.shape[1] + n).bit_length()
    corr = np.fft.irfft(np.conj(np.fft.rfft(ref, size)) * np.fft.rfft(cand, size), size).sum(0)
    corr = corr[: 2 * max_lag + 1]
    energy = np.concatenate([[0.0], np.cumsum((cand**2).sum(0))])
    cand_energy = energy[n : n + 2 * max_lag + 1] - energy[: 2 * max_lag + 1]
    ref_energy = float((ref**2).sum())
    denom = np.sqrt(np.maximum(cand_energy * ref_energy, 1e-30))
    score = corr / denom
    best = int(np.argmax(score))
    if ref_energy <= 1e-20 or cand_energy[best] <= 1e-20:
        return 0, 1.0
    return best - max_lag, float(np.clip(score[best], 0.0, 1.0))


def _running_min(a: np.ndarray, length: int) -> np.ndarray:
    """``m[i] = min(a[i : i + length])`` for i = 0 … len(a) − length (van Herk / Gil-Werman:
    prefix minima forward and suffix minima backward within blocks of ``length``, O(len(a)))."""
    n_out = a.shape[0] - length + 1
    blocks = -(-a.shape[0] // length)
    padded = np.full(blocks * length, np.inf)
    padded[: a.shape[0]] = a
    tiles = padded.reshape(blocks, length)
    forward = np.minimum.accumulate(tiles, axis=1).reshape(-1)  # min from the block start to i
    backward = np.minimum.accumulate(tiles[:, ::-1], axis=1)[:, ::-1].reshape(-1)  # min from i to the block end
    # The window [i, i + length) spans at most two blocks: i's suffix and (i + length − 1)'s prefix.
    return np.minimum(backward[:n_out], forward[length - 1 : length - 1 + n_out])


class _PeakLimiter(_Stage):
    """Look-ahead peak limiter, latency compensated.

    a[n] = min(1, ceiling / max_c |x[c, n]|); m = running minimum of a over L samples;
    g = moving average of m over L samples; y[n] = g[n] · x[n − L + 1], then clipped to the
    ceiling. Every gain in the window that sets g[n] is <= a[n − L + 1], so |y| <= ceiling;
    with nothing above the ceiling g is exactly 1 (bit-transparent). The L − 1 samples of
    latency are dropped at the start and flushed with zeros at the end.
    """

    def __init__(self, channels: int, sample_rate: float):
        self.channels = channels
        self.ceiling = 10.0 ** (PEAK_CEILING_DBFS / 20.0)
        self.length = max(2, round(LIMITER_LOOKAHEAD_MS * 1e-3 * sample_rate))
        h = self.length - 1
        self.a_hist = np.ones(h)
        self.m_hist = np.ones(h)
        self.x_hist = np.zeros((channels, h), dtype=np.float32)
        self.to_drop = h
        self.frames_in = 0

    def process(self, x):
        n = x.shape[1]
        if n == 0:
            return x
        self.frames_in += n
        h = self.length - 1
        peak = np.abs(x).max(axis=0)
        a = np.ones(n)
        over = peak > self.ceiling
        a[over] = self.ceiling / peak[over]
        a_ext = np.concatenate([self.a_hist, a])
        x_ext = np.concatenate([self.x_hist, x], axis=1)
        if not over.any() and (self.m_hist == 1.0).all() and (self.a_hist == 1.0).all():
            # nothing above the ceiling in reach: every gain below is exactly 1
            m_ext = np.ones(h + n)
            y = np.clip(x_ext[:, :n], -self.ceiling, self.ceiling)
        else:
            m = _running_min(a_ext, self.length)  # m[n] = min(a[n - L + 1 .. n])
            m_ext = np.concatenate([self.m_hist, m])
            d = np.concatenate([[0.0], np.cumsum(1.0 - m_ext)])
            g = 1.0 - (d[self.length :] - d[: -self.length]) / self.length
            y = np.clip(g.astype(np.float32) * x_ext[:, :n], -self.ceiling, self.ceiling)
        self.a_hist, self.m_hist, self.x_hist = a_ext[-h:], m_ext[-h:], x_ext[:, -h:]
        drop = min(self.to_drop, n)
        self.to_drop -= drop
        return y[:, drop:]

    def flush(self):
        if self.frames_in == 0:
            return np.zeros((self.channels, 0))
        return self.process(np.zeros((self.channels, self.length - 1)))[:, : self.length - 1]


class ChainRenderer:
    """Streaming renderer of one preset: ``process(block [C, n])`` → ready output ``[C, m]``
    (float32), ``flush()`` → the rest, reverb tail included. Concatenated, the outputs are the
    input's length plus :attr:`tail_frames`, aligned with the input, and do not depend on how
    the input was cut into blocks. Memory is independent of the length of the audio.
    """

    def __init__(self, preset: Preset, sample_rate: float, channels: int, *, peak_safety: bool = True,
                 tail: bool = True):
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.preset = preset
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.stages: list[_Stage] = []
        self.tail_frames = 0
        for name in EFFECT_ORDER:
            if not preset.enabled[name]:
                continue
            stage = self._stage(name, preset.values[name], tail)
            if stage is not None:
                self.stages.append(stage)
        if peak_safety:
            self.stages.append(_PeakLimiter(self.channels, self.sample_rate))
        self._flushed = False

    def _stage(self, name: str, values: dict, tail: bool) -> _Stage | None:
        c, sr = self.channels, self.sample_rate
        if name == "pitch":
            return _Pitch(c, sr, values["semitones"]) if float(values["semitones"]) != 0.0 else None
        if name == "eq":
            return _EQ(c, sr, values)
        if name == "distortion":
            return _Distortion(c, sr, float(values["drive_db"]), float(values["color"]))
        if name == "compressor":
            return _Compressor(c, sr, values)
        if name == "reverb":
            stage = _Reverb(c, sr, values, tail)
            if tail:
                self.tail_frames = stage.tail_frames
            return stage
        if name == "output":
            return _Gain(c, float(values["gain_db"]))
        raise ValueError(f"the renderer has no stage for effect {name!r}")

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed ``block`` [C, n] (any float dtype); returns the output ready so far, float32 [C, m]."""
        if self._flushed:
            raise RuntimeError("ChainRenderer.process after flush()")
        y = np.asarray(block, dtype=np.float32)
        if y.ndim != 2 or y.shape[0] != self.channels:
            raise ValueError(f"expected a block of shape [{self.channels}, n], got {tuple(np.shape(block))}")
        for stage in self.stages:
            y = stage.process(y)
        return y.astype(np.float32, copy=False)

    def flush(self) -> np.ndarray:
        """End of input: returns the remaining output (latencies and the reverb tail), float32."""
        self._flushed = True
        y = np.zeros((self.channels, 0))
        for stage in self.stages:
            y = np.concatenate([stage.process(y) if y.shape[1] else y, stage.flush()], axis=1)
        return y.astype(np.float32, copy=False)


def render(preset: Preset, audio: np.ndarray, sample_rate: float, *, tail: bool = True,
           peak_safety: bool = True) -> np.ndarray:
    """Render ``preset`` on ``audio`` [C, T] (or [T], taken as mono) at ``sample_rate`` Hz.

    Returns float32 [C, T'] with T' = T + the reverb tail (IR length − 1) when reverb is enabled
    and ``tail`` is true, else T (an empty input gives an empty output). With ``peak_safety`` no
    sample exceeds −0.1 dBFS. Non-finite input samples (NaN, ±Inf) are rendered as silence
    (files read by :mod:`audiomanip.audio_io` are already sanitised, with a warning).
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if not np.isfinite(x).all():
        x = np.where(np.isfinite(x), x, 0.0)
    renderer = ChainRenderer(preset, sample_rate, x.shape[0], peak_safety=peak_safety, tail=tail)
    outs = [renderer.process(x[:, i : i + BLOCK_FRAMES]) for i in range(0, x.shape[1], BLOCK_FRAMES)]
    outs.append(renderer.flush())
    return np.concatenate(outs, axis=1)


@dataclass
class RenderResult:
    """What :func:`render_file` did. Frames at the output's sample rate for ``out_frames``.
    ``warnings``: one-line notes about repairs made while reading the input (e.g. non-finite
    samples set to 0)."""

    in_path: Path
    out_path: Path
    sample_rate: int
    channels: int
    in_frames: int
    out_frames: int
    seconds_taken: float
    peak_dbfs: float
    warnings: list[str] = field(default_factory=list)


def render_file(preset: Preset, in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                audio_length_s: float | None = None, peak_safety: bool = True, overwrite: bool = False,
                subtype: str | None = None, sample_rate: int | None = None,
                progress: Progress | None = None, block_frames: int = BLOCK_FRAMES) -> RenderResult:
    """Render ``preset`` on the file ``in_path`` into ``out_path``, streaming block by block.

    The output keeps the input's channel count, sample rate (unless ``sample_rate`` in Hz asks
    for another: the input is resampled before the chain) and subtype (unless ``subtype`` is
    given or the output format cannot hold it); its format follows ``out_path``'s extension.
    ``audio_length_s`` renders only the first that many seconds. ``progress`` receives
    ``{"stage": "render", "done_frames", "total_frames"}`` (input frames) after every block.
    The output is written atomically (see ``audio_io.AtomicWriter``). Errors: InputNotFoundError,
    AudioReadError, OutputError, UsageError.
    """
    from audiomanip import audio_io
    from audiomanip.errors import UsageError

    started = time.perf_counter()
    info = audio_io.info(in_path)
    if audio_length_s is not None and not audio_length_s > 0:
        raise UsageError(f"audio length must be > 0 s, got {audio_length_s:g}")
    if sample_rate is not None and int(sample_rate) <= 0:
        raise UsageError(f"sample rate must be > 0 Hz, got {sample_rate}")
    sr_in = int(info.sample_rate)
    sr_out = int(sample_rate) if sample_rate else sr_in
    max_frames = None if audio_length_s is None else max(1, round(audio_length_s * sr_in))
    total = info.frames if max_frames is None else min(info.frames, max_frames)
    fmt = audio_io.format_for_path(out_path)
    out_subtype = audio_io.output_subtype(fmt, info.subtype, subtype, path=out_path)
    resampler = audio_io.StreamResampler(info.channels, sr_in, sr_out) if sr_out != sr_in else None
    renderer = ChainRenderer(preset, sr_out, info.channels, peak_safety=peak_safety)
    peak = 0.0
    done = 0
    with audio_io.AtomicWriter(out_path, sr_out, info.channels, format=fmt, subtype=out_subtype,
                               overwrite=overwrite, protect=in_path) as writer:

        def emit(y: np.ndarray) -> None:
            nonlocal peak
            if y.shape[1]:
                peak = max(peak, float(np.abs(y).max()))
                writer.write(y)

        reader = audio_io.iter_blocks(in_path, block_frames, max_frames)
        for block in reader:
            x = resampler.process(block) if resampler else block
            emit(renderer.process(x))
            done += block.shape[1]
            if progress is not None:
                progress({"stage": "render", "done_frames": done, "total_frames": total})
        if resampler:
            emit(renderer.process(resampler.flush()))
        emit(renderer.flush())
        out_frames = writer.frames_written
    return RenderResult(
        in_path=Path(in_path), out_path=Path(out_path), sample_rate=sr_out, channels=info.channels,
        in_frames=done, out_frames=out_frames, seconds_taken=time.perf_counter() - started,
        peak_dbfs=20.0 * math.log10(peak) if peak > 0 else -math.inf,
        warnings=list(reader.info.warnings),
    )

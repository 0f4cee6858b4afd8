"""Pitch shift with tempo preserved: the streaming render stage and the ffmpeg filter.

No differentiable implementation: the chain (:mod:`audiomanip.effects.chain`) passes the audio
through unchanged at pitch's position, so pitch is learned through the parameter loss only.

Render stage (:class:`PitchShift`): Rubber Band through ``pedalboard.time_stretch`` (stretch 1,
high-quality "finer" engine with its short window, no formant preservation: a classic pitch
shift; the short window measured as steady as the default long one on sines from 82 Hz to 2 kHz
shifted by −5 and +7 semitones, at 2.7× less CPU). ``pedalboard.PitchShift`` is not used: its
streaming mode (``reset=False``) outputs silence in pedalboard 0.9.x (spotify/pedalboard#415),
and its real-time engine makes tonal sounds waver (dips of up to 8 dB on a 440 Hz sine shifted
by −5 semitones, against ±0.3 dB here). The signal is shifted in fixed segments of
:data:`PITCH_SEGMENT` frames with warm-up context either side (the call is latency compensated
and length preserving), joined by a crossfade aligned by cross-correlation (so periodic sounds
do not cancel) and normalised by that correlation (so noise keeps its power). The segment grid
is fixed, so the result does not depend on the caller's block sizes. A shift of 0 semitones is
skipped (bit-transparent).

ffmpeg (:func:`ffmpeg_filter`): ``rubberband=pitch=2^(st/12)`` (tempo kept), or with
``pitch_method="asetrate"`` ``asetrate=SR·r,aresample=SR,atempo=1/r`` (``SR``: the audio's
sample rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from audiomanip.effects.registry import EffectEntry
from audiomanip.params import effect
from audiomanip.rendering.stage import Stage

#: Frames per pitch-shift segment (plus warm-up context and crossfade).
PITCH_SEGMENT = 1 << 18


def pitch_ratio(semitones: float) -> float:
    """Frequency ratio of a shift by ``semitones`` (12 = ×2)."""
    return 2.0 ** (float(semitones) / 12.0)


class PitchShift(Stage):
    """Pitch shift by ``values["semitones"]`` (tempo kept) of float32 blocks ``[channels, n]`` at
    ``sample_rate`` Hz, in fixed segments joined by correlation-aligned crossfades (module doc)."""

    WARMUP = 8192
    CROSSFADE = 4096

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int):
        import pedalboard

        self.channels = channels
        self.sample_rate = sample_rate
        self._time_stretch = pedalboard.time_stretch
        self.semitones = float(values["semitones"])
        self.max_lag = min(self.WARMUP // 2, int(sample_rate / 40.0))
        self.segment = 0  # index of the next segment to produce
        self.buf = np.zeros((channels, self.WARMUP))  # input from segment * S - WARMUP on
        self.frames_in = 0
        self.prev_tail: np.ndarray | None = None

    @classmethod
    def in_chain(cls, values, sample_rate, channels, *, tail=True):
        """Skipped (None) for a shift of 0 semitones."""
        return cls(values, sample_rate, channels) if float(values["semitones"]) != 0.0 else None

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


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str | None:
    """``rubberband`` (or ``asetrate,aresample,atempo`` with ``settings.pitch_method ==
    "asetrate"``) shifting by ``values["semitones"]``; None for a shift of 0."""
    from audiomanip.export import filter_number

    if abs(float(values["semitones"])) <= 1e-9:
        return None
    r = pitch_ratio(values["semitones"])
    if settings.pitch_method == "rubberband":
        return f"rubberband=pitch={filter_number(r)}:tempo=1"
    rate = settings.sample_rate
    return f"asetrate={filter_number(rate * r)},aresample={int(rate)},atempo={filter_number(1.0 / r)}"


EFFECT = EffectEntry(schema=effect("pitch"), render_stage=PitchShift, ffmpeg_filter=ffmpeg_filter)

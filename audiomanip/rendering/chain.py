"""The streaming renderer of a whole preset: the effects of the registry in the schema's order,
then peak safety.

Order (:data:`audiomanip.effects.registry.REGISTRY`, i.e. ``params.EFFECT_ORDER``): pitch → eq →
distortion → compressor → reverb → output gain, then the peak limiter
(:class:`audiomanip.rendering.limiter.PeakLimiter`). Each effect's stage lives with the effect
(``audiomanip/effects/<name>.py``: :class:`~audiomanip.effects.pitch.PitchShift`,
:class:`~audiomanip.effects.eq.EQ`, :class:`~audiomanip.effects.distortion.Distortion`,
:class:`~audiomanip.effects.compressor.Compressor`, :class:`~audiomanip.effects.reverb.Reverb`,
:class:`~audiomanip.effects.output.Gain`). Disabled effects are skipped (bit-transparent). Every
stage keeps its state across blocks, so memory does not grow with the length of the file.
Everything runs on numpy (the shared formulas of :mod:`audiomanip.effects` are called with numpy
arrays; torch is never imported); the audio is float32, coefficients, impulse response and curve
constants are computed once per render in float64 (within 1e-7 of the float64 torch path in the
tests).

The output is aligned with the input and has its length, plus the reverb tail when reverb is
enabled and ``tail`` is true.
"""

from __future__ import annotations

import numpy as np

from audiomanip.effects.registry import REGISTRY, EffectRegistry
from audiomanip.params import Preset
from audiomanip.rendering.limiter import PeakLimiter
from audiomanip.rendering.stage import BLOCK_FRAMES, Stage


class ChainRenderer:
    """Streaming renderer of one preset: ``process(block [C, n])`` → ready output ``[C, m]``
    (float32), ``flush()`` → the rest, reverb tail included. Concatenated, the outputs are the
    input's length plus :attr:`tail_frames`, aligned with the input, and do not depend on how
    the input was cut into blocks. Memory is independent of the length of the audio.

    The stages are those of ``registry`` (default: every effect of the schema) whose effect the
    preset enables, in the registry's order, then the peak limiter when ``peak_safety``.
    """

    def __init__(self, preset: Preset, sample_rate: float, channels: int, *, peak_safety: bool = True,
                 tail: bool = True, registry: EffectRegistry = REGISTRY):
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.preset = preset
        self.sample_rate = float(sample_rate)
        self.channels = int(channels)
        self.stages: list[Stage] = []
        for entry in registry.values():
            if not preset.enabled[entry.name]:
                continue
            values = preset.values[entry.name]
            stage = entry.render_stage.in_chain(values, self.sample_rate, self.channels, tail=tail)
            if stage is not None:
                self.stages.append(stage)
        if peak_safety:
            self.stages.append(PeakLimiter(self.channels, self.sample_rate))
        #: Frames the output has beyond the input's length (the reverb's tail when ``tail``).
        self.tail_frames = sum(stage.tail_frames for stage in self.stages)
        self._flushed = False

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
           peak_safety: bool = True, registry: EffectRegistry = REGISTRY) -> np.ndarray:
    """Render ``preset`` on ``audio`` [C, T] (or [T], taken as mono) at ``sample_rate`` Hz.

    Returns float32 [C, T'] with T' = T + the reverb tail (IR length − 1) when reverb is enabled
    and ``tail`` is true, else T (an empty input gives an empty output). With ``peak_safety`` no
    sample exceeds −0.1 dBFS. Non-finite input samples (NaN, ±Inf) are rendered as silence
    (files read by :mod:`audiomanip.audio_io` are already sanitised, with a warning).
    ``registry``: the effects to run (see :class:`ChainRenderer`).
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if not np.isfinite(x).all():
        x = np.where(np.isfinite(x), x, 0.0)
    renderer = ChainRenderer(preset, sample_rate, x.shape[0], peak_safety=peak_safety, tail=tail,
                             registry=registry)
    outs = [renderer.process(x[:, i : i + BLOCK_FRAMES]) for i in range(0, x.shape[1], BLOCK_FRAMES)]
    outs.append(renderer.flush())
    return np.concatenate(outs, axis=1)

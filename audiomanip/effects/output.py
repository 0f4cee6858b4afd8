"""Output gain (the renderer adds peak safety after it): numpy or torch, its render stage and
its ffmpeg filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiomanip.effects.arrays import device, float_arrays, namespace
from audiomanip.effects.registry import EffectEntry
from audiomanip.params import effect
from audiomanip.rendering.stage import Stage


def output(x, gain_db):
    """Multiply ``x [B, C, T]`` by ``10 ** (gain_db / 20)``; ``gain_db [B]`` in dB.

    Returns ``[B, C, T]`` in the dtype/device of ``x`` (numpy or torch, differentiable in torch).
    """
    xp = namespace(x, gain_db)
    (gain_db,) = float_arrays(xp, gain_db, dtype=x.dtype, device=device(x))
    return x * (10.0 ** (xp.reshape(gain_db, (-1,)) / 20.0))[:, None, None]


class Gain(Stage):
    """``values["gain_db"]`` (dB) on blocks ``[channels, n]``."""

    def __init__(self, values: Mapping[str, Any], sample_rate: float, channels: int):
        self.channels = channels
        self.gain = 10.0 ** (float(values["gain_db"]) / 20.0)

    def process(self, x):
        return x * self.gain


def ffmpeg_filter(values: Mapping[str, Any], settings) -> str | None:
    """``volume=<gain>dB``; None at 0 dB."""
    from audiomanip.export import filter_number

    if abs(float(values["gain_db"])) <= 1e-9:
        return None
    return f"volume={filter_number(values['gain_db'])}dB"


EFFECT = EffectEntry(schema=effect("output"), torch_function=output, render_stage=Gain,
                     ffmpeg_filter=ffmpeg_filter)

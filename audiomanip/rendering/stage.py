"""The streaming stage: what every effect's renderer (and the peak limiter) is.

A stage is built once per render from an effect's settings, like pedalboard's effect objects
(``EQ(values, sample_rate, channels)``), then fed float32 blocks ``[C, n]`` in order. It keeps its
state across blocks, so its output does not depend on how the input was cut into blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Frames per block when rendering files and in-memory audio.
BLOCK_FRAMES = 65536


class Stage:
    """A streaming processor of float32 blocks ``[C, n]``: :meth:`process` returns whatever
    output is ready (``[C, m]``, ``m`` may differ from ``n`` while a stage fills its latency),
    :meth:`flush` the rest once the input has ended. Concatenated, the outputs are the input's
    length plus :attr:`tail_frames` and aligned with it.

    Subclasses set :attr:`channels` and implement :meth:`process`; an effect's stage takes the
    effect's settings ``values`` (a Preset's values of that effect, physical units), the sample
    rate in Hz and the channel count.
    """

    channels: int
    #: Frames :meth:`flush` adds after the input's length (a reverb's tail), 0 for most stages.
    tail_frames: int = 0

    @classmethod
    def in_chain(cls, values: Mapping[str, Any], sample_rate: float, channels: int, *,
                 tail: bool = True) -> Stage | None:
        """The stage a chain renders for these settings, or None when it would leave the audio
        unchanged and is skipped. ``tail``: whether the chain's output keeps what rings on after
        the input (stages without a tail ignore it)."""
        return cls(values, sample_rate, channels)  # type: ignore[call-arg]

    def process(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def flush(self) -> np.ndarray:
        return np.zeros((self.channels, 0))

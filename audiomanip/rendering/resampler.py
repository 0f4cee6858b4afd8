"""Streaming resampling of the renderer's input (``render_file(..., sample_rate=...)``)."""

from __future__ import annotations

import numpy as np

from audiomanip.rendering.stage import BLOCK_FRAMES


class _StreamingResampler:
    """Polyphase resampling (``audio_io.resample``'s filter) of a stream, on a fixed grid of
    input chunks with context either side, so the result equals resampling the whole signal."""

    def __init__(self, channels: int, sr_from: int, sr_to: int):
        from math import gcd

        g = gcd(sr_from, sr_to)
        self.up, self.down = sr_to // g, sr_from // g
        self.channels = channels
        half = 10 * max(self.up, self.down)  # resample_poly's filter half-length (upsampled rate)
        self.context = -(-(half // self.up + 2) // self.down) * self.down
        self.chunk = -(-BLOCK_FRAMES // self.down) * self.down
        self.buf = np.zeros((channels, self.context))  # input from chunk_start - context on
        self.frames_in = 0
        self.frames_out = 0

    def _run(self, final: bool) -> np.ndarray:
        from scipy.signal import resample_poly

        c, k = self.context, self.chunk
        window = self.buf[:, : c + k + c]
        y = resample_poly(window, self.up, self.down, axis=-1, window=("kaiser", 8.6))
        start = c * self.up // self.down
        n_out = k * self.up // self.down
        if final:
            n_out = -(-self.frames_in * self.up // self.down) - self.frames_out
        y = y[:, start : start + n_out]
        if y.shape[1] < n_out:
            y = np.pad(y, ((0, 0), (0, n_out - y.shape[1])))
        self.buf = self.buf[:, k:]
        self.frames_out += y.shape[1]
        return y

    def process(self, x: np.ndarray) -> np.ndarray:
        self.frames_in += x.shape[1]
        self.buf = np.concatenate([self.buf, x], axis=1)
        outs = []
        while self.buf.shape[1] >= 2 * self.context + self.chunk:
            outs.append(self._run(False))
        return np.concatenate(outs, axis=1) if outs else np.zeros((self.channels, 0))

    def flush(self) -> np.ndarray:
        outs = []
        total = -(-self.frames_in * self.up // self.down)
        while self.frames_out < total:
            last = self.buf.shape[1] <= self.context + self.chunk
            if not last:
                outs.append(self._run(False))
            else:
                outs.append(self._run(True))
        return np.concatenate(outs, axis=1) if outs else np.zeros((self.channels, 0))



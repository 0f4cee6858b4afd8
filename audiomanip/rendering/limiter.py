"""The peak safety at the end of every chain: a look-ahead limiter (ceiling
:data:`PEAK_CEILING_DBFS`, :data:`LIMITER_LOOKAHEAD_MS` look-ahead, latency compensated) and a
final clip, so no sample exceeds the ceiling."""

from __future__ import annotations

import numpy as np

from audiomanip.rendering.stage import Stage

#: Peak safety ceiling in dBFS.
PEAK_CEILING_DBFS = -0.1
#: Look-ahead (and attack/release ramp) of the peak limiter in ms.
LIMITER_LOOKAHEAD_MS = 1.5


def running_min(a: np.ndarray, length: int) -> np.ndarray:
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


class PeakLimiter(Stage):
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
            m = running_min(a_ext, self.length)  # m[n] = min(a[n - L + 1 .. n])
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

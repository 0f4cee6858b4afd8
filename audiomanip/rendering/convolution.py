"""Streaming FFT convolution with an impulse response, dry/wet mixed (the reverb's renderer)."""

from __future__ import annotations

import math

import numpy as np

from audiomanip.rendering.stage import Stage

#: Longest IR (frames) convolved as one partition; longer ones are cut into partitions of at
#: least this length (:func:`reverb_partition`).
REVERB_PARTITION = 16384
#: Work of the two FFTs per sample and log2 of their length, in complex multiply-adds (measured).
_FFT_COST = 2.0


class Convolver(Stage):
    """(1 − wet)·x + wet·(x ⊛ IR) of float32 blocks ``[channels, n]`` by FFT overlap-add
    convolution in float32, channel ``c`` with IR channel ``c % 2``.

    The IR ``ir`` (float64 ``[2, N]``, kept as :attr:`ir`) is cut into ``K`` partitions of ``P``
    samples (:func:`reverb_partition`): one partition (plain FFT overlap-add) for short IRs,
    uniformly partitioned convolution for long tails. All whole partitions of a block go through
    one batched rFFT; partition ``j``'s output spectrum is ``Σ_k X[j − k] · H[k]`` over the input
    spectra of this block and the ``K − 1`` before it (the frequency-domain delay line). With
    ``tail`` the flush adds the IR's ring-out (:attr:`tail_frames`), else the output has the
    input's length.
    """

    def __init__(self, ir: np.ndarray, channels: int, *, wet: float, tail: bool = True):
        self.channels = channels
        self.ir = ir  # [2, N]
        self.wet = float(wet)
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
        return self.ir.shape[1] - 1 if self.tail else 0

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
        total = self.frames_in + (self.tail_frames if self.frames_in else 0)
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

"""Helpers for tests that check which tone a file holds (outputs must keep their input's f0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audiomanip.training.sources import sine


def write_tone(path: Path, f0: float, seconds: float, sample_rate: int) -> None:
    """A mono 0.5-amplitude sine of ``f0`` Hz, float32, in the format of ``path``'s suffix."""
    sf.write(path, sine(f0, seconds, sample_rate).T.astype(np.float32), sample_rate)


def peak_hz(path: Path) -> float:
    """Frequency (Hz) of the strongest spectral peak of the file (channels averaged): a pure
    tone's f0, to within one FFT bin (1 / duration)."""
    x, sr = sf.read(path, always_2d=True)
    x = x.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * sr / len(x)

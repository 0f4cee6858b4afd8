"""What the direction suite measures: the :data:`MEASURES` a check can ask for and :func:`measure`,
which computes one on a signal (through :mod:`audiomanip.features`).

Measures compare the processed signal with the unprocessed one either as a ratio
(``after / before``: centroid, f0) or a difference (``after - before``: dB, s, LU, %). Each has
default sources, named by role: the *material* (speech, a harmonic instrument, a drum loop, or
the files of ``--audio-dir``), the *pitched* material (f0), a sine probe (THD) or a dynamics probe
(loudness range needs windows of 3 s, so it has its own probe of loud and soft passages); the
sources themselves are built in :mod:`audiomanip.evaluation.sources`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from audiomanip.evaluation.sources import Source

#: Source roles: every material source, material with a clear pitch, and the two probes.
MATERIAL = "material"
PITCHED = "pitched"
SINE_PROBE = "sine"
DYNAMICS_PROBE = "dynamics"

#: Fewest frames voiced in both the unprocessed and the processed signal for an f0 ratio.
MIN_PITCH_FRAMES = 5
#: Frequency (Hz) of the sine probe that THD is measured on.
SINE_PROBE_HZ = 220.0
#: A reverb tail whose first 50 ms are quieter than this (dB of mean power relative to the last
#: 300 ms of the processed source) counts as no reverb: inaudible.
TAIL_FLOOR_DB = -40.0
#: Lower edge (Hz) of the "air" band (needs a sample rate well above 2 × this).
AIR_HZ = 10000.0


@dataclass(frozen=True)
class Measure:
    """One measurement a check can ask for.

    ``compare`` is ``"ratio"`` (change = after / before; thresholds are relative, 0.05 = 5 %) or
    ``"difference"`` (change = after - before, in ``unit``). ``segment`` is ``"body"`` (the first
    T samples, T = the unprocessed length) or ``"tail"`` (what the reverb adds after them).
    """

    name: str
    unit: str
    compare: str
    min_change: float
    sources: str
    segment: str
    description: str


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("centroid", "", "ratio", 0.05, MATERIAL, "body", "spectral centroid (Hz)"),
        Measure("tilt", "dB/oct", "difference", 0.3, MATERIAL, "body", "spectral tilt"),
        Measure("low", "dB", "difference", 0.5, MATERIAL, "body",
                "energy < 200 Hz relative to the rest of the spectrum"),
        Measure("low_mid", "dB", "difference", 0.5, MATERIAL, "body",
                "energy 200-2000 Hz relative to the rest of the spectrum"),
        Measure("high_mid", "dB", "difference", 0.5, MATERIAL, "body",
                "energy 2-6 kHz relative to the rest of the spectrum"),
        Measure("high", "dB", "difference", 0.5, MATERIAL, "body",
                "energy > 6 kHz relative to the rest of the spectrum"),
        Measure("air", "dB", "difference", 0.5, MATERIAL, "body",
                f"energy > {AIR_HZ / 1000:g} kHz relative to the rest of the spectrum"),
        Measure("band_level", "dB", "difference", 1.0, MATERIAL, "body",
                "level of the band low_hz-high_hz (absolute, dB)"),
        Measure("decay", "s", "difference", 0.15, MATERIAL, "tail",
                "decay time T30 of the reverberation added after the source ends (0 when none)"),
        Measure("crest", "dB", "difference", 0.5, MATERIAL, "body", "crest factor (peak / RMS)"),
        Measure("thd", "%", "difference", 1.0, SINE_PROBE, "body",
                "total harmonic distortion of a 220 Hz sine (percent)"),
        Measure("f0", "", "ratio", 2 ** (0.5 / 12) - 1, PITCHED, "body", "fundamental frequency (Hz)"),
        Measure("lra", "LU", "difference", 1.0, DYNAMICS_PROBE, "body",
                "loudness range (EBU Tech 3342) of a probe with loud and soft passages"),
        Measure("loudness", "LU", "difference", 1.0, MATERIAL, "body", "integrated loudness (LUFS)"),
    )
}


def _balance_db(ratios: Mapping[str, float], band: str) -> float:
    r = min(max(ratios[band], 1e-12), 1 - 1e-12)
    return 10 * math.log10(r / (1 - r))


def band_level_db(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float) -> float:
    """Mean power (dB, arbitrary but fixed reference) of ``x`` [C, T] between low_hz and high_hz
    (Hann-windowed FFT of the whole signal, channels summed); -inf for silence in the band."""
    from audiomanip.features import power_spectrum

    freqs, spec = power_spectrum(x, sample_rate, n_fft=None)
    sel = (freqs >= low_hz) & (freqs <= high_hz)
    p = float(spec[sel].mean()) if sel.any() else 0.0
    return 10 * math.log10(p) if p > 0 else -math.inf


def band_balance_db(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float = math.inf) -> float:
    """Energy between low_hz and high_hz relative to the energy outside it (dB) of ``x``
    [C, T]; -inf when the band is empty (e.g. above the source's own bandwidth)."""
    from audiomanip.features import power_spectrum

    freqs, spec = power_spectrum(x, sample_rate, n_fft=None)
    sel = (freqs >= low_hz) & (freqs < high_hz)
    inside, outside = float(spec[sel].sum()), float(spec[~sel].sum())
    if inside <= 0 or outside <= 0:
        return -math.inf
    return 10 * math.log10(inside / outside)


def tail_decay_s(audio: np.ndarray, sample_rate: float, body_frames: int) -> float:
    """Decay time T30 (s; T20 when the tail does not fall 35 dB) of what follows the first
    ``body_frames`` samples of ``audio`` [C, T'] (the reverb tail after the source ends); 0.0
    when there is no tail, or it is inaudible (:data:`TAIL_FLOOR_DB`), or it does not decay."""
    from audiomanip import features

    tail = audio[:, body_frames:].astype(np.float64)
    if tail.shape[1] < int(0.05 * sample_rate):
        return 0.0
    end = audio[:, max(0, body_frames - int(0.3 * sample_rate)):body_frames].astype(np.float64)
    p_tail = float(np.mean(tail[:, : int(0.05 * sample_rate)] ** 2))
    p_end = float(np.mean(end**2)) if end.size else 0.0
    if p_tail <= 0 or p_end <= 0 or 10 * math.log10(p_tail / p_end) < TAIL_FLOOR_DB:
        return 0.0
    for method in ("t30", "t20"):
        try:
            return features.decay_time_s(tail, sample_rate, method=method)
        except ValueError:
            continue
    return 0.0


def pitch_track(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """YIN f0 track (Hz, 10 ms hop, 30-1000 Hz) with nan in unvoiced frames → [F]."""
    from audiomanip import features

    f0, voiced = features.yin_track(x, sample_rate, fmin=30.0, fmax=1000.0)
    f0 = np.array(f0, dtype=np.float64)
    f0[~voiced] = np.nan
    return f0


def is_measurable(value: float | np.ndarray) -> bool:
    """Whether a measurement of an unprocessed source can anchor a check (finite; a pitch
    track with at least :data:`MIN_PITCH_FRAMES` voiced frames)."""
    if isinstance(value, np.ndarray):
        return int(np.isfinite(value).sum()) >= MIN_PITCH_FRAMES
    return math.isfinite(value)


def summary_value(value: float | np.ndarray) -> float:
    """A measurement as one number for reports (a pitch track's median over voiced frames)."""
    if isinstance(value, np.ndarray):
        v = value[np.isfinite(value)]
        return float(np.median(v)) if v.size else math.nan
    return float(value)


def measure(key: tuple, audio: np.ndarray, sample_rate: float, body_frames: int, *,
            reference: bool) -> float | np.ndarray:
    """The value of measure ``key`` (from :attr:`Check.key`) on ``audio`` [C, T'].

    ``body_frames`` is the length T of the unprocessed source; ``reference`` is True for the
    unprocessed source itself. ``f0`` returns the pitch track (:func:`pitch_track`); a
    reference where :func:`is_measurable` is false makes the check not apply to that source.
    """
    from audiomanip import features

    name = key[0]
    m = MEASURES[name]
    body = audio[:, :body_frames] if m.segment == "body" else audio
    if name == "centroid":
        return features.spectral_centroid_hz(body, sample_rate)
    if name == "tilt":
        return features.spectral_tilt_db_per_octave(body, sample_rate)
    if name in ("low", "low_mid", "high_mid", "high"):
        return _balance_db(features.band_energy_ratios(body, sample_rate), name)
    if name == "air":
        return band_balance_db(body, sample_rate, AIR_HZ) if sample_rate > 2.2 * AIR_HZ else math.nan
    if name == "band_level":
        return band_level_db(body, sample_rate, *key[1])
    if name == "decay":
        return 0.0 if reference else tail_decay_s(audio, sample_rate, body_frames)
    if name == "crest":
        return features.crest_factor_db(body)
    if name == "thd":
        f0 = SINE_PROBE_HZ
        if not reference:
            est = features.estimate_f0_hz(body, sample_rate)
            f0 = est if math.isfinite(est) else SINE_PROBE_HZ
        try:
            return 100.0 * features.thd(body, sample_rate, f0)
        except ValueError:
            return math.inf  # no energy at any fundamental: not a clean sine any more
    if name == "f0":
        return pitch_track(body, sample_rate)
    if name == "lra":
        return features.loudness_range_lu(body, sample_rate)
    if name == "loudness":
        return features.integrated_loudness_lufs(body, sample_rate)
    raise KeyError(name)


def measure_reference(source: Source, keys: Sequence[tuple], sample_rate: float) -> None:
    """Measure the unprocessed source once per key (cached on ``source.measurements``)."""
    n = source.audio.shape[1]
    for key in keys:
        if key not in source.measurements:
            source.measurements[key] = measure(key, source.audio, sample_rate, n, reference=True)

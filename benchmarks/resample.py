"""Resampling: audiomanip's resampler (soxr) vs scipy.signal.resample_poly, quality and speed.

audiomanip has one resampler, :mod:`audiomanip.audio_io.resample` (soxr, "HQ"). The baseline is
what it replaced: scipy.signal.resample_poly with a Kaiser window (beta 8.6), the filter the
package used for whole files and, run on overlapping chunks, for streams.

Quality, on 4 s sines (amplitude 0.5) for each rate pair:
  * passband: the level of 12 tones from 100 Hz up to 90 % of the lower Nyquist (worst deviation
    from 0 dB, over the steady part), of a 1 kHz tone and of a 19 kHz tone where both rates
    carry it;
  * stop band: a tone between the two Nyquist frequencies (19 kHz going 44.1 -> 16 kHz, 23.025
    kHz going 48 -> 44.1 kHz): what is left (its alias), in dB relative to the input tone;
  * the output frequency of the 1 kHz tone (a spectrum peak, quadratic interpolation).
Speed: 60 s of stereo music-like audio 48 kHz -> 44.1 kHz, whole file, and streamed in 65536-
frame blocks (soxr's stream; resample_poly has no streaming form: it gets the whole file, which
flatters it). Figure = audio seconds / wall seconds, best of 5, the two timed alternately.

    python benchmarks/resample.py            # quality table + speed row
    python benchmarks/resample.py --quick    # 10 s speed signal
"""

from __future__ import annotations

import argparse
import time
from math import gcd

import numpy as np
from _bench import Result

PAIRS = [(48000, 44100), (44100, 16000), (22050, 32000), (44100, 48000)]
SPEED_RATES = (48000, 44100)
BLOCK = 65536


def scipy_resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """The replaced resampler: resample_poly, Kaiser beta 8.6, exact rational ratio, x [C, T]."""
    from scipy.signal import resample_poly

    g = gcd(sr_from, sr_to)
    return resample_poly(x.astype(np.float64), sr_to // g, sr_from // g, axis=-1,
                         window=("kaiser", 8.6)).astype(np.float32)


def ours(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    from audiomanip.audio_io import resample

    return resample(x, sr_from, sr_to)


def ours_streamed(x: np.ndarray, sr_from: int, sr_to: int, block: int = BLOCK) -> np.ndarray:
    from audiomanip.audio_io import StreamResampler

    r = StreamResampler(x.shape[0], sr_from, sr_to)
    outs = [r.process(x[:, i:i + block]) for i in range(0, x.shape[1], block)]
    outs.append(r.flush())
    return np.concatenate(outs, axis=1)


def _level_db(y: np.ndarray, sr: int, f_hz: float) -> float:
    """Level (dB re the 0.5 input amplitude) of the component at ``f_hz`` in y's steady middle
    (a least-squares fit of a sine and cosine at that frequency)."""
    mid = y[0, sr // 2: -sr // 2].astype(np.float64)
    t = np.arange(mid.shape[0]) / sr
    basis = np.stack([np.sin(2 * np.pi * f_hz * t), np.cos(2 * np.pi * f_hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, mid, rcond=None)
    return 20 * np.log10(max(np.hypot(*coef), 1e-12) / 0.5)


def _peak_hz(y: np.ndarray, sr: int) -> float:
    mid = y[0, sr // 2: -sr // 2].astype(np.float64)
    spec = np.abs(np.fft.rfft(mid * np.hanning(mid.shape[0])))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / mid.shape[0]


def _sine(f_hz: float, sr: int, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * f_hz * t))[None, :].astype(np.float32)


def _left_db(y: np.ndarray, sr: int) -> float:
    """Everything left in y's steady middle, dB re the 0.5 input amplitude (RMS as a sine's)."""
    return 20 * np.log10(np.std(y[:, sr // 2: -sr // 2]) * np.sqrt(2) / 0.5 + 1e-12)


def quality(fn, sr_from: int, sr_to: int) -> dict:
    nyq = min(sr_from, sr_to) / 2
    pass_tones = list(np.linspace(100.0, 0.9 * nyq, 12))
    ripple = max(abs(_level_db(fn(_sine(f, sr_from), sr_from, sr_to), sr_to, f)) for f in pass_tones)
    one_k = fn(_sine(1000.0, sr_from), sr_from, sr_to)
    q = {"ripple_db": ripple, "1k_db": _level_db(one_k, sr_to, 1000.0), "1k_hz": _peak_hz(one_k, sr_to),
         "19k_db": float("nan"), "stop_hz": float("nan"), "stop_db": float("nan")}
    if 19000.0 < nyq:
        q["19k_db"] = _level_db(fn(_sine(19000.0, sr_from), sr_from, sr_to), sr_to, 19000.0)
    if sr_to < sr_from:  # a tone between the two Nyquist frequencies: it must go, not fold
        q["stop_hz"] = 19000.0 if sr_to / 2 < 19000.0 < sr_from / 2 else (sr_to / 2 + sr_from / 2) / 2
        q["stop_db"] = _left_db(fn(_sine(q["stop_hz"], sr_from), sr_from, sr_to), sr_to)
    return q


def quality_table() -> str:
    header = ("| rate pair | resampler | passband ripple to 90 % of Nyquist (dB) | 1 kHz level (dB) | "
              "1 kHz at (Hz) | 19 kHz level (dB) | tone above the new Nyquist: left of it (dB) |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for a, b in PAIRS:
        for name, fn in (("audiomanip (soxr HQ)", ours), ("resample_poly Kaiser 8.6", scipy_resample)):
            q = quality(fn, a, b)
            k19 = "—" if np.isnan(q["19k_db"]) else f"{q['19k_db']:+.3f}"
            stop = "—" if np.isnan(q["stop_db"]) else f"{q['stop_hz'] / 1000:g} kHz: {q['stop_db']:.1f}"
            lines.append(f"| {a / 1000:g} → {b / 1000:g} kHz | {name} | {q['ripple_db']:.4f} | "
                         f"{q['1k_db']:+.4f} | {q['1k_hz']:.3f} | {k19} | {stop} |")
    return "\n".join(lines)


def speed(seconds: float, streamed: bool) -> Result:
    from audiomanip.training.sources import music_like

    a, b = SPEED_RATES
    x = music_like(seconds, a, seed=0, channels=2).astype(np.float32)
    ours_fn = ours_streamed if streamed else ours
    best_ours, best_base = float("inf"), float("inf")
    for _ in range(5):
        t = time.perf_counter()
        ours_fn(x, a, b)
        best_ours = min(best_ours, time.perf_counter() - t)
        t = time.perf_counter()
        scipy_resample(x, a, b)
        best_base = min(best_base, time.perf_counter() - t)
    how = f"streamed in {BLOCK}-frame blocks" if streamed else "whole file"
    return Result(f"resample 48 → 44.1 kHz stereo, {how}", seconds / best_ours, "× real time",
                  "scipy resample_poly, whole file", seconds / best_base, "× real time")


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s speed signal instead of 60 s")
    ap.add_argument("--no-quality", action="store_true", help="only the speed rows")
    args = ap.parse_args(argv)
    if not args.no_quality:
        print(quality_table())
        print()
    seconds = 10.0 if args.quick else 60.0
    return [speed(seconds, streamed=False), speed(seconds, streamed=True)]


if __name__ == "__main__":
    for row in main():
        row.print()

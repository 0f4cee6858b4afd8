"""Render speed (× real time) of audiomanip's renderer vs pedalboard running a comparable chain.

Both process the same 30 s stereo 44.1 kHz signal in memory: 5-band EQ (low shelf, 3 peaks,
high shelf), distortion, compressor, reverb, output gain (audiomanip adds its look-ahead peak
limiter; pedalboard gets its Limiter). With ``--pitch`` both chains start with a +3 semitone
pitch shift. Figure = audio seconds / wall seconds (higher is faster), best of 3.

    python benchmarks/render_speed.py [--pitch]
"""

from __future__ import annotations

import argparse
import time

from _bench import Result

SR = 44100
SECONDS = 30.0


def chain_preset(pitch: bool):
    from audiomanip.params import Preset

    p = Preset.default()
    bands = [("low_shelf", 100.0, 3.0), ("peak", 300.0, -2.0), ("peak", 1000.0, 1.5), ("peak", 3500.0, 2.0),
             ("high_shelf", 10000.0, 2.5)]
    for i, (kind, f, g) in enumerate(bands, start=1):
        p.values["eq"][f"band{i}_type"] = kind
        p.set("eq", f"band{i}_freq_hz", f)
        p.set("eq", f"band{i}_gain_db", g)
    p.set("distortion", "drive_db", 12.0)
    p.set("compressor", "threshold_db", -20.0)
    p.set("compressor", "ratio", 4.0)
    p.set("reverb", "room_size", 0.5)
    p.set("reverb", "wet", 0.3)
    p.set("output", "gain_db", -1.0)
    if pitch:
        p.set("pitch", "semitones", 3.0)
    return p


def pedalboard_chain(pitch: bool):
    import pedalboard as pb

    fx = [pb.LowShelfFilter(100.0, 3.0, 0.707), pb.PeakFilter(300.0, -2.0, 0.707), pb.PeakFilter(1000.0, 1.5, 0.707),
          pb.PeakFilter(3500.0, 2.0, 0.707), pb.HighShelfFilter(10000.0, 2.5, 0.707), pb.Distortion(drive_db=12.0),
          pb.Compressor(threshold_db=-20.0, ratio=4.0, attack_ms=10.0, release_ms=100.0),
          pb.Reverb(room_size=0.5, wet_level=0.3, dry_level=0.7), pb.Gain(-1.0), pb.Limiter()]
    if pitch:
        fx.insert(0, pb.PitchShift(semitones=3.0))
    return pb.Pedalboard(fx)


def best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pitch", action="store_true", help="start both chains with a pitch shift")
    args = ap.parse_args(argv)
    from audiomanip.data.sources import music_like
    from audiomanip.render import render

    audio = music_like(SECONDS, SR, seed=0, channels=2)
    preset, board = chain_preset(args.pitch), pedalboard_chain(args.pitch)
    ours = best_of(lambda: render(preset, audio, SR))
    theirs = best_of(lambda: board(audio, SR))
    what = "with pitch shift" if args.pitch else "EQ, distortion, compressor, reverb, gain"
    return Result(f"render speed ({what})", SECONDS / ours, "× real time",
                  "pedalboard, comparable chain", SECONDS / theirs, "× real time",
                  "30 s stereo 44.1 kHz in memory, best of 3")


if __name__ == "__main__":
    main().print()

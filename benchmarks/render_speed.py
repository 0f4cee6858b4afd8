"""Render speed (× real time) of audiomanip's renderer vs pedalboard running a comparable chain.

Both process the same 30 s stereo 44.1 kHz signal in memory: 5-band EQ (low shelf, 3 peaks,
high shelf), distortion, compressor, reverb, output gain (audiomanip adds its look-ahead peak
limiter; pedalboard gets its Limiter); a second row starts both chains with a +3 semitone pitch
shift. Figure = audio seconds / wall seconds (higher is faster), best of 5, the two renderers
timed alternately (so a busy machine slows both alike).

    python benchmarks/render_speed.py            # both rows, in one run
    python benchmarks/render_speed.py --pitch    # only the row with pitch shift
    python benchmarks/render_speed.py --no-pitch # only the row without
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


def best_of_alternating(fns, repeats: int = 5) -> list[float]:
    """Best wall time (s) of each of ``fns`` over ``repeats`` rounds, calling them in turn."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def measure(pitch: bool) -> Result:
    """One row: audiomanip's renderer against pedalboard's chain, with or without pitch shift."""
    from audiomanip.training.sources import music_like
    from audiomanip.rendering import render

    audio = music_like(SECONDS, SR, seed=0, channels=2)
    preset, board = chain_preset(pitch), pedalboard_chain(pitch)
    ours, theirs = best_of_alternating([lambda: render(preset, audio, SR), lambda: board(audio, SR)])
    what = "with pitch shift" if pitch else "EQ, distortion, compressor, reverb, gain"
    return Result(f"render speed ({what})", SECONDS / ours, "× real time",
                  "pedalboard, comparable chain", SECONDS / theirs, "× real time",
                  "30 s stereo 44.1 kHz in memory, best of 5")


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--pitch", action="store_true", help="only the row with pitch shift")
    which.add_argument("--no-pitch", action="store_true", help="only the row without pitch shift")
    args = ap.parse_args(argv)
    rows = [False, True]
    if args.pitch or args.no_pitch:
        rows = [args.pitch]
    return [measure(pitch) for pitch in rows]


if __name__ == "__main__":
    for row in main():
        row.print()

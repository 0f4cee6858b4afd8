"""Batch throughput with 1 vs N worker processes.

Writes ``--files`` stereo files of ``--seconds`` s (pink noise, 44.1 kHz) into a temporary
folder, renders them with a preset that uses the EQ, compressor and reverb, once with one
worker (in-process) and once with each worker count of ``--workers``, and prints files/s and
the speed-up ratio against one worker. Outputs go to fresh folders per run (nothing skipped).

    python benchmarks/batch_workers.py                # 8 files of 10 s, 1 vs 2 workers
    python benchmarks/batch_workers.py --files 16 --workers 2 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def bench_preset():
    from audiomanip.params import Preset

    p = Preset.default()
    p.set("eq", "band2_gain_db", -3.0).set("eq", "band4_gain_db", 4.0)
    p.set("compressor", "threshold_db", -20.0).set("compressor", "ratio", 3.0)
    p.set("reverb", "room_size", 0.45).set("reverb", "wet", 0.25)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sample-rate", type=int, default=44100)
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    args = ap.parse_args()
    # as the CLI does (commands/_common.limit_torch_threads): one torch thread per process
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import soundfile as sf

    from audiomanip.batch import engine
    from audiomanip.training.sources import pink_noise

    preset = bench_preset()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        for i in range(args.files):
            x = pink_noise(args.seconds, args.sample_rate, rms=0.1, channels=2, seed=i)
            sf.write(root / f"f{i:03d}.wav", x.T, args.sample_rate, subtype="PCM_24")
        files = engine.find_inputs(root)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(
            f"{len(files)} files × {args.seconds:g} s stereo at {args.sample_rate} Hz; "
            f"{os.cpu_count()} CPU cores, load average {load:.1f} before the run "
            "(other processes competing for the cores flatten the speed-up)"
        )
        results = {}
        for workers in [1, *[w for w in args.workers if w != 1]]:
            out = Path(tmp) / f"out_{workers}"
            jobs = engine.plan_jobs(
                [(f, "bench") for f in files], {"bench": preset}, root, out, {"bench": "bench"}
            )
            start = time.perf_counter()
            outcomes = engine.run_batch(jobs, engine.BatchOptions(), workers=workers)
            elapsed = time.perf_counter() - start
            counts = engine.count(outcomes)
            assert counts["done"] == len(files), counts
            results[workers] = len(files) / elapsed
            audio_rate = len(files) * args.seconds / elapsed
            print(
                f"workers={workers}: {elapsed:6.2f} s  {results[workers]:5.2f} files/s  "
                f"({audio_rate:5.1f} s of audio per s)"
            )
        for workers, rate in results.items():
            if workers != 1:
                print(f"speed-up {workers} vs 1 worker: {rate / results[1]:.2f}x")


if __name__ == "__main__":
    main()

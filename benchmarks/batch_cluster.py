"""Batch throughput: the local process pool against a 2-node Ray cluster, on the same files.

Starts a Ray head node and a worker node (1 CPU each, 127.0.0.1) inside a network namespace
that has only loopback (root; see tests/cluster_env.py), writes ``--files`` stereo files of
``--seconds`` s (pink noise, 44.1 kHz) and renders them with the preset of
benchmarks/batch_workers.py:

* local pool, 1 worker (in-process) and 2 workers: files/s and the 2-vs-1 speed-up;
* ``--engine ray`` on the 2-node cluster: 1 actor and 2 actors (one per node), files/s;
* Ray's per-file overhead: 1 actor against in-process on files of 0.5 s, from the slope
  between ``--short-files`` files and a quarter of them (the actor's start-up cancels out),
  and the start-up itself.

Outputs go to fresh folders per run (nothing skipped). Other processes competing for the
machine's cores flatten every speed-up: the load average is printed.

    python benchmarks/batch_cluster.py                 # 40 files of 10 s
    python benchmarks/batch_cluster.py --files 8 --seconds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--short-files", type=int, default=40)
    ap.add_argument("--address", help=argparse.SUPPRESS)  # set for the run inside the namespace
    return ap.parse_args(argv)


def _write_files(root: Path, n: int, seconds: float, sr: int = 44100) -> None:
    import soundfile as sf

    from audiomanip.training.sources import pink_noise

    root.mkdir(parents=True)
    for i in range(n):
        sf.write(
            root / f"f{i:03d}.wav",
            pink_noise(seconds, sr, rms=0.1, channels=2, seed=i).T,
            sr,
            subtype="PCM_24",
        )


def _timed(root: Path, out: Path, workers: int, runner=None) -> float:
    """Seconds to render every file of ``root`` into ``out``."""
    from batch_workers import bench_preset

    from audiomanip.batch import engine

    files = engine.find_inputs(root)
    jobs = engine.plan_jobs([(f, "b") for f in files], {"b": bench_preset()}, root, out, {"b": "b"})
    options = engine.BatchOptions(run_id=out.name)
    start = time.perf_counter()
    outcomes = engine.run_batch(jobs, options, workers=workers, runner=runner)
    elapsed = time.perf_counter() - start
    assert engine.count(outcomes)["done"] == len(files), engine.count(outcomes)
    return elapsed


def measure(args) -> None:
    """The measurements (run inside the namespace, next to the cluster at ``args.address``)."""
    from audiomanip.batch.ray_engine import RayRunner

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write_files(tmp / "long", args.files, args.seconds)
        _write_files(tmp / "short", args.short_files, 0.5)
        few = max(1, args.short_files // 4)
        _write_files(tmp / "few", few, 0.5)
        print(
            f"{args.files} files × {args.seconds:g} s stereo 44.1 kHz; {os.cpu_count()} CPU cores, "
            f"load average {os.getloadavg()[0]:.1f} before the run (other processes share the cores)"
        )
        n = args.files
        local1 = _timed(tmp / "long", tmp / "local1", 1)
        local2 = _timed(tmp / "long", tmp / "local2", 2)
        runner = RayRunner(args.address)
        actors = runner.connect(0)
        try:
            ray1 = _timed(tmp / "long", tmp / "ray1", 1, runner)
            ray2 = _timed(tmp / "long", tmp / "ray2", actors, runner)
            short_local = _timed(tmp / "short", tmp / "short_local", 1)
            short_ray = _timed(tmp / "short", tmp / "short_ray", 1, runner)
            few_local = _timed(tmp / "few", tmp / "few_local", 1)
            few_ray = _timed(tmp / "few", tmp / "few_ray", 1, runner)
        finally:
            runner.close()
        print(f"local pool, 1 worker : {local1:6.2f} s  {n / local1:5.2f} files/s")
        print(f"local pool, 2 workers: {local2:6.2f} s  {n / local2:5.2f} files/s")
        print(f"ray, 1 actor         : {ray1:6.2f} s  {n / ray1:5.2f} files/s")
        print(f"ray, 2 nodes × 1 CPU : {ray2:6.2f} s  {n / ray2:5.2f} files/s  ({actors} actors)")
        print(f"speed-up 2 vs 1 local worker: {local1 / local2:.2f}x (target >= 1.7x)")
        print(f"speed-up 2 vs 1 ray actor   : {ray1 / ray2:.2f}x (target >= 1.7x)")
        print(f"ray 2 nodes vs local pool of 2: {local2 / ray2:.2f}x")
        m = args.short_files - few
        per_file = ((short_ray - few_ray) - (short_local - few_local)) / m
        start_up = few_ray - few_local - per_file * few
        print(
            f"ray per-file overhead: {per_file * 1000:.0f} ms per file, plus {start_up:.2f} s to start "
            f"(1 actor vs in-process: {short_ray:.2f} / {short_local:.2f} s on {args.short_files} files, "
            f"{few_ray:.2f} / {few_local:.2f} s on {few} files, 0.5 s each)"
        )


def main() -> None:
    args = _args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    if args.address:
        measure(args)
        return
    from cluster_env import Namespace, RayCluster, missing_requirements

    reason = missing_requirements()
    if reason:
        raise SystemExit(f"cannot start the local cluster: {reason}")
    ns = Namespace()
    try:
        with tempfile.TemporaryDirectory() as logs:
            cluster = RayCluster(ns, Path(logs))
            try:
                ns.run([sys.executable, __file__, *sys.argv[1:], "--address", cluster.address], check=True)
            finally:
                cluster.close()
    finally:
        ns.close()


if __name__ == "__main__":
    main()

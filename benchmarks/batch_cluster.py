"""Batch throughput: the local process pool against a 2-node Ray cluster, on the same files.

Starts a Ray head node and a worker node (1 CPU each, 127.0.0.1) inside a network namespace
that has only loopback (root; see tests/cluster_env.py), writes ``--files`` stereo files of
``--seconds`` s (pink noise, 44.1 kHz) and renders them with the preset of
benchmarks/batch_workers.py:

* local pool, 1 worker (in-process) and 2 workers: files/s and the 2-vs-1 speed-up (measured
  in the Ray driver's process, so the pool's workers come from the fork server);
* ``--engine ray`` on the 2-node cluster, 1 actor and 2 actors (one per node): "cold", fresh
  actors for the batch as ``audiomanip batch --engine ray`` runs it (their start included, and
  the time until the first file is done), and "warm", actors kept from an earlier batch
  (steady-state throughput);
* Ray's per-file overhead: 1 actor against in-process on files of 0.5 s, from the slope
  between ``--short-files`` files and a quarter of them (the actor's start-up cancels out),
  and the start-up itself.

Every measurement is repeated ``--repeats`` times, interleaved, each with the load average at
its end; the clusters of ``--cluster`` (see CLUSTERS) are started one after the other,
``--cycles`` times. Outputs go to fresh folders per run (nothing skipped). Other processes
competing for the machine's cores flatten every speed-up.

    python benchmarks/batch_cluster.py                 # 40 files of 10 s
    python benchmarks/batch_cluster.py --cluster tests lean lean-nice0 --cycles 2 --repeats 2
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
#: How the nodes start: ``ray start`` options and environment.
#: tests: as tests/cluster_env.py starts them (fast health checks: quick to see a node die);
#: lean: the README's commands: no dashboard, no log monitor, no metrics, no usage stats;
#: lean-nice0: the same with Ray's workers (the actors) at niceness 0 instead of Ray's 15, like
#: the daemons, the driver and the local pool's workers.
LEAN_ARGS = ["--include-log-monitor", "false"]
LEAN_ENV = {"RAY_enable_metrics_collection": "0", "RAY_USAGE_STATS_ENABLED": "0"}
CLUSTERS: dict[str, tuple[list[str], dict[str, str] | None]] = {
    "tests": ([], None),
    "lean": (LEAN_ARGS, LEAN_ENV),
    "lean-nice0": (LEAN_ARGS, {**LEAN_ENV, "RAY_worker_niceness": "0"}),
}


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--short-files", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of every measurement, interleaved")
    ap.add_argument(
        "--cluster",
        nargs="+",
        choices=sorted(CLUSTERS),
        default=["lean", "lean-nice0"],
        help="how the nodes start (see CLUSTERS), one cluster after the other",
    )
    ap.add_argument("--cycles", type=int, default=1, help="times the --cluster list is run")
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


def _timed(root: Path, out: Path, workers: int, runner=None) -> tuple[float, float]:
    """Seconds to render every file of ``root`` into a fresh folder ``out``, and seconds until
    the first file was done."""
    from batch_workers import bench_preset

    from audiomanip.batch import engine

    files = engine.find_inputs(root)
    jobs = engine.plan_jobs([(f, "b") for f in files], {"b": bench_preset()}, root, out, {"b": "b"})
    options = engine.BatchOptions(run_id=out.name)
    first: list[float] = []

    def progress(info: dict) -> None:
        if not first:
            first.append(time.perf_counter())

    start = time.perf_counter()
    outcomes = engine.run_batch(jobs, options, workers=workers, runner=runner, progress=progress)
    elapsed = time.perf_counter() - start
    assert engine.count(outcomes)["done"] == len(files), engine.count(outcomes)
    return elapsed, first[0] - start


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def measure(args) -> None:
    """The measurements (run inside the namespace, next to the cluster at ``args.address``).

    Every round measures, one after the other: the local pool with 1 and 2 workers; Ray
    "cold" (fresh actors per batch, as ``audiomanip batch --engine ray`` runs) with 1 and 2
    actors; Ray "warm" (actors kept from a first batch: steady-state throughput, the actors'
    start left out) with 1 and 2 actors."""
    from audiomanip.batch.ray_engine import RayRunner

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write_files(tmp / "long", args.files, args.seconds)
        _write_files(tmp / "short", args.short_files, 0.5)
        few = max(1, args.short_files // 4)
        _write_files(tmp / "few", few, 0.5)
        print(
            f"{args.files} files × {args.seconds:g} s stereo 44.1 kHz; {os.cpu_count()} CPU cores, "
            f"{_load()} before the run (other processes share the cores)"
        )
        n = args.files
        runner = RayRunner(args.address)
        actors = runner.connect(0)
        results: dict[str, list[float]] = {}

        def record(name: str, seconds: float, extra: str = "") -> None:
            results.setdefault(name, []).append(seconds)
            print(f"  {name:22s}: {seconds:6.2f} s  {n / seconds:5.2f} files/s  {extra}({_load()})", flush=True)

        try:
            for r in range(args.repeats):
                print(f"round {r + 1}:")
                record("local pool, 1 worker", _timed(tmp / "long", tmp / f"l1_{r}", 1)[0])
                record("local pool, 2 workers", _timed(tmp / "long", tmp / f"l2_{r}", 2)[0])
                for k in (1, actors):
                    took, first = _timed(tmp / "long", tmp / f"rc{k}_{r}", k, runner)
                    record(f"ray cold, {k} actor(s)", took, f"first file after {first:.2f} s ")
                runner.keep_actors = True  # the actors hold the cluster's CPUs until stop_actors
                _timed(tmp / "few", tmp / f"warm_up_{r}", actors, runner)  # start them
                for k in (1, actors):
                    record(f"ray warm, {k} actor(s)", _timed(tmp / "long", tmp / f"rw{k}_{r}", k, runner)[0])
                runner.stop_actors()
                runner.keep_actors = False
            short_local, _ = _timed(tmp / "short", tmp / "short_local", 1)
            short_ray, _ = _timed(tmp / "short", tmp / "short_ray", 1, runner)
            few_local, _ = _timed(tmp / "few", tmp / "few_local", 1)
            few_ray, _ = _timed(tmp / "few", tmp / "few_ray", 1, runner)
        finally:
            runner.close()
        best = {k: min(v) for k, v in results.items()}  # the least disturbed of the rounds
        print(f"best of {args.repeats} rounds:")
        for name, took in best.items():
            print(f"  {name:22s}: {took:6.2f} s  {n / took:5.2f} files/s")

        def speedup(what: str, one: str, two: str) -> None:
            ratios = [a / b for a, b in zip(results[one], results[two])]
            print(
                f"speed-up 2 vs 1, {what}: {best[one] / best[two]:.2f}x best-of "
                f"(per round: {', '.join(f'{x:.2f}' for x in ratios)}) (target >= 1.7x)"
            )

        speedup("local pool", "local pool, 1 worker", "local pool, 2 workers")
        speedup("ray cold", "ray cold, 1 actor(s)", f"ray cold, {actors} actor(s)")
        speedup("ray warm", "ray warm, 1 actor(s)", f"ray warm, {actors} actor(s)")
        print(f"ray 2 nodes (warm) vs local pool of 2: {best['local pool, 2 workers'] / best[f'ray warm, {actors} actor(s)']:.2f}x")
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
    for kind in args.cluster * args.cycles:
        extra_args, env = CLUSTERS[kind]
        print(f"=== cluster {kind}: ray start {' '.join(extra_args)} with {env}", flush=True)
        ns = Namespace()
        try:
            with tempfile.TemporaryDirectory() as logs:
                cluster = RayCluster(ns, Path(logs), env=env, extra_args=extra_args)
                try:
                    argv = [sys.executable, __file__, *sys.argv[1:], "--address", cluster.address]
                    ns.run(argv, check=True)
                finally:
                    cluster.close()
        finally:
            ns.close()


if __name__ == "__main__":
    main()

"""Distributed data-parallel training: 2 processes against 1 at the same total number of samples.

Both runs train the default model (text encoder all-MiniLM-L6-v2, STFT loss every 8th step) on
the same generated corpus pairs, for the same epochs and global batch, so they see the same
samples and take the same steps; the ranks are started by :func:`audiomanip.training.distributed.launch`
(what ``audiomanip train --nproc N`` uses; gloo on the CPU, OMP_NUM_THREADS=1 per process).
Reported: held-out MAE of both (the 2-process run must be within 5 % of the 1-process one),
training steps/s and samples/s (from the first to the last step, evaluation and checkpoints
included) and their ratio. The embedding cache is filled before the timed runs.

    python benchmarks/train_ddp.py [--pairs 4000] [--epochs 3] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _bench import Result

MAE_TOLERANCE = 0.05


def worker(args: argparse.Namespace) -> None:
    """One rank: train, and on rank 0 write the timings and held-out metrics to ``args.report``."""
    from audiomanip.training import distributed
    from audiomanip.training.loop import TrainOptions, train

    stamps: list[float] = []

    def progress(event: dict) -> None:
        if event["event"] == "step":
            stamps.append(time.perf_counter())

    options = TrainOptions(output_dir=Path(args.report).parent / "run", epochs=args.epochs,
                           batch_size=args.batch_size, n_pairs=args.pairs, device="cpu", seed=0)
    with distributed.worker("cpu") as ranks:
        result = train(options, progress if ranks.is_main else None)
        if ranks.is_main:
            Path(args.report).write_text(json.dumps({
                "world_size": ranks.world_size, "steps": result.steps,
                "seconds": stamps[-1] - stamps[0], "heldout": result.heldout}))


def run(nproc: int, args: argparse.Namespace, tmp: Path) -> dict:
    from audiomanip.training import distributed

    report = tmp / f"nproc{nproc}" / "report.json"
    report.parent.mkdir(parents=True)
    distributed.launch(nproc, [__file__, "--worker", "--report", str(report), "--pairs", str(args.pairs),
                               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)])
    return json.loads(report.read_text())


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=4000, help="generated corpus pairs (80 %% train)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64, help="global batch (split among the processes)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--report", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return Result("", 0, "", "", 0, "")
    os.environ["OMP_NUM_THREADS"] = "1"  # one thread per process: the processes are the parallelism
    from audiomanip.training.dataset import EmbeddingCache
    from audiomanip.text import load_text_encoder
    from audiomanip.training.loop import TrainOptions, default_cache_dir, gather_pairs

    train_pairs, heldout = gather_pairs(TrainOptions(n_pairs=args.pairs, seed=0))
    EmbeddingCache(load_text_encoder(), default_cache_dir()).ensure(
        [p.prompt for p in train_pairs] + [p.prompt for v in heldout.values() for p in v])
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args, Path(tmp))
        two = run(2, args, Path(tmp))
    assert one["steps"] == two["steps"], (one["steps"], two["steps"])
    samples = one["steps"] * args.batch_size
    rate1, rate2 = one["steps"] / one["seconds"], two["steps"] / two["seconds"]
    lines = []
    worst = 0.0
    for split in one["heldout"]:
        m1, m2 = one["heldout"][split]["mae"], two["heldout"][split]["mae"]
        rel = (m2 - m1) / m1
        worst = max(worst, abs(rel))
        lines.append(f"held-out MAE {split}: 1 process {m1:.4f}, 2 processes {m2:.4f} ({rel:+.1%})")
    print(f"{len(train_pairs)} training pairs, {args.epochs} epochs, global batch {args.batch_size}: "
          f"{one['steps']} steps, {samples} samples in each run; {os.cpu_count()} CPU cores")
    print("\n".join(lines))
    print(f"1 process: {rate1:.3g} steps/s, {rate1 * args.batch_size:.4g} samples/s; "
          f"2 processes: {rate2:.3g} steps/s, {rate2 * args.batch_size:.4g} samples/s")
    print(f"MAE within {MAE_TOLERANCE:.0%}: {'yes' if worst <= MAE_TOLERANCE else 'NO'} (worst {worst:.1%})")
    return Result("DDP training, 2 processes (gloo, CPU)", rate2 * args.batch_size, "samples/s",
                  "1 process", rate1 * args.batch_size, "samples/s",
                  f"same {samples} samples; held-out MAE differs by at most {worst:.1%}")


if __name__ == "__main__":
    result = main(sys.argv[1:])
    if "--worker" not in sys.argv:
        result.print()

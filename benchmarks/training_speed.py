"""Training steps per second vs a forward-only step of the same network on the same batches.

Runs the real training loop (:func:`audiomanip.training.loop.train`: parameter loss, the
multi-resolution STFT loss through the differentiable chain every 4th step, AdamW) for
``--steps`` steps of batch 64 on corpus pairs whose embeddings come from the embedding cache,
and times the steps after the first 5. The baseline runs only the network's forward pass
(no gradients) on batches built the same way.

    python benchmarks/training_speed.py [--steps 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _bench import Result

WARMUP_STEPS = 5


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--pairs", type=int, default=2048, help="training pairs (at least steps × 64 are used)")
    args = ap.parse_args(argv)
    import torch

    from audiomanip.training.dataset import EmbeddingCache, PairDataset
    from audiomanip.training.prompts import generate_dataset
    from audiomanip.text import load_text_encoder
    from audiomanip.training.loop import TrainOptions, build_network, default_cache_dir, train

    encoder = load_text_encoder()
    # One epoch holds every timed step (no end-of-epoch checkpoint inside the timing).
    pairs = generate_dataset(seed=0).train[: max(args.pairs, (args.steps + 1) * 64)]
    stamps: dict[int, float] = {}

    def progress(event: dict) -> None:
        if event.get("event") == "step":
            stamps[event["step"]] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(output_dir=Path(tmp), epochs=1, max_steps=args.steps, batch_size=64)
        train(options, progress, encoder=encoder, pairs=pairs, heldout={})
    timed = args.steps - WARMUP_STEPS
    train_rate = timed / (stamps[args.steps] - stamps[WARMUP_STEPS])

    cache = EmbeddingCache(encoder, default_cache_dir())
    data = PairDataset(pairs, cache)
    net = build_network(TrainOptions(), encoder.dim).eval()
    gen = torch.Generator().manual_seed(0)
    times = []
    with torch.no_grad():
        for _ in range(args.steps):
            t = time.perf_counter()
            idx = torch.randint(0, len(data), (64,), generator=gen).tolist()
            batch = data.batch(idx)
            net(batch["tokens"], batch["mask"], batch["pooled"], None)
            times.append(time.perf_counter() - t)
    forward_rate = timed / sum(times[WARMUP_STEPS:])
    return Result("training steps/s (batch 64, STFT loss every 4th step)", train_rate, "steps/s",
                  "forward-only step", forward_rate, "steps/s", f"{torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main().print()

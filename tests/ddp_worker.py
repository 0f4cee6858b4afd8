"""One rank of a tiny distributed training run, for tests/test_distributed.py (started by torchrun
or audiomanip.training.distributed.launch, never by pytest itself).

usage: ddp_worker.py OUT CACHE [--resume CKPT] [--epochs N] [--fail-rank R --fail-step S]
                     [--interrupt-step S]

Trains on the 96 pairs of test_training.make_pairs with the hash encoder (dropout 0, no audio
term: a deterministic run) and leaves evidence in OUT/evidence/: ``saves-rank<r>.txt`` (one
line per checkpoint this rank wrote), ``encoded-rank<r>.txt`` (prompts this rank's encoder
encoded), ``steps-rank<r>.txt`` (steps this rank took). ``--fail-rank``: that rank raises a
user error at step S. ``--interrupt-step``: rank 0 sends SIGINT to the launcher at step S
(as Ctrl-C would) and waits until the signal came back to it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import HashEncoder
from test_training import make_pairs, tiny_options

from audiomanip.training import distributed, loop as training
from audiomanip.errors import UsageError


class CountingEncoder(HashEncoder):
    def __init__(self, log: Path):
        super().__init__()
        self.log = log

    def encode(self, texts):
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{len(texts)}\n")
        return super().encode(texts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("cache", type=Path)
    ap.add_argument("--resume", type=Path)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--fail-rank", type=int)
    ap.add_argument("--fail-step", type=int, default=3)
    ap.add_argument("--interrupt-step", type=int)
    a = ap.parse_args()
    rank = int(os.environ["RANK"])
    evidence = a.out / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)

    real_save = training.save_training_checkpoint

    def spy_save(path, *args, **kwargs):
        with open(evidence / f"saves-rank{rank}.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{Path(path).name}\n")
        return real_save(path, *args, **kwargs)

    training.save_training_checkpoint = spy_save

    def progress(event):
        if event["event"] != "step":
            return
        with open(evidence / f"steps-rank{rank}.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{event['step']}\n")
        if a.fail_rank == rank and event["step"] == a.fail_step:
            raise UsageError(f"rank {rank} fails on purpose at step {event['step']}")
        if a.interrupt_step == event["step"] and rank == 0:
            os.kill(os.getppid(), signal.SIGINT)  # the launcher forwards it to every rank
            deadline = time.monotonic() + 60
            while not distributed._STOP["requested"] and time.monotonic() < deadline:
                time.sleep(0.05)

    options = tiny_options(a.out.parent, output_dir=a.out, cache_dir=a.cache, epochs=a.epochs, stft_every=0,
                           batch_size=16, resume=a.resume)
    with distributed.worker("cpu"):
        training.train(options, progress, encoder=CountingEncoder(evidence / f"encoded-rank{rank}.txt"),
                       pairs=make_pairs()[:96])


if __name__ == "__main__":
    main()

"""Run every benchmark and print a Markdown table for README.md.

    python benchmarks/run_all.py [--quick] [--checkpoint-path CKPT]

Each row holds the figure, a baseline measured in the same run and their ratio (see each
script's docstring). ``--quick`` shortens the long ones (2-minute memory run, 20 training steps).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cold_start
import render_memory
import render_speed
import resample
import training_speed
from _bench import markdown_table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--checkpoint-path", default=None)
    args = ap.parse_args(argv)
    cold = ["--checkpoint-path", args.checkpoint_path] if args.checkpoint_path else []
    runs = [
        ("cold start", lambda: cold_start.main(cold)),
        ("render speed", lambda: render_speed.main(["--no-pitch"])[0]),
        ("render speed with pitch", lambda: render_speed.main(["--pitch"])[0]),
        ("resampling", lambda: resample.main(["--no-quality"] + (["--quick"] if args.quick else []))),
        ("training speed", lambda: training_speed.main(["--steps", "20"] if args.quick else [])),
        ("render memory", lambda: render_memory.main(["--minutes", "2"] if args.quick else [])),
    ]
    results = []
    for name, run in runs:
        print(f"running {name} …", file=sys.stderr, flush=True)
        rows = run()
        for result in rows if isinstance(rows, list) else [rows]:  # cold start, resampling: two rows
            result.print()
            results.append(result)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}.")
    print()
    print(markdown_table(results))


if __name__ == "__main__":
    main()

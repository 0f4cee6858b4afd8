"""Cold start of `audiomanip apply` in a new process vs `python -c "import torch"`.

Times (median of 3, after one warm-up run for the file cache) the whole command on a 30 s
stereo 44.1 kHz WAV: start-up, model and text-encoder loading, prediction, rendering, writing.

    python benchmarks/cold_start.py [--checkpoint-path CKPT] [--prompt TEXT]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _bench import Result, python, run_seconds, write_music


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-path", default=None, help="model checkpoint (default: the shipped model)")
    ap.add_argument("--prompt", default="warm vintage tape with a small room")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = write_music(Path(tmp) / "in.wav", 30.0)
        cmd = [python(), "-m", "audiomanip", "apply", str(src), args.prompt, "-o", str(Path(tmp) / "out.wav"),
               "--overwrite"]
        if args.checkpoint_path:
            cmd += ["--checkpoint-path", args.checkpoint_path]
        apply_s = run_seconds(cmd, args.repeats)
        torch_s = run_seconds([python(), "-c", "import torch"], args.repeats)
    return Result("apply cold start, 30 s stereo 44.1 kHz", apply_s, "s", 'python -c "import torch"', torch_s, "s",
                  "new process each time")


if __name__ == "__main__":
    main().print()

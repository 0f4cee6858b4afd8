"""Prediction time of `apply` with an audio view on a 20-minute file vs a 30 s one, in one process.

Times what ``apply`` does to choose the preset from a prompt (reading the analysis excerpts,
:func:`audiomanip.audio_profile.read_analysis_audio`; the profile and the model's prediction;
the model loaded once before) on a 30 s and a 20-minute stereo
44.1 kHz WAV, median of ``--repeats`` runs of each in turn. The profile view reads at most 4 s
of any file, so the ratio should stay near 1 (the issue's target: prediction time does not grow
with the file's length). Needs a checkpoint with the ``profile`` view (default: the shipped model).

    python benchmarks/profile_view.py [--checkpoint-path CKPT] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _bench import Result, write_music


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-path", default=None, help="model checkpoint (default: the shipped model)")
    ap.add_argument("--prompt", default="more bass, a bit brighter")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    from audiomanip.audio_profile import read_analysis_audio
    from audiomanip.preset_source import PromptPresetter

    with tempfile.TemporaryDirectory() as tmp:
        files = {"30 s": write_music(Path(tmp) / "short.wav", 30.0),
                 "20 min": write_music(Path(tmp) / "long.wav", 1200.0)}
        presetter = PromptPresetter(checkpoint_path=Path(args.checkpoint_path) if args.checkpoint_path else None,
                                    device="cpu")
        view = (presetter.model.info or {}).get("audio_view", "none")

        def predict(path: Path) -> float:
            start = time.perf_counter()
            audio, rate = read_analysis_audio(path)
            presetter(args.prompt, audio, rate)
            return time.perf_counter() - start

        times: dict[str, list[float]] = {k: [] for k in files}
        for path in files.values():
            predict(path)  # warm-up: file cache, sessions
        for _ in range(args.repeats):
            for name, path in files.items():
                times[name].append(predict(path))
    return [Result(f"prediction with the {view!r} view on a 20-minute stereo 44.1 kHz file",
                   statistics.median(times["20 min"]), "s", "the same on a 30 s file",
                   statistics.median(times["30 s"]), "s",
                   f"reading the excerpts, the profile, the prediction; median of {args.repeats}; target ~1x")]


if __name__ == "__main__":
    for result in main():
        result.print()

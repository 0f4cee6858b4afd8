"""Helpers shared by the benchmark scripts: timing, a test file, result rows, Markdown.

Every benchmark's ``main()`` returns a :class:`Result`: the figure, a baseline measured in the
same run and their ratio, so numbers from different machines compare as ratios.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
    """One benchmark row: ``figure`` and ``baseline`` in their units; ``ratio`` = figure / baseline."""

    name: str
    figure: float
    unit: str
    baseline_name: str
    baseline: float
    baseline_unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}

    def print(self) -> None:
        print(f"{self.name}: {self.figure:.4g} {self.unit}")
        print(f"baseline ({self.baseline_name}): {self.baseline:.4g} {self.baseline_unit}")
        print(f"ratio: {self.ratio:.3g}×" + (f"  ({self.note})" if self.note else ""))


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table (for README.md)."""
    lines = ["| benchmark | figure | baseline (same run) | ratio |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.figure:.3g} {r.unit} | {r.baseline_name}: {r.baseline:.3g} "
                     f"{r.baseline_unit} | {r.ratio:.3g}× |")
    return "\n".join(lines)


def run_seconds(cmd: list[str], repeats: int = 3) -> float:
    """Median wall time (s) of running ``cmd`` to completion ``repeats`` times (after one
    untimed run that warms the file cache). Raises CalledProcessError when it fails."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def write_music(path: Path, seconds: float, sample_rate: int = 44100, channels: int = 2,
                subtype: str = "PCM_16") -> Path:
    """Write ``seconds`` of music-like audio (a 30 s loop of ``music_like``, written in blocks so
    long files need little memory) to ``path``."""
    import soundfile as sf

    from audiomanip.training.sources import music_like

    loop = music_like(min(seconds, 30.0), sample_rate, seed=0, channels=channels).T
    frames = int(round(seconds * sample_rate))
    with sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=channels, subtype=subtype) as f:
        done = 0
        while done < frames:
            n = min(loop.shape[0], frames - done)
            f.write(loop[:n])
            done += n
    return path


def python() -> str:
    return sys.executable

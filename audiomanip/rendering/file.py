"""Rendering a file: read block by block, (resample,) run the chain, write atomically."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiomanip.params import Preset
from audiomanip.rendering.chain import ChainRenderer
from audiomanip.rendering.stage import BLOCK_FRAMES

Progress = Callable[[dict], None]


@dataclass
class RenderResult:
    """What :func:`render_file` did. Frames at the output's sample rate for ``out_frames``.
    ``warnings``: one-line notes about repairs made while reading the input (e.g. non-finite
    samples set to 0)."""

    in_path: Path
    out_path: Path
    sample_rate: int
    channels: int
    in_frames: int
    out_frames: int
    seconds_taken: float
    peak_dbfs: float
    warnings: list[str] = field(default_factory=list)


def render_file(preset: Preset, in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                audio_length_s: float | None = None, peak_safety: bool = True, overwrite: bool = False,
                subtype: str | None = None, sample_rate: int | None = None,
                progress: Progress | None = None, block_frames: int = BLOCK_FRAMES) -> RenderResult:
    """Render ``preset`` on the file ``in_path`` into ``out_path``, streaming block by block.

    The output keeps the input's channel count, sample rate (unless ``sample_rate`` in Hz asks
    for another: the input is resampled before the chain) and subtype (unless ``subtype`` is
    given or the output format cannot hold it); its format follows ``out_path``'s extension.
    ``audio_length_s`` renders only the first that many seconds. ``progress`` receives
    ``{"stage": "render", "done_frames", "total_frames"}`` (input frames) after every block.
    The output is written atomically (see ``audio_io.AtomicWriter``). Errors: InputNotFoundError,
    AudioReadError, OutputError, UsageError.
    """
    from audiomanip import audio_io
    from audiomanip.errors import UsageError

    started = time.perf_counter()
    info = audio_io.info(in_path)
    if audio_length_s is not None and not audio_length_s > 0:
        raise UsageError(f"audio length must be > 0 s, got {audio_length_s:g}")
    if sample_rate is not None and int(sample_rate) <= 0:
        raise UsageError(f"sample rate must be > 0 Hz, got {sample_rate}")
    sr_in = int(info.sample_rate)
    sr_out = int(sample_rate) if sample_rate else sr_in
    max_frames = None if audio_length_s is None else max(1, round(audio_length_s * sr_in))
    total = info.frames if max_frames is None else min(info.frames, max_frames)
    fmt = audio_io.format_for_path(out_path)
    out_subtype = audio_io.output_subtype(fmt, info.subtype, subtype, path=out_path)
    resampler = audio_io.StreamResampler(info.channels, sr_in, sr_out) if sr_out != sr_in else None
    renderer = ChainRenderer(preset, sr_out, info.channels, peak_safety=peak_safety)
    peak = 0.0
    done = 0
    with audio_io.AtomicWriter(out_path, sr_out, info.channels, format=fmt, subtype=out_subtype,
                               overwrite=overwrite, protect=in_path) as writer:

        def emit(y: np.ndarray) -> None:
            nonlocal peak
            if y.shape[1]:
                peak = max(peak, float(np.abs(y).max()))
                writer.write(y)

        reader = audio_io.iter_blocks(in_path, block_frames, max_frames)
        for block in reader:
            x = resampler.process(block) if resampler else block
            emit(renderer.process(x))
            done += block.shape[1]
            if progress is not None:
                progress({"stage": "render", "done_frames": done, "total_frames": total})
        if resampler:
            emit(renderer.process(resampler.flush()))
        emit(renderer.flush())
        out_frames = writer.frames_written
    return RenderResult(
        in_path=Path(in_path), out_path=Path(out_path), sample_rate=sr_out, channels=info.channels,
        in_frames=done, out_frames=out_frames, seconds_taken=time.perf_counter() - started,
        peak_dbfs=20.0 * math.log10(peak) if peak > 0 else -math.inf,
        warnings=list(reader.info.warnings),
    )

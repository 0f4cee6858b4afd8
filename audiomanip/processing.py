"""Apply a Preset to one file, optionally matching the input's loudness.

This is what ``apply`` and every ``batch`` worker run. Rendering streams
(:func:`audiomanip.rendering.render_file`); loudness matching adds a second streaming pass:

1. render into a temporary 32-bit float WAV beside the output (no clipping, no encoding loss),
2. measure the integrated loudness (ITU-R BS.1770) of the input and of the rendered audio,
3. stream the rendered audio through a gain of ``L_in - L_out`` dB into the real output
   (atomically, in the output's format), then remove the temporary file.

The first pass runs without peak safety; the second applies the gain and then, with peak
safety on, the renderer's look-ahead limiter (transparent below its ceiling). When the limiter
had to work hard the output can end up slightly quieter than the input: the result then says by
how much (``match_shortfall_lu``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from audiomanip.errors import OutputError, UsageError
from audiomanip.params import Preset


def check_options(
    *, audio_length_s: float | None = None, sample_rate: int | None = None, strength: float | None = None
) -> None:
    """UsageError for processing options no run can use, before anything is loaded or created:
    ``audio_length_s`` (seconds) must be a finite number above 0 (not inf, nan or negative),
    ``sample_rate`` (Hz) within the range audiomanip handles, ``strength`` within 0..1. The one
    check of ``apply``, ``batch`` and ``export-preset``."""
    from audiomanip.audio_io import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ

    if audio_length_s is not None and not (math.isfinite(audio_length_s) and audio_length_s > 0):
        raise UsageError(f"--audio-length must be a positive, finite number of seconds, got {audio_length_s:g}")
    if sample_rate is not None and not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise UsageError(
            f"--sample-rate must be between {MIN_SAMPLE_RATE_HZ} and {MAX_SAMPLE_RATE_HZ} Hz, got {sample_rate}"
        )
    if strength is not None and not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength must be between 0 and 1, got {strength:g}")


@dataclass
class ProcessResult:
    """What processing one file did. Loudness in LUFS (None when not measured), times in s."""

    in_path: str
    out_path: str
    sample_rate: int
    channels: int
    in_frames: int
    out_frames: int
    duration_in_s: float
    duration_out_s: float
    seconds_taken: float
    peak_dbfs: float
    loudness_in_lufs: float | None = None
    loudness_out_lufs: float | None = None
    match_gain_db: float | None = None
    match_shortfall_lu: float | None = None
    #: One-line notes about repairs made while reading the input (non-finite samples set to 0).
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def _loudness(path: Path, max_frames: int | None = None) -> float | None:
    """Integrated loudness (LUFS) of ``path``; None where it is not measurable (low rates)."""
    from audiomanip import audio_io
    from audiomanip.features import integrated_loudness_lufs, loudness_measurable

    audio, sr = audio_io.read(path, frames=max_frames)
    if not loudness_measurable(sr):
        return None
    return float(integrated_loudness_lufs(audio, sr))


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """What tells whether ``path`` was replaced: (device, inode, mtime ns), or None when absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns)


def remove_if_written(path: Path, before: tuple[int, int, int] | None) -> None:
    """Remove ``path`` when it is a file this run wrote (its identity differs from ``before``,
    taken by :func:`file_identity` before the run): the rollback of a failed run."""
    now = file_identity(path)
    if now is not None and now != before and path.is_file():
        path.unlink(missing_ok=True)


def _peak_dbfs(path: Path) -> float:
    import numpy as np

    from audiomanip import audio_io

    peak = 0.0
    for block in audio_io.iter_blocks(path):
        if block.size:
            peak = max(peak, float(np.max(np.abs(block))))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def process_file(
    preset: Preset,
    in_path: str | Path,
    out_path: str | Path,
    *,
    audio_length_s: float | None = None,
    match_loudness: bool = False,
    peak_safety: bool = True,
    overwrite: bool = False,
    sample_rate: int | None = None,
    subtype: str | None = None,
    measure_loudness: bool = True,
    progress: Callable[[dict], None] | None = None,
) -> ProcessResult:
    """Render ``preset`` on ``in_path`` into ``out_path`` (atomically; the input is never touched).

    ``audio_length_s`` processes only the first seconds of the input; ``sample_rate`` and
    ``subtype`` change the output's rate / sample format (default: the input's).
    ``match_loudness`` makes the output's integrated loudness equal the input's (see the
    module docstring). ``measure_loudness`` measures loudness before/after for the report
    (reads both files once more). ``progress`` receives the renderer's progress dicts.
    Any failure once writing began (a measurement included) removes the output it wrote.
    Loudness is not measured below ``features.LOUDNESS_MIN_SAMPLE_RATE_HZ`` (a warning says so;
    ``match_loudness`` there is a UsageError). Raises InputNotFoundError, AudioReadError,
    OutputError, UsageError.
    """
    from audiomanip import audio_io
    from audiomanip.destination import check_destination
    from audiomanip.features import LOUDNESS_MIN_SAMPLE_RATE_HZ

    in_path, out_path = Path(in_path), Path(out_path)
    check_options(audio_length_s=audio_length_s, sample_rate=sample_rate)
    info = audio_io.info(in_path)
    if out_path.resolve() == in_path.resolve():
        raise OutputError(f"refusing to write over the input file {in_path}")
    check_destination(out_path, overwrite=overwrite)
    rate_out = sample_rate or info.sample_rate
    if match_loudness and min(rate_out, info.sample_rate) < LOUDNESS_MIN_SAMPLE_RATE_HZ:
        raise UsageError(
            f"cannot match loudness at {min(rate_out, info.sample_rate)} Hz: loudness (BS.1770) is "
            f"not measurable below {LOUDNESS_MIN_SAMPLE_RATE_HZ} Hz"
        )
    before = file_identity(out_path)
    try:
        result = _process(preset, in_path, out_path, info, audio_length_s=audio_length_s,
                          match_loudness=match_loudness, peak_safety=peak_safety, overwrite=overwrite,
                          sample_rate=sample_rate, subtype=subtype, measure_loudness=measure_loudness,
                          progress=progress)
    except BaseException:
        # every step after writing begins (measurements included) is part of the run: a failure
        # leaves no output behind
        remove_if_written(out_path, before)
        raise
    if measure_loudness and None in (result.loudness_in_lufs, result.loudness_out_lufs):
        result.warnings.append(
            f"loudness not measured: BS.1770 loudness is not measurable below {LOUDNESS_MIN_SAMPLE_RATE_HZ} Hz"
        )
    return result


def _process(preset: Preset, in_path: Path, out_path: Path, info: Any, *, audio_length_s: float | None,
             match_loudness: bool, peak_safety: bool, overwrite: bool, sample_rate: int | None,
             subtype: str | None, measure_loudness: bool, progress: Callable[[dict], None] | None,
             ) -> ProcessResult:
    """:func:`process_file` once its checks passed (``info``: the input's ``AudioInfo``)."""
    from audiomanip import audio_io
    from audiomanip.rendering import render_file

    start = time.perf_counter()
    max_frames = None
    if audio_length_s is not None:
        max_frames = max(1, int(round(audio_length_s * info.sample_rate)))
    if subtype is None:
        # keep the input's sample format where the output format can hold it (24-bit stays 24-bit)
        subtype = audio_io.output_subtype(audio_io.format_for_path(out_path), in_subtype=info.subtype, path=out_path)

    loud_in = loud_out = gain_db = shortfall = None
    if not match_loudness:
        res = render_file(
            preset,
            in_path,
            out_path,
            audio_length_s=audio_length_s,
            peak_safety=peak_safety,
            overwrite=overwrite,
            subtype=subtype,
            sample_rate=sample_rate,
            progress=progress,
        )
        out_sr, out_ch, out_frames, peak = res.sample_rate, res.channels, res.out_frames, res.peak_dbfs
        if measure_loudness:
            loud_in = _loudness(in_path, max_frames)
            loud_out = _loudness(out_path)
    else:
        from audiomanip.rendering import ChainRenderer
        from audiomanip.tempfiles import scratch_file

        # this job's own scratch file beside the output (a fresh name, created exclusively,
        # removed however the block ends): never another job's file, nor the user's
        with scratch_file(out_path, ".wav") as tmp:
            # pass 1: the chain without peak safety into a float file (nothing clips)
            res = render_file(
                preset,
                in_path,
                tmp,
                audio_length_s=audio_length_s,
                peak_safety=False,
                overwrite=True,
                subtype="FLOAT",
                sample_rate=sample_rate,
                progress=progress,
            )
            loud_in = _loudness(in_path, max_frames)
            rendered = _loudness(tmp)
            assert loud_in is not None and rendered is not None  # rates checked by process_file
            # silence on either side: nothing to match
            gain_db = loud_in - rendered if math.isfinite(loud_in) and math.isfinite(rendered) else 0.0
            scale = 10.0 ** (gain_db / 20.0)
            # pass 2: the matching gain, then the renderer's peak safety (a look-ahead limiter
            # that is bit-transparent below its ceiling), into the real output
            limiter = (
                ChainRenderer(Preset.default(), res.sample_rate, res.channels, peak_safety=True)
                if peak_safety
                else None
            )
            with audio_io.AtomicWriter(
                out_path, res.sample_rate, res.channels, subtype=subtype, overwrite=overwrite, protect=in_path
            ) as writer:
                for block in audio_io.iter_blocks(tmp):
                    y = block.astype(np.float64) * scale
                    writer.write(limiter.process(y) if limiter else y)
                if limiter:
                    writer.write(limiter.flush())
        out_sr, out_ch, out_frames = res.sample_rate, res.channels, res.out_frames
        peak = _peak_dbfs(out_path)
        loud_out = _loudness(out_path)
        if loud_out is not None and math.isfinite(loud_in) and math.isfinite(loud_out) and loud_in - loud_out > 0.05:
            shortfall = loud_in - loud_out
    return ProcessResult(
        in_path=str(in_path),
        out_path=str(out_path),
        sample_rate=int(out_sr),
        channels=int(out_ch),
        in_frames=int(res.in_frames),
        out_frames=int(out_frames),
        duration_in_s=res.in_frames / info.sample_rate,
        duration_out_s=out_frames / out_sr,
        seconds_taken=time.perf_counter() - start,
        peak_dbfs=float(peak),
        loudness_in_lufs=loud_in,
        loudness_out_lufs=loud_out,
        match_gain_db=gain_db,
        match_shortfall_lu=shortfall,
        warnings=list(res.warnings),
    )

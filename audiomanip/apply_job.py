"""One ``apply`` job end to end: where its preset comes from, rendering, the output layout,
what is written beside the audio, and the rollback of a failed run.

A job is one input file and one preset source (a prompt for the model, a named preset, a
preset file, or a named preset / file moved by a prompt: an edit). It runs in three steps, so
that a caller can report between them (``audiomanip apply`` prints the preset before the
render starts, and stops after step 2 with ``--dry-run``):

1. :meth:`ApplyJob.check`: every option and the input, before anything slow is loaded;
2. :meth:`ApplyJob.choose_preset`: the preset at the requested strength (loads the model only
   for a prompt alone; a model with an audio view also hears a few seconds of the input);
3. :meth:`ApplyJob.write`: the output layout (:func:`audiomanip.outputs.plan_layout`), the
   rendered audio (:func:`audiomanip.processing.process_file`), ``<slug>_preset.json`` and
   ``metadata.txt`` beside it, the optional plot. A failure anywhere in step 3 (Ctrl-C
   included) removes what the run wrote: never a half-filled run folder or a lone ``-o`` file.

:func:`apply_file` runs the three steps. Nothing here prints: notes and warnings go to the
``note``/``warn`` callbacks, render progress to ``progress``; user-caused problems raise the
types of :mod:`audiomanip.errors`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from audiomanip.errors import InputNotFoundError
from audiomanip.params import Preset
from audiomanip.preset_source import ChosenPreset, PresetRequest, ignore_message

if TYPE_CHECKING:
    from audiomanip.audio_io import AudioInfo
    from audiomanip.outputs import OutputLayout
    from audiomanip.processing import ProcessResult

@dataclass(kw_only=True)
class ApplyRequest(PresetRequest):
    """What one ``apply`` job is asked to do (the options of ``audiomanip apply``): where its
    preset comes from (:class:`audiomanip.preset_source.PresetRequest`'s fields) and:

    ``in_path``, the input file. ``output_path`` writes only the audio there; otherwise a new
    folder ``output_dir/<YYYYmmdd_HHMMSS>_<slug>/`` receives the audio, the preset file and
    ``metadata.txt``. ``audio_length_s`` (seconds) processes only the start of the input;
    ``sample_rate`` (Hz) changes the output's rate; ``match_loudness`` makes the output's
    integrated loudness equal the input's; ``peak_safety`` limits peaks to full scale;
    ``plot`` also writes a PNG (EQ curve, input/output spectra). ``dry_run``: only steps 1 and 2
    will run (an ``-o`` that cannot be written is then not an error).
    """

    in_path: Path
    output_path: Path | None = None
    output_dir: Path = Path("output")
    audio_length_s: float | None = None
    match_loudness: bool = False
    sample_rate: int | None = None
    peak_safety: bool = True
    overwrite: bool = False
    plot: bool = False
    dry_run: bool = False


@dataclass
class ApplyResult:
    """What a finished job wrote: ``layout`` (the paths), ``process`` (the render's figures),
    ``seconds_taken`` (from the job's start until everything was written)."""

    layout: OutputLayout
    process: ProcessResult
    seconds_taken: float


def format_lufs(value: float | None) -> str:
    """A loudness (LUFS) as ``metadata.txt`` and the summary show it."""
    if value is None:  # below features.LOUDNESS_MIN_SAMPLE_RATE_HZ
        return "not measurable"
    return f"{value:.2f} LUFS" if value > -200 else "silence"


class ApplyJob:
    """One job's steps (see the module docstring); its clock starts when it is made."""

    def __init__(self, request: ApplyRequest) -> None:
        self.request = request
        self.started = time.perf_counter()
        self.info: AudioInfo | None = None

    # ------------------------------------------------------------------ step 1
    def check(self) -> AudioInfo:
        """Every check that needs nothing slow: one source, options in range, a prompt with
        words, matplotlib for a plot, the input (a file, readable audio) and a ``-o`` that can
        be written. Returns the input's ``AudioInfo``. Raises UsageError, PromptError,
        DependencyError, InputNotFoundError, AudioReadError, OutputError."""
        from audiomanip import audio_io
        from audiomanip.destination import check_destination
        from audiomanip.preset_source import check_one_source, check_prompt
        from audiomanip.processing import check_options

        req = self.request
        check_one_source(req.prompt, req.preset_name, req.preset_file)
        if req.plot:
            from audiomanip.plot import require_matplotlib

            require_matplotlib()
        if req.prompt is not None:  # before loading the model
            check_prompt(req.prompt)
        check_options(audio_length_s=req.audio_length_s, sample_rate=req.sample_rate, strength=req.strength)
        in_path = Path(req.in_path)
        if not in_path.exists():
            raise InputNotFoundError(f"input file not found: {in_path}")
        if in_path.is_dir():
            raise InputNotFoundError(
                f"expected an audio file, got a folder: {in_path} (use `audiomanip batch`)"
            )
        info = audio_io.info(in_path)
        if (
            req.output_path is not None and not req.dry_run
        ):  # an -o that cannot be written is refused up front
            audio_io.check_output(
                req.output_path,
                req.sample_rate or info.sample_rate,
                info.channels,
                in_subtype=info.subtype,
                overwrite=req.overwrite,
                protect=in_path,
            )
            if req.plot:
                check_destination(Path(req.output_path).with_suffix(".png"), overwrite=req.overwrite)
        self.info = info
        return info

    # ------------------------------------------------------------------ step 2
    def choose_preset(self) -> ChosenPreset:
        """The job's preset at its strength. A prompt alone runs the model (loaded here; a model
        with an audio view also hears :data:`audiomanip.audio_profile.ANALYSIS_SECONDS` of the
        input in evenly spaced excerpts, within ``audio_length_s``, unless ``text_only``); a
        named preset, a preset file or an edit never loads it."""
        from audiomanip.audio_profile import read_analysis_audio
        from audiomanip.preset_source import choose_preset

        req = self.request
        info = self.info or self.check()

        def excerpt() -> tuple[Any, int]:
            within = None if req.audio_length_s is None else int(req.audio_length_s * info.sample_rate)
            return read_analysis_audio(req.in_path, within_frames=within)

        return choose_preset(req, audio=excerpt)

    # ------------------------------------------------------------------ step 3
    def write(
        self,
        chosen: ChosenPreset,
        *,
        progress: Callable[[dict], None] | None = None,
        note: Callable[[str], None] = ignore_message,
        warn: Callable[[str], None] = ignore_message,
    ) -> ApplyResult:
        """Render ``chosen.preset`` into the job's layout and write what goes beside the audio.

        ``progress`` receives the renderer's progress dicts; ``note`` hears that an output
        format that cannot be written is written as WAV; ``warn`` hears repairs of the input
        (non-finite samples) and a loudness match the peak safety cut short. Any failure here
        (an exception of any kind, Ctrl-C included) removes every file this run wrote, and
        the run folder when it made it, then propagates.
        """
        from audiomanip import audio_io
        from audiomanip.outputs import make_folder, plan_layout, slugify
        from audiomanip.processing import file_identity, remove_if_written

        req = self.request
        info = self.info or self.check()
        in_path = Path(req.in_path)
        layout = plan_layout(
            in_path,
            slugify(chosen.source.label),
            output_path=req.output_path,
            output_root=Path(req.output_dir),
            plot=req.plot,
        )
        if layout.folder is not None:
            # a format that can be read but not written (or not at this rate) is written as WAV
            audio, why = audio_io.writable_output_path(
                layout.audio, req.sample_rate or info.sample_rate, info.channels, info.subtype
            )
            if why:
                note(why)
                layout = dataclasses.replace(layout, audio=audio)
        created_folder = layout.folder is not None and not layout.folder.exists()
        if layout.folder is not None:
            make_folder(layout.folder)
        before = {p: file_identity(p) for p in layout.all_paths()}
        try:
            result = self._write_files(chosen, layout, info, progress=progress, warn=warn)
        except BaseException:
            # Every step after writing begins is part of the run: never leave a half-filled run
            # folder or a lone -o file behind (Ctrl-C, disk full, a failed measurement …).
            if created_folder and layout.folder is not None:
                shutil.rmtree(layout.folder, ignore_errors=True)
            else:
                for p in layout.all_paths():
                    remove_if_written(p, before[p])
            raise
        return ApplyResult(layout=layout, process=result, seconds_taken=time.perf_counter() - self.started)

    def _write_files(
        self,
        chosen: ChosenPreset,
        layout: OutputLayout,
        info: AudioInfo,
        *,
        progress: Callable[[dict], None] | None,
        warn: Callable[[str], None],
    ) -> ProcessResult:
        """The audio, then the preset file, ``metadata.txt`` and the plot of ``layout``."""
        from audiomanip.outputs import (
            metadata_text,
            preset_document,
            write_preset_document,
            write_text_atomic,
        )
        from audiomanip.processing import process_file

        req, source, preset = self.request, chosen.source, chosen.preset
        in_path = Path(req.in_path)
        result = process_file(
            preset,
            in_path,
            layout.audio,
            audio_length_s=req.audio_length_s,
            match_loudness=req.match_loudness,
            peak_safety=req.peak_safety,
            overwrite=req.overwrite,
            sample_rate=req.sample_rate,
            progress=progress,
        )
        for message in result.warnings:
            warn(message)
        if result.match_shortfall_lu:
            warn(
                f"loudness matched {result.match_shortfall_lu:.1f} LU short of the input: "
                "the gain was capped to keep peaks safe (use --no-peak-safety to allow clipping)"
            )
        elapsed = time.perf_counter() - self.started
        if layout.preset_json is not None:
            doc = preset_document(
                preset,
                prompt=source.prompt,
                source=source.kind,
                model=source.model,
                strength=req.strength,
                extra={
                    "label": source.label,
                    "explicit": source.explicit,
                    "input": str(in_path),
                    **({"edits": source.edits} if source.edits else {}),
                },
            )
            write_preset_document(layout.preset_json, doc, overwrite=req.overwrite)
        if layout.metadata is not None:
            rows = self._metadata_rows(chosen, layout, info, result, elapsed)
            write_text_atomic(layout.metadata, metadata_text(rows), overwrite=req.overwrite)
        if layout.plot is not None:
            self._write_plot(preset, layout, source.label)
        return result

    def _metadata_rows(
        self,
        chosen: ChosenPreset,
        layout: OutputLayout,
        info: AudioInfo,
        result: ProcessResult,
        elapsed: float,
    ) -> dict[str, str]:
        """The lines of ``metadata.txt`` (``elapsed``: seconds from the job's start to the
        rendered audio)."""
        req, source = self.request, chosen.source
        return {
            "input": str(req.in_path),
            "output": str(layout.audio),
            "source": f"{source.kind}: {source.label}",
            "strength": f"{req.strength:g}",
            "input duration": f"{info.duration_s:.3f} s",
            "processed duration": f"{result.duration_in_s:.3f} s",
            "output duration": f"{result.duration_out_s:.3f} s",
            "sample rate": f"{info.sample_rate} Hz -> {result.sample_rate} Hz",
            "channels": str(result.channels),
            "format": f"{info.format} {info.subtype}",
            "device": chosen.device,
            "model": (source.model or {}).get("name", "-") if source.model else "-",
            "time taken": f"{elapsed:.2f} s",
            "loudness before": format_lufs(result.loudness_in_lufs),
            "loudness after": format_lufs(result.loudness_out_lufs),
            "loudness matching": f"{result.match_gain_db:+.2f} dB"
            if result.match_gain_db is not None
            else "off",
            "peak": f"{result.peak_dbfs:.2f} dBFS",
            "peak safety": "on" if req.peak_safety else "off",
        }

    def _write_plot(self, preset: Preset, layout: OutputLayout, label: str) -> None:
        """The PNG: the preset's EQ curve over the input's and the output's spectra (their first
        ``plot.SPECTRUM_SECONDS``, at most ``audio_length_s``)."""
        from audiomanip import audio_io
        from audiomanip.plot import SPECTRUM_SECONDS, plot_preset

        req = self.request
        assert layout.plot is not None
        seconds = min(SPECTRUM_SECONDS, req.audio_length_s) if req.audio_length_s else SPECTRUM_SECONDS
        info_in = audio_io.info(req.in_path)
        x, sr_in = audio_io.read(req.in_path, frames=int(seconds * info_in.sample_rate))
        info_out = audio_io.info(layout.audio)
        y, sr_out = audio_io.read(layout.audio, frames=int(seconds * info_out.sample_rate))
        if sr_in != sr_out:
            x = audio_io.resample(x, sr_in, sr_out)
        plot_preset(
            preset,
            layout.plot,
            sample_rate=sr_out,
            input_audio=x,
            output_audio=y,
            title=f"EQ: {label}",
            overwrite=req.overwrite,
        )


def apply_file(
    request: ApplyRequest,
    *,
    progress: Callable[[dict], None] | None = None,
    note: Callable[[str], None] = ignore_message,
    warn: Callable[[str], None] = ignore_message,
) -> tuple[ChosenPreset, ApplyResult]:
    """Run one job end to end (check, choose the preset, write; see :class:`ApplyJob`) and
    return its preset and what it wrote. This always writes (``request.dry_run`` is ignored)."""
    job = ApplyJob(dataclasses.replace(request, dry_run=False))
    job.check()
    chosen = job.choose_preset()
    return chosen, job.write(chosen, progress=progress, note=note, warn=warn)


__all__ = [
    "ApplyJob",
    "ApplyRequest",
    "ApplyResult",
    "apply_file",
    "format_lufs",
]

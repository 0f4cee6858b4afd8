"""One ``export-preset`` job: a preset written for other tools (YAML, JSON, an ffmpeg filter
chain with the reverb's impulse response beside it, or the impulse response alone), with an
optional plot of its EQ curve.

The job runs in three steps, so that a caller can report between them: :meth:`ExportJob.check`
(every option, before anything is loaded), :meth:`ExportJob.choose_preset` (the preset at its
strength; the model loads only for a prompt alone) and :meth:`ExportJob.write` (where the files
go, then the files). Nothing here prints: notes and warnings go to the ``note``/``warn``
callbacks; user-caused problems raise the types of :mod:`audiomanip.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from audiomanip.errors import OutputError, UsageError
from audiomanip.preset_source import ChosenPreset, PresetRequest, ignore_message

#: The export formats.
FORMATS = ("yaml", "json", "ffmpeg", "ir")
#: The suffix of each format's default file name.
SUFFIXES = {"yaml": ".yaml", "json": ".json", "ffmpeg": ".txt", "ir": ".wav"}
#: How the ffmpeg chain shifts pitch: rubberband (tempo kept), or asetrate (any ffmpeg build).
PITCH_METHODS = ("rubberband", "asetrate")
#: ``output`` that means standard output (yaml and json only).
STDOUT = "-"


def format_for(output: Path | None) -> str:
    """The export format an output file name implies (yaml when it implies none)."""
    suffix = output.suffix.lower() if output is not None and str(output) != STDOUT else ""
    return {".json": "json", ".wav": "ir", ".txt": "ffmpeg"}.get(suffix, "yaml")


@dataclass(kw_only=True)
class ExportRequest(PresetRequest):
    """What one export is asked to do: where its preset comes from
    (:class:`audiomanip.preset_source.PresetRequest`'s fields) and:

    ``fmt`` (one of :data:`FORMATS`; None: from ``output``'s suffix, see :func:`format_for`);
    ``output`` (None: ``<slug>.<suffix>`` in the working folder; ``"-"``: standard output);
    ``sample_rate`` (Hz) of the IR, and of the audio the ffmpeg chain will process;
    ``channels`` that audio's channel count (ffmpeg); ``pitch_method`` one of
    :data:`PITCH_METHODS`; ``plot`` also writes ``<output stem>.png`` with the EQ curve.
    """

    fmt: str | None = None
    output: Path | None = None
    sample_rate: int = 48000
    channels: int = 2
    pitch_method: str = "rubberband"
    plot: bool = False
    overwrite: bool = False


class ExportJob:
    """One export's steps (see the module docstring)."""

    def __init__(self, request: ExportRequest) -> None:
        self.request = request
        self.fmt = (request.fmt or format_for(request.output)).lower()

    def check(self) -> None:
        """UsageError for options no export can use (DependencyError for a plot without
        matplotlib), before anything is loaded."""
        from audiomanip.preset_source import check_one_source
        from audiomanip.processing import check_options

        req = self.request
        if self.fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {self.fmt!r}")
        check_options(sample_rate=req.sample_rate, strength=req.strength)
        if not 1 <= req.channels <= 64:
            raise UsageError(f"--channels must be between 1 and 64, got {req.channels}")
        if req.pitch_method not in PITCH_METHODS:
            raise UsageError("--pitch-method must be rubberband or asetrate")
        check_one_source(req.prompt, req.preset_name, req.preset_file)
        if req.plot:
            from audiomanip.plot import require_matplotlib

            require_matplotlib()

    def choose_preset(self) -> ChosenPreset:
        """The preset at its strength, named after its source unless a preset file named it."""
        from audiomanip.preset_source import choose_preset

        chosen = choose_preset(self.request)
        if chosen.source.kind != "file" and not chosen.preset.name:
            chosen.preset.name = chosen.source.label
        return chosen

    def destination(self, chosen: ChosenPreset) -> Path | None:
        """Where the export goes (None: standard output), checked: a file that may be written
        (:func:`audiomanip.destination.check_destination`, the plot's too) in a folder that
        exists. UsageError, OutputError."""
        from audiomanip.destination import check_destination
        from audiomanip.outputs import slugify

        req = self.request
        if req.output is not None and str(req.output) == STDOUT:
            if self.fmt not in ("yaml", "json"):
                raise UsageError(f"-o - (stdout) works for yaml and json only, not {self.fmt}")
            return None
        output = (
            Path(req.output)
            if req.output is not None
            else Path(slugify(chosen.source.label) + SUFFIXES[self.fmt])
        )
        check_destination(output, overwrite=req.overwrite)  # regular files only
        if req.plot:
            check_destination(output.with_suffix(".png"), overwrite=req.overwrite)
        if not output.parent.exists():
            raise OutputError(f"output folder does not exist: {output.parent}")
        return output

    def text(self, chosen: ChosenPreset) -> str:
        """The preset as YAML or JSON, a chain of edits beside it (:func:`audiomanip.outputs.preset_text`)."""
        from audiomanip.outputs import preset_text

        return preset_text(chosen.preset, self.fmt, chosen.source.edits)

    def write(
        self,
        chosen: ChosenPreset,
        output: Path,
        *,
        note: Callable[[str], None] = ignore_message,
        warn: Callable[[str], None] = ignore_message,
    ) -> list[Path]:
        """Write the export to ``output`` (from :meth:`destination`) and return the files written:
        the preset file, the IR, or the ffmpeg chain and its IR; then the plot. ``warn`` hears
        that the reverb of an IR export is disabled, ``note`` that ffmpeg's compressor differs."""
        req, preset = self.request, chosen.preset
        written: list[Path] = []
        if self.fmt in ("yaml", "json"):
            from audiomanip.outputs import write_text_atomic

            write_text_atomic(output, self.text(chosen), overwrite=req.overwrite)
            written.append(output)
        elif self.fmt == "ir":
            from audiomanip.export import write_ir

            if not preset.enabled["reverb"]:
                warn("the reverb is disabled in this preset; writing the IR its reverb settings would give")
            write_ir(preset, output, req.sample_rate, overwrite=req.overwrite)
            written.append(output)
        else:
            from audiomanip.export import write_ffmpeg_chain

            chain_path, ir_path = write_ffmpeg_chain(
                preset,
                output,
                sample_rate=req.sample_rate,
                input_channels=req.channels,
                pitch_method=req.pitch_method,
                overwrite=req.overwrite,
            )
            written.append(chain_path)
            if ir_path is not None:
                written.append(ir_path)
            if preset.enabled["compressor"]:
                note(
                    "ffmpeg's acompressor links the channels and has its own ballistics: close, not identical"
                )
        if req.plot:
            from audiomanip.plot import plot_preset

            png = output.with_suffix(".png")
            plot_preset(
                preset,
                png,
                sample_rate=req.sample_rate,
                title=f"EQ: {chosen.source.label}",
                overwrite=req.overwrite,
            )
            written.append(png)
        return written


__all__ = ["FORMATS", "PITCH_METHODS", "SUFFIXES", "ExportJob", "ExportRequest", "format_for"]

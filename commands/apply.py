"""`audiomanip apply`: process one audio file with a prompt, a named preset or a preset file."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Optional

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, handle_errors, note, warn
from audiomanip.commands.app import app

from audiomanip.errors import InputNotFoundError, PromptError

#: Seconds of the input a model with an audio view listens to.
CONTEXT_SECONDS = 30.0


@app.command(
    "apply",
    epilog=(
        "Examples:\n\n"
        '  audiomanip apply vocals.wav "warm vintage tape with a small room"\n\n'
        "  audiomanip apply drums.flac --preset telephone --strength 0.6 -o drums_phone.flac\n\n"
        '  audiomanip apply take3.wav "big cathedral reverb" --match-loudness --plot --json'
    ),
)
@handle_errors
def apply(
    in_path: Path = typer.Argument(..., metavar="IN", help="Input audio file (wav, flac, ogg, mp3 …)."),
    prompt: Optional[str] = typer.Argument(None, help="What the result should sound like, in words."),
    preset: Optional[str] = out.PRESET_OPT,
    preset_file: Optional[Path] = out.PRESET_FILE_OPT,
    output_path: Optional[Path] = typer.Option(
        None,
        "--output-path",
        "-o",
        metavar="FILE",
        help="Write the audio exactly here (no folder, no preset/metadata files).",
    ),
    output_dir: Path = typer.Option(
        Path("output"),
        "--output-dir",
        metavar="DIR",
        help="Where the per-run folder <YYYYmmdd_HHMMSS>_<slug>/ is created.",
    ),
    audio_length: Optional[float] = typer.Option(
        None, "--audio-length", metavar="SECONDS", help="Process only the first SECONDS of the input."
    ),
    strength: float = typer.Option(
        1.0, "--strength", metavar="0..1", help="Scale the effect: 0 = untouched input, 1 = full preset."
    ),
    match_loudness: bool = typer.Option(
        False, "--match-loudness", help="Make the output's integrated loudness (BS.1770) equal the input's."
    ),
    sample_rate: Optional[int] = typer.Option(
        None, "--sample-rate", metavar="HZ", help="Output sample rate (default: the input's)."
    ),
    checkpoint_path: Optional[Path] = out.CHECKPOINT_PATH_OPT,
    checkpoint_dir: Optional[Path] = out.CHECKPOINT_DIR_OPT,
    device: str = out.DEVICE_OPT,
    seed: Optional[int] = out.SEED_OPT,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the preset and write nothing."),
    json_out: bool = typer.Option(
        False, "--json", help="Print a machine-readable result on stdout (notes go to stderr)."
    ),
    plot: bool = typer.Option(False, "--plot", help="Also write a PNG: EQ curve and input/output spectra."),
    clamp: bool = out.CLAMP_OPT,
    no_peak_safety: bool = typer.Option(
        False, "--no-peak-safety", help="Let peaks exceed full scale (float outputs keep them)."
    ),
) -> None:
    """Apply an effect described in words (or a named preset / preset file) to one audio file.

    By default a new folder output/<YYYYmmdd_HHMMSS>_<slug>/ receives <slug>.<ext> (same format,
    sample rate and channels as IN), <slug>_preset.json (the preset used, reusable with
    --preset-file) and metadata.txt.
    """
    from audiomanip import audio_io
    from audiomanip.destination import check_destination
    from audiomanip.outputs import (
        make_folder,
        metadata_text,
        plan_layout,
        preset_document,
        slugify,
        write_preset_document,
        write_text_atomic,
    )
    from audiomanip.preset_source import PromptPresetter, check_one_source, resolve
    from audiomanip.processing import check_options

    started = time.perf_counter()
    check_one_source(prompt, preset, preset_file)
    if prompt is not None and not prompt.split():  # before loading the model
        raise PromptError('the prompt is empty; describe the sound, e.g. "warm tape with a small room"')
    check_options(audio_length_s=audio_length, sample_rate=sample_rate, strength=strength)
    if not in_path.exists():
        raise InputNotFoundError(f"input file not found: {in_path}")
    if in_path.is_dir():
        raise InputNotFoundError(f"expected an audio file, got a folder: {in_path} (use `audiomanip batch`)")
    info = audio_io.info(in_path)
    rate_out = sample_rate or info.sample_rate
    if output_path is not None and not dry_run:  # an -o that cannot be written is refused up front
        audio_io.check_output(output_path, rate_out, info.channels, in_subtype=info.subtype,
                              overwrite=overwrite, protect=in_path)
        if plot:
            check_destination(output_path.with_suffix(".png"), overwrite=overwrite)

    device_used = "cpu"
    device_notes: list[str] = []
    if prompt is not None:
        from audiomanip.device import resolve_device

        # the CPU fall-back note is shown once the model ran, so that an error stays one line
        device_used = resolve_device(device, note=device_notes.append)

    def presetter() -> PromptPresetter:
        return PromptPresetter(
            checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir, device=device_used, seed=seed
        )

    if prompt is not None:
        prompter = presetter()
        excerpt, excerpt_sr = None, None
        if prompter.wants_audio:  # a model with an audio view also listens to the input
            excerpt, excerpt_sr = audio_io.read(
                in_path, frames=int(min(audio_length or CONTEXT_SECONDS, CONTEXT_SECONDS) * info.sample_rate)
            )
        source = prompter(prompt, excerpt, excerpt_sr)
        out.print_notes(device_notes)
    else:
        source = resolve(prompt, preset, preset_file, clamp=clamp)
    out.print_notes(source.notes, warning=source.kind == "file")
    for item in source.explicit:
        note(f"from the prompt: {item}")
    the_preset = source.preset.with_strength(strength) if strength != 1.0 else source.preset

    if dry_run:
        if json_out:
            out.print_json(
                {
                    "dry_run": True,
                    "source": source.kind,
                    "label": source.label,
                    "prompt": source.prompt,
                    "strength": strength,
                    "model": source.model,
                    "notes": list(source.notes),
                    "preset": the_preset.to_dict(),
                }
            )
        else:
            console.print(out.preset_table(the_preset, title=f"{source.kind}: {source.label}"))
            console.print("[dim]dry run: nothing written[/]")
        return

    slug = slugify(source.label)
    layout = plan_layout(in_path, slug, output_path=output_path, output_root=output_dir, plot=plot)
    if layout.folder is not None:
        # a format that can be read but not written (or not at this rate) is written as WAV
        audio, why = audio_io.writable_output_path(layout.audio, rate_out, info.channels, info.subtype)
        if why:
            note(why)
            layout = dataclasses.replace(layout, audio=audio)
    created_folder = layout.folder is not None and not layout.folder.exists()
    if layout.folder is not None:
        make_folder(layout.folder)

    from audiomanip.processing import file_identity, process_file, remove_if_written

    before = {p: file_identity(p) for p in layout.all_paths()}
    try:
        with out.render_progress(f"rendering {in_path.name}", enabled=not json_out) as progress:
            result = process_file(
                the_preset,
                in_path,
                layout.audio,
                audio_length_s=audio_length,
                match_loudness=match_loudness,
                peak_safety=not no_peak_safety,
                overwrite=overwrite,
                sample_rate=sample_rate,
                progress=progress,
            )
        for message in result.warnings:
            warn(message)
        if result.match_shortfall_lu:
            warn(
                f"loudness matched {result.match_shortfall_lu:.1f} LU short of the input: "
                "the gain was capped to keep peaks safe (use --no-peak-safety to allow clipping)"
            )
        elapsed = time.perf_counter() - started
        if layout.preset_json is not None:
            doc = preset_document(
                the_preset,
                prompt=source.prompt,
                source=source.kind,
                model=source.model,
                strength=strength,
                extra={"label": source.label, "explicit": source.explicit, "input": str(in_path)},
            )
            write_preset_document(layout.preset_json, doc, overwrite=overwrite)
        if layout.metadata is not None:
            rows = {
                "input": str(in_path),
                "output": str(layout.audio),
                "source": f"{source.kind}: {source.label}",
                "strength": f"{strength:g}",
                "input duration": f"{info.duration_s:.3f} s",
                "processed duration": f"{result.duration_in_s:.3f} s",
                "output duration": f"{result.duration_out_s:.3f} s",
                "sample rate": f"{info.sample_rate} Hz -> {result.sample_rate} Hz",
                "channels": str(result.channels),
                "format": f"{info.format} {info.subtype}",
                "device": device_used,
                "model": (source.model or {}).get("name", "-") if source.model else "-",
                "time taken": f"{elapsed:.2f} s",
                "loudness before": _lufs(result.loudness_in_lufs),
                "loudness after": _lufs(result.loudness_out_lufs),
                "loudness matching": (
                    f"{result.match_gain_db:+.2f} dB" if result.match_gain_db is not None else "off"
                ),
                "peak": f"{result.peak_dbfs:.2f} dBFS",
                "peak safety": "off" if no_peak_safety else "on",
            }
            write_text_atomic(layout.metadata, metadata_text(rows), overwrite=overwrite)
        if layout.plot is not None:
            _write_plot(the_preset, in_path, layout.audio, layout.plot, source.label, audio_length, overwrite)
    except BaseException:
        # Every step after writing begins is part of the run: never leave a half-filled run
        # folder or a lone -o file behind (Ctrl-C, disk full, a failed measurement …).
        if created_folder and layout.folder is not None:
            shutil.rmtree(layout.folder, ignore_errors=True)
        else:
            for p in layout.all_paths():
                remove_if_written(p, before[p])
        raise
    elapsed = time.perf_counter() - started

    if json_out:
        out.print_json(
            {
                "output": str(layout.audio),
                "folder": str(layout.folder) if layout.folder else None,
                "preset_file": str(layout.preset_json) if layout.preset_json else None,
                "metadata_file": str(layout.metadata) if layout.metadata else None,
                "plot_file": str(layout.plot) if layout.plot else None,
                "source": source.kind,
                "label": source.label,
                "prompt": source.prompt,
                "strength": strength,
                "device": device_used,
                "model": source.model,
                "notes": list(source.notes),
                "seconds_taken": round(elapsed, 3),
                "result": result.to_dict(),
                "preset": the_preset.to_dict(),
            }
        )
        return
    console.print(out.preset_table(the_preset, title=f"{source.kind}: {source.label}"))
    rows = [("written", out.show_path(layout.folder if layout.folder else layout.audio))]
    if layout.folder:
        rows += [
            ("audio", layout.audio.name),
            ("preset", layout.preset_json.name if layout.preset_json else "-"),
        ]
    if layout.plot:
        rows.append(("plot", layout.plot.name if layout.folder else out.show_path(layout.plot)))
    rows.append(("loudness", f"{_lufs(result.loudness_in_lufs)} -> {_lufs(result.loudness_out_lufs)}"))
    rows.append(("time", f"{elapsed:.2f} s for {result.duration_in_s:.1f} s of audio"))
    out.print_summary(rows)


def _lufs(value: float | None) -> str:
    if value is None:  # below features.LOUDNESS_MIN_SAMPLE_RATE_HZ
        return "not measurable"
    return f"{value:.2f} LUFS" if value > -200 else "silence"


def _write_plot(
    preset, in_path: Path, audio_path: Path, png: Path, label: str, audio_length: float | None, overwrite: bool
) -> None:
    from audiomanip import audio_io
    from audiomanip.plot import SPECTRUM_SECONDS, plot_preset

    seconds = min(SPECTRUM_SECONDS, audio_length) if audio_length else SPECTRUM_SECONDS
    info_in = audio_io.info(in_path)
    x, sr_in = audio_io.read(in_path, frames=int(seconds * info_in.sample_rate))
    info_out = audio_io.info(audio_path)
    y, sr_out = audio_io.read(audio_path, frames=int(seconds * info_out.sample_rate))
    if sr_in != sr_out:
        x = audio_io.resample(x, sr_in, sr_out)
    plot_preset(preset, png, sample_rate=sr_out, input_audio=x, output_audio=y, title=f"EQ: {label}",
                overwrite=overwrite)

"""`audiomanip export-preset`: write a prompt's (or named preset's) settings for other tools."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, err_console, handle_errors, note, warn
from audiomanip.commands.root import app
from rich.markup import escape


@app.command(
    "export-preset",
    epilog=(
        "Examples:\n\n"
        '  audiomanip export-preset "cathedral reverb" -f yaml -o cathedral.yaml\n\n'
        "  audiomanip export-preset --preset telephone -f ffmpeg --sample-rate 44100 -o phone.txt\n"
        '  ffmpeg -i in.wav -af "$(cat phone.txt)" out.wav\n\n'
        '  audiomanip export-preset "big hall" -f ir --sample-rate 44100 -o hall_ir.wav\n\n'
        '  audiomanip export-preset --preset cathedral "much less reverb" -o chapel.json'
    ),
)
@handle_errors
def export_preset(
    prompt: Optional[str] = typer.Argument(None, help="What it should sound like, in words."),
    fmt: Optional[str] = typer.Option(
        None,
        "--format",
        "-f",
        help="yaml | json | ffmpeg (an -af filter chain "
        "plus the reverb IR beside it) | ir (the reverb IR as a stereo WAV). "
        "Default: from the -o suffix (.json, .wav, .txt), else yaml.",
    ),
    output: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        metavar="FILE",
        help="Where to write (default: <slug>.<yaml|json|txt|wav>; yaml/json go to stdout with -o -).",
    ),
    preset: Optional[str] = out.PRESET_OPT,
    preset_file: Optional[Path] = out.PRESET_FILE_OPT,
    sample_rate: int = typer.Option(
        48000,
        "--sample-rate",
        metavar="HZ",
        help="Sample rate of the IR WAV (ir) / of the audio the ffmpeg chain will process (ffmpeg).",
    ),
    input_channels: int = typer.Option(
        2, "--channels", metavar="N", help="ffmpeg: channel count of the audio the chain will process."
    ),
    pitch_method: str = typer.Option(
        "rubberband", "--pitch-method", help="ffmpeg pitch shift: rubberband, or asetrate (any ffmpeg build)."
    ),
    strength: float = typer.Option(1.0, "--strength", metavar="0..1", help="Scale the preset (0 = bypass)."),
    plot: bool = typer.Option(False, "--plot", help="Also write <output stem>.png with the EQ curve."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    checkpoint_path: Optional[Path] = out.CHECKPOINT_PATH_OPT,
    checkpoint_dir: Optional[Path] = out.CHECKPOINT_DIR_OPT,
    device: str = out.DEVICE_OPT,
    seed: Optional[int] = out.SEED_OPT,
    clamp: bool = out.CLAMP_OPT,
) -> None:
    """Export a preset as YAML, JSON, an ffmpeg filter chain or a reverb impulse response.

    The preset comes from a prompt, a named preset (--preset) or a preset file (--preset-file);
    a prompt with --preset/--preset-file edits that preset.
    """
    from audiomanip.export_job import ExportJob, ExportRequest

    job = ExportJob(ExportRequest(
        prompt=prompt, preset_name=preset, preset_file=preset_file, clamp=clamp, strength=strength,
        checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir, device=device, seed=seed, fmt=fmt,
        output=output, sample_rate=sample_rate, channels=input_channels, pitch_method=pitch_method, plot=plot,
        overwrite=overwrite,
    ))
    job.check()
    chosen = job.choose_preset()
    source, the_preset = chosen.source, chosen.preset
    out.print_source_notes(source, chosen.device_notes)
    destination = job.destination(chosen)
    if destination is None:  # -o -
        typer.echo(job.text(chosen).rstrip("\n"))
        return
    written = job.write(chosen, destination, note=note, warn=warn)

    console.print(out.preset_table(the_preset, title=f"{source.kind}: {source.label}"))
    for p in written:
        console.print(f"wrote [bold]{escape(out.show_path(p))}[/]")
    if job.fmt == "ffmpeg":
        # quoted for the shell: pasting the hint never runs anything a file name holds
        chain = shlex.quote(out.show_path(written[0]))
        err_console.print(f'[dim]use:[/] ffmpeg -i in.wav -af "$(cat {escape(chain)})" out.wav')

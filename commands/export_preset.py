"""`audiomanip export-preset`: write a prompt's (or named preset's) settings for other tools."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, err_console, handle_errors, note, warn
from audiomanip.commands.app import app
from rich.markup import escape

from audiomanip.errors import OutputError, UsageError

FORMATS = ("yaml", "json", "ffmpeg", "ir")
_SUFFIX = {"yaml": ".yaml", "json": ".json", "ffmpeg": ".txt", "ir": ".wav"}


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
    from audiomanip.outputs import preset_text, slugify, write_text_atomic
    from audiomanip.preset_source import PromptPresetter, check_one_source, resolve

    fmt = (fmt or _format_from_suffix(output)).lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from audiomanip.processing import check_options

    check_options(sample_rate=sample_rate, strength=strength)
    if not 1 <= input_channels <= 64:
        raise UsageError(f"--channels must be between 1 and 64, got {input_channels}")
    if pitch_method not in ("rubberband", "asetrate"):
        raise UsageError("--pitch-method must be rubberband or asetrate")
    check_one_source(prompt, preset, preset_file)
    if plot:
        from audiomanip.plot import require_matplotlib

        require_matplotlib()

    prompter = PromptPresetter(checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir, device=device,
                               seed=seed)  # the model loads only for a prompt alone
    source = resolve(prompt, preset, preset_file, clamp=clamp, presetter=lambda: prompter)
    out.print_source_notes(source, prompter.take_notes())
    the_preset = source.at_strength(strength)
    if source.kind != "file" and not the_preset.name:
        the_preset.name = source.label

    to_stdout = output is not None and str(output) == "-"
    if to_stdout and fmt not in ("yaml", "json"):
        raise UsageError(f"-o - (stdout) works for yaml and json only, not {fmt}")
    if output is None:
        output = Path(slugify(source.label) + _SUFFIX[fmt])
    if not to_stdout:
        from audiomanip.destination import check_destination

        check_destination(output, overwrite=overwrite)  # regular files only
        if plot:
            check_destination(output.with_suffix(".png"), overwrite=overwrite)
        if not output.parent.exists():
            raise OutputError(f"output folder does not exist: {output.parent}")

    written: list[Path] = []
    if fmt in ("yaml", "json"):
        text = preset_text(the_preset, fmt, source.edits)  # a chain of edits travels beside the preset
        if to_stdout:
            typer.echo(text.rstrip("\n"))
            return
        write_text_atomic(output, text, overwrite=overwrite)
        written.append(output)
    elif fmt == "ir":
        from audiomanip.export import write_ir

        if not the_preset.enabled["reverb"]:
            warn("the reverb is disabled in this preset; writing the IR its reverb settings would give")
        write_ir(the_preset, output, sample_rate, overwrite=overwrite)
        written.append(output)
    else:
        from audiomanip.export import write_ffmpeg_chain

        chain_path, ir_path = write_ffmpeg_chain(
            the_preset,
            output,
            sample_rate=sample_rate,
            input_channels=input_channels,
            pitch_method=pitch_method,
            overwrite=overwrite,
        )
        written.append(chain_path)
        if ir_path is not None:
            written.append(ir_path)
        if the_preset.enabled["compressor"]:
            note("ffmpeg's acompressor links the channels and has its own ballistics: close, not identical")
    if plot:
        from audiomanip.plot import plot_preset

        png = output.with_suffix(".png")
        plot_preset(the_preset, png, sample_rate=sample_rate, title=f"EQ: {source.label}", overwrite=overwrite)
        written.append(png)

    console.print(out.preset_table(the_preset, title=f"{source.kind}: {source.label}"))
    for p in written:
        console.print(f"wrote [bold]{escape(out.show_path(p))}[/]")
    if fmt == "ffmpeg":
        # quoted for the shell: pasting the hint never runs anything a file name holds
        chain = shlex.quote(out.show_path(written[0]))
        err_console.print(f'[dim]use:[/] ffmpeg -i in.wav -af "$(cat {escape(chain)})" out.wav')


def _format_from_suffix(output: Optional[Path]) -> str:
    """The export format an output file name implies (yaml when it implies none)."""
    suffix = output.suffix.lower() if output is not None and str(output) != "-" else ""
    return {".json": "json", ".wav": "ir", ".txt": "ffmpeg"}.get(suffix, "yaml")

"""`audiomanip apply`: process one audio file with a prompt, a named preset or a preset file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, handle_errors, note, warn
from audiomanip.commands.root import app


@app.command(
    "apply",
    epilog=(
        "Examples:\n\n"
        '  audiomanip apply vocals.wav "warm vintage tape with a small room"\n\n'
        "  audiomanip apply drums.flac --preset telephone --strength 0.6 -o drums_phone.flac\n\n"
        '  audiomanip apply take3.wav --preset cathedral "a bit less reverb, brighter"\n\n'
        '  audiomanip apply take3.wav "big cathedral reverb" --match-loudness --plot --json\n\n'
        '  audiomanip apply voice.wav "a brigth glassy voice" --explain --dry-run\n\n'
        '  audiomanip apply mix.wav "more bass" --text-only --dry-run'
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
    explain: bool = typer.Option(
        False, "--explain", help="With a prompt: for each word the model never saw in training, list the "
        "nearest known words, their weights and the effects they move (also a field of --json)."),
    text_only: bool = typer.Option(
        False, "--text-only", help="With a prompt: the model reads the words alone, even when it can listen "
        "to the input (a model with an audio view adapts the preset to what the input holds)."),
    clamp: bool = out.CLAMP_OPT,
    no_peak_safety: bool = typer.Option(
        False, "--no-peak-safety", help="Let peaks exceed full scale (float outputs keep them)."
    ),
) -> None:
    """Apply an effect described in words (or a named preset / preset file) to one audio file.

    A PROMPT with --preset or --preset-file edits that preset ("a bit less reverb, brighter").

    By default a new folder output/<YYYYmmdd_HHMMSS>_<slug>/ receives <slug>.<ext> (same format,
    sample rate and channels as IN), <slug>_preset.json (the preset used, reusable with
    --preset-file) and metadata.txt.
    """
    from audiomanip.apply_job import ApplyJob, ApplyRequest, format_lufs

    job = ApplyJob(ApplyRequest(
        in_path=in_path, prompt=prompt, preset_name=preset, preset_file=preset_file, output_path=output_path,
        output_dir=output_dir, audio_length_s=audio_length, strength=strength, match_loudness=match_loudness,
        sample_rate=sample_rate, peak_safety=not no_peak_safety, overwrite=overwrite, plot=plot,
        explain=explain, clamp=clamp, checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir,
        device=device, seed=seed, dry_run=dry_run, text_only=text_only,
    ))
    job.check()
    chosen = job.choose_preset()
    source, the_preset = chosen.source, chosen.preset
    out.print_source_notes(source, chosen.device_notes)
    for item in source.explicit:
        note(f"from the prompt: {item}")
    if explain and source.kind != "prompt":
        note("--explain explains the model's reading of a prompt: a named preset, a preset file or an edit "
             "with words (read by the edit vocabulary, not the model) has nothing to explain")
    if source.explain is not None and not json_out:
        out.print_explanation(source.explain)
    about = {
        "source": source.kind,
        "label": source.label,
        "prompt": source.prompt,
        "strength": strength,
    }
    explained = {"explain": source.explain} if explain else {}

    if dry_run:
        if json_out:
            out.print_json({"dry_run": True, **about, "model": source.model, "notes": list(source.notes),
                            **explained, "preset": the_preset.to_dict()})
        else:
            console.print(out.preset_table(the_preset, title=f"{source.kind}: {source.label}"))
            console.print("[dim]dry run: nothing written[/]")
        return

    with out.render_progress(f"rendering {in_path.name}", enabled=not json_out) as progress:
        done = job.write(chosen, progress=progress, note=note, warn=warn)
    layout, result = done.layout, done.process
    if json_out:
        out.print_json(
            {
                "output": str(layout.audio),
                "folder": str(layout.folder) if layout.folder else None,
                "preset_file": str(layout.preset_json) if layout.preset_json else None,
                "metadata_file": str(layout.metadata) if layout.metadata else None,
                "plot_file": str(layout.plot) if layout.plot else None,
                **about,
                "device": chosen.device,
                "model": source.model,
                "notes": list(source.notes),
                "seconds_taken": round(done.seconds_taken, 3),
                "result": result.to_dict(),
                **explained,
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
    loudness = (format_lufs(result.loudness_in_lufs), format_lufs(result.loudness_out_lufs))
    rows.append(("loudness", " -> ".join(loudness)))
    rows.append(("time", f"{done.seconds_taken:.2f} s for {result.duration_in_s:.1f} s of audio"))
    out.print_summary(rows)

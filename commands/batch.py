"""`audiomanip batch`: process a folder of audio files with one or more prompts or presets."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, err_console, handle_errors, note, warn
from audiomanip.commands.root import app
from rich.markup import escape
from rich.text import Text

from audiomanip.errors import UsageError
from audiomanip.safe_text import printable


@app.command(
    "batch",
    epilog=(
        "Examples:\n\n"
        '  audiomanip batch stems/ --prompt "warm vintage tape" --recursive --workers 2\n\n'
        '  audiomanip batch voice/ --prompts prompts.txt --pattern "*.wav" --output-dir out/voice\n\n'
        "  audiomanip batch takes/ --plan plan.csv    (plan.csv: file,prompt per line)\n\n"
        "  audiomanip batch s3://bucket/raw --prompt telephone --output-dir s3://bucket/tel"
        " --engine ray --address auto"
    ),
)
@handle_errors
def batch(
    in_dir: str = typer.Argument(
        ..., metavar="DIR", help="Folder of audio files (a path or URL: s3://bucket/prefix)."
    ),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="One prompt for every file."),
    prompts_file: Optional[str] = typer.Option(
        None,
        "--prompts",
        metavar="FILE",
        help="Text file, one prompt per line: every file gets every prompt.",
    ),
    plan: Optional[str] = typer.Option(
        None, "--plan", metavar="CSV", help="CSV with columns file,prompt (paths relative to DIR)."
    ),
    preset: Optional[str] = out.PRESET_OPT,
    preset_file: Optional[Path] = out.PRESET_FILE_OPT,
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include sub-folders."),
    pattern: Optional[str] = typer.Option(
        None,
        "--pattern",
        metavar="GLOB",
        help='Only files whose name matches, e.g. "*.wav" (default: every audio file).',
    ),
    output_dir: Optional[str] = typer.Option(
        None,
        "--output-dir",
        metavar="DIR",
        help="Where outputs go, mirroring DIR's tree; a path or URL (default: output/batch_<DIR name>[_<slug>]).",
    ),
    engine_name: str = typer.Option(
        "local", "--engine", metavar="local|ray", help="local: a process pool here; ray: a Ray cluster."
    ),
    address: Optional[str] = typer.Option(
        None,
        "--address",
        metavar="ADDR",
        help="Ray cluster to join (host:port, or auto); without it --engine ray starts Ray here.",
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", min=1, help="Worker processes (default: the number of CPU cores)."
    ),
    overwrite: bool = typer.Option(
        False,
        "--overwrite",
        help="Redo every output, and replace files in the way that no batch made (by default outputs"
        " made from the same input, preset and options are skipped, so an interrupted batch resumes).",
    ),
    match_loudness: bool = typer.Option(
        False, "--match-loudness", help="Match each output's loudness to its input's."
    ),
    audio_length: Optional[float] = typer.Option(
        None, "--audio-length", metavar="SECONDS", help="Process only the first SECONDS of each file."
    ),
    strength: float = typer.Option(
        1.0, "--strength", metavar="0..1", help="Scale every preset (0 = bypass)."
    ),
    checkpoint_path: Optional[Path] = out.CHECKPOINT_PATH_OPT,
    checkpoint_dir: Optional[Path] = out.CHECKPOINT_DIR_OPT,
    device: str = out.DEVICE_OPT,
    seed: Optional[int] = out.SEED_OPT,
    clamp: bool = out.CLAMP_OPT,
    no_peak_safety: bool = typer.Option(False, "--no-peak-safety", help="Let peaks exceed full scale."),
) -> None:
    """Apply prompts or presets to every audio file in a folder, in parallel.

    Inputs are never modified. One bad file never stops the batch: it is reported in
    report.json (status done / skipped / failed, preset, error) and the exit code is 1.
    """
    import uuid

    from audiomanip.batch import engine, storage
    from audiomanip.batch.plan import BatchRequest, check_request, plan_batch

    request = BatchRequest(
        in_dir=in_dir, prompt=prompt, prompts_file=prompts_file, plan=plan, preset_name=preset,
        preset_file=preset_file, output_dir=output_dir, pattern=pattern, recursive=recursive,
        audio_length_s=audio_length, strength=strength, clamp=clamp, checkpoint_path=checkpoint_path,
        checkpoint_dir=checkpoint_dir, device=device, seed=seed,
    )
    check_request(request)
    if engine_name not in ("local", "ray"):
        raise UsageError(f"--engine must be local or ray, got {engine_name!r}")
    if address is not None and engine_name != "ray":
        raise UsageError("--address needs --engine ray")
    # prompts: the model runs here for the local engine, in the actors for Ray
    runs_model = engine_name == "local" and preset is None and preset_file is None
    if (workers or os.cpu_count() or 1) > 1 and runs_model:
        # the model runtime's threads rule out forking this process, so the workers will come
        # from the fork server: start it now, its imports overlapping the planning and the model
        engine.start_fork_server()
    batch_plan = plan_batch(request, note=note, warn=warn, predict=engine_name == "local")
    jobs, labels, output_dir = batch_plan.jobs, batch_plan.labels, batch_plan.output_dir
    n_workers = workers or (0 if engine_name == "ray" else os.cpu_count() or 1)

    options = engine.BatchOptions(
        overwrite=overwrite,
        match_loudness=match_loudness,
        peak_safety=not no_peak_safety,
        audio_length_s=audio_length,
        run_id=uuid.uuid4().hex[:12],
    )
    runner = None
    if engine_name == "ray":
        from audiomanip.batch.ray_engine import RayRunner

        runner = RayRunner(address, prompt_model=batch_plan.prompt_model, note=note)
        n_workers = runner.connect(n_workers)
    started = time.perf_counter()
    err_console.print(
        f"[bold]{len(jobs)}[/] job(s): {len({j.in_path for j in jobs})} file(s) × "
        f"{len(labels)} preset(s) → {escape(out.show_path(output_dir))}  "
        f"({min(n_workers, len(jobs))} worker(s))"
    )
    try:
        outcomes = _run_with_progress(engine, jobs, options, n_workers, runner)
    finally:
        if runner is not None:
            runner.close()
    elapsed = time.perf_counter() - started
    report_path = storage.join(str(output_dir), engine.REPORT_NAME)
    engine.write_report(
        report_path,
        outcomes,
        input_dir=str(batch_plan.in_dir),
        output_dir=str(output_dir),
        engine=engine_name,
        run=options.run_id,
        workers=n_workers,
        seconds_taken=round(elapsed, 3),
        strength=strength,
        model=batch_plan.model or (runner.model_info if runner is not None else None),
        labels={lab: batch_plan.slugs[lab] for lab in labels},
    )
    counts = engine.count(outcomes)  # this run's (the report also keeps other runs' entries)
    _print_summary(outcomes, counts, elapsed, report_path)
    if counts["failed"]:
        raise typer.Exit(1)


def _run_with_progress(engine, jobs, options, workers, runner=None):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class RateColumn(TextColumn):
        def render(self, task):  # files/s over the jobs actually worked on
            elapsed = task.elapsed or 0.0
            return f"{task.completed / elapsed:.2f} files/s" if elapsed > 0 else "– files/s"

    progress = Progress(
        TextColumn("batch"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(""),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    )
    task = progress.add_task("batch", total=len(jobs), failed=0)

    def on_progress(info: dict) -> None:
        progress.start()  # at once if skipped files come first; no-op once started
        progress.update(task, completed=info["done"], failed=info["counts"]["failed"])

    # the display (a refresh thread) starts once the workers are started: a process with one
    # thread may fork them itself (see audiomanip.batch.engine._worker_context)
    try:
        engine_kw = {"runner": runner} if runner is not None else {}
        return engine.run_batch(
            jobs, options, workers=workers, progress=on_progress, on_start=progress.start, **engine_kw
        )
    finally:
        progress.stop()


def _print_summary(outcomes, counts, elapsed, report_path) -> None:
    from rich.table import Table

    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        table = Table(title="failed files", show_header=True, header_style="bold", box=None)
        table.add_column("file")
        table.add_column("error")
        for o in failed[:20]:
            table.add_row(Text(out.show_path(o.in_path)), Text(printable(o.error or "")))
        console.print(table)
        if len(failed) > 20:
            console.print(f"… and {len(failed) - 20} more (see the report)")
    worked = counts["done"] + counts["failed"]
    rate = f"{counts['done'] / elapsed:.2f} files/s" if elapsed > 0 and counts["done"] else "-"
    summary = Table(show_header=True, header_style="bold", box=None)
    for col in ("done", "skipped", "failed", "time", "speed"):
        summary.add_column(col)
    summary.add_row(
        str(counts["done"]),
        str(counts["skipped"]),
        f"[red]{counts['failed']}[/]" if counts["failed"] else "0",
        f"{elapsed:.1f} s",
        rate if worked else "-",
    )
    console.print(summary)
    console.print(f"report: {escape(out.show_path(report_path))}")

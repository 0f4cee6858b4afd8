"""Shared command helpers: preset tables, progress bars, JSON output and option texts."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from audiomanip.commands._common import console, err_console, note, warn
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from audiomanip.params import SCHEMA, Preset
from audiomanip.safe_text import printable

# ------------------------------------------------------------------ shared option definitions
PRESET_OPT = typer.Option(
    None,
    "--preset",
    "-p",
    metavar="NAME",
    help="A named preset instead of a prompt (see `audiomanip presets`).",
)
PRESET_FILE_OPT = typer.Option(
    None,
    "--preset-file",
    metavar="FILE",
    help="A preset file (.yaml, .yml, .json; also an apply *_preset.json).",
)
CLAMP_OPT = typer.Option(
    False, "--clamp", help="Clamp out-of-range preset-file values (with a warning) instead of failing."
)
CHECKPOINT_PATH_OPT = typer.Option(
    None, "--checkpoint-path", metavar="PATH", help="Model checkpoint (file or folder) to use for prompts."
)
CHECKPOINT_DIR_OPT = typer.Option(
    None, "--checkpoint-dir", metavar="DIR", help="Folder to look for the newest checkpoint in."
)
DEVICE_OPT = typer.Option("auto", "--device", help="Device for the model: auto, cpu or cuda.")
SEED_OPT = typer.Option(None, "--seed", help="Random seed (makes prompt predictions repeatable).")


def fmt_value(value: Any) -> str:
    """A parameter value for tables: 4 significant digits, never an exponent (12000, 0.707)."""
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def preset_table(preset: Preset, title: str | None = None) -> Table:
    """The preset grouped by effect, in processing order; disabled effects dimmed.

    The EQ shows one row per band (type, frequency, gain, Q)."""
    # Text, not a markup string: a label such as "[/x]" (a prompt, a preset's name) is shown as it is
    table = Table(
        title=Text(printable(title)) if title else None, show_header=True, header_style="bold", box=None, pad_edge=False
    )
    table.add_column("effect")
    table.add_column("on")
    table.add_column("settings")
    for eff in SCHEMA:
        on = bool(preset.enabled[eff.name])
        style = "" if on else "dim"
        vals = preset[eff.name]
        rows: list[str] = []
        if eff.bands > 1:
            for b in range(1, eff.bands + 1):
                parts = []
                for p in eff.params:
                    v = vals[f"band{b}_{p.name}"]
                    unit = f" {p.unit}" if p.unit else ""
                    parts.append(f"{p.name}={fmt_value(v)}{unit}" if not p.is_choice else str(v))
                rows.append(f"band{b}: " + "  ".join(parts))
        else:
            parts = []
            for fname, p, _ in eff.flat_params():
                unit = p.unit if p.unit in (":1",) else (f" {p.unit}" if p.unit else "")
                parts.append(f"{fname}={fmt_value(vals[fname])}{unit}")
            rows.append("  ".join(parts))
        table.add_row(
            Text(eff.name, style=style or "bold"),
            Text("yes" if on else "no", style=style),
            Text("\n".join(rows), style=style),
        )
    return table


def print_notes(notes: list[str], *, warning: bool = False) -> None:
    for msg in notes:
        (warn if warning else note)(msg)


def print_source_notes(source: Any, device_notes: list[str]) -> None:
    """The notes of a preset source (a :class:`audiomanip.preset_source.ResolvedPreset`): the
    model loader's first (shown once the model ran, so that an error while loading stays one
    line), then the source's own, a preset file's repairs as warnings."""
    print_notes(device_notes)
    print_notes(source.notes, warning=source.kind == "file")


def print_json(data: Any) -> None:
    """Machine-readable output: exactly one JSON document on stdout."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show some character, or a non-UTF-8 file name
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def render_progress(
    description: str, *, enabled: bool = True, delay_s: float = 1.0
) -> Iterator[Callable[[dict], None]]:
    """A progress callback for the renderer that draws a rich bar on stderr.

    The bar appears only once the work has run for ``delay_s`` (quick jobs stay quiet) and
    never when ``enabled`` is false or stderr is not a terminal. The callback accepts the
    renderer's dicts and reads ``done_frames``/``total_frames`` (or ``done``/``total``, or ``fraction``).
    """
    if not enabled or not err_console.is_terminal:
        yield lambda info: None
        return
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task(escape(printable(description)), total=1.0)
    start = time.perf_counter()
    state = {"started": False}

    def callback(info: dict) -> None:
        frac = info.get("fraction")
        if frac is None:
            done = info.get("done_frames", info.get("done"))
            total = info.get("total_frames", info.get("total"))
            if done is None or not total:
                return
            frac = float(done) / float(total)
        if not state["started"]:
            if time.perf_counter() - start < delay_s:
                return
            progress.start()
            state["started"] = True
        progress.update(task, completed=min(1.0, float(frac)))

    try:
        yield callback
    finally:
        if state["started"]:
            progress.stop()


def show_path(path: Path | str) -> str:
    """A path as the user will want to read it: relative to the working folder when inside it,
    with control characters escaped (:func:`audiomanip.safe_text.printable`); a URL (s3://…) as
    it is, escaped the same way."""
    if "://" in str(path):
        return printable(str(path))
    p = Path(path)
    try:
        return printable(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return printable(p)


def print_summary(rows: list[tuple[str, str]], *, to_stderr: bool = False) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(Text(printable(k)), Text(printable(v)))  # values hold paths: never markup, never escapes
    (err_console if to_stderr else console).print(table)


__all__ = [
    "PRESET_OPT",
    "PRESET_FILE_OPT",
    "CLAMP_OPT",
    "CHECKPOINT_PATH_OPT",
    "CHECKPOINT_DIR_OPT",
    "DEVICE_OPT",
    "SEED_OPT",
    "preset_table",
    "print_notes",
    "print_source_notes",
    "print_json",
    "render_progress",
    "show_path",
    "print_summary",
    "Optional",
]


def print_explanation(words: list[dict[str, Any]]) -> None:
    """`--explain`: per word the model never saw in training, its nearest known words (weight,
    cosine, source) and what each moves."""
    if not words:
        note("explain: every word of the prompt occurs in the training prompts")
        return
    table = Table(title="words the model never saw, read as their nearest known words", show_header=True,
                  header_style="bold", box=None, pad_edge=False)
    for col in ("unknown", "known word", "weight", "cosine", "source", "moves"):
        table.add_column(col)
    for entry in words:
        for i, n in enumerate(entry["neighbours"]):
            table.add_row(Text(entry["word"] if i == 0 else ""), Text(n["word"]), f"{n['weight']:.2f}",
                          f"{n['similarity']:.2f}", n["source"], Text("; ".join(n["moves"]) or "-"))
    console.print(table)

"""`audiomanip eval`: measure a model on the evaluation suites against baselines."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from rich.table import Table

from audiomanip.commands import _output as out
from audiomanip.commands._common import console, err_console, handle_errors, note
from audiomanip.commands.root import app
from audiomanip.errors import UsageError

SUITE_CHOICES = ("param", "direction", "paraphrase", "crowd", "outcome", "all")
_STAGE_NAMES = {"setup": "setting up", "param": "param suite", "direction": "direction suite",
                "paraphrase": "paraphrase suite", "crowd": "crowd suite", "outcome": "outcome suite"}


@app.command(
    "eval",
    epilog=(
        "Examples:\n\n"
        "  audiomanip eval\n\n"
        "  audiomanip eval --suite direction --report eval.json --plot eval.png\n\n"
        "  audiomanip eval --suite direction --backend onnx\n\n"
        "  audiomanip eval --checkpoint-dir runs/mine --suite param\n\n"
        "  audiomanip eval --suite direction --audio-dir my_clips/\n\n"
        "  audiomanip eval --suite crowd --report crowd.json\n\n"
        "  audiomanip eval --suite outcome --backend onnx"
    ),
)
@handle_errors
def eval_command(
    checkpoint_path: Optional[Path] = out.CHECKPOINT_PATH_OPT,
    checkpoint_dir: Optional[Path] = out.CHECKPOINT_DIR_OPT,
    suite: str = typer.Option("all", "--suite", help="Which suite: param, direction, paraphrase, crowd, outcome or all."),
    crowd_fold: str = typer.Option(
        "0", "--crowd-fold", metavar="K|cv",
        help="Crowd suite: the word fold to score: 0 = the held-out split (default); 1-4 = word-level "
             "cross-validation while developing (a model trained without folds 0 and K); cv = all five "
             "folds pooled, only for a model trained on no crowd word."),
    audio_dir: Optional[Path] = typer.Option(
        None, "--audio-dir", metavar="DIR",
        help="Render the direction suite on the first seconds of these audio files instead of the "
             "synthetic speech, instrument and drums."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="FILE", help="Write every figure as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE", help="Draw the figures into a PNG."),
    device: str = out.DEVICE_OPT,
    backend: str = typer.Option("torch", "--backend",
                                help="Runtime of the model: torch, or onnx (what apply runs; the checkpoint "
                                     "needs its model.onnx)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random-preset baseline."),
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", metavar="DIR",
        help="Embedding cache for the nearest-neighbour baseline (default ~/.cache/audiomanip/embeddings)."),
) -> None:
    """Evaluate a model: parameter error on held-out prompts, whether rendered audio moves the
    way prompts ask, whether paraphrases get similar presets, and whether held-out crowd words
    sound the way listeners chose; each next to three baselines (corpus-mean preset, random
    preset, nearest-neighbour prompt lookup), the crowd suite also next to the crowd's mean
    curve, nearest crowd word and split-half ceiling."""
    from audiomanip.evaluation.evaluate import ALL_SUITES, evaluate
    from audiomanip.evaluation.report import plot_report, save_report
    from audiomanip.evaluation.baselines import load_model_for_eval
    from audiomanip.training.loop import default_cache_dir

    if suite not in SUITE_CHOICES:
        raise UsageError(f"--suite must be one of {', '.join(SUITE_CHOICES)}, got {suite!r}")
    suites = list(ALL_SUITES) if suite == "all" else [suite]
    if audio_dir is not None and "direction" not in suites:
        raise UsageError("--audio-dir only applies to the direction suite (use --suite direction or all)")
    if crowd_fold not in ("0", "1", "2", "3", "4", "cv"):
        raise UsageError(f"--crowd-fold must be 0, 1, 2, 3, 4 or cv, got {crowd_fold!r}")
    for path, what in ((report, "--report"), (plot, "--plot")):
        if path is not None and not path.parent.exists():
            raise UsageError(f"{what}: the folder {path.parent} does not exist")
    if plot is not None:
        from audiomanip.plot import require_matplotlib

        require_matplotlib()
    if backend not in ("torch", "onnx"):
        raise UsageError(f"--backend must be torch or onnx, got {backend!r}")
    model = load_model_for_eval(checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir,
                                device=device, backend=backend, note=note,
                                cache_dir=cache_dir if cache_dir is not None else default_cache_dir())
    with _progress_bars() as progress:
        result = evaluate(model, suites, audio_dir=audio_dir, seed=seed, progress=progress,
                          crowd_fold=crowd_fold if crowd_fold == "cv" else int(crowd_fold))
    print_report(result)
    if report is not None:
        save_report(result, report)
        note(f"report written to {report}")
    if plot is not None:
        plot_report(result, plot)
        note(f"plot written to {plot}")


@contextlib.contextmanager
def _progress_bars() -> Iterator[Callable[[dict], None]]:
    """A progress callback drawing one rich bar per stage on stderr (nothing when stderr is not
    a terminal)."""
    if not err_console.is_terminal:
        yield lambda info: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)
    tasks: dict[str, Any] = {}

    def callback(info: dict) -> None:
        stage = info.get("stage", "setup")
        label = f"{_STAGE_NAMES.get(stage, stage)}: {info.get('label', '')}"
        total = max(1, int(info.get("total") or 1))
        if stage not in tasks:
            tasks[stage] = bars.add_task(label, total=total)
        bars.update(tasks[stage], description=label, total=total, completed=int(info.get("done") or 0))

    with bars:
        yield callback


# ------------------------------------------------------------------------------ tables
def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if pct:
        return f"{100 * value:.1f}%"
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.3g}"


def _ratio(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}×" if abs(value) < 10 else f"{value:.1f}×"


#: Short column names of the predictors.
_SHORT = {"model": "model", "corpus_mean": "mean", "random": "rand", "nearest_neighbour": "NN"}


def _table(title: str, rows: list[tuple[str, str, Callable[[dict], Any], bool]], figures: dict, ratios: dict,
           predictors: list[str]) -> Table:
    """rows: (label, better 'lower'/'higher'/'' (a sub-row), getter from a predictor's figures, percent?).
    Columns: each predictor's figure, then the model's figure divided by each baseline's."""
    from rich import box

    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False)
    table.add_column("↑/↓ better", no_wrap=True)
    for p in predictors:
        table.add_column(_SHORT.get(p, p), justify="right", no_wrap=True, style="bold" if p == "model" else None)
    baselines = [p for p in predictors if p != "model" and p in ratios]
    for b in baselines:
        table.add_column(f"÷{_SHORT.get(b, b)}", justify="right", no_wrap=True, style="cyan")
    for label, better, get, pct in rows:
        cells = [_fmt(_safe(get, figures.get(p)), pct) for p in predictors]
        cells += [_ratio(_safe(get, ratios.get(b))) for b in baselines]
        table.add_row(label if not better else f"{label} {'↓' if better == 'lower' else '↑'}", *cells)
    return table


def _safe(get: Callable[[dict], Any], data: Any) -> Any:
    if data is None:
        return None
    try:
        return get(data)
    except (KeyError, TypeError):
        return None


def print_report(report: dict) -> None:
    """Print one rich table per suite, the verdict on the nearest-neighbour baseline, timings."""
    from audiomanip.params import SCHEMA

    predictors = list(report["predictors"])
    suites = report["suites"]
    model = report.get("model", {})
    from rich.markup import escape

    from audiomanip.safe_text import printable

    name, path = (escape(printable(model.get(k) or d)) for k, d in (("name", "?"), ("path", "")))
    console.print(f"[bold]model:[/] {name}  [dim]{path}[/]")
    if "param" in suites:
        for split, data in suites["param"]["splits"].items():
            rows: list[tuple[str, str, Callable[[dict], Any], bool]] = [
                ("param. MAE", "lower", lambda f: f["mae"], False)]
            for e in SCHEMA:
                rows.append((f"  {e.name}", "", lambda f, n=e.name: f["mae_per_effect"][n], False))
            rows.append(("enabled accuracy", "higher", lambda f: f["enabled_accuracy_mean"], True))
            for e in SCHEMA:
                rows.append((f"  {e.name}", "", lambda f, n=e.name: f["enabled_accuracy"][n], True))
            rows.append(("EQ band types", "higher", lambda f: f["eq_band_type_accuracy"], True))
            console.print(_table(f"param suite: {split.replace('_', ' ')} ({data['n']} prompts; MAE in the "
                                 "normalised space)", rows,
                                 data["figures"], data["ratios"], predictors))
        verdict = suites["param"]["verdict"]
        style = "bold green" if verdict.get("beats_nearest_neighbour") else "bold red"
        console.print(f"[{style}]{verdict['message']}[/]")
    if "direction" in suites:
        data = suites["direction"]
        first = data["figures"][predictors[0]]
        rows = [("accuracy", "higher", lambda f: f["accuracy"], True)]
        for fam in first["per_family"]:
            rows.append((f"  {fam}", "", lambda f, k=fam: f["per_family"][k], True))
        for src in first["per_source"]:
            rows.append((f"  on {src}", "", lambda f, k=src: f["per_source"][k], True))
        console.print(_table(f"direction suite ({data['n_prompts']} prompts, {data['n_cases']} prompt × source "
                             f"cases, {data['n_renders']} renders)", rows, data["figures"], data["ratios"],
                             predictors))
        console.print(f"[dim]direction {escape(printable(data.get('sources_note', '')))}[/]")
    if "paraphrase" in suites:
        data = suites["paraphrase"]
        rows = [
            ("within groups", "lower", lambda f: f["within"], False),
            ("between groups", "higher", lambda f: f["between"], False),
            ("margin", "higher", lambda f: f["margin"], False),
            ("separation", "higher", lambda f: f["separation"], True),
        ]
        console.print(_table(f"paraphrase suite ({data['n_groups']} groups, {data['n_prompts']} prompts)", rows,
                             data["figures"], data["ratios"], predictors))
    if "crowd" in suites:
        print_crowd(suites["crowd"], predictors)
    if "outcome" in suites:
        print_outcome(suites["outcome"])
    console.print("[dim]mean: corpus-mean preset; rand: random preset; NN: nearest-neighbour prompt; ÷X: the "
                  "model's figure divided by baseline X's (– where that ratio would be noise)[/]")
    secs = report.get("seconds", {})
    console.print("[dim]time: " + ", ".join(f"{k} {v:.1f} s" for k, v in secs.items()) + "[/]")


def print_outcome(data: dict) -> None:
    """The outcome suite: per intent the spread of the outcome over sources and the share moved
    the asked way, with the audio view and from the words alone."""
    from rich import box

    table = Table(title=f"outcome suite ({data['n_intents']} intents × {data['n_sources']} sources; spread: std "
                        "of the log change over sources; mean: its mean)", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for col in ("intent", "σ view", "σ words", "ratio ↓", "mean view", "words", "moved view", "words"):
        table.add_column(col, justify="left" if col == "intent" else "right", no_wrap=True)
    for row in data["intents"]:
        table.add_row(row["prompt"], _fmt3(row["view"]["spread"]), _fmt3(row["text_only"]["spread"]),
                      _ratio(row["spread_ratio"]), _fmt3(row["view"]["mean_change"]),
                      _fmt3(row["text_only"]["mean_change"]), _fmt3(row["view"]["accuracy"], True),
                      _fmt3(row["text_only"]["accuracy"], True))
    summary = data["summary"]
    table.add_row("mean", "", "", _ratio(summary["mean_spread_ratio"]), "", "", _fmt3(summary["view_accuracy"], True),
                  _fmt3(summary["text_only_accuracy"], True))
    console.print(table)
    if not data["audio_view"]:
        console.print("[dim]outcome: this model reads text only, so both paths give the same preset[/]")


def _fmt3(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.0f}%" if pct else f"{value:.3f}"


#: Column names of the crowd suite's references.
_CROWD_SHORT = {"mean_curve": "curve", "nearest_word": "word", "ceiling": "ceil."}


def print_crowd(data: dict, predictors: list[str]) -> None:
    """The crowd suite: one row per figure, one column per predictor and crowd reference."""
    from rich import box

    figs = data["figures"]
    cols = predictors + [c for c in ("mean_curve", "nearest_word", "ceiling") if any(c in f for f in figs.values())]
    n = data["n"]
    if "folds" in data:
        which = "all folds pooled (word-level cross-validation)"
    else:
        which = "held-out words" if data["fold"] == 0 else f"fold {data['fold']} (cross-validation)"
    table = Table(title=f"crowd suite: {which} ({data['n_words']} words)", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    table.add_column("↑ better", no_wrap=True)
    for c in cols:
        table.add_column(_CROWD_SHORT.get(c, _SHORT.get(c, c)), justify="right", no_wrap=True,
                         style="bold" if c == "model" else ("cyan" if c in _CROWD_SHORT else None))
    rows = [("EQ r", "eq_r", "eq", False), ("reverb ρ", "reverb_rho", "reverb", False),
            ("comp. dir.", "compressor_direction", "compressor", True)]
    for label, key, stratum, pct in rows:
        table.add_row(f"{label} ({n[stratum]})", *(_fmt3(figs[key].get(c), pct) for c in cols))
    console.print(table)
    console.print("[dim](N) words: EQ ≥3 sessions, reverb ≥20 uses, compressor ≥5 uses; curve: mean crowd curve "
                  "of the training words; word: nearest training crowd word; ceil.: the crowd's split-half "
                  "agreement on the same words[/]")
    ref = data.get("reference", {})
    if ref:
        console.print(
            f"[dim]crowd on all words: EQ split-half r {ref['eq_split_half_r']:.3f} and leave-one-out mean curve "
            f"r {ref['eq_loo_mean_curve_r']:.3f} ({ref['eq_words_4_sessions']} words ≥4 sessions); reverb "
            f"split-half ρ {_fmt(ref['reverb_split_half_rho'])} ({ref['reverb_words_20_uses']} words ≥20 uses)[/]")

"""`audiomanip train`: train (or resume) the preset model; a thin layer over audiomanip.training.loop."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from audiomanip.commands._common import (
    INTERRUPTED_EXIT_CODE,
    console,
    err_console,
    handle_errors,
    is_debug,
    note,
)
from audiomanip.commands.root import app
from audiomanip.safe_text import printable



@app.command(
    "train",
    epilog=(
        "Examples:\n\n"
        "  audiomanip train --dry-run\n\n"
        "  audiomanip train --epochs 6 --output-dir runs/mine\n\n"
        "  audiomanip train --resume runs/mine/interrupted --epochs 6 --output-dir runs/mine\n\n"
        "  audiomanip train --dataset-path my_pairs.jsonl --pairs 0 --epochs 20\n\n"
        "  audiomanip train --description-path words.txt --export my_model/\n\n"
        "  audiomanip train --nproc 2 --epochs 6 --output-dir runs/ddp\n\n"
        "  torchrun --nproc-per-node 4 -m audiomanip train --device cuda --output-dir runs/ddp"
    ),
)
@handle_errors
def train(
    ctx: typer.Context,
    epochs: int = typer.Option(10, "--epochs", min=1, help="Passes over the training pairs."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Prompt/preset pairs per step."),
    learning_rate: float = typer.Option(2e-3, "--learning-rate", help="Peak AdamW learning rate "
                                        "(warm-up, then cosine decay to 10 %)."),
    warmup_steps: int = typer.Option(100, "--warmup-steps", min=0, metavar="N",
                                     help="Steps of linear learning-rate warm-up."),
    pairs: int = typer.Option(30000, "--pairs", min=0, help="Pairs generated from the preset corpus "
                              "(0: train only on --dataset-path / --description-path)."),
    dataset_path: Optional[Path] = typer.Option(
        None, "--dataset-path", metavar="FILE",
        help="Extra prompt/preset pairs: JSONL lines {\"prompt\": …, \"preset\": {…} or a preset name}, "
             "or a YAML/JSON list of them. Added to the generated pairs."),
    description_path: Optional[Path] = typer.Option(
        None, "--description-path", metavar="FILE",
        help="Extra descriptions for existing presets, one 'description => preset name or preset file' "
             "per line (# comments). Added to the training pairs."),
    crowd_per_word: int = typer.Option(0, "--crowd-per-word", min=0, metavar="N",
                                       help="Also train on the SocialFX crowd words of the training folds, "
                                            "N phrasings each (+1 per 0.25 confidence); 0: none."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", metavar="CHECKPOINT",
                                             help="Start from this checkpoint's weights (fine-tuning; "
                                                  "a new --text-adapter starts as the identity)."),
    text_adapter: int = typer.Option(0, "--text-adapter", min=0, metavar="WIDTH",
                                     help="Hidden width of a residual adapter on the frozen encoder's "
                                          "vectors (0: none)."),
    audio_dir: Optional[Path] = typer.Option(None, "--audio-dir", metavar="DIR",
                                             help="Audio files whose short clips join the STFT-loss clips."),
    save_checkpoint_every: int = typer.Option(0, "--save-checkpoint-every", min=0, metavar="STEPS",
                                              help="Also save a resumable checkpoint every STEPS steps "
                                                   "(0: at the end of each epoch only)."),
    stft_every: int = typer.Option(8, "--stft-every", min=0, metavar="K",
                                   help="Apply the multi-resolution STFT loss every K steps (0: never)."),
    stft_batch: int = typer.Option(8, "--stft-batch", min=1, help="Examples per STFT-loss sub-batch."),
    outcome_weight: float = typer.Option(
        0.0, "--outcome-weight", min=0.0, metavar="W",
        help="Weight of the outcome term on the STFT steps: prompts with a measurable intent (brighter, more "
             "bass, more space, glue, drive …) should change the rendered clip's feature by the same log "
             "amount on every source (README \"Outcome targets\"; 0: none)."),
    outcome_param_weight: float = typer.Option(
        1.0, "--outcome-param-weight", min=0.0, metavar="W",
        help="On the outcome steps, weight of the parameter loss (and STFT term) of the effect an outcome "
             "decides, for examples that hear their clip: below 1 lets the preset adapt to the source."),
    outcome_clips: int = typer.Option(
        8, "--outcome-clips", min=1, metavar="N",
        help="Through how many clips of the bank each spectral intent (brighter, more bass …) is heard per "
             "step by the EQ outcome term (it needs no rendering, so more clips cost little)."),
    view_only: bool = typer.Option(
        False, "--view-only", help="Train only the audio view's encoder (with --init-from): every words-only "
                                   "prediction stays exactly the starting model's."),
    varied_bank: bool = typer.Option(
        False, "--varied-bank", help="Also render dark, bright, boomy, thin, squashed and reverberant versions "
                                     "of the training clips."),
    audio_view_dropout: float = typer.Option(
        0.5, "--audio-view-dropout", min=0.0, max=1.0, metavar="P",
        help="Chance that an example is trained without its audio view (keeps the words-only path good)."),
    clap_checkpoint: Optional[Path] = typer.Option(
        None, "--clap-checkpoint", metavar="FILE",
        help="Add a CLAP audio-embedding loss with this LAION-CLAP checkpoint (needs the clap extra)."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="Text encoder name or path "
                                          "(default: all-MiniLM-L6-v2)."),
    d_model: int = typer.Option(128, "--d-model", min=8, help="Width of the fusion layers."),
    layers: int = typer.Option(2, "--layers", min=0, help="Self-attention refinement layers."),
    audio_view: str = typer.Option("none", "--audio-view",
                                   help="Second view of the model: none (text only), mel, clap or profile "
                                        "(a few numbers describing the input; runs on ONNX Runtime)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", metavar="DIR",
                                             help="Embedding cache (default ~/.cache/audiomanip/embeddings)."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="CHECKPOINT",
                                          help="Continue from a resumable checkpoint (e.g. <output-dir>/interrupted)."),
    output_dir: Path = typer.Option(Path("runs/train"), "--output-dir", metavar="DIR",
                                    help="Where checkpoints go: step-<n>/, last/, interrupted/, final/."),
    export: Optional[Path] = typer.Option(None, "--export", metavar="DIR",
                                          help="Also write the final weights without optimizer state here, "
                                               "with the ONNX graph the runtime runs without torch "
                                               "(the form of the shipped default model)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    nproc: int = typer.Option(1, "--nproc", min=1, metavar="N",
                              help="Train in N processes on this machine (distributed data parallel: gloo "
                                   "on CPU, NCCL with one GPU each on CUDA), as torchrun would launch them; "
                                   "each step's --batch-size pairs are split among them. Under torchrun "
                                   "the launcher decides and --nproc is not used."),
    seed: int = typer.Option(0, "--seed", help="Random seed (data order, clips, initial weights)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop after this many steps."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the model summary and parameter counts; "
                                 "train nothing."),
) -> None:
    """Train the model that turns descriptions into presets.

    Ctrl-C writes a resumable checkpoint to <output-dir>/interrupted (continue with --resume).
    """
    from audiomanip.training import distributed
    from audiomanip.training.loop import TrainOptions, build_network, train as run_training

    options = TrainOptions(
        output_dir=output_dir, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        warmup_steps=warmup_steps, seed=seed,
        device=device, n_pairs=pairs, dataset_path=dataset_path, description_path=description_path,
        audio_dir=audio_dir, encoder=encoder, cache_dir=cache_dir, save_checkpoint_every=save_checkpoint_every,
        stft_every=stft_every, stft_batch=stft_batch, clap_checkpoint=clap_checkpoint, resume=resume,
        max_steps=max_steps, crowd_per_word=crowd_per_word, init_from=init_from, outcome_weight=outcome_weight,
        outcome_param_weight=outcome_param_weight, outcome_clips=outcome_clips, view_only=view_only,
        varied_bank=varied_bank, audio_view_dropout=audio_view_dropout,
        model={"d_model": d_model, "n_self_layers": layers, "audio_view": audio_view, "text_adapter": text_adapter},
    )
    if dry_run:
        _dry_run(options, build_network)
        return
    if nproc > 1 and not distributed.launched():
        _launch(ctx, nproc)
        return

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err_console, transient=False)
    tasks: dict[str, Any] = {}

    def progress(event: dict) -> None:
        kind = event["event"]
        if kind == "encode":
            if "encode" not in tasks:
                tasks["encode"] = bar.add_task("encoding prompts", total=event["total"], info="")
            bar.update(tasks["encode"], completed=event["done"])
        elif kind == "start":
            note(f"{event['pairs']} training pairs, {event['parameters']:,} parameters, "
                 f"{event['steps_per_epoch']} steps per epoch, {event['clips']} audio clips")
            tasks["train"] = bar.add_task("training", total=event["total_steps"], completed=event["step"], info="")
        elif kind == "step":
            stft = "" if event["stft_loss"] is None else f" stft {event['stft_loss']:.3f}"
            bar.update(tasks["train"], completed=event["step"],
                       info=f"epoch {event['epoch']} loss {event['loss']:.4f} param {event['param_loss']:.4f}"
                            f"{stft} lr {event['lr']:.2e}")
        elif kind == "epoch" and event.get("heldout"):
            for split, m in event["heldout"].items():
                bar.console.print(f"epoch {event['epoch']} {split}: MAE {m['mae']:.4f} "
                                  f"(constant {m.get('constant_mae', float('nan')):.4f}), enabled acc "
                                  f"{m['enabled_accuracy']:.3f}, band-type acc {m['band_type_accuracy']:.3f}")
        elif kind == "interrupted":
            bar.stop()
            note(f"interrupted at step {event['step']}: resumable checkpoint in {event['path']} "
                 f"(continue with --resume {event['path']})")

    with _rank(options) as ranks, (bar if ranks.is_main else nullcontext()):
        result = run_training(options, progress if ranks.is_main else None)
    if not ranks.is_main:
        return  # rank 0 reports and exports
    console.print(f"trained {result.steps} steps in {result.seconds:.0f} s; checkpoint: {printable(result.checkpoint)}", markup=False)
    if export is not None:
        from audiomanip.training.model_export import export_known_words, export_model

        path = export_model(result.checkpoint, export)
        words = export_known_words(export, options)
        console.print(f"exported to {printable(path)} (known words for --explain: {words.name})", markup=False)


def _launch(ctx: Any, nproc: int) -> None:
    """Run this same command as ``nproc`` ranks (torch's elastic launcher); each rank prints what
    it must (rank 0 the progress, a failing rank its error), so nothing is printed twice here."""
    args = ["-m", "audiomanip"] + (["--debug"] if is_debug() else []) + [ctx.info_name or "train"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if param.name == "nproc" or value is None or getattr(source, "name", "") == "DEFAULT":
            continue
        if getattr(param, "is_flag", False):
            args += [param.opts[0]] if value else list(param.secondary_opts[:1])
        else:
            args += [param.opts[0], str(value)]
    from audiomanip.training import distributed

    try:
        distributed.launch(nproc, args)
    except distributed.WorkerFailed as exc:
        if exc.reported:
            raise typer.Exit(exc.exit_code) from None
        raise
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None


@contextmanager
def _rank(options: Any) -> Iterator[Any]:
    """This process's part in a run (:func:`audiomanip.training.distributed.worker`; a single process
    when not launched). Ranks other than 0 end quietly when another rank failed or on Ctrl-C."""
    from audiomanip.device import resolve_device
    from audiomanip.training import distributed

    is_main = True
    try:
        with distributed.worker(resolve_device(options.device) if distributed.launched() else options.device) \
                as ranks:
            is_main = ranks.is_main
            options.device = ranks.device if ranks.distributed else options.device
            yield ranks
    except distributed.PeerLost:
        raise typer.Exit(1) from None  # the rank that failed first reports why
    except KeyboardInterrupt:
        if is_main:
            raise
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None


def _dry_run(options: Any, build_network: Any) -> None:
    from rich.table import Table

    from audiomanip.model.network import count_parameters, parameter_table
    from audiomanip.text import load_text_encoder

    enc = load_text_encoder(options.encoder)
    net = build_network(options, enc.dim)
    table = Table(title=f"PresetNet (text encoder {enc.name}, {enc.dim}-d tokens, frozen)")
    table.add_column("component")
    table.add_column("parameters", justify="right")
    for name, n in parameter_table(net):
        table.add_row(name, f"{n:,}")
    total = count_parameters(net)
    table.add_row("[bold]total (trainable)", f"[bold]{total:,}")
    console.print(table)
    console.print(f"weights: {total * 4 / 1e6:.1f} MB float32; model: {net.config.to_dict()}", markup=False)
    console.print("recipe: " + ", ".join(f"{k}={v}" for k, v in options.recipe().items() if k != "model"), markup=False)
    note("dry run: nothing was trained")

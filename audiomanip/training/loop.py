"""Training of the preset model (a library function; ``audiomanip train`` only calls it).

Loss per step (see :mod:`audiomanip.model.losses`)::

    parameter loss  (BCE on enabled + Huber on normalised continuous params of enabled effects
                     + cross-entropy on EQ band types of an enabled EQ)
  + stft_weight × multi-resolution STFT loss, every ``stft_every`` steps on the first
                     ``stft_batch`` examples of the batch: dsp.chain.run_chain on short clips
                     with the *soft* prediction (enabled probabilities, band-type probabilities)
                     against run_chain with the target preset (pitch has no differentiable
                     twin: parameter loss only)
  + clap_weight × (1 − cosine) between CLAP audio embeddings of the two renders, on the same
                     steps, only with ``clap_checkpoint`` (an error when it cannot be loaded).

The STFT term runs on a sub-batch every k steps because rendering the chain (reverb IRs,
compressor envelopes) costs far more than the network on a CPU; with the defaults
(k = 8, 8 clips of 0.5 s at 16 kHz) it adds about a third to the time of the parameter-only steps.

Clips come from :func:`audiomanip.training.clips.clip_bank`; checkpoints are written and
resumed by :mod:`audiomanip.training.checkpoints`; the held-out figures of each epoch come from
:func:`audiomanip.training.heldout.heldout_metrics`; :mod:`audiomanip.training.model_export`
turns a checkpoint into a shipped model folder.

Progress events (``progress(dict)``), by ``"event"``:

* ``"encode"``: ``done``, ``total`` (prompts through the frozen encoder, first run only)
* ``"start"``: ``steps_per_epoch``, ``total_steps``, ``step`` (non-zero when resuming),
  ``pairs``, ``parameters``, ``clips``
* ``"step"``: ``step``, ``total_steps``, ``epoch``, ``loss``, ``param_loss``, ``stft_loss``
  (None on steps without it), ``clap_loss``, ``lr``
* ``"epoch"``: ``epoch``, ``step``, ``train_loss`` and, with held-out data, ``heldout`` metrics
* ``"checkpoint"``: ``path``, ``step``
* ``"interrupted"``: ``path`` of the resumable checkpoint written on Ctrl-C (then
  KeyboardInterrupt propagates)
* ``"done"``: ``path``, ``seconds``
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from audiomanip.errors import CheckpointError, UsageError
from audiomanip.training.checkpoints import init_weights, restore_optimizer, save_training_checkpoint, split_state
from audiomanip.training.clips import ClipViews, clip_bank
from audiomanip.training.heldout import constant_predictor, heldout_metrics
from audiomanip.training.outcome_step import OutcomeTraining, train_mode

Progress = Callable[[dict], None]


@dataclass
class TrainOptions:
    """Everything a training run needs. Units: learning rate per step, clip length in s, rate in Hz.

    ``n_pairs``: generated corpus pairs (``prompts.generate_dataset``); 0 trains only on
    ``dataset_path``/``description_path`` pairs, which are otherwise added to the corpus.
    ``save_checkpoint_every``: also write a resumable checkpoint every N steps (0: only at the
    end of each epoch). ``model``: overrides of :class:`ModelConfig` fields (``d_model`` …).
    ``token_dropout``: chance that each text token is hidden from the network in a training
    step (the pooled sentence vector never is), so it cannot rely on single words.
    ``init_from``: start from the weights of this checkpoint (a fine-tuning run: same sizes;
    modules the checkpoint lacks, such as a new text adapter, keep their initialisation; the
    optimizer starts fresh). ``crowd_per_word``: with generated corpus pairs, also train on the crowd words of the
    training folds (:func:`audiomanip.training.crowd_prompts.crowd_examples`), in this many
    phrasings each plus one per 0.25 of the word's confidence (0: no crowd words).
    ``outcome_weight``, ``outcome_param_weight``, ``outcome_clips``: the outcome terms (0: none; needs
    the STFT term), the weight they leave the decided parameters, clips per spectral example per step.
    ``varied_bank``: the bank also holds the versions of :func:`audiomanip.training.clips.varied_sources`.
    ``view_only``: train the audio view's encoder alone (words-only predictions stay bit-identical).
    ``cache_dir``: where frozen-encoder embeddings are cached (default
    ``$XDG_CACHE_HOME/audiomanip/embeddings`` or ``~/.cache/audiomanip/embeddings``).
    """

    output_dir: Path = Path("runs/train")
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    seed: int = 0
    device: str = "cpu"
    n_pairs: int = 30000
    dataset_path: Path | None = None
    description_path: Path | None = None
    audio_dir: Path | None = None
    encoder: str | None = None
    cache_dir: Path | None = None
    save_checkpoint_every: int = 0
    stft_every: int = 8
    stft_batch: int = 8
    stft_weight: float = 0.5
    clip_seconds: float = 0.5
    sample_rate: int = 16000
    clap_checkpoint: Path | None = None
    clap_weight: float = 0.1
    audio_view_dropout: float = 0.5
    token_dropout: float = 0.0
    crowd_per_word: int = 0
    outcome_weight: float = 0.0
    outcome_param_weight: float = 1.0
    outcome_clips: int = 8
    view_only: bool = False
    varied_bank: bool = False
    init_from: Path | None = None
    resume: Path | None = None
    max_steps: int | None = None
    model: dict[str, Any] = field(default_factory=dict)

    def recipe(self) -> dict[str, Any]:
        """JSON-able record of the options (stored in the checkpoint)."""
        out = {}
        for k, v in self.__dict__.items():
            out[k] = str(v) if isinstance(v, Path) else v
        return out


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the final checkpoint and what happened."""

    checkpoint: Path
    steps: int
    epochs: int
    seconds: float
    parameters: int
    history: list[dict] = field(default_factory=list)
    heldout: dict[str, dict[str, float]] = field(default_factory=dict)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "audiomanip" / "embeddings"


# --------------------------------------------------------------------------- data
def gather_pairs(options: TrainOptions) -> tuple[list[Any], dict[str, list[Any]]]:
    """``(training pairs, {split name: held-out pairs})`` from the generated corpus and files."""
    from audiomanip.training.dataset import load_description_file, load_pairs_file

    train_pairs: list[Any] = []
    heldout: dict[str, list[Any]] = {}
    if options.n_pairs > 0:
        from audiomanip.training.prompts import generate_dataset

        ds = generate_dataset(seed=options.seed, n_pairs=options.n_pairs)
        train_pairs.extend(ds.train)
        heldout = {"heldout_descriptors": list(ds.heldout_descriptors),
                   "heldout_phrasings": list(ds.heldout_phrasings)}
        if options.crowd_per_word > 0:
            from audiomanip.training.crowd_prompts import crowd_examples

            train_pairs.extend(crowd_examples(options.seed, per_word=options.crowd_per_word))
    if options.dataset_path is not None:
        train_pairs.extend(load_pairs_file(options.dataset_path))
    if options.description_path is not None:
        train_pairs.extend(load_description_file(options.description_path))
    if not train_pairs:
        raise UsageError("nothing to train on: --pairs is 0 and neither --dataset-path nor --description-path was given")
    return train_pairs, {k: v for k, v in heldout.items() if v}


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 10 % of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac))))


# --------------------------------------------------------------------------- the loop
# --------------------------------------------------------------------------- the loop
def build_network(options: TrainOptions, text_dim: int) -> Any:
    from audiomanip.model.network import ModelConfig, PresetNet

    try:
        cfg = ModelConfig.from_dict(dict(options.model, text_dim=text_dim))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"invalid model options: {exc}") from None
    return PresetNet(cfg)


def train(options: TrainOptions, progress: Progress | None = None, *, encoder: Any = None,
          pairs: Sequence[Any] | None = None, heldout: dict[str, Sequence[Any]] | None = None) -> TrainResult:
    """Train (or resume) a preset model; returns the final checkpoint and metrics.

    ``encoder``: a text encoder object (default: ``load_text_encoder(options.encoder)``);
    ``pairs``/``heldout``: prompt/preset pairs to use instead of :func:`gather_pairs`.
    On KeyboardInterrupt a resumable checkpoint is written to ``output_dir/interrupted`` and
    the interrupt propagates. Checkpoints: ``output_dir/step-<n>`` (every
    ``save_checkpoint_every`` steps), ``output_dir/last`` (end of each epoch) and
    ``output_dir/final``; all are resumable (weights + optimizer + step).

    Inside :func:`audiomanip.training.distributed.worker` (several ranks) each step's batch is split
    among the ranks, gradients are averaged, rank 0 alone fills the embedding cache, evaluates
    and writes checkpoints, and a stop signal ends all ranks after the same step (see
    :mod:`audiomanip.training.distributed`).
    """
    import torch

    from audiomanip.checkpoint import load_checkpoint
    from audiomanip.training.dataset import EmbeddingCache, PairDataset
    from audiomanip.device import resolve_device
    from audiomanip.training.distributed import current
    from audiomanip.model.heads import chain_inputs_from_outputs
    from audiomanip.model.losses import ClapAudioLoss, multi_resolution_stft_loss, parameter_loss
    from audiomanip.model.network import count_parameters

    emit = progress or (lambda event: None)
    ranks = current()
    t0 = time.monotonic()
    if options.batch_size < 1 or options.epochs < 1 or options.learning_rate <= 0:
        raise UsageError("--batch-size and --epochs must be at least 1 and --learning-rate positive")
    device = resolve_device(options.device)
    random.seed(options.seed)
    np.random.seed(options.seed % (2**32))
    torch.manual_seed(options.seed)

    resume_state = resume_config = None
    init_from: dict[str, Any] | None = None
    if options.resume is not None:
        from audiomanip.checkpoint import find_checkpoint

        rpath = find_checkpoint(checkpoint_path=options.resume)
        resume_state, resume_config = load_checkpoint(rpath)
        if "training_state" not in resume_config:
            raise CheckpointError(f"{rpath} is not resumable (it holds no optimizer state)")

    if encoder is None:
        from audiomanip.text import load_text_encoder

        name = options.encoder
        if resume_config is not None and name is None:
            name = resume_config["encoder"]["name"]
        encoder = load_text_encoder(name)

    if pairs is None:
        train_pairs, heldout_pairs = gather_pairs(options)
    else:
        train_pairs, heldout_pairs = list(pairs), {k: list(v) for k, v in (heldout or {}).items()}

    all_prompts = [p.prompt for p in train_pairs] + [p.prompt for v in heldout_pairs.values() for p in v]
    with ranks.main_first():  # rank 0 fills the shared on-disk cache; the others then read it
        cache = EmbeddingCache(encoder, options.cache_dir if options.cache_dir is not None else default_cache_dir())
        cache.ensure(all_prompts, progress=emit)
    train_ds = PairDataset(train_pairs, cache)
    heldout_ds = {k: PairDataset(v, cache) for k, v in heldout_pairs.items()}
    constant = constant_predictor(train_ds)

    if resume_config is not None:
        from audiomanip.model.network import PresetNet
        from audiomanip.model.preset_model import check_config

        mcfg = check_config(resume_config, str(options.resume))
        if mcfg.text_dim != encoder.dim:
            raise CheckpointError(f"the checkpoint expects {mcfg.text_dim}-d text tokens, encoder gives {encoder.dim}-d")
        net = PresetNet(mcfg)
        init_from = resume_config.get("trained", {}).get("init_from")
        weights, _ = split_state(resume_state)
        net.load_state_dict(weights)
    else:
        net = build_network(options, encoder.dim)
        if options.init_from is not None:
            init_from = init_weights(net, options.init_from)
    net.to(device)
    n_params = count_parameters(net)
    trainable = [p for n, p in net.named_parameters() if not options.view_only or n.startswith("context.")]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=options.weight_decay)
    # averages gradients over ranks (net itself in one process)
    model = ranks.wrap(net, unused_parameters=net.config.audio_view != "none")
    step = 0
    history: list[dict] = []
    if resume_config is not None:
        ts = resume_config["training_state"]
        restore_optimizer(optimizer, split_state(resume_state)[1], ts["optimizer_param_groups"])
        step = int(ts["step"])
        history = list(ts.get("history", []))

    steps_per_epoch = math.ceil(len(train_ds) / options.batch_size)
    total_steps = steps_per_epoch * options.epochs
    if options.max_steps is not None:
        total_steps = min(total_steps, options.max_steps)
    use_stft = options.stft_every > 0 and options.stft_weight > 0
    if options.outcome_weight > 0 and not use_stft:
        raise UsageError("--outcome-weight needs the audio term: set --stft-every above 0")
    clips = clip_bank(options.sample_rate, options.clip_seconds, seed=options.seed, audio_dir=options.audio_dir,
                      varied=options.varied_bank) if (use_stft or net.config.audio_view in ("mel", "profile")) else None
    views = None if clips is None else ClipViews(net.config, clips, options.sample_rate, options.audio_view_dropout, device)
    profiles = views.profiles if views is not None else None
    outcome = OutcomeTraining.of(options, train_ds.pairs, clips, with_view=profiles is not None, device=device)
    clap = ClapAudioLoss(options.clap_checkpoint, device) if options.clap_checkpoint is not None else None
    if clap is not None and not use_stft:
        raise UsageError("--clap-checkpoint needs the audio term: set --stft-every above 0")
    run_chain = preset_tensors = None
    if use_stft:
        from audiomanip.effects.chain import preset_tensors, run_chain
    clip_rng = torch.Generator().manual_seed(options.seed + 17)

    emit({"event": "start", "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "step": step,
          "pairs": len(train_ds), "parameters": n_params, "clips": 0 if clips is None else int(clips.shape[0]),
          "encoded": cache.encoded_now})

    def trained_info(epoch_done: float) -> dict[str, Any]:
        return {"steps": step, "epochs": round(epoch_done, 3), "pairs": len(train_ds),
                "seconds": round(time.monotonic() - t0, 1), "recipe": options.recipe(),
                "heldout": history[-1].get("heldout", {}) if history else {},
                **({"init_from": init_from} if init_from is not None else {})}

    def save(path: Path, epoch_done: float) -> Path:
        if not ranks.is_main:
            return path  # rank 0 writes it
        return save_training_checkpoint(
            path, net, encoder.name, optimizer=optimizer,
            training_state={"step": step, "epoch": epoch_done, "history": history},
            trained=trained_info(epoch_done))

    out_dir = Path(options.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_mode(net, options.view_only)
    last_loss, skipped_steps = float("nan"), 0
    try:
        while step < total_steps:
            epoch = step // steps_per_epoch
            perm = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(options.seed * 1000 + epoch))
            epoch_losses = []
            for b_idx in range(step % steps_per_epoch, steps_per_epoch):
                if step >= total_steps:
                    break
                if ranks.stop_requested():
                    raise KeyboardInterrupt
                idx = ranks.shard(perm[b_idx * options.batch_size:(b_idx + 1) * options.batch_size].tolist())
                batch = train_ds.batch(idx)
                view, view_present, pick = views.batch(len(idx), clip_rng) if views is not None else (None, None, None)
                targets = {e: {k: v.to(device) for k, v in t.items()} for e, t in batch["targets"].items()}
                mask = batch["mask"]
                if options.token_dropout > 0:
                    keep = torch.rand(mask.shape, generator=clip_rng) >= options.token_dropout
                    mask = mask & keep
                out = model(batch["tokens"].to(device), mask.to(device), batch["pooled"].to(device), view,
                            view_present)
                stft_step = use_stft and step % options.stft_every == 0
                n_render = min(ranks.share(options.stft_batch), len(idx)) if stft_step else 0
                plan = outcome.plan(idx, n_render, view_present) if outcome is not None else None
                rows = plan.rows if plan is not None else list(range(n_render))
                p_loss, parts = parameter_loss(out, targets, row_weights=plan.row_weights if plan else None)
                loss = p_loss
                stft_val = clap_val = outcome_val = None
                if plan is not None:  # the terms that need the view (outcome_step)
                    loss = loss + outcome.listening_terms(model, net, (batch["tokens"], mask, batch["pooled"]), idx,
                                                          plan, view_present, profiles, clip_rng, options.view_only, parts)
                if stft_step:
                    if pick is None or profiles is None:  # (size n_render without outcomes: as before)
                        pick = torch.randint(0, clips.shape[0], (len(idx) if plan else n_render,), generator=clip_rng)
                    x = clips[pick[rows]].to(device)  # with the profile view: the clips the items heard
                    with torch.no_grad():
                        t_params, t_enabled = preset_tensors([batch["presets"][r] for r in rows], device=device)
                        y_target = run_chain(x, options.sample_rate, t_params, t_enabled)
                    sub = {e: {k: v[rows] for k, v in o.items()} for e, o in out.items()}
                    p_params, p_enabled = chain_inputs_from_outputs(sub, soft=True)
                    y_pred = run_chain(x, options.sample_rate, p_params, p_enabled)
                    s_loss = (outcome.stft_loss(y_pred, y_target, plan) if plan is not None
                              else multi_resolution_stft_loss(y_pred, y_target))
                    loss = loss + options.stft_weight * s_loss
                    stft_val = float(s_loss.detach())
                    if plan is not None:
                        o_loss, counted = outcome.rendered_term(x, y_pred, idx, plan, view_present)
                        if counted:
                            loss = loss + o_loss
                            outcome_val = float(o_loss.detach())
                    if clap is not None:
                        c_loss = clap(y_pred, y_target, options.sample_rate)
                        loss = loss + options.clap_weight * c_loss
                        clap_val = float(c_loss.detach())
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite loss at step {step} (parts {parts}, stft {stft_val})")
                lr = lr_at(step, total_steps, options.learning_rate, options.warmup_steps)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if torch.isfinite(torch.nn.utils.clip_grad_norm_(trainable, 1.0)):
                    optimizer.step()
                else:  # a NaN gradient must not poison the weights: skip the update
                    skipped_steps += 1
                step += 1
                last_loss = float(loss.detach())
                epoch_losses.append(last_loss)
                emit({"event": "step", "step": step, "total_steps": total_steps, "epoch": epoch + 1,
                      "loss": last_loss, "param_loss": float(p_loss.detach()), "stft_loss": stft_val,
                      "clap_loss": clap_val, "outcome_loss": outcome_val, "lr": lr, "skipped_steps": skipped_steps, **{f"{k}_loss": v for k, v in parts.items()}})
                if options.save_checkpoint_every and step % options.save_checkpoint_every == 0:
                    path = save(out_dir / f"step-{step}", step / steps_per_epoch)
                    emit({"event": "checkpoint", "path": str(path), "step": step})
            record: dict[str, Any] = {"epoch": epoch + 1, "step": step,
                                      "train_loss": float(np.mean(epoch_losses)) if epoch_losses else None}
            if heldout_ds and ranks.is_main:
                record["heldout"] = {k: heldout_metrics(net, ds, constant, device=device) for k, ds in heldout_ds.items()}
                train_mode(net, options.view_only)
            history.append(record)
            emit({"event": "epoch", **record})
            path = save(out_dir / "last", step / steps_per_epoch)
            emit({"event": "checkpoint", "path": str(path), "step": step})
    except KeyboardInterrupt:
        path = save(out_dir / "interrupted", step / steps_per_epoch)
        emit({"event": "interrupted", "path": str(path), "step": step})
        raise
    final = save(out_dir / "final", step / steps_per_epoch)
    ranks.barrier()  # no rank returns before rank 0 has written the final checkpoint
    seconds = time.monotonic() - t0
    emit({"event": "done", "path": str(final), "seconds": seconds, "step": step, "loss": last_loss})
    return TrainResult(checkpoint=final, steps=step, epochs=math.ceil(step / steps_per_epoch), seconds=seconds,
                       parameters=n_params, history=history,
                       heldout=history[-1].get("heldout", {}) if history else {})

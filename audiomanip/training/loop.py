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

Clips come from :func:`clip_bank`: music-like signals, a harmonic instrument, a drum loop,
white and pink noise, impulses, a sawtooth, espeak-ng speech (when installed) and random
crops of the files in ``audio_dir``.

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

from audiomanip.audio_io import AUDIO_SUFFIXES
from audiomanip.errors import CheckpointError, DependencyError, InputNotFoundError, UsageError
from audiomanip.model.preset_model import OPTIMIZER_PREFIX

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


# --------------------------------------------------------------------------- audio clips
def clip_bank(sample_rate: int = 16000, clip_seconds: float = 0.5, *, seed: int = 0,
              audio_dir: str | Path | None = None, n_file_clips: int = 32) -> Any:
    """Short mono training clips, Tensor [N, 1, T] (T = clip_seconds × sample_rate).

    Raises :class:`InputNotFoundError` when ``audio_dir`` is given but holds no readable audio.
    """
    import torch

    from audiomanip.training import sources as S

    sr, d = int(sample_rate), float(clip_seconds)
    T = int(round(d * sr))
    clips: list[np.ndarray] = []
    for k in range(4):
        clips.append(S.music_like(d, sr, seed=seed + k, channels=1))
    for k, root in enumerate((110.0, 220.0, 330.0)):
        clips.append(S.harmonic_instrument(d, sr, seed=seed + k, root_hz=root, notes_per_s=4.0))
    for k, bpm in enumerate((100.0, 140.0)):
        clips.append(S.drum_loop(d, sr, seed=seed + k, bpm=bpm))
    clips.append(S.white_noise(d, sr, rms=0.1, seed=seed))
    clips.append(S.pink_noise(d, sr, rms=0.1, seed=seed + 1))
    clips.append(S.impulse(d, sr, amplitude=0.8, at_s=0.01))
    clips.append(S.impulse(d, sr, amplitude=0.8, at_s=d / 2))
    clips.append(S.sawtooth(110.0, d, sr, amplitude=0.4))
    if S.espeak_path():
        for k, text in enumerate(("the quick brown fox", "hello there, how are you", "sound design")):
            s = S.speech(text, sr, pitch=30 + 25 * k)
            clips.append(s[:, :T] if s.shape[1] >= T else np.pad(s, ((0, 0), (0, T - s.shape[1]))))
    if audio_dir is not None:
        clips.extend(_file_clips(Path(audio_dir), sr, T, n_file_clips, seed))
    bank = np.stack([c[:1, :T] for c in clips]).astype(np.float32)
    return torch.from_numpy(bank)


def _file_clips(folder: Path, sr: int, T: int, n: int, seed: int) -> list[np.ndarray]:
    from audiomanip import audio_io

    if not folder.is_dir():
        raise InputNotFoundError(f"--audio-dir is not a folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputNotFoundError(f"--audio-dir holds no audio files ({', '.join(AUDIO_SUFFIXES)}): {folder}")
    rng = random.Random(seed)
    out: list[np.ndarray] = []
    for k in range(n):
        path = files[k % len(files)]
        info = audio_io.info(path)
        frames = int(math.ceil(T * info.sample_rate / sr)) + 1
        start = rng.randint(0, max(0, info.frames - frames))
        x, _ = audio_io.read(path, start_frame=start, frames=frames, sample_rate=sr)
        x = x.mean(axis=0, keepdims=True)[:, :T]
        if x.shape[1] < T:
            x = np.pad(x, ((0, 0), (0, T - x.shape[1])))
        if np.max(np.abs(x)) > 1e-4:
            out.append(x.astype(np.float32))
    return out


# --------------------------------------------------------------------------- checkpoints
def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            tensors[f"{OPTIMIZER_PREFIX}{idx}.{key}"] = val.detach().cpu().contiguous().clone()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def _restore_optimizer(optimizer: Any, state: dict[str, Any], groups: list[dict]) -> None:
    per: dict[int, dict[str, Any]] = {}
    for key, val in state.items():
        if not key.startswith(OPTIMIZER_PREFIX):
            continue
        idx, name = key[len(OPTIMIZER_PREFIX):].split(".", 1)
        per.setdefault(int(idx), {})[name] = val
    try:
        optimizer.load_state_dict({"state": per, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"the optimizer state of the checkpoint does not fit this model: {exc}") from None


def save_training_checkpoint(path: str | Path, net: Any, encoder_name: str, *, optimizer: Any = None,
                             training_state: dict[str, Any] | None = None,
                             trained: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint (weights + JSON config via :func:`audiomanip.checkpoint.save_checkpoint`).

    With ``optimizer`` the optimizer state travels in the same safetensors file under keys
    starting ``__optimizer__.`` and ``training_state`` (step, epoch, param groups) in the
    config, so :func:`train` can resume from it. Returns the path written.
    """
    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.model.preset_model import model_config_dict

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    extra: dict[str, Any] = {}
    if optimizer is not None:
        tensors, groups = _optimizer_tensors(optimizer)
        state.update(tensors)
        extra["training_state"] = dict(training_state or {}, optimizer_param_groups=groups)
    config = model_config_dict(net, encoder_name, trained=trained, extra=extra)
    written = save_checkpoint(path, state, config)
    return Path(written) if written is not None else Path(path)


def split_state(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model weights, optimizer tensors)`` of a loaded checkpoint state."""
    model = {k: v for k, v in state.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optim = {k: v for k, v in state.items() if k.startswith(OPTIMIZER_PREFIX)}
    return model, optim


# --------------------------------------------------------------------------- evaluation
def constant_predictor(dataset: Any) -> dict[str, dict[str, Any]]:
    """The corpus-mean constant predictor of a training :class:`PairDataset`: per effect, the
    mean of each normalised continuous parameter over examples where the effect is enabled,
    the majority enabled flag and the most frequent class of each choice parameter."""
    import torch

    out = {}
    for name, t in dataset.targets.items():
        en = t["enabled"]
        w = en[:, None]
        cont = (t["continuous"] * w).sum(0) / w.sum().clamp_min(1.0)
        if t["choices"].shape[1]:
            mask = en > 0.5
            ch = t["choices"][mask] if mask.any() else t["choices"]
            choices = torch.mode(ch, dim=0).values
        else:
            choices = t["choices"].new_zeros(0)
        out[name] = {"enabled": float(en.mean() > 0.5), "continuous": cont, "choices": choices}
    return out


def _hard_predictions(out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """HeadOutputs -> the HeadTargets format (enabled 0./1., continuous, class indices)."""
    return {e: {"enabled": (o["enabled_logit"] > 0).float(), "continuous": o["continuous"],
                "choices": o["choice_logits"].argmax(-1) if o["choice_logits"].shape[1]
                else o["choice_logits"].new_zeros(o["choice_logits"].shape[0], 0).long()}
            for e, o in out.items()}


class _Tally:
    """Accumulates MAE and accuracies of predictions (HeadTargets format) against targets."""

    def __init__(self) -> None:
        self.abs_err = self.n_err = self.en_ok = self.en_n = self.ty_ok = self.ty_n = 0.0

    def add(self, pred: dict[str, dict[str, Any]], targets: dict[str, dict[str, Any]]) -> None:
        for name, t in targets.items():
            p = pred[name]
            en = t["enabled"]
            self.en_ok += float((p["enabled"].to(en.dtype) == en).sum())
            self.en_n += en.numel()
            w = en[:, None]
            if t["continuous"].shape[1]:
                self.abs_err += float(((p["continuous"].to(en.dtype) - t["continuous"]).abs() * w).sum())
                self.n_err += float(w.expand_as(t["continuous"]).sum())
            if t["choices"].shape[1]:
                mask = w.expand_as(t["choices"]) > 0.5
                self.ty_ok += float(((p["choices"] == t["choices"]) & mask).sum())
                self.ty_n += float(mask.sum())

    def metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}mae": self.abs_err / max(self.n_err, 1.0),
                f"{prefix}enabled_accuracy": self.en_ok / max(self.en_n, 1.0),
                f"{prefix}band_type_accuracy": self.ty_ok / max(self.ty_n, 1.0)}


def evaluate(net: Any, dataset: Any, constant: dict[str, dict[str, Any]] | None = None, *,
             batch_size: int = 256, device: str = "cpu", apply_explicit: bool = False) -> dict[str, float]:
    """Held-out metrics of the network's predictions against a :class:`PairDataset`.

    ``mae``: mean absolute error of normalised continuous parameters over the effects enabled
    in the target; ``enabled_accuracy``: mean over effects and examples of a correct enabled
    decision (probability > 0.5); ``band_type_accuracy``: EQ band types of examples whose
    target EQ is enabled; ``constant_*``: the same for the corpus-mean constant predictor
    (:func:`constant_predictor`); ``n``: examples. With ``apply_explicit`` both predictions get
    the prompt's explicit values applied first (what :meth:`PresetModel.predict` returns);
    without, the network's raw outputs are scored.
    """
    import torch

    from audiomanip.model.heads import outputs_to_presets, targets_from_presets
    from audiomanip.params import Preset

    if apply_explicit:
        from audiomanip.vocab.explicit import parse_explicit
    const_preset = None
    if constant is not None:
        const_preset = Preset.from_normalized({
            e: {"enabled": c["enabled"], "continuous": c["continuous"].tolist(), "choices": c["choices"].tolist()}
            for e, c in constant.items()})
    model_tally, const_tally = _Tally(), _Tally()
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                b = dataset.batch(range(start, min(len(dataset), start + batch_size)))
                out = net(b["tokens"].to(device), b["mask"].to(device), b["pooled"].to(device))
                out = {e: {k: v.cpu() for k, v in o.items()} for e, o in out.items()}
                B = len(b["prompts"])
                if apply_explicit:
                    explicit = [parse_explicit(p) for p in b["prompts"]]
                    pred = targets_from_presets([x.resolve(q) for x, q in zip(explicit, outputs_to_presets(out))])
                else:
                    pred = _hard_predictions(out)
                model_tally.add(pred, b["targets"])
                if const_preset is not None:
                    if apply_explicit:
                        const_pred = targets_from_presets([x.resolve(const_preset) for x in explicit])
                    else:
                        const_pred = {e: {k: v.expand(B, *v.shape[1:]) for k, v in t.items()}
                                      for e, t in targets_from_presets([const_preset]).items()}
                    const_tally.add(const_pred, b["targets"])
    finally:
        net.train(was_training)
    metrics = {"n": float(len(dataset)), **model_tally.metrics()}
    if const_preset is not None:
        metrics.update(const_tally.metrics("constant_"))
    return metrics


# --------------------------------------------------------------------------- CLAP term
class ClapAudioLoss:
    """1 − cosine similarity of LAION-CLAP audio embeddings of two renders (differentiable).

    Loading errors are raised (DependencyError without the ``clap`` extra, CheckpointError for
    a missing or unreadable checkpoint): the term is never silently replaced by a constant.
    """

    CLAP_RATE = 48000

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"CLAP checkpoint not found: {path}")
        try:
            import laion_clap  # type: ignore[import-not-found]
        except ImportError:
            raise DependencyError(
                "--clap-checkpoint needs the optional CLAP extra: pip install 'audiomanip[clap]'"
            ) from None
        try:
            self.model = laion_clap.CLAP_Module(enable_fusion=False, device=device)
            self.model.load_ckpt(str(path), verbose=False)
        except Exception as exc:  # noqa: BLE001 - any failure of the third-party loader
            raise CheckpointError(f"cannot load the CLAP checkpoint {path}: {type(exc).__name__}: {exc}") from None
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def __call__(self, pred: Any, target: Any, sample_rate: int) -> Any:
        import torch

        from audiomanip.model.audio_context import resample_fft

        x = resample_fft(pred.mean(dim=1), sample_rate, self.CLAP_RATE)
        y = resample_fft(target.mean(dim=1), sample_rate, self.CLAP_RATE)
        ex = self.model.get_audio_embedding_from_data(x=x, use_tensor=True)
        with torch.no_grad():
            ey = self.model.get_audio_embedding_from_data(x=y, use_tensor=True)
        return (1.0 - torch.nn.functional.cosine_similarity(ex, ey, dim=-1)).mean()


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


def init_record(config: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What a fine-tuned checkpoint records of the model it started from (``trained.init_from``):
    its path, weights' SHA-256 and its own training facts and recipe."""
    trained = config.get("trained", {})
    return {"path": str(path), "weights_sha256": config.get("checkpoint", {}).get("weights_sha256"),
            "trained": {k: trained.get(k) for k in ("steps", "epochs", "pairs", "seconds", "recipe", "init_from")
                        if trained.get(k) is not None}}


def _init_weights(net: Any, checkpoint: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``net`` for fine-tuning; returns its :func:`init_record`.
    Every weight must fit; only modules the checkpoint lacks (a new text adapter) may be
    missing. UsageError otherwise."""
    from audiomanip.checkpoint import find_checkpoint, load_checkpoint

    state, config = load_checkpoint(find_checkpoint(checkpoint_path=checkpoint))
    weights, _ = split_state(state)
    own = net.state_dict()
    bad = [k for k, v in weights.items() if k not in own or own[k].shape != v.shape]
    missing = [k for k in own if k not in weights and not k.startswith("adapter.")]
    if bad or missing:
        raise UsageError(f"--init-from {checkpoint}: its weights do not fit this model "
                         f"({', '.join((bad + missing)[:3])} …); give the same --d-model and --layers")
    net.load_state_dict(weights, strict=False)
    return init_record(config, checkpoint)


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 10 % of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac))))


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
    from audiomanip.model.losses import multi_resolution_stft_loss, parameter_loss
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
            init_from = _init_weights(net, options.init_from)
    net.to(device)
    n_params = count_parameters(net)
    optimizer = torch.optim.AdamW(net.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    # averages gradients over ranks (net itself in one process)
    model = ranks.wrap(net, unused_parameters=net.config.audio_view != "none")
    step = 0
    history: list[dict] = []
    if resume_config is not None:
        ts = resume_config["training_state"]
        _restore_optimizer(optimizer, split_state(resume_state)[1], ts["optimizer_param_groups"])
        step = int(ts["step"])
        history = list(ts.get("history", []))

    steps_per_epoch = math.ceil(len(train_ds) / options.batch_size)
    total_steps = steps_per_epoch * options.epochs
    if options.max_steps is not None:
        total_steps = min(total_steps, options.max_steps)
    use_stft = options.stft_every > 0 and options.stft_weight > 0
    clips = clip_bank(options.sample_rate, options.clip_seconds, seed=options.seed,
                      audio_dir=options.audio_dir) if (use_stft or net.config.audio_view == "mel") else None
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
    net.train()
    last_loss = float("nan")
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
                view = None
                if net.config.audio_view == "mel" and clips is not None and \
                        float(torch.rand((), generator=clip_rng)) >= options.audio_view_dropout:
                    from audiomanip.model.audio_context import log_mel

                    pick = torch.randint(0, clips.shape[0], (len(idx),), generator=clip_rng)
                    view = log_mel(clips[pick].to(device), options.sample_rate,
                                   analysis_rate=net.config.analysis_rate, n_mels=net.config.n_mels)
                targets = {e: {k: v.to(device) for k, v in t.items()} for e, t in batch["targets"].items()}
                mask = batch["mask"]
                if options.token_dropout > 0:
                    keep = torch.rand(mask.shape, generator=clip_rng) >= options.token_dropout
                    mask = mask & keep
                out = model(batch["tokens"].to(device), mask.to(device), batch["pooled"].to(device), view)
                p_loss, parts = parameter_loss(out, targets)
                loss = p_loss
                stft_val = clap_val = None
                if use_stft and step % options.stft_every == 0:
                    nb = min(ranks.share(options.stft_batch), len(idx))
                    pick = torch.randint(0, clips.shape[0], (nb,), generator=clip_rng)
                    x = clips[pick].to(device)
                    with torch.no_grad():
                        t_params, t_enabled = preset_tensors(batch["presets"][:nb], device=device)
                        y_target = run_chain(x, options.sample_rate, t_params, t_enabled)
                    sub = {e: {k: v[:nb] for k, v in o.items()} for e, o in out.items()}
                    p_params, p_enabled = chain_inputs_from_outputs(sub, soft=True)
                    y_pred = run_chain(x, options.sample_rate, p_params, p_enabled)
                    s_loss = multi_resolution_stft_loss(y_pred, y_target)
                    loss = loss + options.stft_weight * s_loss
                    stft_val = float(s_loss.detach())
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
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                step += 1
                last_loss = float(loss.detach())
                epoch_losses.append(last_loss)
                emit({"event": "step", "step": step, "total_steps": total_steps, "epoch": epoch + 1,
                      "loss": last_loss, "param_loss": float(p_loss.detach()), "stft_loss": stft_val,
                      "clap_loss": clap_val, "lr": lr, **{f"{k}_loss": v for k, v in parts.items()}})
                if options.save_checkpoint_every and step % options.save_checkpoint_every == 0:
                    path = save(out_dir / f"step-{step}", step / steps_per_epoch)
                    emit({"event": "checkpoint", "path": str(path), "step": step})
            record: dict[str, Any] = {"epoch": epoch + 1, "step": step,
                                      "train_loss": float(np.mean(epoch_losses)) if epoch_losses else None}
            if heldout_ds and ranks.is_main:
                record["heldout"] = {k: evaluate(net, ds, constant, device=device) for k, ds in heldout_ds.items()}
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


def export_model(checkpoint: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Copy a trained checkpoint's weights and config without the optimizer state and, for a
    text-only model, write its weight-free ONNX graph beside them (``model.onnx``, read by the
    runtime without torch; see :mod:`audiomanip.inference.export`): the form shipped as the
    default model. Returns the path written."""
    from audiomanip.checkpoint import load_checkpoint, save_checkpoint

    state, config = load_checkpoint(checkpoint)
    weights, _ = split_state(state)
    config = {k: v for k, v in config.items() if k != "training_state"}
    if name:
        config["name"] = name
    written = Path(save_checkpoint(out_dir, weights, config))
    if config.get("model", {}).get("audio_view", "none") == "none":
        from audiomanip.inference.export import export_preset_net

        export_preset_net(written)
    return written


def export_known_words(model_dir: str | Path, options: TrainOptions, *, encoder: Any = None) -> Path:
    """Write ``known_words.safetensors`` (see :mod:`audiomanip.explain`) into an exported model
    folder: the training descriptors' surface forms and crowd words of ``options``' training
    pairs, each with what the model in ``model_dir`` does for the word alone, and the vocabulary
    of every training prompt. Returns the path written."""
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.explain import build_known_words, save_known_words
    from audiomanip.inference.loader import load_model

    model = load_model(model_dir, encoder=encoder, backend="torch")
    train_pairs, _ = gather_pairs(options)
    entries = [(form, "authored") for d in load_descriptors().values() if not d.heldout for form in d.forms]
    if options.n_pairs > 0 and options.crowd_per_word > 0:
        from audiomanip.training.crowd_prompts import crowd_training_words

        entries += [(word, "crowd") for word in crowd_training_words()]
    known = build_known_words(entries, (p.prompt for p in train_pairs), model.encoder,
                              lambda words: [p.preset for p in model.predict_many(words)])
    return save_known_words(known, model_dir)

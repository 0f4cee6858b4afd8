"""Training checkpoints: weights plus the optimizer state and step, so a run can resume.

:func:`save_training_checkpoint` writes through :func:`audiomanip.checkpoint.save_checkpoint`;
the optimizer's tensors travel in the same safetensors file under keys starting
``__optimizer__.`` (:data:`audiomanip.model.preset_model.OPTIMIZER_PREFIX`), which
:func:`split_state` separates again. :func:`init_weights` starts a fine-tuning run from another
checkpoint's weights and :func:`init_record` is what the new checkpoint records of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiomanip.errors import CheckpointError, UsageError
from audiomanip.model.preset_model import OPTIMIZER_PREFIX


def optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            tensors[f"{OPTIMIZER_PREFIX}{idx}.{key}"] = val.detach().cpu().contiguous().clone()
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def restore_optimizer(optimizer: Any, state: dict[str, Any], groups: list[dict]) -> None:
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
        tensors, groups = optimizer_tensors(optimizer)
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


def init_record(config: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What a fine-tuned checkpoint records of the model it started from (``trained.init_from``):
    its path, weights' SHA-256 and its own training facts and recipe."""
    trained = config.get("trained", {})
    return {"path": str(path), "weights_sha256": config.get("checkpoint", {}).get("weights_sha256"),
            "trained": {k: trained.get(k) for k in ("steps", "epochs", "pairs", "seconds", "recipe", "init_from")
                        if trained.get(k) is not None}}


def init_weights(net: Any, checkpoint: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``net`` for fine-tuning; returns its :func:`init_record`.
    Every weight must fit; only modules the checkpoint lacks (a new text adapter, a new audio
    view's context encoder) may be missing. A profile view saved with one factor output per
    amount (audiomanip before 6 Dec 2026) starts both of this one's outputs per amount, boost and
    cut, from it, so the fine-tune starts as that model. UsageError otherwise."""
    from audiomanip.checkpoint import find_checkpoint, load_checkpoint

    state, config = load_checkpoint(find_checkpoint(checkpoint_path=checkpoint))
    weights, _ = split_state(state)
    own = net.state_dict()
    for key in ("context.mix.2.weight", "context.mix.2.bias"):
        if key in weights and key in own and own[key].shape[0] == 2 * weights[key].shape[0] \
                and own[key].shape[1:] == weights[key].shape[1:]:
            weights[key] = weights[key].repeat(2, *([1] * (weights[key].dim() - 1)))
    bad = [k for k, v in weights.items() if k not in own or own[k].shape != v.shape]
    missing = [k for k in own if k not in weights and not k.startswith(("adapter.", "context."))]
    if bad or missing:
        raise UsageError(f"--init-from {checkpoint}: its weights do not fit this model "
                         f"({', '.join((bad + missing)[:3])} …); give the same --d-model and --layers")
    net.load_state_dict(weights, strict=False)
    return init_record(config, checkpoint)

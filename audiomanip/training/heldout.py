"""Held-out metrics the training loop records after each epoch (``history[...]["heldout"]``).

:func:`heldout_metrics` scores the network's raw outputs on a :class:`~audiomanip.training.dataset.PairDataset`
in batches of tensors, against the corpus-mean :func:`constant_predictor` of the training set.
Its MAE pools every continuous parameter of the enabled effects; the evaluation's param suite
(:func:`audiomanip.evaluation.metrics.param_metrics`) works on presets, averages per effect and
compares more baselines, so its figures differ.
"""

from __future__ import annotations

from typing import Any


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


def heldout_metrics(net: Any, dataset: Any, constant: dict[str, dict[str, Any]] | None = None, *,
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

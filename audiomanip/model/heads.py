"""Parallel per-effect heads and the conversions between head outputs, targets and presets.

Everything here is derived from :data:`audiomanip.params.SCHEMA` through the torch-free layout
of :mod:`audiomanip.inference.heads`: one head per effect, whose output size is ``1 +
n_continuous + n_choice * n_classes`` (an ``enabled`` logit, continuous parameters squashed to
the schema's normalised [0, 1] by a sigmoid, and one logit vector per choice parameter such as
each EQ band's type). Adding an effect to the schema adds a head.

Head outputs (``HeadOutputs``) are a dict ``{effect: {"enabled_logit": [B],
"continuous": [B, n_continuous] in [0, 1], "choice_logits": [B, n_choice, n_classes]}}``.
Targets (``HeadTargets``) have the same keys: ``"enabled"`` float [B] (0./1.),
``"continuous"`` [B, n_continuous] in [0, 1], ``"choices"`` long [B, n_choice].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from audiomanip import params as P
from audiomanip.inference.heads import (  # noqa: F401  (the layout lives with the runtime, torch-free)
    EffectLayout,
    effect_layout,
    layout_signature,
    presets_from_outputs,
    schema_layout,
    split_head_output,
)


class EffectHead(nn.Module):
    """A small MLP ``[B, d_model] -> [B, layout.size]`` for one effect."""

    def __init__(self, layout: EffectLayout, d_model: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.layout = layout
        self.net = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, layout.size),
        )

    def flat(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, d_model] -> [B, layout.size]``: the enabled logit, the continuous parameters
        squashed to [0, 1], the choice logits (the layout the ONNX graph outputs)."""
        out = self.net(h)
        n = self.layout.n_continuous
        return torch.cat([out[:, :1], torch.sigmoid(out[:, 1:1 + n]), out[:, 1 + n:]], dim=1)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return split_head_output(self.layout, self.flat(h))


class PresetHeads(nn.Module):
    """One :class:`EffectHead` per schema effect, run in parallel on a pooled vector."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.layouts = schema_layout()
        self.heads = nn.ModuleDict({lay.name: EffectHead(lay, d_model, hidden, dropout) for lay in self.layouts})

    def forward(self, pooled: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """``pooled`` [B, d_model] -> HeadOutputs (see the module docstring)."""
        return {name: head(pooled) for name, head in self.heads.items()}


# --------------------------------------------------------------------------- targets / presets
def targets_from_presets(presets: Sequence[P.Preset]) -> dict[str, dict[str, torch.Tensor]]:
    """HeadTargets for a batch of presets (normalised space of the schema)."""
    norms = [p.to_normalized() for p in presets]
    out: dict[str, dict[str, torch.Tensor]] = {}
    for lay in schema_layout():
        out[lay.name] = {
            "enabled": torch.tensor([n[lay.name]["enabled"] for n in norms], dtype=torch.float32),
            "continuous": torch.tensor([n[lay.name]["continuous"] for n in norms], dtype=torch.float32)
            .reshape(len(norms), lay.n_continuous),
            "choices": torch.tensor([n[lay.name]["choices"] for n in norms], dtype=torch.long)
            .reshape(len(norms), lay.n_choice),
        }
    return out


def outputs_to_presets(outputs: dict[str, dict[str, torch.Tensor]]) -> list[P.Preset]:
    """Hard decisions from HeadOutputs of tensors (see
    :func:`audiomanip.inference.heads.presets_from_outputs`)."""
    return presets_from_outputs({name: {k: v.detach().cpu().numpy() for k, v in o.items()}
                                 for name, o in outputs.items()})


def denormalize_tensor(param: P.Param, u: torch.Tensor) -> torch.Tensor:
    """Torch twin of :meth:`Param.denormalize`: [0, 1] -> physical units (clipped, differentiable)."""
    u = u.clamp(0.0, 1.0)
    if param.scale == "log":
        lo, hi = math.log(param.low), math.log(param.high)
        return torch.exp(lo + u * (hi - lo))
    return param.low + u * (param.high - param.low)


def chain_inputs_from_outputs(
    outputs: dict[str, dict[str, torch.Tensor]], *, soft: bool = True
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """HeadOutputs -> ``(params, enabled)`` in the format of ``dsp.chain.run_chain``.

    ``params[effect][name]`` is a Tensor [B] in physical units (for multi-band effects the
    per-band stem, e.g. ``freq_hz``, is [B, bands]); choice parameters become class
    probabilities [B, bands, n_classes] when ``soft`` and class indices [B, bands] otherwise.
    ``enabled[effect]`` is the enabled probability [B] when ``soft`` and 0./1. otherwise.
    """
    params: dict[str, dict[str, torch.Tensor]] = {}
    enabled: dict[str, torch.Tensor] = {}
    for eff in P.SCHEMA:
        o = outputs[eff.name]
        prob = torch.sigmoid(o["enabled_logit"])
        enabled[eff.name] = prob if soft else (prob > 0.5).to(prob.dtype)
        per_stem: dict[str, list[torch.Tensor]] = {}
        for j, (_, p, _) in enumerate(eff.continuous()):
            per_stem.setdefault(p.name, []).append(denormalize_tensor(p, o["continuous"][:, j]))
        choice_names = [p.name for _, p, _ in eff.choice()]
        for stem in dict.fromkeys(choice_names):
            idx = [k for k, n in enumerate(choice_names) if n == stem]
            logits = o["choice_logits"][:, idx]
            per_stem[stem] = [torch.softmax(logits, -1) if soft else logits.argmax(-1)]
        d: dict[str, torch.Tensor] = {}
        for stem, vals in per_stem.items():
            if stem in choice_names:
                v = vals[0]
                d[stem] = v if eff.bands > 1 else v[:, 0]
            else:
                d[stem] = torch.stack(vals, dim=1) if eff.bands > 1 else vals[0]
        params[eff.name] = d
    return params, enabled

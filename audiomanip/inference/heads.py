"""The heads' layout (derived from the schema) and head outputs -> presets, on numpy arrays.

Torch-free: the runtime (ONNX Runtime) and the torch model (:mod:`audiomanip.model.heads`)
share these. One head per schema effect; its flat output has ``1 + n_continuous + n_choice *
n_classes`` columns: the ``enabled`` logit, the continuous parameters already squashed to the
schema's normalised [0, 1], then one logit vector per choice parameter (each EQ band's type).

Head outputs (``HeadOutputs``) are a dict ``{effect: {"enabled_logit": [B],
"continuous": [B, n_continuous] in [0, 1], "choice_logits": [B, n_choice, n_classes]}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from audiomanip import params as P
from audiomanip.errors import CheckpointError

#: ``format`` field of a preset-model checkpoint's config.
CHECKPOINT_FORMAT = "audiomanip-preset-model"


@dataclass(frozen=True)
class EffectLayout:
    """Sizes of one effect's head, taken from the schema."""

    name: str
    n_continuous: int
    n_choice: int
    n_classes: int

    @property
    def size(self) -> int:
        return 1 + self.n_continuous + self.n_choice * self.n_classes


def effect_layout(eff: P.Effect) -> EffectLayout:
    """The head layout of one schema effect. Choice parameters of one effect must share their
    classes (the EQ's bands repeat one ``type`` parameter)."""
    choices = eff.choice()
    classes = {p.choices for _, p, _ in choices}
    if len(classes) > 1:
        raise ValueError(f"effect {eff.name}: choice parameters with different classes are not supported")
    n_classes = len(next(iter(classes))) if classes else 0
    return EffectLayout(eff.name, len(eff.continuous()), len(choices), n_classes)


def schema_layout() -> list[EffectLayout]:
    """One :class:`EffectLayout` per schema effect, in processing order."""
    return [effect_layout(e) for e in P.SCHEMA]


def layout_signature() -> list[dict[str, Any]]:
    """A JSON-able description of the heads (stored in checkpoints; a changed schema fails on load)."""
    out = []
    for e in P.SCHEMA:
        lay = effect_layout(e)
        out.append({
            "effect": e.name,
            "continuous": [n for n, _, _ in e.continuous()],
            "choices": [n for n, _, _ in e.choice()],
            "classes": list(e.choice()[0][1].choices) if lay.n_choice else [],
        })
    return out


def check_checkpoint_kind(config: Any, source: str = "checkpoint") -> None:
    """:class:`CheckpointError` unless ``config`` is a preset-model checkpoint config for this
    schema (format, schema version, head layout)."""
    if not isinstance(config, dict) or config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{source} is not an audiomanip preset-model checkpoint (format field missing)")
    version = config.get("schema_version")
    if version != P.SCHEMA_VERSION:
        raise CheckpointError(
            f"{source} was trained for schema version {version}, this audiomanip uses {P.SCHEMA_VERSION}; "
            "retrain it with `audiomanip train`"
        )
    if config.get("heads") != layout_signature():
        raise CheckpointError(
            f"{source} was trained for a different effect schema (its heads do not match the effects and "
            "parameters of this audiomanip); retrain it with `audiomanip train`"
        )


def split_head_output(layout: EffectLayout, flat: Any) -> dict[str, Any]:
    """One effect's flat head output [B, layout.size] (continuous columns already in [0, 1])
    -> ``{"enabled_logit": [B], "continuous": [B, n], "choice_logits": [B, n_choice, n_classes]}``;
    views of a numpy array or a torch tensor alike."""
    n = layout.n_continuous
    return {
        "enabled_logit": flat[:, 0],
        "continuous": flat[:, 1:1 + n],
        "choice_logits": flat[:, 1 + n:].reshape(flat.shape[0], layout.n_choice, layout.n_classes),
    }


def enabled_probability(logit: np.ndarray) -> np.ndarray:
    """Sigmoid of ``enabled`` logits (float64, no overflow warning for large logits)."""
    logit = np.asarray(logit, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * logit))


def presets_from_outputs(outputs: Mapping[str, Mapping[str, Any]]) -> list[P.Preset]:
    """Hard decisions from HeadOutputs of numpy arrays (or anything ``np.asarray`` reads):
    enabled when the probability is above 0.5, the most likely class for each choice,
    continuous values denormalised by the schema."""
    plain = {}
    for name, o in outputs.items():
        logits = np.asarray(o["choice_logits"])
        plain[name] = {
            "enabled": enabled_probability(o["enabled_logit"]).tolist(),
            "continuous": np.asarray(o["continuous"], dtype=np.float64).tolist(),
            "choices": logits.argmax(-1).tolist() if logits.shape[1] else [[] for _ in range(logits.shape[0])],
        }
    batch = len(next(iter(plain.values()))["enabled"])
    return [
        P.Preset.from_normalized({
            name: {key: c[key][i] for key in ("enabled", "continuous", "choices")} for name, c in plain.items()
        })
        for i in range(batch)
    ]

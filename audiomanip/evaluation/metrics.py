"""Figures of the evaluation, on presets: parameter errors against targets (:func:`param_metrics`),
how paraphrases cluster (:func:`paraphrase_metrics`), direction accuracy
(:func:`direction_summary`) and ratios of a figure to a baseline's (:func:`ratios`). Distances
and errors are in the schema's normalised space (:meth:`audiomanip.params.Preset.to_normalized`).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from audiomanip.params import SCHEMA, Preset


# ============================================================================ preset metrics
def preset_blocks(preset: Preset) -> dict[str, np.ndarray]:
    """Per effect, the preset as a vector in normalised space: [enabled, continuous..., one-hot
    of each choice...]. A disabled effect's values are replaced by the schema defaults (they do
    not change the sound, so they must not count in a distance)."""
    norm = preset.to_normalized()
    default = Preset.default().to_normalized()
    out = {}
    for e in SCHEMA:
        n = norm[e.name]
        src = n if n["enabled"] > 0.5 else default[e.name]
        onehots = []
        for (_, p, _), idx in zip(e.choice(), src["choices"]):
            v = np.zeros(len(p.choices))
            v[int(idx)] = 1.0
            onehots.append(v)
        out[e.name] = np.concatenate([[n["enabled"]], np.asarray(src["continuous"], float), *onehots])
    return out


def preset_distance(a: Preset, b: Preset) -> float:
    """Distance of two presets in [0, 1]: per effect the mean absolute difference of
    :func:`preset_blocks`, averaged over the effects (each effect weighs the same)."""
    ba, bb = preset_blocks(a), preset_blocks(b)
    return float(np.mean([np.mean(np.abs(ba[k] - bb[k])) for k in ba]))


def param_errors(predicted: Preset, target: Preset) -> dict[str, Any]:
    """Errors of one prediction against its target.

    Returns ``enabled_correct`` {effect: bool}; ``abs_error`` {effect: mean absolute error of
    the continuous parameters in normalised space} for effects the target enables;
    ``band_type_correct`` (number of EQ bands with the right type) and ``bands`` (5) when the
    target enables the EQ, else 0 and 0.
    """
    pn, tn = predicted.to_normalized(), target.to_normalized()
    enabled = {e.name: (pn[e.name]["enabled"] > 0.5) == (tn[e.name]["enabled"] > 0.5) for e in SCHEMA}
    abs_error = {}
    band_ok = bands = 0
    for e in SCHEMA:
        if tn[e.name]["enabled"] <= 0.5:
            continue
        p_c, t_c = np.asarray(pn[e.name]["continuous"]), np.asarray(tn[e.name]["continuous"])
        if t_c.size:
            abs_error[e.name] = float(np.mean(np.abs(p_c - t_c)))
        if e.choice():
            p_ch, t_ch = pn[e.name]["choices"], tn[e.name]["choices"]
            band_ok += sum(int(a == b) for a, b in zip(p_ch, t_ch))
            bands += len(t_ch)
    return {"enabled_correct": enabled, "abs_error": abs_error, "band_type_correct": band_ok, "bands": bands}


def param_metrics(predicted: Sequence[Preset], targets: Sequence[Preset]) -> dict[str, Any]:
    """Aggregate :func:`param_errors` over a split.

    - ``mae``: normalised-space MAE of the continuous parameters, averaged per effect over the
      examples whose target enables it, then over effects (each effect weighs the same);
    - ``mae_per_effect`` {effect: MAE or None when no target enables it};
    - ``enabled_accuracy`` {effect: share of examples with the right enabled flag} and
      ``enabled_accuracy_mean`` over effects;
    - ``eq_band_type_accuracy``: share of EQ bands with the right type where the target enables
      the EQ (None when none does); ``n``: number of examples.
    """
    if len(predicted) != len(targets):
        raise ValueError(f"{len(predicted)} predictions for {len(targets)} targets")
    if not targets:
        raise ValueError("param_metrics needs at least one example")
    errs = [param_errors(p, t) for p, t in zip(predicted, targets)]
    per_effect: dict[str, float | None] = {}
    for e in SCHEMA:
        vals = [x["abs_error"][e.name] for x in errs if e.name in x["abs_error"]]
        per_effect[e.name] = float(np.mean(vals)) if vals else None
    known = [v for v in per_effect.values() if v is not None]
    enabled = {e.name: float(np.mean([x["enabled_correct"][e.name] for x in errs])) for e in SCHEMA}
    bands = sum(x["bands"] for x in errs)
    return {
        "n": len(errs),
        "mae": float(np.mean(known)) if known else None,
        "mae_per_effect": per_effect,
        "enabled_accuracy": enabled,
        "enabled_accuracy_mean": float(np.mean(list(enabled.values()))),
        "eq_band_type_accuracy": (sum(x["band_type_correct"] for x in errs) / bands) if bands else None,
    }


# ======================================================================= paraphrase metrics
def paraphrase_metrics(groups: Mapping[str, Sequence[Preset]]) -> dict[str, Any]:
    """How predicted presets cluster by meaning (distances by :func:`preset_distance`).

    ``within``: mean distance over pairs of prompts of the same group; ``between``: over pairs
    of different groups; ``margin`` = between − within (> 0: paraphrases closer than different
    meanings); ``separation``: share of prompts whose closest same-group prompt is strictly
    closer than every prompt of the other groups (chance is low; identical presets score 0).
    """
    items = [(g, p) for g, presets in groups.items() for p in presets]
    if len(groups) < 2 or any(len(v) < 2 for v in groups.values()):
        raise ValueError("paraphrase_metrics needs at least 2 groups of at least 2 presets")
    blocks = [preset_blocks(p) for _, p in items]
    n = len(items)
    dist = np.zeros((n, n))
    for i, j in combinations(range(n), 2):
        d = float(np.mean([np.mean(np.abs(blocks[i][k] - blocks[j][k])) for k in blocks[i]]))
        dist[i, j] = dist[j, i] = d
    labels = np.array([g for g, _ in items])
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(n, dtype=bool)
    within = float(dist[same & off].mean())
    between = float(dist[~same].mean())
    separated = 0
    for i in range(n):
        if dist[i, same[i] & off[i]].min() < dist[i, ~same[i]].min():
            separated += 1
    return {
        "n_groups": len(groups),
        "n_prompts": n,
        "within": within,
        "between": between,
        "margin": between - within,
        "separation": separated / n,
    }


# ======================================================================== direction metrics
def direction_summary(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy of direction cases (dicts with ``family``, ``source``, ``passed``): overall,
    ``per_family`` and ``per_source``, plus the counts ``n`` and ``passed``."""
    def acc(sel: list[Mapping[str, Any]]) -> float | None:
        return sum(bool(c["passed"]) for c in sel) / len(sel) if sel else None

    families = sorted({c["family"] for c in cases}, key=str)
    sources = list(dict.fromkeys(c["source"] for c in cases))
    return {
        "n": len(cases),
        "passed": sum(bool(c["passed"]) for c in cases),
        "accuracy": acc(list(cases)),
        "per_family": {f: acc([c for c in cases if c["family"] == f]) for f in families},
        "per_source": {s: acc([c for c in cases if c["source"] == s]) for s in sources},
    }


# ================================================================================== ratios
def ratios(figures: Any, baseline: Any) -> Any:
    """``figures / baseline`` leaf by leaf over matching nested dicts of numbers (counts such as
    ``n`` are left out). None where either is missing, or where a ratio would be noise: the
    baseline is 0, of the other sign, or smaller than 5 % of the figure (a paraphrase margin
    of a random baseline is about 0 by construction)."""
    if isinstance(figures, Mapping):
        out = {}
        for k, v in figures.items():
            if k in ("n", "n_groups", "n_prompts", "passed"):
                continue
            r = ratios(v, baseline.get(k) if isinstance(baseline, Mapping) else None)
            if r is not None or not isinstance(v, Mapping):
                out[k] = r
        return out
    if isinstance(figures, bool) or isinstance(baseline, bool):
        return None
    if isinstance(figures, (int, float)) and isinstance(baseline, (int, float)):
        if not math.isfinite(figures) or not math.isfinite(baseline) or baseline == 0:
            return None
        if figures * baseline < 0 or abs(baseline) < 0.05 * abs(figures):
            return None
        return float(figures) / float(baseline)
    return None

"""Evaluation: metrics, the three suites, baselines in the same run.

:func:`evaluate` runs any of three suites on a model and on the baselines of
:mod:`audiomanip.evaluation.baselines` (corpus mean, random preset, nearest neighbour) and returns a
JSON-ready report; every figure is also given as a ratio to each baseline.

- **param**: the corpus's held-out splits (unseen descriptors, unseen phrasings). Parameter MAE
  in the schema's normalised space, accuracy of each effect's enabled head and of the EQ band
  types (:func:`param_metrics`).
- **direction**: prompts of ``presets/suite_direction.yaml`` rendered on short sources; each
  prompt names measurements that must move and which way (:mod:`audiomanip.evaluation.suites`).
  Accuracy overall, per family and per source (:func:`direction_summary`).
- **paraphrase**: groups of prompts of ``presets/suite_paraphrase.yaml``; distances between the
  predicted presets within and between groups (:func:`paraphrase_metrics`).
- **crowd**: the held-out crowd words of ``presets/crowd_words.json`` against what listeners
  chose (:mod:`audiomanip.evaluation.crowd`): EQ r on noise, reverb T60 rho, compressor direction.

The library never prints: long work reports through ``progress(dict)`` with keys ``stage``
(``"setup"``, ``"param"``, ``"direction"``, ``"paraphrase"``), ``label`` (what is being done),
``done`` and ``total`` (counts of that stage's work).
"""

from __future__ import annotations

import json
import math
import time
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from audiomanip.evaluation.baselines import (
    MODEL,
    NEAREST,
    CorpusMeanBaseline,
    MemoEncoder,
    ModelPredictor,
    NearestNeighbourBaseline,
    RandomPresetBaseline,
)
from audiomanip.evaluation.suites import (
    EVAL_SAMPLE_RATE,
    SOURCE_SECONDS,
    DirectionSuite,
    ParaphraseSuite,
    Source,
    build_sources,
    is_measurable,
    load_direction_suite,
    load_paraphrase_suite,
    measure,
    measure_reference,
    sources_note,
    summary_value,
)
from audiomanip.params import SCHEMA, Preset

SUITES = ("param", "direction", "paraphrase")
#: Every suite, the crowd suite included (``eval --suite all``); :func:`evaluate`'s default stays
#: :data:`SUITES`, which need no crowd table.
ALL_SUITES = SUITES + ("crowd",)
Progress = Callable[[dict], None]


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


def _with_ratios(figures: dict[str, Any]) -> dict[str, Any]:
    """``{baseline: ratios(model, baseline)}`` for each baseline present in ``figures``."""
    if MODEL not in figures:
        return {}
    return {b: ratios(figures[MODEL], figures[b]) for b in figures if b != MODEL}


# ============================================================================ suite runners
def _emit(progress: Progress | None, stage: str, label: str, done: int, total: int) -> None:
    if progress:
        progress({"stage": stage, "label": label, "done": done, "total": total})


def run_param_suite(predictors: Sequence[Any], splits: Mapping[str, Sequence[Any]], *,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Parameter metrics per split and predictor. ``splits``: name → examples with ``.prompt``
    and ``.preset`` (the corpus's PromptExample). Adds ``verdict`` on whether the model beats
    the nearest-neighbour baseline's MAE on held-out descriptors."""
    total = sum(len(v) for v in splits.values()) * len(predictors)
    done = 0
    out: dict[str, Any] = {"splits": {}}
    all_prompts = [ex.prompt for examples in splits.values() for ex in examples]
    for pred in predictors:
        prepare = getattr(pred, "prepare", None)
        if callable(prepare):
            prepare(all_prompts, lambda ev, n=pred.name: _emit(progress, "param", f"encoding prompts ({n})",
                                                               ev["done"], ev["total"]))
    for split, examples in splits.items():
        prompts = [ex.prompt for ex in examples]
        targets = [ex.preset for ex in examples]
        figures = {}
        for pred in predictors:
            _emit(progress, "param", f"{split}: {pred.name}", done, total)
            presets = []
            for start in range(0, len(prompts), 256):
                presets.extend(pred.predict_presets(prompts[start:start + 256]))
                done += len(prompts[start:start + 256])
                _emit(progress, "param", f"{split}: {pred.name}", done, total)
            figures[pred.name] = param_metrics(presets, targets)
        out["splits"][split] = {"n": len(examples), "figures": figures, "ratios": _with_ratios(figures)}
    out["verdict"] = param_verdict(out["splits"])
    return out


def param_verdict(splits: Mapping[str, Any], split: str = "heldout_descriptors") -> dict[str, Any]:
    """Whether the model's parameter MAE on ``split`` is lower than the nearest neighbour's."""
    figs = splits.get(split, {}).get("figures", {})
    if MODEL not in figs or NEAREST not in figs:
        return {"split": split, "beats_nearest_neighbour": None, "message": "not measured"}
    m, nn = figs[MODEL]["mae"], figs[NEAREST]["mae"]
    beats = m is not None and nn is not None and m < nn
    msg = (f"the model beats nearest-neighbour lookup on {split.replace('_', ' ')}: MAE {m:.4f} vs {nn:.4f}"
           if beats else
           f"the model does NOT beat nearest-neighbour lookup on {split.replace('_', ' ')}: "
           f"MAE {m:.4f} vs {nn:.4f}" if m is not None and nn is not None else "MAE undefined")
    return {"split": split, "beats_nearest_neighbour": bool(beats), "model_mae": m, "nearest_neighbour_mae": nn,
            "message": msg}


def _preset_key(preset: Preset) -> str:
    return json.dumps(preset.to_dict(), sort_keys=True)


def run_direction_suite(predictors: Sequence[Any], suite: DirectionSuite, sources: Sequence[Source], *,
                        sample_rate: int, progress: Progress | None = None,
                        render: Callable[..., np.ndarray] | None = None) -> dict[str, Any]:
    """Render each predictor's preset for each prompt on each source its checks apply to (each
    distinct preset once per source), measure, and score the checks.

    A case is (prompt, source); it passes when every check that applies to that source passes.
    A check whose measure is undefined on the unprocessed source (no pitch) does not apply.
    Returns per predictor :func:`direction_summary` figures, ratios, and the model's cases
    with every check's before/after/change.
    """
    if render is None:
        from audiomanip.rendering import render as _render

        render = _render
    prompts = [p.prompt for p in suite.prompts]
    _emit(progress, "direction", "predicting presets", 0, 1)
    presets = {pred.name: pred.predict_presets(prompts) for pred in predictors}

    # What must be measured on which source, unprocessed and processed.
    applicable: dict[tuple[int, str], list] = {}
    for i, dp in enumerate(suite.prompts):
        for src in sources:
            checks = [c for c in dp.checks if c.applies_to(src)]
            if checks:
                measure_reference(src, [c.key for c in checks], sample_rate)
                checks = [c for c in checks if is_measurable(src.measurements[c.key])]
            if checks:
                applicable[(i, src.name)] = checks
    jobs: dict[tuple[str, str], set] = {}
    keys: dict[str, dict[int, str]] = {}
    for name, plist in presets.items():
        keys[name] = {i: _preset_key(p) for i, p in enumerate(plist)}
        for (i, sname), checks in applicable.items():
            jobs.setdefault((keys[name][i], sname), set()).update(c.key for c in checks)
    by_key = {keys[name][i]: presets[name][i] for name in presets for i in keys[name]}
    by_source = {s.name: s for s in sources}

    values: dict[tuple[str, str, tuple], float] = {}
    for n_done, ((pkey, sname), mkeys) in enumerate(sorted(jobs.items(), key=lambda kv: kv[0])):
        _emit(progress, "direction", "rendering and measuring", n_done, len(jobs))
        src = by_source[sname]
        out = render(by_key[pkey], src.audio, sample_rate)
        n = src.audio.shape[1]
        for mk in mkeys:
            values[(pkey, sname, mk)] = measure(mk, out, sample_rate, n, reference=False)
    _emit(progress, "direction", "rendering and measuring", len(jobs), len(jobs))

    figures: dict[str, Any] = {}
    model_cases: list[dict[str, Any]] = []
    for name in presets:
        cases = []
        for (i, sname), checks in applicable.items():
            dp = suite.prompts[i]
            src = by_source[sname]
            results = []
            for c in checks:
                before = src.measurements[c.key]
                after = values[(keys[name][i], sname, c.key)]
                change = c.change(before, after)
                results.append({"check": c.describe(), "measure": c.measure,
                                "before": _num(summary_value(before)), "after": _num(summary_value(after)),
                                "change": _num(change), "passed": c.passes(change)})
            case = {"prompt": dp.prompt, "family": dp.family, "source": sname,
                    "passed": all(r["passed"] for r in results)}
            cases.append(case)
            if name == MODEL:
                model_cases.append({**case, "checks": results, "preset": presets[name][i].describe()})
        figures[name] = direction_summary(cases)
    return {
        "n_prompts": len(suite.prompts),
        "n_cases": len(applicable),
        "n_renders": len(jobs),
        "sources": [{"name": s.name, "description": s.description, "seconds": s.audio.shape[1] / sample_rate}
                    for s in sources],
        "sources_note": sources_note(sources),
        "figures": figures,
        "ratios": _with_ratios(figures),
        "cases": model_cases,
    }


def _num(x: float) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def run_paraphrase_suite(predictors: Sequence[Any], suite: ParaphraseSuite, *,
                         progress: Progress | None = None) -> dict[str, Any]:
    """:func:`paraphrase_metrics` of each predictor's presets for the suite's groups."""
    prompts = [p for group in suite.groups.values() for p in group]
    figures = {}
    for k, pred in enumerate(predictors):
        _emit(progress, "paraphrase", pred.name, k, len(predictors))
        presets = iter(pred.predict_presets(prompts))
        groups = {g: [next(presets) for _ in members] for g, members in suite.groups.items()}
        figures[pred.name] = paraphrase_metrics(groups)
    _emit(progress, "paraphrase", "done", len(predictors), len(predictors))
    return {"n_groups": len(suite.groups), "n_prompts": len(prompts), "figures": figures,
            "ratios": _with_ratios(figures)}


# ================================================================================ evaluate
def build_baselines(train: Sequence[Any], encoder: Any, *, seed: int = 0,
                    progress: Progress | None = None) -> list[Any]:
    """The three baselines from the training examples (``.prompt``, ``.preset``) and the
    model's text encoder (for the nearest neighbour; a :class:`MemoEncoder` shares encodings)."""
    def enc_progress(ev: dict) -> None:
        _emit(progress, "setup", "encoding training prompts (nearest neighbour)", ev["done"], ev["total"])

    prompts = [ex.prompt for ex in train]
    presets = [ex.preset for ex in train]
    return [
        CorpusMeanBaseline(presets),
        RandomPresetBaseline(seed),
        NearestNeighbourBaseline(encoder, prompts, presets, progress=enc_progress),
    ]


def default_dataset() -> Any:
    """The corpus the shipped model is trained on: ``generate_dataset(seed=0)``."""
    from audiomanip.training.prompts import generate_dataset

    return generate_dataset(seed=0)


def evaluate(
    model: Any,
    suites: Sequence[str] = SUITES,
    *,
    dataset: Any = None,
    encoder: Any = None,
    baselines: Sequence[Any] | None = None,
    direction_suite: DirectionSuite | None = None,
    paraphrase_suite: ParaphraseSuite | None = None,
    sources: Sequence[Source] | None = None,
    audio_dir: str | Path | None = None,
    sample_rate: int = EVAL_SAMPLE_RATE,
    source_seconds: float = SOURCE_SECONDS,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    render: Callable[..., np.ndarray] | None = None,
    crowd_fold: int | str = 0,
) -> dict[str, Any]:
    """Evaluate ``model`` (anything with ``predict(prompt) -> Prediction``) on ``suites``.

    ``dataset``: the corpus (``.train``, ``.heldout_descriptors``, ``.heldout_phrasings``;
    default ``generate_dataset(seed=0)``), needed for the param suite and the baselines.
    ``encoder``: for the nearest-neighbour baseline (default: the model's own ``encoder``).
    ``baselines``: replaces the three default baselines. ``sources``/``audio_dir``: the direction
    suite's material (default: synthetic speech, instrument, drums at ``sample_rate`` Hz,
    ``source_seconds`` s long), plus the probes. ``cache_dir``: on-disk embedding cache for the
    nearest neighbour when the encoder is not already a :class:`MemoEncoder` (see
    :func:`~audiomanip.evaluation.baselines.load_model_for_eval`). ``crowd_fold``: the crowd suite's
    word fold (0, the held-out split; 1-4 for word-level cross-validation while developing) or
    ``"cv"`` (all five folds pooled: only for a model trained on no crowd word). Returns the report.
    """
    unknown = [s for s in suites if s not in ALL_SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(ALL_SUITES)}")
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    if dataset is None and (baselines is None or "param" in suites):
        _emit(progress, "setup", "generating the corpus", 0, 1)
        dataset = default_dataset()
    enc = encoder if encoder is not None else getattr(model, "encoder", None)
    if baselines is None:
        if enc is None:
            raise ValueError("the nearest-neighbour baseline needs the model's text encoder: pass encoder=")
        if not isinstance(enc, MemoEncoder):
            enc = MemoEncoder(enc, cache_dir)
        baselines = build_baselines(dataset.train, enc, seed=seed, progress=progress)
    predictors = [ModelPredictor(model), *baselines]
    seconds["setup"] = time.perf_counter() - t0
    info = getattr(model, "info", None)
    report: dict[str, Any] = {
        "model": dict(info) if isinstance(info, Mapping) else {"name": type(model).__name__},
        "predictors": [p.name for p in predictors],
        "baselines": [p.name for p in baselines],
        "settings": {"suites": list(suites), "seed": seed, "sample_rate": sample_rate, "crowd_fold": crowd_fold,
                     "source_seconds": source_seconds, "audio_dir": str(audio_dir) if audio_dir else None},
        "suites": {},
    }
    if "param" in suites:
        t = time.perf_counter()
        splits = {"heldout_descriptors": dataset.heldout_descriptors, "heldout_phrasings": dataset.heldout_phrasings}
        report["suites"]["param"] = run_param_suite(predictors, splits, progress=progress)
        seconds["param"] = time.perf_counter() - t
    if "direction" in suites:
        t = time.perf_counter()
        suite = direction_suite if direction_suite is not None else load_direction_suite()
        if sources is None:
            _emit(progress, "setup", "synthesising sources", 0, 1)
            sources = build_sources(sample_rate, source_seconds, audio_dir=audio_dir)
        report["suites"]["direction"] = run_direction_suite(
            predictors, suite, sources, sample_rate=sample_rate, progress=progress, render=render)
        report["suites"]["direction"]["suite_file"] = suite.path
        seconds["direction"] = time.perf_counter() - t
    if "paraphrase" in suites:
        t = time.perf_counter()
        psuite = paraphrase_suite if paraphrase_suite is not None else load_paraphrase_suite()
        report["suites"]["paraphrase"] = run_paraphrase_suite(predictors, psuite, progress=progress)
        report["suites"]["paraphrase"]["suite_file"] = psuite.path
        seconds["paraphrase"] = time.perf_counter() - t
    if "crowd" in suites:
        from audiomanip.evaluation.crowd import run_crowd_cv, run_crowd_suite

        t = time.perf_counter()
        if crowd_fold == "cv":
            report["suites"]["crowd"] = run_crowd_cv(predictors, encoder=enc, progress=progress)
        else:
            report["suites"]["crowd"] = run_crowd_suite(predictors, encoder=enc, fold=int(crowd_fold),
                                                        progress=progress)
        seconds["crowd"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    report["seconds"] = seconds
    return report


def save_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Write the report as JSON (atomically: a temp file renamed into place)."""
    from audiomanip.destination import write_atomic  # regular files only

    write_atomic(path, (json.dumps(report, indent=2, allow_nan=False) + "\n").encode("utf-8"), overwrite=True)


def plot_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Draw the report's figures (matplotlib, Agg backend) into an image file: parameter MAE
    per split, direction accuracy per family and paraphrase margin, one bar per predictor."""
    from audiomanip.plot import pyplot

    plt = pyplot()

    suites = report.get("suites", {})
    panels = [s for s in ("param", "direction", "paraphrase", "crowd") if s in suites]
    if not panels:
        raise ValueError("the report holds no suite to plot")
    preds = list(report.get("predictors", []))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    width = 0.8 / max(1, len(preds))

    def bars(ax: Any, groups: list[str], value: Callable[[str, str], float | None], title: str, ylabel: str) -> None:
        x = np.arange(len(groups))
        for k, p in enumerate(preds):
            ys = [value(p, g) for g in groups]
            ax.bar(x + (k - (len(preds) - 1) / 2) * width, [np.nan if y is None else y for y in ys], width, label=p)
        ax.set_xticks(x)
        ax.set_xticklabels(groups, rotation=20, ha="right")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    for ax, s in zip(axes[0], panels):
        data = suites[s]
        if s == "param":
            splits = data["splits"]
            bars(ax, list(splits), lambda p, g, d=splits: d[g]["figures"][p]["mae"],
                 "parameter MAE (lower is better)", "MAE (normalised)")
        elif s == "direction":
            figs = data["figures"]
            fams = list(figs[preds[0]]["per_family"]) + ["overall"]
            bars(ax, fams, lambda p, g, f=figs: f[p]["accuracy"] if g == "overall" else f[p]["per_family"].get(g),
                 "direction accuracy (higher is better)", "accuracy")
            ax.set_ylim(0, 1)
        elif s == "paraphrase":
            figs = data["figures"]
            bars(ax, ["margin", "separation"], lambda p, g, f=figs: f[p][g], "paraphrase (higher is better)", "value")
        else:
            figs = data["figures"]
            bars(ax, ["eq_r", "reverb_rho", "compressor_direction"], lambda p, g, f=figs: f[g].get(p),
                 "crowd words (higher is better)", "r / rho / share")
            # the crowd references as horizontal marks over each group
            for ref, style in (("mean_curve", ":"), ("ceiling", "--")):
                label = ref.replace("_", " ")
                for j, key in enumerate(("eq_r", "reverb_rho", "compressor_direction")):
                    v = figs[key].get(ref)
                    if v is not None:
                        ax.hlines(v, j - 0.4, j + 0.4, colors="k", linestyles=style, label=label)
                        label = None
            ax.legend(fontsize=7)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"audiomanip eval: {report.get('model', {}).get('name', 'model')}")
    fig.tight_layout()
    from audiomanip.plot import save_figure

    save_figure(fig, path, overwrite=True)

"""Evaluation: runs the suites on a model and on the baselines in the same run.

:func:`evaluate` runs any of three suites on a model and on the baselines of
:mod:`audiomanip.evaluation.baselines` (corpus mean, random preset, nearest neighbour) and returns a
JSON-ready report; every figure is also given as a ratio to each baseline.

- **param**: the corpus's held-out splits (unseen descriptors, unseen phrasings). Parameter MAE
  in the schema's normalised space, accuracy of each effect's enabled head and of the EQ band
  types (:func:`~audiomanip.evaluation.metrics.param_metrics`).
- **direction**: prompts of ``presets/suite_direction.yaml`` rendered on short sources; each
  prompt names measurements that must move and which way (:mod:`audiomanip.evaluation.suites`,
  :mod:`~audiomanip.evaluation.measures`, :mod:`~audiomanip.evaluation.sources`).
  Accuracy overall, per family and per source (:func:`~audiomanip.evaluation.metrics.direction_summary`).
- **paraphrase**: groups of prompts of ``presets/suite_paraphrase.yaml``; distances between the
  predicted presets within and between groups (:func:`~audiomanip.evaluation.metrics.paraphrase_metrics`).
- **crowd**: the held-out crowd words of ``presets/crowd_words.json`` against what listeners
  chose (:mod:`audiomanip.evaluation.crowd`): EQ r on noise, reverb T60 rho, compressor direction.
- **outcome**: whether the same words lead to the same measured outcome on sources that differ
  in the relevant feature, with the audio view and from the words alone
  (:mod:`audiomanip.evaluation.outcome`; the model only, no baselines).

The library never prints: long work reports through ``progress(dict)`` with keys ``stage``
(``"setup"``, ``"param"``, ``"direction"``, ``"paraphrase"``, ``"outcome"``), ``label`` (what is being done),
``done`` and ``total`` (counts of that stage's work). The report is written and drawn by
:mod:`audiomanip.evaluation.report`.
"""

from __future__ import annotations

import json
import math
import time
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
from audiomanip.evaluation.measures import is_measurable, measure, measure_reference, summary_value
from audiomanip.evaluation.metrics import direction_summary, param_metrics, paraphrase_metrics, ratios
from audiomanip.evaluation.sources import EVAL_SAMPLE_RATE, SOURCE_SECONDS, Source, build_sources, sources_note
from audiomanip.evaluation.suites import DirectionSuite, ParaphraseSuite, load_direction_suite, load_paraphrase_suite
from audiomanip.params import Preset

SUITES = ("param", "direction", "paraphrase")
#: Every suite, the crowd suite included (``eval --suite all``); :func:`evaluate`'s default stays
#: :data:`SUITES`, which need no crowd table.
ALL_SUITES = SUITES + ("crowd", "outcome")
Progress = Callable[[dict], None]


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
    distinct preset once per source), measure, and score the checks. A model with an audio view
    predicts each prompt's preset hearing the source it is rendered on, as ``apply`` does.

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
    # per predictor, (prompt index, source name) -> preset: a model with an audio view hears each
    # source, as `apply` does; the others give one preset per prompt
    presets: dict[str, dict[tuple[int, str], Preset]] = {}
    for pred in predictors:
        heard = getattr(pred, "predict_presets_heard", None)
        per_source = heard(prompts, sources, sample_rate) if callable(heard) else None
        if per_source is None:
            plist = pred.predict_presets(prompts)
            presets[pred.name] = {(i, s.name): p for i, p in enumerate(plist) for s in sources}
        else:
            presets[pred.name] = {(i, s.name): p for s in sources for i, p in enumerate(per_source[s.name])}

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
    keys: dict[str, dict[tuple[int, str], str]] = {}
    for name, by_case in presets.items():
        keys[name] = {case: _preset_key(p) for case, p in by_case.items()}
        for (i, sname), checks in applicable.items():
            jobs.setdefault((keys[name][(i, sname)], sname), set()).update(c.key for c in checks)
    by_key = {keys[name][case]: presets[name][case] for name in presets for case in keys[name]}
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
                after = values[(keys[name][(i, sname)], sname, c.key)]
                change = c.change(before, after)
                results.append({"check": c.describe(), "measure": c.measure,
                                "before": _num(summary_value(before)), "after": _num(summary_value(after)),
                                "change": _num(change), "passed": c.passes(change)})
            case = {"prompt": dp.prompt, "family": dp.family, "source": sname,
                    "passed": all(r["passed"] for r in results)}
            cases.append(case)
            if name == MODEL:
                model_cases.append({**case, "checks": results, "preset": presets[name][(i, sname)].describe()})
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
    needs_baselines = any(s != "outcome" for s in suites)  # the outcome suite compares the model with itself
    if dataset is None and ((baselines is None and needs_baselines) or "param" in suites):
        _emit(progress, "setup", "generating the corpus", 0, 1)
        dataset = default_dataset()
    enc = encoder if encoder is not None else getattr(model, "encoder", None)
    if baselines is None and not needs_baselines:
        baselines = []
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
    if "outcome" in suites:
        from audiomanip.evaluation.outcome import run_outcome_suite

        t = time.perf_counter()
        report["suites"]["outcome"] = run_outcome_suite(
            model, progress=lambda label, done, total: _emit(progress, "outcome", label, done, total))
        seconds["outcome"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    report["seconds"] = seconds
    return report

"""The crowd suite: does what we render for a word match what listeners chose for it?

On the held-out crowd words of ``presets/crowd_words.json`` (fold 0; another fold for word-level
cross-validation while developing, see :func:`run_crowd_suite`), each word is the prompt:

* **EQ** (words with at least :data:`MIN_EQ_SESSIONS` sessions): the Pearson r over SocialEQ's
  40 bands between the crowd's averaged curve and the EQ response we render, measured on white
  noise through the real renderer (:func:`rendered_band_db`; the other effects are switched off
  so that only the EQ colours the noise; a flat or disabled EQ scores r = 0). Mean over words.
* **Reverb** (words with at least :data:`MIN_REVERB_USES` uses): Spearman rho between our decay
  time (T60 of ``reverb.room_size``, 0 when the reverb is off) and the crowd's (the geometric mean
  of the T60 of the settings the word was typed for).
* **Compressor** (words with at least :data:`MIN_COMP_USES` uses): whether the ratio and the
  threshold move the way the crowd's do, both against a mean: the crowd word's mean against
  the mean of all crowd uses, a predictor's value against its own mean over every word it was
  asked in the run (a disabled compressor counts as ratio 1 : 1, threshold 0 dB). A constant
  predictor moves nowhere and scores 0.

Next to the predictors of :mod:`audiomanip.evaluation.evaluate` (model, corpus mean, random, nearest
prompt) come three crowd references: ``mean_curve`` (the mean crowd curve of the training words:
the leave-one-out mean-curve baseline, since a held-out word is never among them),
``nearest_word`` (the crowd data of the most similar training crowd word by the model's text
embedding) and ``ceiling`` (the crowd's split-half agreement on the same words, averaged over
:data:`SPLIT_HALF_DRAWS` seeded splits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from audiomanip.vocab.crowd import EQ_BAND_HZ, CrowdWord, fold_words, load_crowd_words, load_table
from audiomanip.params import Preset, room_size_to_t60_s

MIN_EQ_SESSIONS = 3
MIN_REVERB_USES = 20
MIN_COMP_USES = 5
SPLIT_HALF_DRAWS = 50
NOISE_SAMPLE_RATE = 48000
NOISE_SECONDS = 4.0
NOISE_RMS_DBFS = -20.0
WELCH_SEGMENT = 8192
SEED = 0
#: A rendered response whose bands span less than this (dB) is flat: it scores r = 0 (the
#: correlation of measurement noise with a curve means nothing).
FLAT_DB = 0.05

MEAN_CURVE = "mean_curve"
NEAREST_WORD = "nearest_word"
CEILING = "ceiling"


# ------------------------------------------------------------------------------ measurements
def band_edges_hz(centres: Sequence[float] = EQ_BAND_HZ, nyquist: float = NOISE_SAMPLE_RATE / 2) -> np.ndarray:
    """Edges [41] of the 40 bands: geometric midpoints between centres, the outer edges mirrored
    (the top one kept below Nyquist)."""
    c = np.asarray(centres, dtype=float)
    mid = np.sqrt(c[:-1] * c[1:])
    lo = c[0] ** 2 / mid[0]
    hi = min(c[-1] ** 2 / mid[-1], 0.99 * nyquist)
    return np.concatenate([[lo], mid, [hi]])


def band_power_db(freqs: np.ndarray, power: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of ``power`` over the bins of each band, in dB (10 log10)."""
    out = np.empty(len(edges) - 1)
    for k in range(len(out)):
        sel = (freqs >= edges[k]) & (freqs < edges[k + 1])
        out[k] = 10.0 * np.log10(max(float(power[sel].mean()), 1e-20))
    return out


def noise_probe(sample_rate: int = NOISE_SAMPLE_RATE, seconds: float = NOISE_SECONDS, seed: int = SEED) -> np.ndarray:
    """Seeded white noise [1, T] at :data:`NOISE_RMS_DBFS` dBFS RMS (far from clipping)."""
    x = np.random.default_rng(seed).standard_normal(int(sample_rate * seconds))
    return (x * 10 ** (NOISE_RMS_DBFS / 20))[None]


def eq_only(preset: Preset) -> Preset:
    """``preset`` with every effect but the EQ switched off."""
    p = preset.copy()
    for name in p.enabled:
        p.enabled[name] = name == "eq" and preset.enabled.get("eq", False)
    return p


def rendered_band_db(preset: Preset, *, noise: np.ndarray | None = None,
                     sample_rate: int = NOISE_SAMPLE_RATE) -> np.ndarray:
    """The gain (dB) per SocialEQ band of ``preset``'s EQ, measured by rendering white noise
    through :func:`audiomanip.rendering.render` (EQ only, no peak safety) and dividing the output's
    Welch cross-spectrum by the input's (|Pxy / Pxx|^2, averaged over each band's bins)."""
    from scipy.signal import csd, welch

    from audiomanip.rendering import render

    x = noise_probe(sample_rate) if noise is None else noise
    y = render(eq_only(preset), x, sample_rate, tail=False, peak_safety=False)
    f, pxx = welch(x[0], fs=sample_rate, nperseg=WELCH_SEGMENT)
    _, pxy = csd(x[0], y[0], fs=sample_rate, nperseg=WELCH_SEGMENT)
    h2 = np.abs(pxy / np.maximum(pxx, 1e-30)) ** 2
    return band_power_db(f, h2, band_edges_hz(nyquist=sample_rate / 2))


def response_r(response_db: np.ndarray, curve: Sequence[float]) -> float:
    """Pearson r of a rendered response with a crowd curve; 0 for a flat response (:data:`FLAT_DB`)."""
    return 0.0 if np.ptp(response_db) < FLAT_DB else pearson(response_db, curve)


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson r; 0 when either side is flat (a flat EQ matches no curve)."""
    a = np.asarray(a, dtype=float) - np.mean(a)
    b = np.asarray(b, dtype=float) - np.mean(b)
    den = float(np.sqrt((a ** 2).sum() * (b ** 2).sum()))
    return 0.0 if den < 1e-12 else float((a * b).sum() / den)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rho (average ranks for ties); None for fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b)[0])


def our_t60_s(preset: Preset) -> float:
    """Decay time (s) of a preset's reverb; 0 when the reverb is off."""
    if not preset.enabled.get("reverb", False):
        return 0.0
    return float(room_size_to_t60_s(float(preset.values["reverb"]["room_size"])))


def _comp_value(preset: Preset, name: str) -> float:
    if not preset.enabled.get("compressor", False):
        return 1.0 if name == "ratio" else 0.0
    return float(preset.values["compressor"][name])


# ------------------------------------------------------------------------------ crowd references
def split_half_eq(sessions: np.ndarray, rng: np.random.Generator, draws: int = SPLIT_HALF_DRAWS) -> float:
    """Mean Pearson r between the averaged curves of two random halves of a word's sessions."""
    s = np.asarray(sessions, dtype=float)
    h = len(s) // 2
    rs = []
    for _ in range(draws):
        p = rng.permutation(len(s))
        rs.append(pearson(s[p[:h]].mean(axis=0), s[p[h:]].mean(axis=0)))
    return float(np.mean(rs))


def split_half_reverb(uses: Sequence[Sequence[float]], rng: np.random.Generator,
                      draws: int = SPLIT_HALF_DRAWS) -> float | None:
    """Mean Spearman rho over words between the geometric-mean T60 of two random halves of each
    word's uses (``uses[i]``: the T60s in s of word i)."""
    if len(uses) < 3:
        return None
    rhos = []
    for _ in range(draws):
        a, b = [], []
        for u in uses:
            logs = np.log(np.asarray(u, dtype=float))
            p = rng.permutation(len(logs))
            h = len(logs) // 2
            a.append(logs[p[:h]].mean())
            b.append(logs[p[h:]].mean())
        r = spearman(a, b)
        if r is not None:
            rhos.append(r)
    return float(np.mean(rhos)) if rhos else None


def _direction(value: float, reference: float) -> int:
    return int(np.sign(value - reference))


def _comp_means(uses: np.ndarray) -> tuple[float, float]:
    """(mean ln ratio, mean threshold dB) of compressor uses [n, 2] = (threshold dB, ratio)."""
    return float(np.log(uses[:, 1]).mean()), float(uses[:, 0].mean())


# ------------------------------------------------------------------------------ the suite
def crowd_strata(words: Mapping[str, CrowdWord]) -> dict[str, list[str]]:
    """The words of each figure: ``eq`` (>= 3 sessions), ``reverb`` (>= 20 uses), ``compressor``
    (>= 5 uses), sorted."""
    def has(w: CrowdWord, eff: str, n: int) -> bool:
        return eff in w.effects and w.effects[eff].n >= n

    return {
        "eq": sorted(w for w, c in words.items() if has(c, "eq", MIN_EQ_SESSIONS)),
        "reverb": sorted(w for w, c in words.items() if has(c, "reverb", MIN_REVERB_USES)),
        "compressor": sorted(w for w, c in words.items() if has(c, "compressor", MIN_COMP_USES)),
    }


def _nearest(encoder: Any, queries: Sequence[str], pool: Sequence[str]) -> dict[str, str]:
    from audiomanip.evaluation.baselines import pooled_embeddings

    if not queries or not pool:
        return {}
    q = pooled_embeddings(encoder, list(queries))
    p = pooled_embeddings(encoder, list(pool))
    best = np.argmax(q @ p.T, axis=1)
    return {w: pool[int(j)] for w, j in zip(queries, best)}


def run_crowd_suite(predictors: Sequence[Any], *, encoder: Any = None, fold: int = 0,
                    progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run the crowd suite on the words of ``fold`` (0: the held-out split).

    Training words are the crowd words of every other fold except 0 (and the authored forms,
    fold -1): with ``fold`` 1-4 this is word-level cross-validation that never touches the
    held-out fold. ``predictors``: objects with ``name`` and ``predict_presets(prompts)``;
    ``encoder``: text encoder for the nearest-word reference (skipped when None).
    """
    words = load_crowd_words()
    table = load_table()
    test_words = fold_words(fold)
    if not test_words:
        raise ValueError(f"crowd fold {fold} holds no words (folds 0-{table['split']['folds'] - 1})")
    train = {w: c for w, c in words.items() if c.fold not in (0, fold)}
    test = {w: words[w] for w in test_words}
    strata = crowd_strata(test)
    prompts = sorted(set(strata["eq"]) | set(strata["reverb"]) | set(strata["compressor"]))
    emit = progress or (lambda info: None)
    rng = np.random.default_rng(SEED)

    presets: dict[str, list[Preset]] = {}
    for p in predictors:
        emit({"stage": "crowd", "label": f"{p.name}: predicting", "done": 0, "total": len(predictors)})
        presets[p.name] = list(p.predict_presets(prompts)) if prompts else []
    index = {w: i for i, w in enumerate(prompts)}

    # ---- EQ
    noise = noise_probe()
    cache: dict[str, np.ndarray] = {}

    def response(preset: Preset) -> np.ndarray:
        key = repr(sorted(eq_only(preset).to_dict().items()))
        if key not in cache:
            cache[key] = rendered_band_db(preset, noise=noise)
        return cache[key]

    eq_words = strata["eq"]
    eq_fig: dict[str, Any] = {}
    per_word: dict[str, dict[str, float]] = {w: {} for w in eq_words}
    total = len(predictors) * len(eq_words)
    done = 0
    for p in predictors:
        rs = []
        for w in eq_words:
            r = response_r(response(presets[p.name][index[w]]), test[w].effects["eq"].data["curve"])
            per_word[w][p.name] = round(r, 4)
            rs.append(r)
            done += 1
            emit({"stage": "crowd", "label": f"EQ on noise: {p.name}", "done": done, "total": total})
        eq_fig[p.name] = float(np.mean(rs)) if rs else None
    train_eq = [w for w, c in train.items() if "eq" in c.effects]
    mean_curve = np.mean([train[w].effects["eq"].data["curve"] for w in train_eq], axis=0)
    rs = [pearson(mean_curve, test[w].effects["eq"].data["curve"]) for w in eq_words]
    for w, r in zip(eq_words, rs):
        per_word[w][MEAN_CURVE] = round(r, 4)
    eq_fig[MEAN_CURVE] = float(np.mean(rs)) if rs else None
    if encoder is not None:
        near = _nearest(encoder, eq_words, train_eq)
        rs = [pearson(train[near[w]].effects["eq"].data["curve"], test[w].effects["eq"].data["curve"])
              for w in eq_words]
        for w, r in zip(eq_words, rs):
            per_word[w][NEAREST_WORD] = round(r, 4)
            per_word[w]["nearest_word_is"] = near[w]
        eq_fig[NEAREST_WORD] = float(np.mean(rs)) if rs else None
    rs = [split_half_eq(np.asarray(test[w].effects["eq"].data["sessions"]), rng) for w in eq_words]
    for w, r in zip(eq_words, rs):
        per_word[w][CEILING] = round(r, 4)
    eq_fig[CEILING] = float(np.mean(rs)) if rs else None

    # ---- reverb
    rev_words = strata["reverb"]
    crowd_t60 = [float(test[w].effects["reverb"].data["t60_s"]) for w in rev_words]
    rev_fig: dict[str, Any] = {}
    rev_per_word: dict[str, dict[str, Any]] = {w: {"crowd_t60_s": t} for w, t in zip(rev_words, crowd_t60)}
    for p in predictors:
        ours = [our_t60_s(presets[p.name][index[w]]) for w in rev_words]
        for w, t in zip(rev_words, ours):
            rev_per_word[w][p.name] = round(t, 3)
        rev_fig[p.name] = spearman(ours, crowd_t60)
    if encoder is not None:
        train_rev = [w for w, c in train.items() if "reverb" in c.effects and c.effects["reverb"].n >= MIN_REVERB_USES]
        near = _nearest(encoder, rev_words, train_rev)
        near_t60 = [train[near[w]].effects["reverb"].data["t60_s"] for w in rev_words] if near else []
        for w, t in zip(rev_words, near_t60):
            rev_per_word[w][NEAREST_WORD] = t
        rev_fig[NEAREST_WORD] = spearman(near_t60, crowd_t60) if near else None
    rev_fig[CEILING] = split_half_reverb([test[w].effects["reverb"].data["t60_uses_s"] for w in rev_words], rng)

    # ---- compressor
    comp_words = strata["compressor"]
    glob = table["global"]["compressor"]
    g_lnratio, g_thr = float(np.log(glob["ratio_geomean"])), float(glob["threshold_db_mean"])
    crowd_dir = {}
    for w in comp_words:
        lr, thr = _comp_means(np.asarray(test[w].effects["compressor"].data["uses"], dtype=float))
        crowd_dir[w] = (_direction(lr, g_lnratio), _direction(thr, g_thr))
    comp_fig: dict[str, Any] = {}
    comp_hits: dict[str, dict[str, int]] = {w: {} for w in comp_words}
    for p in predictors:
        # the predictor's own average over every word of this run is its reference
        ratios = np.log([_comp_value(x, "ratio") for x in presets[p.name]])
        thresholds = [_comp_value(x, "threshold_db") for x in presets[p.name]]
        ref_ratio, ref_thr = float(np.mean(ratios)), float(np.mean(thresholds))
        hits = []
        for w in comp_words:
            got = (_direction(ratios[index[w]], ref_ratio), _direction(thresholds[index[w]], ref_thr))
            pair = [got[0] == crowd_dir[w][0] != 0, got[1] == crowd_dir[w][1] != 0]
            comp_hits[w][p.name] = int(sum(pair))
            hits += pair
        comp_fig[p.name] = float(np.mean(hits)) if hits else None
    hits = []
    for w in comp_words:
        uses = np.asarray(test[w].effects["compressor"].data["uses"], dtype=float)
        for _ in range(SPLIT_HALF_DRAWS):
            perm = rng.permutation(len(uses))
            h = len(uses) // 2
            a, b = _comp_means(uses[perm[:h]]), _comp_means(uses[perm[h:]])
            hits += [_direction(a[0], g_lnratio) == _direction(b[0], g_lnratio),
                     _direction(a[1], g_thr) == _direction(b[1], g_thr)]
    comp_fig[CEILING] = float(np.mean(hits)) if hits else None

    return {
        "fold": fold,
        "n_words": len(test_words),
        "n": {"eq": len(eq_words), "reverb": len(rev_words), "compressor": len(comp_words)},
        "words": {"eq": eq_words, "reverb": rev_words, "compressor": comp_words},
        "figures": {"eq_r": eq_fig, "reverb_rho": rev_fig, "compressor_direction": comp_fig},
        "eq_per_word": per_word,
        "reverb_per_word": rev_per_word,
        "compressor_crowd_direction": {w: {"ratio": d[0], "threshold": d[1]} for w, d in crowd_dir.items()},
        "compressor_hits_per_word": comp_hits,
        "reference": reference_figures(),
    }


def run_crowd_cv(predictors: Sequence[Any], *, encoder: Any = None, folds: Sequence[int] = (0, 1, 2, 3, 4),
                 progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Word-level cross-validation: :func:`run_crowd_suite` on each fold, the per-word results
    pooled (EQ: mean r over every scored word; reverb: rho over every scored word; compressor:
    share of right directions). Each fold's crowd references use only the other folds' words.
    Valid for a predictor that was trained on none of these folds' words (such as a model
    trained without crowd data); a model trained on crowd words is scored on fold 0 only."""
    runs = [run_crowd_suite(predictors, encoder=encoder, fold=k, progress=progress) for k in folds]
    eq_rows = {w: r for run in runs for w, r in run["eq_per_word"].items()}
    rev_rows = {w: r for run in runs for w, r in run["reverb_per_word"].items()}
    comp_rows = {w: r for run in runs for w, r in run["compressor_hits_per_word"].items()}
    names = [p.name for p in predictors]
    eq_fig = {n: float(np.mean([r[n] for r in eq_rows.values()])) if eq_rows else None
              for n in names + [MEAN_CURVE, NEAREST_WORD, CEILING] if all(n in r for r in eq_rows.values())}
    crowd_t60 = [r["crowd_t60_s"] for r in rev_rows.values()]
    rev_fig = {n: spearman([r[n] for r in rev_rows.values()], crowd_t60)
               for n in names + [NEAREST_WORD] if all(n in r for r in rev_rows.values())}
    words = load_crowd_words()
    rev_fig[CEILING] = split_half_reverb([words[w].effects["reverb"].data["t60_uses_s"] for w in rev_rows],
                                         np.random.default_rng(SEED))
    comp_fig = {n: float(np.mean([r[n] for r in comp_rows.values()]) / 2) if comp_rows else None for n in names}
    scored = [(run["figures"]["compressor_direction"][CEILING], run["n"]["compressor"]) for run in runs
              if run["n"]["compressor"]]
    comp_fig[CEILING] = float(np.average([c for c, _ in scored], weights=[n for _, n in scored])) if scored else None
    return {
        "folds": list(folds),
        "n_words": sum(run["n_words"] for run in runs),
        "n": {"eq": len(eq_rows), "reverb": len(rev_rows), "compressor": len(comp_rows)},
        "words": {"eq": sorted(eq_rows), "reverb": sorted(rev_rows), "compressor": sorted(comp_rows)},
        "figures": {"eq_r": eq_fig, "reverb_rho": rev_fig, "compressor_direction": comp_fig},
        "per_fold": [run["figures"] for run in runs],
        "eq_per_word": eq_rows,
        "reverb_per_word": rev_rows,
        "reference": runs[0]["reference"],
    }


def reference_figures(seed: int = SEED) -> dict[str, Any]:
    """The crowd's own agreement on every word of the table (all folds), to check the protocol
    against the issue's measurements: EQ split-half r (words with >= 4 sessions), the
    leave-one-out mean curve (the mean of every other word's curve) on the same words, reverb
    split-half rho (words with >= 20 uses)."""
    rng = np.random.default_rng(seed)
    words = load_crowd_words()
    eq = {w: c.effects["eq"] for w, c in words.items() if "eq" in c.effects}
    four = sorted(w for w, e in eq.items() if e.n >= 4)
    curves = {w: np.asarray(e.data["curve"], dtype=float) for w, e in eq.items()}
    total = np.sum(list(curves.values()), axis=0)
    sh = [split_half_eq(np.asarray(eq[w].data["sessions"]), rng) for w in four]
    loo = [pearson((total - curves[w]) / (len(curves) - 1), curves[w]) for w in four]
    rev = sorted(w for w, c in words.items() if "reverb" in c.effects and c.effects["reverb"].n >= MIN_REVERB_USES)
    rho = split_half_reverb([words[w].effects["reverb"].data["t60_uses_s"] for w in rev], rng)
    return {"eq_words_4_sessions": len(four), "eq_split_half_r": round(float(np.mean(sh)), 4),
            "eq_loo_mean_curve_r": round(float(np.mean(loo)), 4),
            "reverb_words_20_uses": len(rev), "reverb_split_half_rho": round(rho, 4) if rho is not None else None}

"""Derive per-word targets from the SocialFX crowd data (offline; never imported by the runtime).

``scripts/derive_crowd_words.py`` calls :func:`build_table` and writes ``presets/crowd_words.json``;
:mod:`audiomanip.vocab.crowd` reads that table at run time. The raw CSVs (data dictionary in
``../shared/data/socialfx/README.md``) stay outside the repository; :mod:`audiomanip.training.socialfx`
reads them and :mod:`audiomanip.training.crowd_eq_fit` fits our EQ bands to the word curves.

What is derived, per English word (lower case, ``-``/``_`` read as spaces):

* **EQ** (SocialEQ sessions, each a 40-band curve z-scored within the row): the word's sessions
  are averaged, the average is shrunk towards the mean curve of all sessions
  (:func:`eb_shrink`), scaled to dB (:func:`eq_db_per_sd`: the typical well-supported word peaks at
  Audealize's 5 dB) and
  fitted with our 5 bands (:func:`fit_eq`, checked through the renderer's own SOS response).
* **Reverb** (one use = the word typed for one of 256 reverb settings): per use the decay time
  T60 = -3 d / log10(g) s, pre-delay 2d/3, damping from the low-pass cut-off f, diffusion from
  the setting's echo density and wet from its clarity C (1 / (1 + 10^(C/10))); the word's
  averages are shrunk towards the mean of all uses. Since every setting was random, a word's
  T60 and wet are mapped to our range by their standing among words (:func:`reverb_recipe`).
* **Compressor**: threshold, ratio, attack and release of the settings the word was typed for,
  averaged (log for ratio and times) and shrunk likewise; make-up gain as the Web Audio
  compressor applied it automatically (0.6 x the full-scale gain reduction).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.params import effect, t60_s_to_room_size
from audiomanip.training.crowd_eq_fit import AUDEALIZE_PEAK_DB, FIT_SAMPLE_RATE, eq_db_per_sd, fit_eq, rendered_eq_db
from audiomanip.training.socialfx import EQ_BAND_HZ, read_comp_uses, read_eq_sessions, read_reverb_uses
from audiomanip.vocab import crowd

#: Seed and fraction of the held-out split, and the number of word-level folds.
SPLIT_SEED = 11
HELDOUT_FRACTION = 0.2
N_FOLDS = 5
#: Prior degrees of freedom of a word's own spread in :func:`eb_shrink` (its consistency).
SPREAD_PRIOR_DF = 4.0
#: Our reverb at the crowd's mean word and per between-word SD of the crowd's log T60 / wet.
ROOM_CENTRE = float(t60_s_to_room_size(1.2))
ROOM_PER_SD = 0.15
WET_CENTRE = 0.3
WET_PER_SD = 0.1
#: Sessions / uses kept in the table for the crowd's split-half ceiling.
KEEP_EQ_SESSIONS = 3
KEEP_REVERB_USES = 20
KEEP_COMP_USES = 5


# ---------------------------------------------------------------------------------- shrinkage
@dataclass(frozen=True)
class Shrunk:
    """Empirical-Bayes estimates for a set of words (one row per word, in input order).

    ``raw``: the word means ``[W, D]``; ``posterior``: ``mu + weight * (raw - mu)``;
    ``weight``: the confidence in [0, 1); ``mu``: the mean of all observations ``[D]``;
    ``tau2``: the between-word variance of true means and ``sigma2`` the pooled within-word
    variance (both per dimension, averaged over dimensions, in the units of the data).
    """

    raw: np.ndarray
    posterior: np.ndarray
    weight: np.ndarray
    mu: np.ndarray
    tau2: float
    sigma2: float


def eb_shrink(groups: Sequence[np.ndarray], *, prior_df: float = SPREAD_PRIOR_DF) -> Shrunk:
    """Shrink each group's mean towards the mean of all observations.

    ``groups[i]`` is ``[n_i, D]``. The pooled within-group variance ``sigma2`` comes from groups
    with two or more observations; a group's own spread ``s_i^2`` (its consistency) is shrunk
    towards it with ``prior_df`` degrees of freedom. The between-group variance ``tau2`` is the
    method-of-moments estimate ``var(means) - mean(sigma2 / n_i)`` (floored at 1 % of
    ``sigma2``). A group's weight is ``tau2 / (tau2 + s_i^2 / n_i)``: more observations and more
    agreement give more weight.
    """
    groups = [np.atleast_2d(np.asarray(g, dtype=float)) for g in groups]
    if not groups:
        raise ValueError("eb_shrink needs at least one group")
    allx = np.concatenate(groups)
    mu = allx.mean(axis=0)
    n = np.array([len(g) for g in groups], dtype=float)
    means = np.stack([g.mean(axis=0) for g in groups])
    multi = [g for g in groups if len(g) >= 2]
    if multi:
        ss = sum(((g - g.mean(axis=0)) ** 2).sum() for g in multi)
        dof = sum(len(g) - 1 for g in multi) * allx.shape[1]
        sigma2 = float(ss / dof)
    else:
        sigma2 = float(allx.var(axis=0).mean())
    own = np.array([((g - g.mean(axis=0)) ** 2).sum() / g.shape[1] for g in groups])  # (n_i - 1) s_i^2
    s2 = (own + prior_df * sigma2) / (n - 1 + prior_df)
    tau2 = float(((means - mu) ** 2).mean(axis=1).mean() - np.mean(sigma2 / n))
    tau2 = max(tau2, 0.01 * sigma2)
    weight = tau2 / (tau2 + s2 / n)
    posterior = mu + weight[:, None] * (means - mu)
    return Shrunk(means, posterior, weight, mu, tau2, sigma2)


# ---------------------------------------------------------------------------------- mappings
def reverb_recipe(log_t60: float, wet: float, pre_delay_ms: float, damping: float, diffusion: float,
                  *, log_t60_mu: float, log_t60_sd: float, wet_mu: float, wet_sd: float) -> dict[str, float]:
    """Our reverb values for a word's (shrunk) crowd means. T60 and wet are placed by the
    word's standing among words (z against the crowd's mean and between-word SD, since each
    setting was random and every word's average regresses to the middle): room_size =
    :data:`ROOM_CENTRE` + :data:`ROOM_PER_SD` z, wet = :data:`WET_CENTRE` + :data:`WET_PER_SD` z.
    Pre-delay, damping and diffusion are taken as they are."""
    rev = effect("reverb")

    def clip(name: str, v: float) -> float:
        p = rev.param(name)
        return float(f"{min(p.high, max(p.low, v)):.4g}")

    z_t = (log_t60 - log_t60_mu) / log_t60_sd
    z_w = (wet - wet_mu) / wet_sd
    return {
        "room_size": clip("room_size", ROOM_CENTRE + ROOM_PER_SD * z_t),
        "pre_delay_ms": clip("pre_delay_ms", pre_delay_ms),
        "diffusion": clip("diffusion", diffusion),
        "damping": clip("damping", damping),
        "wet": clip("wet", WET_CENTRE + WET_PER_SD * z_w),
    }


def web_audio_makeup_db(threshold_db: float, ratio: float) -> float:
    """Make-up gain (dB) of the Web Audio DynamicsCompressorNode (knee ignored): 0.6 x the gain
    reduction of a full-scale input, ``0.6 * -threshold * (1 - 1/ratio)``."""
    return 0.6 * -threshold_db * (1.0 - 1.0 / ratio)


def compressor_recipe(threshold_db: float, ln_ratio: float, ln_attack_ms: float,
                      ln_release_ms: float) -> dict[str, float]:
    """Our compressor values for a word's (shrunk) crowd means, clipped to the schema."""
    comp = effect("compressor")

    def clip(name: str, v: float) -> float:
        p = comp.param(name)
        return float(f"{min(p.high, max(p.low, v)):.4g}")

    thr = clip("threshold_db", threshold_db)
    ratio = clip("ratio", math.exp(ln_ratio))
    return {
        "threshold_db": thr,
        "ratio": ratio,
        "attack_ms": clip("attack_ms", math.exp(ln_attack_ms)),
        "release_ms": clip("release_ms", math.exp(ln_release_ms)),
        "makeup_db": clip("makeup_db", web_audio_makeup_db(thr, ratio)),
    }


# ---------------------------------------------------------------------------------- split
def assign_folds(strata: Mapping[str, str], *, seed: int = SPLIT_SEED, n_folds: int = N_FOLDS,
                 heldout_fraction: float = HELDOUT_FRACTION) -> dict[str, int]:
    """Word -> fold (0 … n_folds-1), seeded and stratified: within each stratum the words (sorted)
    are permuted by ``seed`` and dealt round-robin, so every fold takes a fifth of every stratum.
    Fold 0 is the held-out split (``heldout_fraction`` must be ``1 / n_folds``)."""
    if abs(heldout_fraction * n_folds - 1.0) > 1e-9:
        raise ValueError("the held-out split is one fold: heldout_fraction must be 1 / n_folds")
    rng = np.random.default_rng(seed)
    by: dict[str, list[str]] = defaultdict(list)
    for w, s in strata.items():
        by[s].append(w)
    out: dict[str, int] = {}
    for s in sorted(by):
        words = sorted(by[s])
        for i, j in enumerate(rng.permutation(len(words))):
            out[words[j]] = i % n_folds
    return out


# ---------------------------------------------------------------------------------- authored
def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a = np.asarray(a, dtype=float) - np.mean(a)
    b = np.asarray(b, dtype=float) - np.mean(b)
    den = float(np.sqrt((a ** 2).sum() * (b ** 2).sum()))
    return None if den < 1e-9 else float((a * b).sum() / den)


def authored_agreement(recipe: Any, crowd_entry: Mapping[str, Any], *, global_comp_ratio: float) -> dict[str, float]:
    """Agreement per effect between an authored recipe and a word's crowd data (effects both set):
    EQ, the Pearson r between the renderer's response of the authored EQ and the crowd's curve
    over the 40 bands (None when the authored EQ is flat); reverb, +1 when the authored decay and
    the crowd's lie on the same side of :data:`ROOM_CENTRE` else -1; compressor, the same for the
    ratio against the crowd's overall geometric-mean ratio."""
    out: dict[str, float] = {}
    vals = recipe.values
    if "eq" in vals and "eq" in crowd_entry:
        resp = rendered_eq_db(recipe.to_preset().values["eq"])
        r = _pearson(resp, crowd_entry["eq"]["curve"])
        if r is not None and np.ptp(resp) > 0.1:
            out["eq"] = round(r, 3)
    if "room_size" in vals.get("reverb", {}) and "reverb" in crowd_entry:
        a = float(vals["reverb"]["room_size"]) - ROOM_CENTRE
        c = crowd_entry["reverb"]["values"]["room_size"] - ROOM_CENTRE
        out["reverb"] = 1.0 if a * c >= 0 else -1.0
    if "ratio" in vals.get("compressor", {}) and "compressor" in crowd_entry:
        a = math.log(float(vals["compressor"]["ratio"]) / global_comp_ratio)
        c = math.log(crowd_entry["compressor"]["values"]["ratio"] / global_comp_ratio)
        out["compressor"] = 1.0 if a * c >= 0 else -1.0
    return out


def decide_authored(words: Mapping[str, dict[str, Any]], *, global_comp_ratio: float) -> None:
    """Add ``authored`` = {descriptor, agreement, winner} to every crowd word that is also an
    authored descriptor form; the winner per effect follows :func:`audiomanip.vocab.crowd.crowd_wins`."""
    from audiomanip.vocab.descriptors import load_descriptors

    forms = {f: d for d in load_descriptors().values() for f in d.forms}
    for w, entry in words.items():
        d = forms.get(w)
        if d is None:
            continue
        agreement = authored_agreement(d.recipe, entry, global_comp_ratio=global_comp_ratio)
        winner = {e: ("crowd" if crowd.crowd_wins(entry[e]["confidence"], a) else "authored")
                  for e, a in agreement.items()}
        entry["authored"] = {"descriptor": d.name, "agreement": agreement, "winner": winner}


# ---------------------------------------------------------------------------------- table
def _r(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd))


def build_table(data_dir: str | Path, *, progress: Callable[[str], None] | None = None,
                fit_steps: int = 700) -> dict[str, Any]:
    """Read the crowd data and return the table that :mod:`audiomanip.vocab.crowd` loads."""
    from audiomanip.vocab.descriptors import load_descriptors

    say = progress or (lambda msg: None)
    data_dir = Path(data_dir)
    say("reading EQ sessions")
    eq_sessions = read_eq_sessions(data_dir)
    say("reading reverb uses")
    rev_uses = read_reverb_uses(data_dir)
    say("reading compressor uses")
    comp_uses = read_comp_uses(data_dir)

    words: dict[str, dict[str, Any]] = defaultdict(dict)
    # EQ
    eq_words = sorted(eq_sessions)
    eq_sh = eb_shrink([eq_sessions[w] for w in eq_words])
    say(f"fitting the 5-band EQ to {len(eq_words)} word curves")
    db_per_sd = eq_db_per_sd(eq_sh.raw, [len(eq_sessions[w]) for w in eq_words])
    fit = fit_eq(db_per_sd * eq_sh.posterior, steps=fit_steps)
    for i, w in enumerate(eq_words):
        sess = eq_sessions[w]
        entry = {
            "n": len(sess), "confidence": _r(eq_sh.weight[i]),
            "curve": [_r(x, 2) for x in eq_sh.raw[i]],
            "fit_rms_db": _r(fit.rms_db[i], 2),
            "bands": [[int(fit.types[i, b]), float(fit.freq_hz[i, b]), float(fit.gain_db[i, b]),
                       float(fit.q[i, b])] for b in range(fit.types.shape[1])],
        }
        if len(sess) >= KEEP_EQ_SESSIONS:
            entry["sessions"] = [[_r(x, 2) for x in s] for s in sess]
        words[w]["eq"] = entry
    # Reverb: standardise features by their SD over all uses, shrink jointly
    rev_words = sorted(rev_uses)
    feats = ("log_t60", "wet", "pre_delay_ms", "damping", "diffusion")
    arrays = [np.array([[getattr(u, k) for k in feats] for u in rev_uses[w]]) for w in rev_words]
    allx = np.concatenate(arrays)
    sd = allx.std(axis=0)
    rev_sh = eb_shrink([a / sd for a in arrays])
    post = rev_sh.posterior * sd
    between_sd = np.sqrt(rev_sh.tau2) * sd  # between-word SD of true means, per feature
    for i, w in enumerate(rev_words):
        lt, wet, pre, damp, diff = post[i]
        n = len(arrays[i])
        entry = {
            "n": n, "confidence": _r(rev_sh.weight[i]),
            "t60_s": _r(math.exp(rev_sh.raw[i][0] * sd[0]), 3),
            "values": reverb_recipe(lt, wet, pre, damp, diff, log_t60_mu=rev_sh.mu[0] * sd[0],
                                    log_t60_sd=between_sd[0], wet_mu=rev_sh.mu[1] * sd[1],
                                    wet_sd=between_sd[1]),
        }
        if n >= KEEP_REVERB_USES:
            entry["t60_uses_s"] = [_r(math.exp(x), 3) for x in arrays[i][:, 0]]
        words[w]["reverb"] = entry
    # Compressor
    comp_words = sorted(comp_uses)
    c_arrays = [comp_uses[w] for w in comp_words]
    c_sd = np.concatenate(c_arrays).std(axis=0)
    comp_sh = eb_shrink([a / c_sd for a in c_arrays])
    c_post = comp_sh.posterior * c_sd
    for i, w in enumerate(comp_words):
        n = len(c_arrays[i])
        entry = {"n": n, "confidence": _r(comp_sh.weight[i]),
                 "threshold_db": _r(comp_sh.raw[i][0] * c_sd[0], 2),
                 "ratio": _r(math.exp(comp_sh.raw[i][1] * c_sd[1]), 3),
                 "values": compressor_recipe(*c_post[i])}
        if n >= KEEP_COMP_USES:
            entry["uses"] = [[_r(t, 2), _r(math.exp(lr), 3)] for t, lr, _, _ in c_arrays[i]]
        words[w]["compressor"] = entry

    # split: authored forms are never held out (the corpus trains them anyway)
    authored = {f for d in load_descriptors().values() for f in d.forms}

    def stratum(w: str) -> str:
        e = words[w]
        if w in authored:
            return "authored"
        if e.get("eq", {}).get("n", 0) >= 3:
            return "eq3"
        if e.get("reverb", {}).get("n", 0) >= 20:
            return "reverb20"
        if e.get("compressor", {}).get("n", 0) >= KEEP_COMP_USES:
            return "comp5"
        n = sum(e[k]["n"] for k in e)
        return "multi" if n >= 2 else "single"

    strata = {w: stratum(w) for w in words}
    folds = assign_folds({w: s for w, s in strata.items() if s != "authored"})
    for w in words:
        words[w]["fold"] = folds.get(w, -1)

    say("comparing the crowd with the authored descriptors")
    decide_authored(words, global_comp_ratio=math.exp(comp_sh.mu[1] * c_sd[1]))

    global_ = {
        "eq": {"mean_curve": [_r(x, 3) for x in eq_sh.mu], "tau2": _r(eq_sh.tau2, 4),
               "sigma2": _r(eq_sh.sigma2, 4), "words": len(eq_words),
               "sessions": int(sum(len(eq_sessions[w]) for w in eq_words))},
        "reverb": {"log_t60_mean": _r(rev_sh.mu[0] * sd[0], 4), "log_t60_between_sd": _r(between_sd[0], 4),
                   "tau2": _r(rev_sh.tau2, 4), "sigma2": _r(rev_sh.sigma2, 4), "words": len(rev_words),
                   "uses": int(len(allx))},
        "compressor": {"threshold_db_mean": _r(comp_sh.mu[0] * c_sd[0], 3),
                       "ratio_geomean": _r(math.exp(comp_sh.mu[1] * c_sd[1]), 4),
                       "tau2": _r(comp_sh.tau2, 4), "sigma2": _r(comp_sh.sigma2, 4), "words": len(comp_words),
                       "uses": int(sum(len(a) for a in c_arrays))},
    }
    return {
        "format": crowd.TABLE_FORMAT,
        "source": crowd.SOURCE_CITATION,
        "derived_by": "scripts/derive_crowd_words.py",
        "eq_band_hz": list(EQ_BAND_HZ),
        "constants": {"db_per_sd": _r(db_per_sd, 3), "audealize_peak_db": AUDEALIZE_PEAK_DB, "fit_sample_rate": FIT_SAMPLE_RATE,
                      "room_centre": _r(ROOM_CENTRE, 4), "room_per_sd": ROOM_PER_SD,
                      "wet_centre": WET_CENTRE, "wet_per_sd": WET_PER_SD, "spread_prior_df": SPREAD_PRIOR_DF},
        "split": {"seed": SPLIT_SEED, "folds": N_FOLDS, "heldout_fold": 0, "heldout_fraction": HELDOUT_FRACTION,
                  "strata": {s: sum(1 for v in strata.values() if v == s) for s in sorted(set(strata.values()))},
                  "rule": "authored descriptor forms are never held out (fold -1); every other word is dealt "
                          "to 5 folds within its stratum (eq >= 3 sessions, reverb >= 20 uses, compressor >= 5 "
                          "uses, multi, single) after a seeded permutation; fold 0 is the held-out split"},
        "global": global_,
        "words": {w: words[w] for w in sorted(words)},
    }

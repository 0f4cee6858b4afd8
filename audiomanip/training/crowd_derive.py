"""Derive per-word targets from the SocialFX crowd data (offline; never imported by the runtime).

``scripts/derive_crowd_words.py`` calls :func:`build_table` and writes ``presets/crowd_words.json``;
:mod:`audiomanip.vocab.crowd` reads that table at run time. The raw CSVs (data dictionary in
``../shared/data/socialfx/README.md``) stay outside the repository.

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

import ast
import csv
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.vocab import crowd
from audiomanip.params import EQ_BAND_TYPES, effect, t60_s_to_room_size

#: Centre frequencies (Hz) of SocialEQ's 40 bands (the data dictionary's list).
EQ_BAND_HZ = crowd.EQ_BAND_HZ
#: Audealize rescales a word's curve to [-1, 1] and applies gain dB = 5 x amount x c: a word at
#: full amount peaks at 5 dB. We give the typical well-supported word (>= SCALE_MIN_SESSIONS
#: sessions) that peak: dB per crowd SD = AUDEALIZE_PEAK_DB / median(max |mean curve|) over those
#: words (:func:`eq_db_per_sd`), so less agreed and shrunk words get proportionally less.
AUDEALIZE_PEAK_DB = 5.0
SCALE_MIN_SESSIONS = 8
#: Sample rate of the EQ fit and of its check through the renderer.
FIT_SAMPLE_RATE = 48000
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
#: Damping 0 at this low-pass cut-off (Hz) and above, 1 at DAMPING_FULL_HZ and below (log).
DAMPING_NONE_HZ = 20000.0
DAMPING_FULL_HZ = 200.0
#: Sessions / uses kept in the table for the crowd's split-half ceiling.
KEEP_EQ_SESSIONS = 3
KEEP_REVERB_USES = 20
KEEP_COMP_USES = 5

#: Tokens that are not descriptions (the crowd typed sentences; rows were split on commas).
_STOPWORDS = frozenset(
    "a an the and or of to in on it is was it's its this that be been with as at by for from but "
    "so very more less bit some like sounds sound sounded sounding i me my you your we they he she "
    "none above same no not than too really quite just little much lot".split()
)
_WORD_RE = re.compile(r"^[a-z][a-z' ]*[a-z]$")


def default_data_dir() -> Path:
    """Where the SocialFX CSVs are: ``$AUDIOMANIP_SOCIALFX_DIR``, else ``shared/data/socialfx`` next
    to the repository or next to its parent folder (a git worktree); the first that exists."""
    import os

    root = Path(__file__).resolve().parents[2]
    env = os.environ.get("AUDIOMANIP_SOCIALFX_DIR")
    candidates = ([Path(env)] if env else []) + [root.parent / "shared" / "data" / "socialfx",
                                                   root.parent.parent / "shared" / "data" / "socialfx"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


class CrowdDataError(ValueError):
    """The crowd data folder is missing a file or a file does not have the documented layout."""


# ---------------------------------------------------------------------------------- reading
def normalize_word(raw: str) -> str | None:
    """A crowd token as a vocabulary entry (lower case, ``-``/``_`` as spaces), or None for a
    stop word, a number or anything but letters, apostrophes and spaces."""
    w = " ".join(raw.strip().lower().replace("-", " ").replace("_", " ").split())
    if not w or w in _STOPWORDS or not _WORD_RE.match(w) or len(w) > 40:
        return None
    return w


def _tokens(field: str) -> set[str]:
    return {w for w in (normalize_word(t) for t in field.split(",")) if w}


def _open(data_dir: Path, name: str) -> list[list[str]]:
    path = Path(data_dir) / name
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    except OSError as exc:
        raise CrowdDataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _dict_rows(data_dir: Path, name: str, needed: Iterable[str]) -> list[dict[str, str]]:
    rows = _open(data_dir, name)
    header = rows[0]
    missing = [k for k in needed if k not in header]
    if missing:
        raise CrowdDataError(f"{name}: missing column(s) {', '.join(missing)}")
    return [dict(zip(header, r)) for r in rows[1:]]


def read_eq_sessions(data_dir: Path) -> dict[str, np.ndarray]:
    """English SocialEQ sessions by word: ``{word: [n, 40]}`` z-scored curves.

    The header is one name short, so rows are read by position (word, language, audio id,
    ratings consistency, 40 bands)."""
    out: dict[str, list[np.ndarray]] = defaultdict(list)
    for i, row in enumerate(_open(data_dir, "eq_contributions.csv")[1:], start=2):
        if len(row) != 4 + len(EQ_BAND_HZ):
            raise CrowdDataError(f"eq_contributions.csv line {i}: {len(row)} fields, expected 44")
        if row[1] != "English":
            continue
        word = normalize_word(row[0])
        if word:
            out[word].append(np.asarray(row[4:], dtype=float))
    return {w: np.stack(v) for w, v in out.items()}


@dataclass(frozen=True)
class ReverbUse:
    """One reverb setting as our features: log T60 (s), pre-delay ms, damping, diffusion, wet."""

    log_t60: float
    pre_delay_ms: float
    damping: float
    diffusion: float
    wet: float


def crowd_t60_s(d: float, g: float) -> float:
    """Decay time (s) of the Audealize reverberator: T60 = -3 d / log10(g) (d in s, 0 < g < 1)."""
    return -3.0 * d / math.log10(g)


def damping_from_cutoff(f_hz: float) -> float:
    """Our damping (0 … 1) from the reverberator's low-pass cut-off: log-linear, 0 at or above
    :data:`DAMPING_NONE_HZ`, 1 at or below :data:`DAMPING_FULL_HZ`."""
    u = math.log(DAMPING_NONE_HZ / max(f_hz, 1.0)) / math.log(DAMPING_NONE_HZ / DAMPING_FULL_HZ)
    return min(1.0, max(0.0, u))


def wet_from_clarity(c_db: float) -> float:
    """Reverberant share of the energy from the clarity C (dB, early/late): 1 / (1 + 10^(C/10))."""
    return 1.0 / (1.0 + 10.0 ** (c_db / 10.0))


def _parse_list(text: str) -> list[float]:
    return [float(x) for x in ast.literal_eval(text)]


def read_reverb_settings(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """reverbs.csv: ``(parameters [256, 5] (d, g, m, f, E), calculated [256, 5] (RT60 s, echo
    density 1/s, clarity dB, central time s, centroid Hz))``."""
    rows = _dict_rows(data_dir, "reverbs.csv", ("parameters", "calculated"))
    params = np.array([_parse_list(r["parameters"]) for r in rows])
    calc = np.array([_parse_list(r["calculated"]) for r in rows])
    return params, calc


def read_reverb_uses(data_dir: Path) -> dict[str, list[ReverbUse]]:
    """English reverb uses by word: each row's typed ``words`` (not the ticked ``agreed`` ones),
    each mapped through its setting. A row's rounded parameters are matched to the nearest of
    the 256 settings (log distance over d, g, f) for the setting's echo density and clarity."""
    params, calc = read_reverb_settings(data_dir)
    log_ref = np.log(np.abs(params[:, [0, 1, 3]]))
    dens = np.log(calc[:, 1])
    dens_lo, dens_hi = dens.min(), dens.max()
    out: dict[str, list[ReverbUse]] = defaultdict(list)
    for r in _dict_rows(data_dir, "reverb_contributions.csv", ("language", "param", "words")):
        if r["language"] != "English":
            continue
        d, g, _m, f, _e = (float(x) for x in r["param"].split(","))
        k = int(np.argmin(np.abs(log_ref - np.log(np.abs([d, g, f]))).sum(axis=1)))
        use = ReverbUse(
            log_t60=math.log(crowd_t60_s(d, g)),
            pre_delay_ms=1000.0 * 2.0 * d / 3.0,
            damping=damping_from_cutoff(f),
            diffusion=float((dens[k] - dens_lo) / (dens_hi - dens_lo)),
            wet=wet_from_clarity(calc[k, 2]),
        )
        for w in _tokens(r["words"]):
            out[w].append(use)
    return dict(out)


def read_comp_uses(data_dir: Path) -> dict[str, np.ndarray]:
    """Compressor uses by word: ``{word: [n, 4]}`` of (threshold dB, ln ratio, ln attack ms,
    ln release ms), times floored at our schema's minimum (0.1 ms, 10 ms)."""
    comp = effect("compressor")
    att_lo, rel_lo = comp.param("attack_ms").low, comp.param("release_ms").low
    out: dict[str, list[list[float]]] = defaultdict(list)
    for r in _dict_rows(data_dir, "comp_contributions.csv", ("param", "words")):
        thr, _knee, ratio, attack_s, release_s = (float(x) for x in r["param"].split(","))
        row = [thr, math.log(max(ratio, 1.0)), math.log(max(1000 * attack_s, att_lo)),
               math.log(max(1000 * release_s, rel_lo))]
        for w in _tokens(r["words"]):
            out[w].append(row)
    return {w: np.asarray(v, dtype=float) for w, v in out.items()}


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


# ---------------------------------------------------------------------------------- EQ fit
def eq_db_per_sd(raw_means: np.ndarray, n: Sequence[int], *, min_sessions: int = SCALE_MIN_SESSIONS,
                 peak_db: float = AUDEALIZE_PEAK_DB) -> float:
    """dB per crowd SD such that the median word with ``min_sessions`` or more sessions peaks at
    ``peak_db`` (its largest band of the averaged curve, in absolute value)."""
    sel = np.asarray(n) >= min_sessions
    if not sel.any():
        raise ValueError(f"no word has {min_sessions} or more sessions")
    return float(peak_db / np.median(np.abs(np.asarray(raw_means)[sel]).max(axis=1)))



def eq_values_from_arrays(types: Sequence[int], freq: Sequence[float], gain: Sequence[float],
                          q: Sequence[float]) -> dict[str, Any]:
    """A Preset's ``eq`` values from per-band arrays (types index ``EQ_BAND_TYPES``)."""
    out: dict[str, Any] = {}
    for i in range(len(types)):
        out[f"band{i + 1}_type"] = EQ_BAND_TYPES[int(types[i])]
        out[f"band{i + 1}_freq_hz"] = float(freq[i])
        out[f"band{i + 1}_gain_db"] = float(gain[i])
        out[f"band{i + 1}_q"] = float(q[i])
    return out


def rendered_eq_db(values: Mapping[str, Any], freqs_hz: Sequence[float] = EQ_BAND_HZ,
                   sample_rate: float = FIT_SAMPLE_RATE) -> np.ndarray:
    """Magnitude (dB) at ``freqs_hz`` of the SOS filter the renderer builds for ``values``
    (:func:`audiomanip.effects.eq.eq_sos`)."""
    from scipy.signal import sosfreqz

    from audiomanip.effects.eq import eq_sos

    _, h = sosfreqz(eq_sos(values, sample_rate), worN=np.asarray(freqs_hz, dtype=float), fs=sample_rate)
    return 20.0 * np.log10(np.maximum(np.abs(h), 1e-12))


@dataclass(frozen=True)
class EqFit:
    """The fitted bands ``[W, 5]`` (type index, Hz, dB, Q) and the RMS error (dB, offset removed)
    of the renderer's response against each target over the 40 bands."""

    types: np.ndarray
    freq_hz: np.ndarray
    gain_db: np.ndarray
    q: np.ndarray
    rms_db: np.ndarray

    def values(self, i: int) -> dict[str, Any]:
        return eq_values_from_arrays(self.types[i], self.freq_hz[i], self.gain_db[i], self.q[i])


#: Q range the fit may use (broad enough for shelves and peaks, narrow enough to avoid spikes
#: between the 40 sample points).
FIT_Q_RANGE = (0.3, 3.0)


def fit_eq(targets_db: np.ndarray, *, steps: int = 700, sample_rate: float = FIT_SAMPLE_RATE,
           progress: Callable[[int, int], None] | None = None) -> EqFit:
    """Fit our 5 bands (low shelf, 3 peaks, high shelf, each in its band's frequency range from
    ``descriptors.yaml``) to target curves ``[W, 40]`` in dB at :data:`EQ_BAND_HZ`, up to a
    constant offset (the crowd curves carry no absolute level). Adam on the differentiable
    response :func:`audiomanip.effects.eq.eq_response`; the reported error is re-measured through
    the renderer's SOS (:func:`rendered_eq_db`)."""
    import torch

    from audiomanip.vocab.recipes import conventions
    from audiomanip.effects.eq import eq_response

    targets = torch.as_tensor(np.asarray(targets_db, dtype=float), dtype=torch.float64)
    w = targets.shape[0]
    roles = conventions().bands
    types = torch.tensor([EQ_BAND_TYPES.index(r.gain_type) for r in roles]).expand(w, -1)
    lo = torch.tensor([math.log(r.freq_range_hz[0]) for r in roles], dtype=torch.float64)
    hi = torch.tensor([math.log(min(r.freq_range_hz[1], 0.45 * sample_rate)) for r in roles], dtype=torch.float64)
    eq = effect("eq")
    init_f = torch.tensor([math.log(float(eq.default_of(eq.params[1], b))) for b in range(eq.bands)],
                          dtype=torch.float64)
    u_f = torch.logit(((init_f - lo) / (hi - lo)).clamp(0.02, 0.98)).expand(w, -1).clone().requires_grad_(True)
    u_g = torch.zeros(w, eq.bands, dtype=torch.float64, requires_grad=True)
    q_lo, q_hi = (math.log(x) for x in FIT_Q_RANGE)
    u_q = torch.full((w, eq.bands), float(torch.logit(torch.tensor((math.log(0.707) - q_lo) / (q_hi - q_lo)))),
                     dtype=torch.float64, requires_grad=True)
    freqs = torch.as_tensor(EQ_BAND_HZ, dtype=torch.float64)
    t_c = targets - targets.mean(dim=1, keepdim=True)

    def params() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = torch.exp(lo + (hi - lo) * torch.sigmoid(u_f))
        g = 20.0 * torch.tanh(u_g / 4.0)
        q = torch.exp(q_lo + (q_hi - q_lo) * torch.sigmoid(u_q))
        return f, g, q

    opt = torch.optim.Adam([u_f, u_g, u_q], lr=0.05)
    for step in range(steps):
        f, g, q = params()
        resp = 20.0 * torch.log10(eq_response(sample_rate, freqs, types, f, g, q).abs().clamp_min(1e-9))
        err = resp - resp.mean(dim=1, keepdim=True) - t_c
        loss = (err ** 2).mean(dim=1).sum() + 1e-4 * (g ** 2).mean(dim=1).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress is not None and (step + 1) % 50 == 0:
            progress(step + 1, steps)
    with torch.no_grad():
        f, g, q = params()
    f = np.array([[float(f"{x:.4g}") for x in row] for row in f.numpy()])
    g = np.round(g.numpy(), 2)
    q = np.round(q.numpy(), 3)
    t = types.numpy().copy()
    rms = np.empty(w)
    tn = np.asarray(targets_db, dtype=float)
    for i in range(w):
        resp = rendered_eq_db(eq_values_from_arrays(t[i], f[i], g[i], q[i]), sample_rate=sample_rate)
        e = (resp - resp.mean()) - (tn[i] - tn[i].mean())
        rms[i] = float(np.sqrt(np.mean(e ** 2)))
    return EqFit(t, f, g, q, rms)


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

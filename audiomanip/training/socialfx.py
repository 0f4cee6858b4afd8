"""Reading the SocialFX crowd data (the CSVs of SocialEQ, SocialReverb and SocialComp; data
dictionary in ``../shared/data/socialfx/README.md``, outside the repository) into per-word
observations in our parameters' terms, for :mod:`audiomanip.training.crowd_derive`.
"""

from __future__ import annotations

import ast
import csv
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiomanip.params import effect
from audiomanip.vocab import crowd

#: Centre frequencies (Hz) of SocialEQ's 40 bands (the data dictionary's list).
EQ_BAND_HZ = crowd.EQ_BAND_HZ
#: Damping 0 at this low-pass cut-off (Hz) and above, 1 at DAMPING_FULL_HZ and below (log).
DAMPING_NONE_HZ = 20000.0
DAMPING_FULL_HZ = 200.0

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

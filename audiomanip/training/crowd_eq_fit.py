"""Our 5 EQ bands fitted to the crowd's 40-band word curves (:func:`fit_eq`), and the scale from
the crowd's z-scored curves to dB (:func:`eq_db_per_sd`), for :mod:`audiomanip.training.crowd_derive`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiomanip.params import EQ_BAND_TYPES, effect
from audiomanip.training.socialfx import EQ_BAND_HZ

#: Audealize rescales a word's curve to [-1, 1] and applies gain dB = 5 x amount x c: a word at
#: full amount peaks at 5 dB. We give the typical well-supported word (>= SCALE_MIN_SESSIONS
#: sessions) that peak: dB per crowd SD = AUDEALIZE_PEAK_DB / median(max |mean curve|) over those
#: words (:func:`eq_db_per_sd`), so less agreed and shrunk words get proportionally less.
AUDEALIZE_PEAK_DB = 5.0
SCALE_MIN_SESSIONS = 8
#: Sample rate of the EQ fit and of its check through the renderer.
FIT_SAMPLE_RATE = 48000


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

"""The outcome suite (``eval --suite outcome``): do the same words lead to the same outcome on
every source, and does the audio view help?

Each intent of :data:`OUTCOME_PROMPTS` ("brighter", "more bass", "glue it together" …) is
predicted for each source of :func:`outcome_sources` twice: with the model listening to the
source (its audio view) and from the words alone (``apply --text-only``); each preset is
rendered on the source and the intent's feature measured before and after
(:func:`audiomanip.training.outcomes.feature_pair`). Per intent and path:

* ``spread``: the standard deviation over sources of the log change the outcome rule fixes
  (:func:`audiomanip.training.outcomes.measured_change`; README "Outcome targets");
* ``accuracy``: the share of sources whose feature itself moved the asked way by more than
  :data:`MOVED` (log ratio: the band or tail share up for "more", down for "less"; the crest
  factor down);

and ``spread_ratio`` = spread with the view / spread from the words alone (the goal is at most
0.6). A model without an audio view gets ratio 1 by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A feature counts as moved the asked way when its log ratio after/before passes this (1 %).
MOVED = 0.01
#: Sample rate (Hz) and length (s) of the outcome sources: the features look at 0 … 8 kHz.
OUTCOME_SAMPLE_RATE = 16000
OUTCOME_SECONDS = 2.0


@dataclass(frozen=True)
class OutcomePrompt:
    """One intent of the suite: the prompt, the intent of :data:`audiomanip.training.outcomes.INTENTS`
    it asks for and its direction (+1 more, −1 less)."""

    prompt: str
    intent: str
    direction: int


#: The suite's intents: every measurable family, in both directions where the chain can go both
#: ways, and three intensities of one word.
OUTCOME_PROMPTS: tuple[OutcomePrompt, ...] = (
    OutcomePrompt("brighter", "treble", 1),
    OutcomePrompt("a bit brighter", "treble", 1),
    OutcomePrompt("much brighter", "treble", 1),
    OutcomePrompt("darker", "treble", -1),
    OutcomePrompt("more bass", "bass", 1),
    OutcomePrompt("less bass", "bass", -1),
    OutcomePrompt("more presence", "presence", 1),
    OutcomePrompt("harsher", "harshness", 1),
    OutcomePrompt("smoother", "harshness", -1),
    OutcomePrompt("in a big hall", "space", 1),
    OutcomePrompt("glue it together", "density", 1),
    OutcomePrompt("overdriven", "drive", 1),
)


def outcome_sources(sample_rate: int = OUTCOME_SAMPLE_RATE, seconds: float = OUTCOME_SECONDS, *, seed: int = 100
                    ) -> list[tuple[str, np.ndarray]]:
    """``(name, audio float32 [1, T])``: music, an instrument, drums and speech (espeak-ng, when
    installed), each as made and in dark, bright, boomy, thin, squashed and reverberant versions
    (:func:`audiomanip.training.clips.varied_sources`), with other seeds than the training bank."""
    from audiomanip.training import sources as S
    from audiomanip.training.clips import VARIATIONS, varied_sources

    T = int(round(seconds * sample_rate))
    bases = [("music", S.music_like(seconds, sample_rate, seed=seed, channels=1)),
             ("instrument", S.harmonic_instrument(seconds, sample_rate, seed=seed, root_hz=165.0, notes_per_s=3.0)),
             ("drums", S.drum_loop(seconds, sample_rate, seed=seed, bpm=120.0))]
    if S.espeak_path():
        s = S.speech("the evening news, read slowly and clearly", sample_rate, pitch=45)
        bases.append(("speech", s[:, :T]))
    out = []
    for name, x in bases:
        x = (x[:1] * (0.5 / max(float(np.max(np.abs(x))), 1e-9))).astype(np.float32)
        out.append((name, x))
        out.extend((f"{name}/{v}", y) for v, y in zip(VARIATIONS, varied_sources([x], sample_rate)))
    return out


def _figures(changes: Sequence[float], moves: Sequence[float]) -> dict[str, float]:
    c = np.asarray(changes, dtype=float)
    return {"spread": float(np.std(c)), "mean_change": float(np.mean(c)),
            "accuracy": float(np.mean(np.asarray(moves, dtype=float) > MOVED))}


def asked_move(intent: str, direction: int, before: float, after: float) -> float:
    """The feature's log ratio after/before, signed so that a move the asked way is positive
    (the crest factor must fall for density and drive)."""
    from audiomanip.training.outcomes import INTENTS

    ratio = math.log(max(float(after), 1e-12) / max(float(before), 1e-12))
    return -ratio if INTENTS[intent].measure == "crest" else direction * ratio


def run_outcome_suite(model: Any, *, sources: Sequence[tuple[str, np.ndarray]] | None = None,
                      sample_rate: int = OUTCOME_SAMPLE_RATE, prompts: Sequence[OutcomePrompt] = OUTCOME_PROMPTS,
                      progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The suite's report: per intent ``{"prompt", "intent", "direction", "view": figures,
    "text_only": figures, "spread_ratio"}`` and the summary (mean spread ratio, how many intents
    reach 0.6, mean accuracy of both paths)."""
    from audiomanip.rendering.chain import render
    from audiomanip.training.outcomes import feature_pair, measured_change

    sources = list(sources) if sources is not None else outcome_sources(sample_rate)
    listens = str((getattr(model, "info", {}) or {}).get("audio_view", "none")) != "none"
    rows = []
    for i, op in enumerate(prompts):
        if progress is not None:
            progress(op.prompt, i, len(prompts))
        words_only = model.predict(op.prompt).preset
        per_path: dict[str, list[float]] = {"view": [], "text_only": []}
        moves: dict[str, list[float]] = {"view": [], "text_only": []}
        for _, x in sources:
            for path in per_path:
                preset = model.predict(op.prompt, x, sample_rate).preset if path == "view" and listens else words_only
                y = render(preset, x, sample_rate, tail=False, peak_safety=False)[:, :x.shape[1]]
                before, after = feature_pair(op.intent, x.astype(np.float64), y.astype(np.float64), sample_rate)
                per_path[path].append(float(measured_change(op.intent, op.direction, before, after)))
                moves[path].append(asked_move(op.intent, op.direction, before, after))
        view, text = (_figures(per_path[k], moves[k]) for k in ("view", "text_only"))
        ratio = view["spread"] / text["spread"] if text["spread"] > 0 else math.nan
        rows.append({"prompt": op.prompt, "intent": op.intent, "direction": op.direction, "view": view,
                     "text_only": text, "spread_ratio": ratio})
    ratios = [r["spread_ratio"] for r in rows if math.isfinite(r["spread_ratio"])]
    return {
        "n_intents": len(rows), "n_sources": len(sources), "sources": [n for n, _ in sources],
        "audio_view": listens, "intents": rows,
        "summary": {
            "mean_spread_ratio": float(np.mean(ratios)) if ratios else None,
            "intents_at_most_0_6": sum(r <= 0.6 for r in ratios),
            "view_accuracy": float(np.mean([r["view"]["accuracy"] for r in rows])),
            "text_only_accuracy": float(np.mean([r["text_only"]["accuracy"] for r in rows])),
        },
    }

"""Outcome targets: what a prompt with a measurable intent should do to the sound, whatever the source.

An intent is measured by one feature of :mod:`audiomanip.audio_profile` on the chain's output
relative to its input:

* ``bass``, ``treble``, ``presence``, ``harshness``, ``drive``: the share ``s`` of the energy
  (0 … 8 kHz) in the intent's band (:data:`INTENTS`);
* ``space``: the tail share, the share of the output's energy in the frames where the input is
  quiet (more than :data:`QUIET_DB` below its loudest frame): reverb fills those gaps;
* ``density`` (compression words) and ``drive`` (distortion words): the crest factor in dB.

The rule (README "Outcome targets"), with ``a`` the prompt's intensity for the word ("a bit"
0.55 < plain 1 < "much" 1.4, the modifiers of ``presets/modifiers.yaml``) and ``k`` the
word's step:

* "more X": ``(1 − s_after) = (1 − s_before) · (1 − k·a)``: a fixed share of the energy that is
  *not* X goes, so a source that already holds a lot of X gets a smaller boost;
* "less X": ``s_after = s_before · (1 − k·a)``: a fixed share of X's energy goes;
* density and drive: ``crest_after = crest_before · (1 − k·a)`` (crest factor in dB).

``k·a`` is capped at :data:`MAX_STEP`. The log change of the measured quantity
(:func:`measured_change`) is then the same on every source (:func:`target_change`), which is
what the training term (:func:`outcome_loss`) and ``eval --suite outcome`` measure. A word's
``k`` is the mean change its corpus recipe makes over a clip bank (:func:`word_steps`, measured
when training starts), so the outcome term and the parameter loss agree on average and the
outcome term only asks the model to make the change equal across sources. Words whose recipe
does not move their feature the asked way on average get no outcome term. Pitch has none
either: the f0 ratio is the semitone value itself, the same on every source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audiomanip.audio_profile import band_share, crest_factor_db, frame_levels_db
from audiomanip.effects.arrays import namespace

#: Frames of the input more than this many dB below its loudest frame count as quiet (tail share).
QUIET_DB = 25.0
#: Largest ``k·a`` (a "more X" prompt never asks for all the other energy to go).
MAX_STEP = 0.99
#: The outcome term is a Huber loss on the log change with this transition (log units): squared
#: near the target, linear far from it, so one impossible request cannot dominate a batch.
HUBER_BETA = 0.1


@dataclass(frozen=True)
class Intent:
    """One measurable intent: ``measure`` ``"band"`` (the share of ``band_hz``), ``"tail"``
    or ``"crest"``."""

    name: str
    measure: str
    band_hz: tuple[float, float] | None = None


#: The intents.
INTENTS: dict[str, Intent] = {
    "bass": Intent("bass", "band", (0.0, 150.0)),
    "treble": Intent("treble", "band", (4000.0, 8000.0)),
    "presence": Intent("presence", "band", (2000.0, 5000.0)),
    "harshness": Intent("harshness", "band", (2500.0, 6000.0)),
    "space": Intent("space", "tail"),
    "density": Intent("density", "crest"),
    "drive": Intent("drive", "crest"),
}

#: The effect whose parameters decide each intent's outcome.
INTENT_EFFECTS = {"bass": "eq", "treble": "eq", "presence": "eq", "harshness": "eq", "space": "reverb",
                  "density": "compressor", "drive": "distortion"}

#: Descriptor -> (intent, +1 "more" / -1 "less"). Words whose recipe acts mostly above 8 kHz
#: ("airy", "sparkly") or that the chain cannot do ("dry": less reverb than the source) are left out.
DESCRIPTOR_INTENTS: dict[str, tuple[str, int]] = {
    **{w: ("treble", 1) for w in ("bright", "crisp", "trebly", "glassy")},
    **{w: ("treble", -1) for w in ("dark", "dull", "mellow", "muffled", "veiled")},
    **{w: ("bass", 1) for w in ("bassy", "subby", "fat", "full", "boomy")},
    **{w: ("bass", -1) for w in ("thin", "tinny")},
    **{w: ("presence", 1) for w in ("present", "clear")},
    **{w: ("harshness", 1) for w in ("harsh", "edgy")},
    "smooth": ("harshness", -1),
    **{w: ("density", 1) for w in ("glue", "squashed", "compressed", "limited", "slammed", "even", "controlled",
                                   "radio-compressed")},
    **{w: ("drive", 1) for w in ("overdriven", "distorted", "crunchy", "saturated", "fuzz", "gritty", "dirty")},
}


def descriptor_intent(name: str) -> tuple[str, int] | None:
    """The (intent, direction) of a descriptor, or None. Every reverb word of the ``space``
    family whose recipe adds reverb is "more space"."""
    if name in DESCRIPTOR_INTENTS:
        return DESCRIPTOR_INTENTS[name]
    from audiomanip.vocab.descriptors import load_descriptors

    d = load_descriptors().get(name)
    if d is not None and d.family == "space" and float(d.recipe.values.get("reverb", {}).get("wet", 0.0)) > 0:
        return ("space", 1)
    return None


def _quiet_frames(x, sample_rate: float):
    """1.0 for each level frame of ``x`` [..., C, T] more than :data:`QUIET_DB` below its loudest
    frame, else 0.0: [..., F]."""
    xp = namespace(x)
    lx = frame_levels_db(x, sample_rate)
    return xp.astype(lx < xp.max(lx, axis=-1, keepdims=True) - QUIET_DB, lx.dtype)


def tail_share(x, y, sample_rate: float):
    """Share of ``y``'s energy in the frames where ``x`` is quiet (see the module docstring):
    [...]; ``x``, ``y`` [..., C, T] of the same length."""
    xp = namespace(y)
    energy = 10.0 ** (frame_levels_db(y, sample_rate) / 10.0)
    return xp.sum(energy * _quiet_frames(x, sample_rate), axis=-1) / (xp.sum(energy, axis=-1) + 1e-12)


def quiet_fraction(x, sample_rate: float):
    """Share of ``x``'s frames that are quiet (a tail share means something only when some are)."""
    return namespace(x).mean(_quiet_frames(x, sample_rate), axis=-1)


def feature_pair(intent: str, x, y, sample_rate: float):
    """``(before, after)``: the intent's feature of input ``x`` and output ``y`` [..., C, T]."""
    it = INTENTS[intent]
    if it.measure == "band":
        lo, hi = it.band_hz
        return band_share(x, sample_rate, lo, hi), band_share(y, sample_rate, lo, hi)
    if it.measure == "tail":
        return tail_share(x, x, sample_rate), tail_share(x, y, sample_rate)
    return crest_factor_db(x), crest_factor_db(y)


def measured_change(intent: str, direction: int, before, after):
    """The log change the rule fixes: log((1 − s_after) / (1 − s_before)) for "more X" of a
    share, log(s_after / s_before) for "less X", log(crest_after / crest_before) for density.
    Negative when the sound moved the asked way."""
    xp = namespace(before, after)
    eps = 1e-6
    if INTENTS[intent].measure == "crest":
        return xp.log(xp.clip(after, eps, None) / xp.clip(before, eps, None))
    if direction > 0:
        return xp.log(xp.clip(1.0 - after, eps, None) / xp.clip(1.0 - before, eps, None))
    return xp.log(xp.clip(after, eps, None) / xp.clip(before, eps, None))


def target_change(k: float, intensity: float) -> float:
    """log(1 − k·a): the change :func:`measured_change` should show for a word of step ``k``
    at intensity ``a``."""
    return math.log(1.0 - min(float(k) * float(intensity), MAX_STEP))


def word_steps(clips: Any, sample_rate: float, words: Sequence[str] | None = None) -> dict[str, float]:
    """Each measurable word's step ``k = 1 − exp(mean change)``: the mean
    :func:`measured_change` its corpus recipe (intensity 1) makes on ``clips`` [N, 1, T]
    (numpy), rendered by the package's renderer. Words whose mean change is not below −0.01
    (not the asked way) are left out."""
    import numpy as np

    from audiomanip.rendering.chain import render
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.vocab.recipes import compose

    descriptors = load_descriptors()
    if words is None:
        words = [w for w in descriptors if descriptor_intent(w) is not None]
    steps = {}
    for word in words:
        intent, direction = descriptor_intent(word)
        preset = compose([descriptors[word].recipe]).to_preset()
        changes = []
        for x in np.asarray(clips):
            if INTENTS[intent].measure == "tail" and float(quiet_fraction(x, sample_rate)) < 0.1:
                continue
            y = render(preset, x, sample_rate, tail=False, peak_safety=False)[:, :x.shape[1]]
            changes.append(float(measured_change(intent, direction, *feature_pair(intent, x, y, sample_rate))))
        if changes and float(np.mean(changes)) < -0.01:
            steps[word] = 1.0 - math.exp(float(np.mean(changes)))
    return steps


def example_items(example: Any, steps: dict[str, float]) -> list[tuple[str, int, float]]:
    """``(intent, direction, target change)`` of each measurable word a training example names
    itself (:class:`audiomanip.training.prompts.PromptExample`: ``descriptors`` with
    ``factors``; a negative factor, "cut the bottom", turns the direction round) that has a
    step in ``steps``."""
    out = []
    for name, factor in zip(getattr(example, "descriptors", ()), getattr(example, "factors", ())):
        found = descriptor_intent(name)
        if found is None or factor == 0 or name not in steps:
            continue
        intent, direction = found
        direction = direction if factor > 0 else -direction
        if INTENTS[intent].measure != "band" and direction < 0:
            continue  # the chain cannot take reverb away or expand dynamics
        out.append((intent, direction, target_change(steps[name], abs(float(factor)))))
    return out


def outcome_loss(x, y, sample_rate: float, items: Sequence[tuple[int, str, int, float]]):
    """Mean Huber loss (:data:`HUBER_BETA`) between measured and target log change over ``items`` ``(row of x/y, intent, direction,
    target change)``; ``x`` the chain's inputs, ``y`` its outputs [B, C, T] (torch, with
    gradients through ``y``). The space intent skips rows whose input has no quiet frames.
    Returns ``(loss, n_counted)``."""
    import torch

    terms = []
    for row, intent, direction, target in items:
        xi, yi = x[row], y[row]
        if INTENTS[intent].measure == "tail" and float(quiet_fraction(xi, sample_rate)) < 0.1:
            continue
        before, after = feature_pair(intent, xi, yi, sample_rate)
        change = measured_change(intent, direction, before.detach(), after)
        terms.append(torch.nn.functional.smooth_l1_loss(change.reshape(()), change.new_tensor(float(target)),
                                                        beta=HUBER_BETA))
    if not terms:
        return y.new_zeros(()), 0
    return torch.stack([t.reshape(()) for t in terms]).mean(), len(terms)


def outcome_row_weights(items_per_row: Sequence[Sequence[tuple[str, int, float]]], weight: float, device: Any = None
                        ) -> dict[str, Any]:
    """Per effect, the parameter-loss weight [B] of each row (:func:`audiomanip.model.losses.parameter_loss`'s
    ``row_weights``): ``weight`` for the effects the row's outcome items decide
    (:data:`INTENT_EFFECTS`), 1 elsewhere."""
    import torch

    out = {}
    for effect in set(INTENT_EFFECTS.values()):
        out[effect] = torch.tensor([weight if any(INTENT_EFFECTS[i[0]] == effect for i in items) else 1.0
                                    for items in items_per_row], device=device)
    return out


def eq_outcome_loss(power, freqs_hz, response_power, items: Sequence[tuple[int, str, int, float]]):
    """The outcome term of the spectral intents (bass, treble, presence, harshness) without
    rendering: each row's share before and after from the clip's long-term power spectrum
    ``power`` [B, K] (:func:`audiomanip.audio_profile.long_term_power`, bins ``freqs_hz`` [K])
    and the power response of the predicted EQ at those bins ``response_power`` [B, K] (torch,
    with gradients); ``items`` as :func:`outcome_loss` (non-spectral intents are skipped).
    Cheap enough for every example of every step. Returns ``(loss, n_counted)``."""
    import numpy as np
    import torch

    terms = []
    for row, intent, direction, target in items:
        it = INTENTS[intent]
        if it.measure != "band":
            continue
        lo, hi = it.band_hz
        inside = torch.as_tensor(((freqs_hz >= lo) & (freqs_hz < hi)).astype(np.float32), device=power.device)
        p, after_power = power[row], power[row] * response_power[row]
        before = (p * inside).sum() / (p.sum() + 1e-12)
        after = (after_power * inside).sum() / (after_power.sum() + 1e-12)
        change = measured_change(intent, direction, before, after)
        terms.append(torch.nn.functional.smooth_l1_loss(change.reshape(()), change.new_tensor(float(target)),
                                                        beta=HUBER_BETA))
    if not terms:
        return response_power.new_zeros(()), 0
    return torch.stack(terms).mean(), len(terms)

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
what ``eval --suite outcome`` measures.

The training term of the spectral intents (:func:`eq_outcome_loss`) states the same rule as the
change of the band's level relative to the rest of the spectrum (:func:`band_level_db`, dB),
which an EQ gain moves one for one on any source, and anchors it on the words: the model's own
words-only prediction sets the strength (its median level change over the clip bank, ``g``: a
source on which the words' EQ misses the band is asked for the typical change), the rule's ``k``
is the one that gives ``g`` to a source of the bank's median share (:func:`band_step`), and a
source is asked for the rule's change for its own share, kept within
[:data:`BAND_MIN_FRACTION`, :data:`BAND_MAX_FRACTION`] × ``g`` (:func:`band_target_db`). So
hearing the source moves what the words ask around (more for a source that lacks X, less for
one that has plenty) without making it stronger or weaker on a typical source; intensity words
act through ``g``. The other intents' term (:func:`outcome_loss`, on rendered clips) is on the
log change itself (:func:`target_change`), with ``k`` the mean change the word's corpus recipe
makes over the bank (:func:`word_steps`); words whose recipe does not move their feature the
asked way get no term. Pitch has none either: the f0 ratio is the semitone value itself, the
same on every source.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audiomanip.audio_profile import band_share, crest_factor_db, frame_levels_db, power_band_share
from audiomanip.effects.arrays import namespace

#: Frames of the input more than this many dB below its loudest frame count as quiet (tail share).
QUIET_DB = 25.0
#: Largest ``k·a`` (a "more X" prompt never asks for all the other energy to go).
MAX_STEP = 0.99
#: The spectral term asks each source for between these multiples of the words' own level change.
BAND_MIN_FRACTION = 0.25
BAND_MAX_FRACTION = 3.0
#: The spectral term's error is divided by this (dB) before its Huber loss.
BAND_SCALE_DB = 3.0
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


def band_level_db(share):
    """The band's level relative to the rest of the spectrum, 10·log10(s / (1 − s)) dB, of a
    share ``s`` (array or tensor): an EQ gain of g dB on exactly the band adds g dB to it."""
    xp = namespace(share)
    eps = 1e-9
    return 10.0 * xp.log10(xp.clip(share, eps, None) / xp.clip(1.0 - share, eps, None))


def _share_of_level(level_db: float) -> float:
    return 1.0 / (1.0 + 10.0 ** (-float(level_db) / 10.0))


def _rule_share(direction: int, before: float, k: float) -> float:
    """The rule's share after, of a share ``before`` and a step ``k`` (see the module docstring)."""
    return 1.0 - (1.0 - before) * (1.0 - k) if direction > 0 else before * (1.0 - k)


def band_step(direction: int, reference_share: float, change_db: float) -> float:
    """The step ``k`` at which the rule raises (``direction`` +1) or lowers (−1) the
    :func:`band_level_db` of a source of ``reference_share`` by ``change_db`` (> 0) dB."""
    s = min(max(float(reference_share), 1e-9), 1.0 - 1e-9)
    after = _share_of_level(float(band_level_db(s)) + direction * float(change_db))
    k = (after - s) / (1.0 - s) if direction > 0 else 1.0 - after / s
    return min(max(k, 0.0), MAX_STEP)


def band_target_db(direction: int, before: float, reference_share: float, words_change_db: float) -> float | None:
    """The change of :func:`band_level_db` (dB, positive for "more") that the rule, anchored on
    the words, asks of a source whose band share is ``before``: with ``k`` =
    :func:`band_step` (``reference_share``, the words' change ``g``), the rule's change for this
    share, kept within [:data:`BAND_MIN_FRACTION`, :data:`BAND_MAX_FRACTION`] × ``g``. None
    when the words' change ``words_change_db`` (signed) is not the asked way."""
    g = direction * float(words_change_db)
    if g <= 0.0:
        return None
    k = band_step(direction, reference_share, g)
    s = min(max(float(before), 1e-9), 1.0 - 1e-9)
    change = abs(float(band_level_db(_rule_share(direction, s, k))) - float(band_level_db(s)))
    return math.copysign(min(max(change, BAND_MIN_FRACTION * g), BAND_MAX_FRACTION * g), direction)


def word_steps(clips: Any, sample_rate: float, words: Sequence[str] | None = None) -> dict[str, float]:
    """Each measurable word's step ``k``, from its corpus recipe (intensity 1) rendered by the
    package's renderer on ``clips`` [N, 1, T] (numpy): for a spectral word, the ``k`` at which
    the rule gives the clip of median band share the recipe's median :func:`band_level_db`
    change (left out unless that change is at least 0.1 dB the asked way; the training term
    anchors on the words instead, so this ``k`` only says that the word is measurable); otherwise
    ``1 − exp(mean change)`` of :func:`measured_change` (left out unless the mean is below
    −0.01, the asked way)."""
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
        band = INTENTS[intent].measure == "band"
        preset = compose([descriptors[word].recipe]).to_preset()
        changes, shares = [], []
        for x in np.asarray(clips):
            if INTENTS[intent].measure == "tail" and float(quiet_fraction(x, sample_rate)) < 0.1:
                continue
            y = render(preset, x, sample_rate, tail=False, peak_safety=False)[:, :x.shape[1]]
            before, after = feature_pair(intent, x, y, sample_rate)
            if band:
                shares.append(float(before))
                changes.append(direction * float(band_level_db(after) - band_level_db(before)))
            else:
                changes.append(float(measured_change(intent, direction, before, after)))
        if not changes:
            continue
        if band and float(np.median(changes)) >= 0.1:
            steps[word] = band_step(direction, float(np.median(shares)), float(np.median(changes)))
        elif not band and float(np.mean(changes)) < -0.01:
            steps[word] = 1.0 - math.exp(float(np.mean(changes)))
    return steps


def example_items(example: Any, steps: dict[str, float]) -> list[tuple[str, int, float, float]]:
    """``(intent, direction, k, a)`` of each measurable word a training example names itself
    (:class:`audiomanip.training.prompts.PromptExample`: ``descriptors`` with ``factors``: the
    intensity ``a`` is the factor's size, and a negative factor, "cut the bottom", turns the
    direction round) that has a step ``k`` in ``steps``."""
    out = []
    for name, factor in zip(getattr(example, "descriptors", ()), getattr(example, "factors", ())):
        found = descriptor_intent(name)
        if found is None or factor == 0 or name not in steps:
            continue
        intent, direction = found
        direction = direction if factor > 0 else -direction
        if INTENTS[intent].measure != "band" and direction < 0:
            continue  # the chain cannot take reverb away or expand dynamics
        out.append((intent, direction, float(steps[name]), abs(float(factor))))
    return out


def _huber(change, target: float):
    import torch

    return torch.nn.functional.smooth_l1_loss(change.reshape(()), change.new_tensor(float(target)), beta=HUBER_BETA)


def outcome_loss(x, y, sample_rate: float, items: Sequence[tuple[int, str, int, float, float]]):
    """Mean Huber loss (:data:`HUBER_BETA`) between the measured (:func:`measured_change`) and
    the target (:func:`target_change`) log change over the non-spectral ``items`` ``(row of
    x/y, intent, direction, k, a)`` (the spectral ones are :func:`eq_outcome_loss`'s); ``x`` the
    chain's inputs, ``y`` its outputs [B, C, T] (torch, with gradients through ``y``). The space
    intent skips rows whose input has no quiet frames. Returns ``(loss, n_counted)``."""
    import torch

    terms = []
    for row, intent, direction, k, a in items:
        xi, yi = x[row], y[row]
        measure = INTENTS[intent].measure
        if measure == "band" or (measure == "tail" and float(quiet_fraction(xi, sample_rate)) < 0.1):
            continue
        before, after = feature_pair(intent, xi, yi, sample_rate)
        terms.append(_huber(measured_change(intent, direction, before.detach(), after), target_change(k, a)))
    if not terms:
        return y.new_zeros(()), 0
    return torch.stack(terms).mean(), len(terms)


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


def reference_shares(power, freqs_hz) -> dict[str, float]:
    """Each spectral intent's median band share over the clips' long-term power spectra
    ``power`` [N, K] (numpy; bins ``freqs_hz`` [K]): :func:`band_target_db`'s reference share."""
    import numpy as np

    return {name: float(np.median(power_band_share(np.asarray(power, dtype=np.float64), freqs_hz, *it.band_hz)))
            for name, it in INTENTS.items() if it.measure == "band"}


def eq_outcome_loss(power, freqs_hz, response_power, words_response_power, reference: dict[str, float],
                    items: Sequence[tuple[int, str, int, float, float]], anchor_power=None):
    """The outcome term of the spectral intents (bass, treble, presence, harshness), without
    rendering: each row's band share before and after
    (:func:`audiomanip.audio_profile.power_band_share`) from the
    clip's long-term power spectrum ``power`` [B, K] (:func:`audiomanip.audio_profile.long_term_power`,
    bins ``freqs_hz`` [K]) and the power response at those bins of the predicted EQ
    ``response_power`` [B, K] (torch, with gradients) and of the words-only prediction's EQ
    ``words_response_power`` [B, K] (constant); a Huber loss on the level change
    (:func:`band_level_db`) against :func:`band_target_db` with the ``reference`` shares
    (:func:`reference_shares`), in units of :data:`BAND_SCALE_DB`. The words' change ``g`` that
    anchors the target is the median of the words-only EQ's level change over the spectra
    ``anchor_power`` [M, K] (the bank) when given, so a source on which the words' EQ misses the
    band is still asked for the typical change; else the change on the row's own clip.
    ``items`` as :func:`outcome_loss` (non-spectral intents, and items whose words' change is not
    the asked way, are skipped). Cheap enough for every example of every step. Returns
    ``(loss, n_counted)``."""
    import torch

    band = [(row, intent, direction) for row, intent, direction, _k, _a in items if INTENTS[intent].measure == "band"]
    if not band:
        return response_power.new_zeros(()), 0
    rows = torch.tensor([b[0] for b in band], device=power.device)
    p = power[rows].to(response_power.dtype)  # [n, K]

    def shares(q):
        """Each item's share of its own intent's band in spectra ``q`` [n, ..., K]: [n, ...]."""
        per_intent = {i: power_band_share(q, freqs_hz, *INTENTS[i].band_hz) for i in {i for _, i, _ in band}}
        return torch.stack([per_intent[i][j] for j, (_, i, _) in enumerate(band)])

    before = shares(p)

    def level_change(response):
        return band_level_db(shares(p * response)) - band_level_db(before)

    if anchor_power is None:
        words = level_change(words_response_power[rows]).tolist()
    else:
        words = _anchor_changes(anchor_power.to(response_power.dtype), freqs_hz, words_response_power[rows],
                                [i for _, i, _ in band])
    targets = [band_target_db(d, float(s), reference[i], w)
               for (_, i, d), s, w in zip(band, before.tolist(), words)]
    keep = [j for j, t in enumerate(targets) if t is not None]
    if not keep:
        return response_power.new_zeros(()), 0
    change = level_change(response_power[rows])[keep]
    target = change.new_tensor([targets[j] for j in keep])
    loss = torch.nn.functional.smooth_l1_loss(change / BAND_SCALE_DB, target / BAND_SCALE_DB, beta=HUBER_BETA)
    return loss, len(keep)


def _anchor_changes(anchor_power, freqs_hz, responses, intents: Sequence[str]) -> list[float]:
    """Per item, the median over the spectra ``anchor_power`` [M, K] of the :func:`band_level_db`
    change that the power response ``responses`` [n, K] makes in the band of ``intents[j]``
    (the band's level on the anchors once per intent, its change once per distinct response):
    [n] floats (dB)."""
    import torch

    with torch.no_grad():
        unique, which = torch.unique(responses.detach(), dim=0, return_inverse=True)
        out = torch.empty(len(intents), dtype=anchor_power.dtype, device=anchor_power.device)
        for intent in set(intents):
            lo, hi = INTENTS[intent].band_hz
            items = [j for j, i in enumerate(intents) if i == intent]
            used, at = torch.unique(which[items], return_inverse=True)
            before = band_level_db(power_band_share(anchor_power, freqs_hz, lo, hi))  # [M]
            after = band_level_db(power_band_share(anchor_power * unique[used][:, None], freqs_hz, lo, hi))  # [u, M]
            out[items] = torch.median(after - before, dim=1).values[at]
    return out.tolist()

"""The outcome terms inside a training step (:mod:`audiomanip.training.loop`): which examples
get them, the parameter-loss weights they lower, and the terms themselves (the rules are in
:mod:`audiomanip.training.outcomes`).

Per step, :meth:`OutcomeTraining.plan` picks the rows to render (rows with a measurable intent
first), the rows that hear their clip and whose outcome decides their effect's parameters, and
the rows whose spectral intents are scored on the EQ's response without rendering; the loop
then adds :meth:`OutcomeTraining.eq_term` (every step) and :meth:`OutcomeTraining.rendered_term`
(on the STFT steps) and weighs the STFT term with :meth:`OutcomeTraining.stft_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from audiomanip.training.outcomes import (
    INTENTS,
    eq_outcome_loss,
    example_items,
    outcome_loss,
    outcome_row_weights,
    word_steps,
)


@dataclass
class OutcomePlan:
    """One step's rows (indices into the batch): ``rows`` rendered for the STFT and outcome
    terms, ``adaptive`` (of ``rows``) and ``eq_rows`` hear their clip and are decided by their
    outcome; ``row_weights`` for :func:`audiomanip.model.losses.parameter_loss` (None: all 1)."""

    rows: list[int] = field(default_factory=list)
    adaptive: list[int] = field(default_factory=list)
    eq_rows: list[int] = field(default_factory=list)
    row_weights: dict[str, Any] | None = None


class OutcomeTraining:
    """The outcome terms of one run: ``pairs`` the training examples, ``clips`` the clip bank
    (torch [N, 1, T]), ``weight``/``param_weight`` as ``TrainOptions.outcome_weight`` /
    ``outcome_param_weight``, ``with_view``: the model hears its clip (profile view). Each word's
    step is measured on every second clip of the bank when this is built."""

    def __init__(self, pairs: Sequence[Any], clips: Any, sample_rate: int, *, weight: float, param_weight: float,
                 with_view: bool, device: Any):
        self.sample_rate = sample_rate
        self.weight = weight
        self.param_weight = param_weight
        self.device = device
        steps = word_steps(clips.numpy()[::2], sample_rate)
        self.items = [example_items(p, steps) for p in pairs]
        self.adapting = with_view and param_weight != 1.0
        if self.adapting:
            from audiomanip.audio_profile import long_term_power

            self.bin_hz, power = long_term_power(clips, sample_rate)
            self.clip_power = power.to(device)  # [N, K]

    def plan(self, idx: Sequence[int], n_render: int, view_present: Any) -> OutcomePlan:
        """The rows of one step (``idx``: the batch's dataset indices; ``n_render``: rows to render, 0
        on steps without the STFT term; ``view_present`` [B] bool or None)."""
        items = [self.items[i] for i in idx]
        plan = OutcomePlan()
        if n_render:
            with_intent = [r for r in range(len(idx)) if items[r]]
            plan.rows = (with_intent + [r for r in range(len(idx)) if not items[r]])[:n_render]
        if self.adapting and view_present is not None:
            hears = [bool(v) for v in view_present]
            plan.adaptive = [r for r in plan.rows if items[r] and hears[r]]
            plan.eq_rows = [r for r in range(len(idx))
                            if hears[r] and any(INTENTS[i[0]].measure == "band" for i in items[r])]
            decided = set(plan.adaptive) | set(plan.eq_rows)
            if decided:
                plan.row_weights = outcome_row_weights([items[r] if r in decided else [] for r in range(len(idx))],
                                                       self.param_weight, self.device)
        return plan

    def eq_term(self, out: dict, idx: Sequence[int], plan: OutcomePlan, pick: Any) -> tuple[Any, int]:
        """``weight ×`` :func:`eq_outcome_loss` of ``plan.eq_rows`` from the network's outputs
        ``out`` (HeadOutputs) and the clips ``pick`` [B] they heard; ``(loss, n_counted)``."""
        from audiomanip.effects.eq import eq_response
        from audiomanip.model.heads import chain_inputs_from_outputs

        params, enabled = chain_inputs_from_outputs(
            {e: {k: v[plan.eq_rows] for k, v in o.items()} for e, o in out.items()}, soft=True)
        eq = params["eq"]
        h = eq_response(self.sample_rate, self.bin_hz, eq["type"], eq["freq_hz"], eq["gain_db"], eq["q"])
        gate = enabled["eq"][:, None]
        response = (gate * h + (1 - gate)).abs() ** 2  # the chain's soft gate, as power
        items = [(i, *item) for i, r in enumerate(plan.eq_rows) for item in self.items[idx[r]]]
        loss, counted = eq_outcome_loss(self.clip_power[pick[plan.eq_rows]], self.bin_hz, response.float(), items)
        return self.weight * loss, counted

    def stft_loss(self, y_pred: Any, y_target: Any, plan: OutcomePlan) -> Any:
        """The multi-resolution STFT loss of the rendered rows, ``param_weight`` for the adaptive ones."""
        import torch

        from audiomanip.model.losses import multi_resolution_stft_loss

        if not plan.adaptive:
            return multi_resolution_stft_loss(y_pred, y_target)
        w = torch.tensor([self.param_weight if r in plan.adaptive else 1.0 for r in plan.rows], device=y_pred.device)
        return sum(w[i] * multi_resolution_stft_loss(y_pred[i:i + 1], y_target[i:i + 1])
                   for i in range(len(plan.rows))) / len(plan.rows)

    def rendered_term(self, x: Any, y_pred: Any, idx: Sequence[int], plan: OutcomePlan, view_present: Any
                      ) -> tuple[Any, int]:
        """``weight ×`` :func:`outcome_loss` of the rendered rows; with a view only of the rows that
        hear their clip (the words-only path keeps the parameter and STFT targets alone, as a
        text-only model is trained). ``(loss, n_counted)``."""
        items = [(i, *item) for i, r in enumerate(plan.rows) for item in self.items[idx[r]]
                 if view_present is None or bool(view_present[r])]
        loss, counted = outcome_loss(x, y_pred, self.sample_rate, items)
        return self.weight * loss, counted

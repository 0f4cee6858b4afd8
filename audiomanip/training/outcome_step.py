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
    reference_shares,
    word_steps,
)


def train_mode(net: Any, view_only: bool) -> None:
    """Training mode; with ``view_only`` only the view's encoder (``net.context``), the rest,
    frozen, runs as at inference (no dropout), so the view learns on the words' real preset."""
    net.train()
    if view_only:
        for name, module in net.named_children():
            if name != "context":
                module.eval()


@dataclass
class OutcomePlan:
    """One step's rows (indices into the batch): ``rows`` rendered for the STFT and outcome
    terms, ``adaptive`` (of ``rows``) and ``eq_rows`` hear their clip and are decided by their
    outcome; ``row_weights`` for :func:`audiomanip.model.losses.parameter_loss` (None: all 1)."""

    rows: list[int] = field(default_factory=list)
    adaptive: list[int] = field(default_factory=list)
    eq_rows: list[int] = field(default_factory=list)
    band_rows: list[int] = field(default_factory=list)
    row_weights: dict[str, Any] | None = None


class OutcomeTraining:
    """The outcome terms of one run: ``pairs`` the training examples, ``clips`` the clip bank
    (torch [N, 1, T]), ``weight``/``param_weight`` as ``TrainOptions.outcome_weight`` /
    ``outcome_param_weight``, ``with_view``: the model hears its clip (profile view). Each word's
    step is measured on every second clip of the bank when this is built."""

    def __init__(self, pairs: Sequence[Any], clips: Any, sample_rate: int, *, weight: float, param_weight: float,
                 with_view: bool, device: Any, clips_per_item: int = 8):
        self.sample_rate = sample_rate
        self.clips_per_item = clips_per_item
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
            self.reference = reference_shares(power.numpy(), self.bin_hz)

    @classmethod
    def of(cls, options: Any, pairs: Sequence[Any], clips: Any, *, with_view: bool, device: Any
           ) -> OutcomeTraining | None:
        """The outcome terms a run's ``TrainOptions`` ask for (None without ``outcome_weight``)."""
        if options.outcome_weight <= 0:
            return None
        return cls(pairs, clips, options.sample_rate, weight=options.outcome_weight,
                   param_weight=options.outcome_param_weight, with_view=with_view, device=device,
                   clips_per_item=options.outcome_clips)

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
            plan.band_rows = [r for r in range(len(idx)) if any(INTENTS[i[0]].measure == "band" for i in items[r])]
            plan.eq_rows = [r for r in plan.band_rows if hears[r]]
            decided = set(plan.adaptive) | set(plan.eq_rows)
            if decided:
                plan.row_weights = outcome_row_weights([items[r] if r in decided else [] for r in range(len(idx))],
                                                       self.param_weight, self.device)
        return plan

    def eq_term(self, predict: Any, idx: Sequence[int], plan: OutcomePlan, rng: Any) -> tuple[Any, int]:
        """``weight ×`` :func:`eq_outcome_loss` of ``plan.band_rows``, each heard through
        ``clips_per_item`` clips drawn from the bank with ``rng``: ``predict(rows, picks)`` returns
        the network's outputs (HeadOutputs) for batch rows ``rows`` hearing clips ``picks`` [R]
        and its words-only outputs for the same rows (no gradients); ``(loss, n_counted)``."""
        import torch

        rows = [r for r in plan.band_rows for _ in range(self.clips_per_item)]
        picks = torch.randint(0, self.clip_power.shape[0], (len(rows),), generator=rng)
        heard, words = predict(rows, picks)
        items = [(i, *item) for i, r in enumerate(rows) for item in self.items[idx[r]]]
        loss, counted = eq_outcome_loss(self.clip_power[picks], self.bin_hz, self._eq_power(heard),
                                        self._eq_power(words).detach(), self.reference, items,
                                        anchor_power=self.clip_power)
        return self.weight * loss, counted

    def _eq_power(self, out: dict) -> Any:
        """The power response [B, K] at the clip spectra's bins of the EQ in HeadOutputs ``out``,
        through the chain's soft enable gate."""
        from audiomanip.effects.eq import eq_response
        from audiomanip.model.heads import chain_inputs_from_outputs

        params, enabled = chain_inputs_from_outputs(out, soft=True)
        eq = params["eq"]
        h = eq_response(self.sample_rate, self.bin_hz, eq["type"], eq["freq_hz"], eq["gain_db"], eq["q"])
        gate = enabled["eq"][:, None]
        return ((gate * h + (1 - gate)).abs() ** 2).float()

    def listening_terms(self, model: Any, net: Any, inputs: tuple[Any, Any, Any], idx: Sequence[int],
                        plan: OutcomePlan, view_present: Any, profiles: Any, rng: Any, view_only: bool,
                        parts: dict[str, float]) -> Any:
        """The terms of one step that need the view: :meth:`neutral_term` on the main forward's
        factors (``net.log_factors``) and :meth:`eq_term`, for which ``model`` (``net``, or its
        distributed wrapper) runs again on the spectral rows ``inputs`` (tokens, mask, pooled of
        the batch) hearing other clips of ``profiles`` [N, PROFILE_SIZE]. Returns their sum (0 when
        nothing counted) and records each in ``parts`` (the step's logged loss parts)."""
        import torch

        loss = 0.0
        if self.adapting and view_present is not None and net.log_factors is not None:
            n_loss, counted = self.neutral_term(net.log_factors, idx, view_present)
            if counted:
                loss, parts["view_neutral"] = loss + n_loss, float(n_loss.detach())
        if plan.band_rows:
            def predict(rows: list[int], picks: Any) -> tuple[dict, dict]:
                """The outputs hearing clips ``picks`` and the words-only outputs (no dropout, no
                gradients: the EQ term's anchor) of batch rows ``rows`` (which repeat: the words
                are run once per distinct row)."""
                distinct = list(dict.fromkeys(rows))
                heard = model(*(t[rows].to(self.device) for t in inputs), profiles[picks.to(self.device)], None)
                net.eval()
                with torch.no_grad():
                    words = net(*(t[distinct].to(self.device) for t in inputs))
                train_mode(net, view_only)
                at = torch.tensor([distinct.index(r) for r in rows], device=self.device)
                return heard, {e: {k: v[at] for k, v in o.items()} for e, o in words.items()}

            e_loss, counted = self.eq_term(predict, idx, plan, rng)
            if counted:
                loss, parts["eq_outcome"] = loss + e_loss, float(e_loss.detach())
        return loss

    def neutral_term(self, log_factors: Any, idx: Sequence[int], view_present: Any) -> tuple[Any, int]:
        """``weight ×`` the mean squared log factor (:class:`audiomanip.model.network.PresetNet`'s
        ``log_factors`` [B, n_amounts]) of the rows that hear their clip and ask for nothing the
        outcome rules measure: where no rule says what a source needs, hearing it should leave
        the words' preset as it is. ``(loss, n_counted)``."""
        rows = [r for r in range(len(idx)) if bool(view_present[r]) and not self.items[idx[r]]]
        if not rows:
            return log_factors.new_zeros(()), 0
        return self.weight * (log_factors[rows] ** 2).mean(), len(rows)

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

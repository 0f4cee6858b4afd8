"""The differentiable effect chain: presets as tensors, run in the schema's fixed order.

Every effect ``name`` with a differentiable path lives in ``audiomanip/effects/<name>.py`` as a
function also called ``name`` whose keyword arguments after ``(x[, sample_rate])`` are the
schema's parameter names (for the EQ the per-band stems ``type, freq_hz, gain_db, q`` as
``[B, bands]`` tensors). :data:`DSP_FUNCTIONS` maps effect names to those functions and imports
each module the first time it is looked up.

**Pitch is skipped**: pitch shifting (with tempo preserved) has no differentiable
implementation here, so it is learned through the parameter loss only; the chain passes the
audio through unchanged at pitch's position.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from audiomanip.effects.arrays import as_batch
from audiomanip.params import EFFECT_ORDER, SCHEMA, Effect, Param, Preset, effect

#: Effects of the schema without a differentiable function (parameter loss only).
NON_DIFFERENTIABLE: tuple[str, ...] = ("pitch",)


class _DSPFunctions(Mapping):
    """``{effect_name: function}`` in chain order; each module is imported on first access."""

    def __init__(self) -> None:
        self._names = tuple(name for name in EFFECT_ORDER if name not in NON_DIFFERENTIABLE)
        self._cache: dict[str, Callable[..., torch.Tensor]] = {}

    def __getitem__(self, name: str) -> Callable[..., torch.Tensor]:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._cache:
            module = importlib.import_module(f"audiomanip.effects.{name}")
            self._cache[name] = getattr(module, name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"DSP_FUNCTIONS({', '.join(self._names)})"


#: ``{effect_name: function}`` for every effect with a differentiable path, in chain order.
DSP_FUNCTIONS: Mapping[str, Callable[..., torch.Tensor]] = _DSPFunctions()


def function_parameter_names(name: str) -> tuple[str, ...]:
    """Keyword names of ``DSP_FUNCTIONS[name]`` after ``x`` and (if taken) ``sample_rate``."""
    names = list(inspect.signature(DSP_FUNCTIONS[name]).parameters)
    return tuple(n for n in names[1:] if n != "sample_rate")


@functools.cache
def _takes_sample_rate(name: str) -> bool:
    return "sample_rate" in inspect.signature(DSP_FUNCTIONS[name]).parameters


def schema_parameter_names(eff: Effect) -> tuple[str, ...]:
    """Parameter names a DSP function takes for ``eff``: the per-band stems for banded effects."""
    return tuple(p.name for p in eff.params)


# ---------------------------------------------------------------- presets -> tensors
def preset_tensors(
    presets: Sequence[Preset], device=None, dtype: torch.dtype = torch.float32
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """Stack presets into batched tensors in physical units.

    Returns ``(params, enabled)``: ``params[effect][name]`` is ``Tensor[B]`` (or
    ``Tensor[B, bands]`` for the EQ's per-band stems; choice parameters such as the EQ band
    ``type`` are LongTensors of class indices), ``enabled[effect]`` is ``Tensor[B]`` of 0./1.
    Every effect of the schema is included (pitch too, although the chain skips it).
    """
    if not presets:
        raise ValueError("preset_tensors needs at least one preset")
    params: dict[str, dict[str, torch.Tensor]] = {}
    enabled: dict[str, torch.Tensor] = {}
    for eff in SCHEMA:
        columns: dict[str, list[list[Any]]] = {p.name: [[] for _ in presets] for p in eff.params}
        for fname, p, _band in eff.flat_params():
            for i, preset in enumerate(presets):
                value = preset.values[eff.name][fname]
                columns[p.name][i].append(p.choices.index(value) if p.is_choice else float(value))
        out: dict[str, torch.Tensor] = {}
        for p in eff.params:
            kind = torch.long if p.is_choice else dtype
            t = torch.tensor(columns[p.name], dtype=kind, device=device)
            out[p.name] = t if eff.bands > 1 else t[:, 0]
        params[eff.name] = out
        enabled[eff.name] = torch.tensor(
            [1.0 if preset.enabled[eff.name] else 0.0 for preset in presets], dtype=dtype, device=device
        )
    return params, enabled


def denormalize(param: Param, u: torch.Tensor) -> torch.Tensor:
    """Torch twin of :meth:`Param.denormalize`: ``u`` in [0, 1] (clamped) -> physical units."""
    u = torch.clamp(u, 0.0, 1.0)
    if param.scale == "log":
        lo, hi = math.log(param.low), math.log(param.high)
        return torch.exp(lo + u * (hi - lo))
    return param.low + u * (param.high - param.low)


def params_from_normalized(
    continuous: Mapping[str, torch.Tensor], choices: Mapping[str, torch.Tensor] | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """Physical-unit tensors (the structure :func:`preset_tensors` returns) from the normalised
    space that :meth:`Preset.to_normalized` defines, differentiably.

    Args:
        continuous: ``{effect: Tensor[B, n]}``, columns in :meth:`Effect.continuous` order,
            values in [0, 1].
        choices: ``{effect: LongTensor[B, k]}`` class indices or ``Tensor[B, k, n_classes]``
            class probabilities, columns in :meth:`Effect.choice` order (only effects with
            choice parameters, i.e. the EQ).
    """
    choices = choices or {}
    params: dict[str, dict[str, torch.Tensor]] = {}
    for name, u in continuous.items():
        eff = effect(name)
        columns: dict[str, list[torch.Tensor]] = {p.name: [] for p in eff.params}
        for j, (_fname, p, _band) in enumerate(eff.continuous()):
            columns[p.name].append(denormalize(p, u[:, j]))
        if eff.choice():
            c = choices[name]
            for j, (_fname, p, _band) in enumerate(eff.choice()):
                columns[p.name].append(c[:, j])
        out = {}
        for p in eff.params:
            cols = columns[p.name]
            out[p.name] = torch.stack(cols, dim=1) if eff.bands > 1 else cols[0]
        params[name] = out
    return params


# ---------------------------------------------------------------- the chain
def run_chain(
    x: torch.Tensor,
    sample_rate: float,
    params: Mapping[str, Mapping[str, torch.Tensor]],
    enabled: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """Run the differentiable chain on ``x [B, C, T]`` in ``params.EFFECT_ORDER``.

    Each effect is soft-gated, ``y = e * f(x) + (1 - e) * x`` with ``e = enabled[effect]``
    (``Tensor[B]``, 0./1. or a probability while training). An effect whose gate is exactly 0
    for the whole batch and needs no gradient is skipped. Pitch is skipped (see module doc).
    Returns ``[B, C, T]`` (same length as ``x``).
    """
    y = x
    for name in EFFECT_ORDER:
        if name not in DSP_FUNCTIONS:
            continue
        gate = as_batch(enabled[name], x)
        if not gate.requires_grad and not bool(torch.any(gate != 0)):
            continue
        fn = DSP_FUNCTIONS[name]
        kwargs = dict(params[name])
        wet = fn(y, sample_rate, **kwargs) if _takes_sample_rate(name) else fn(y, **kwargs)
        g = gate[:, None, None]
        y = g * wet + (1.0 - g) * y
    return y

"""The differentiable effect chain: presets as tensors, run in the schema's fixed order.

Every effect of the registry (:data:`audiomanip.effects.registry.REGISTRY`) with a differentiable
path declares it as its entry's ``torch_function``: a function of ``(x[, sample_rate])`` whose
keyword arguments are the schema's parameter names (for the EQ the per-band stems ``type,
freq_hz, gain_db, q`` as ``[B, bands]`` tensors). :data:`DSP_FUNCTIONS` maps effect names to
those functions.

**Pitch is skipped**: pitch shifting (with tempo preserved) has no differentiable
implementation here, so it is learned through the parameter loss only; the chain passes the
audio through unchanged at pitch's position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch

from audiomanip.effects.arrays import as_batch
from audiomanip.effects.registry import REGISTRY, EffectRegistry
from audiomanip.model.heads import denormalize_tensor
from audiomanip.params import Effect, Preset, effect

#: ``{effect_name: function}`` for every effect with a differentiable path, in chain order.
DSP_FUNCTIONS: Mapping[str, Callable[..., torch.Tensor]] = MappingProxyType(
    {name: entry.torch_function for name, entry in REGISTRY.items() if entry.torch_function is not None})

#: Effects of the schema without a differentiable function (parameter loss only).
NON_DIFFERENTIABLE: tuple[str, ...] = tuple(name for name in REGISTRY if name not in DSP_FUNCTIONS)


def function_parameter_names(name: str) -> tuple[str, ...]:
    """Keyword names of ``DSP_FUNCTIONS[name]`` after ``x`` and (if taken) ``sample_rate``."""
    if name not in DSP_FUNCTIONS:
        raise KeyError(name)
    return REGISTRY[name].torch_parameter_names


def schema_parameter_names(eff: Effect) -> tuple[str, ...]:
    """Parameter names a DSP function takes for ``eff``: the per-band stems for banded effects."""
    return tuple(p.name for p in eff.params)


# ---------------------------------------------------------------- presets -> tensors
def preset_tensors(
    presets: Sequence[Preset], device=None, dtype: torch.dtype = torch.float32, *,
    registry: EffectRegistry = REGISTRY,
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """Stack presets into batched tensors in physical units.

    Returns ``(params, enabled)``: ``params[effect][name]`` is ``Tensor[B]`` (or
    ``Tensor[B, bands]`` for the EQ's per-band stems; choice parameters such as the EQ band
    ``type`` are LongTensors of class indices), ``enabled[effect]`` is ``Tensor[B]`` of 0./1.
    Every effect of ``registry`` (default: the schema's) is included (pitch too, although the
    chain skips it).
    """
    if not presets:
        raise ValueError("preset_tensors needs at least one preset")
    params: dict[str, dict[str, torch.Tensor]] = {}
    enabled: dict[str, torch.Tensor] = {}
    for eff in (entry.schema for entry in registry.values()):
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
            columns[p.name].append(denormalize_tensor(p, u[:, j]))
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
    *,
    registry: EffectRegistry = REGISTRY,
) -> torch.Tensor:
    """Run the differentiable chain on ``x [B, C, T]``: the effects of ``registry`` (default:
    every effect of the schema, in ``params.EFFECT_ORDER``) that have a ``torch_function``.

    Each effect is soft-gated, ``y = e * f(x) + (1 - e) * x`` with ``e = enabled[effect]``
    (``Tensor[B]``, 0./1. or a probability while training). An effect whose gate is exactly 0
    for the whole batch and needs no gradient is skipped. Pitch is skipped (see module doc).
    Returns ``[B, C, T]`` (same length as ``x``).
    """
    y = x
    for name, entry in registry.items():
        if entry.torch_function is None:
            continue
        gate = as_batch(enabled[name], x)
        if not gate.requires_grad and not bool(torch.any(gate != 0)):
            continue
        wet = entry.run_torch(y, sample_rate, params[name])
        g = gate[:, None, None]
        y = g * wet + (1.0 - g) * y
    return y

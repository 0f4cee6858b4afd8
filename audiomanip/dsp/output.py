"""Differentiable output gain (the renderer adds true-peak safety after it)."""

from __future__ import annotations

import torch


def output(x: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Multiply ``x [B, C, T]`` by ``10 ** (gain_db / 20)``; ``gain_db [B]`` in dB.

    Returns ``[B, C, T]`` in the dtype/device of ``x``.
    """
    gain_db = torch.as_tensor(gain_db, device=x.device, dtype=x.dtype).reshape(-1)
    return x * torch.pow(10.0, gain_db / 20.0)[:, None, None]

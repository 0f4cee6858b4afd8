"""Pooling of token vectors into one sentence vector, as sentence-transformers does it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mean_pool_normalized(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the real tokens, L2-normalised: tokens [B, L, D], mask bool [B, L] -> [B, D].

    Same arithmetic as sentence-transformers' ``Pooling(mean)`` followed by ``Normalize``
    (sum over masked tokens / max(count, 1e-9), then ``F.normalize`` with eps 1e-12).
    """
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    summed = (tokens * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return F.normalize(summed / counts, p=2, dim=1)


def pad_stack(chunks: list[torch.Tensor], length: int) -> torch.Tensor:
    """Concatenate [b_i, L_i, ...] tensors along the batch after zero-padding each to ``length``
    along dim 1: -> [sum b_i, length, ...]."""
    padded = []
    for chunk in chunks:
        extra = length - chunk.shape[1]
        if extra:
            pad_shape = (chunk.shape[0], extra) + tuple(chunk.shape[2:])
            chunk = torch.cat([chunk, chunk.new_zeros(pad_shape)], dim=1)
        padded.append(chunk)
    return torch.cat(padded, dim=0)

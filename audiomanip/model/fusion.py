"""Fusion of the text view and the optional audio view.

* :class:`BidirectionalCrossAttention`: text tokens attend to audio tokens and audio tokens
  attend to text tokens (pre-norm, residual, then a feed-forward on each stream).
* :class:`SelfAttentionBlock`: a pre-norm transformer layer that refines the joint sequence.
* :class:`GatedAttentionPooling`: a learned softmax attention over tokens whose values are
  multiplied by a learned sigmoid gate per token and channel: [B, N, d] -> [B, d].

Masks are ``True`` for valid tokens (the opposite of torch's ``key_padding_mask``).
"""

from __future__ import annotations

import torch
from torch import nn


def _feed_forward(d_model: int, ff_mult: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(d_model),
        nn.Linear(d_model, d_model * ff_mult),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(d_model * ff_mult, d_model),
        nn.Dropout(dropout),
    )


class BidirectionalCrossAttention(nn.Module):
    """Text ↔ audio cross-attention: returns updated ``(text [B, L, d], audio [B, F, d])``."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.norm_t = nn.LayerNorm(d_model)
        self.norm_a = nn.LayerNorm(d_model)
        self.t_from_a = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.a_from_t = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ff_t = _feed_forward(d_model, ff_mult, dropout)
        self.ff_a = _feed_forward(d_model, ff_mult, dropout)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, audio: torch.Tensor,
                audio_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, a = self.norm_t(text), self.norm_a(audio)
        dt, _ = self.t_from_a(t, a, a, key_padding_mask=~audio_mask, need_weights=False)
        da, _ = self.a_from_t(a, t, t, key_padding_mask=~text_mask, need_weights=False)
        text = text + dt
        audio = audio + da
        return text + self.ff_t(text), audio + self.ff_a(audio)


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention + feed-forward over [B, N, d] with a validity mask [B, N]."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ff = _feed_forward(d_model, ff_mult, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        d, _ = self.attn(h, h, h, key_padding_mask=~mask, need_weights=False)
        x = x + d
        return x + self.ff(x)


class GatedAttentionPooling(nn.Module):
    """Attention pooling with a gate: ``sum_n softmax(score)_n * sigmoid(gate_n) * value_n``."""

    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.score = nn.Linear(d_model, 1)
        self.gate = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        score = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(score, dim=-1)  # [B, N]
        v = torch.sigmoid(self.gate(h)) * self.value(h)
        return torch.einsum("bn,bnd->bd", w, v)

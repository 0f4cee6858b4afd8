"""The network: frozen-encoder text tokens (+ optional audio view) -> per-effect head outputs.

::

    text tokens [B, L, D_text] ─ adapter ─ Linear ─► [B, L, d]  (+ pooled sentence vector as token 0)
    audio view (optional)      ─ context encoder ─► [B, F, d]
        └─► n_cross × BidirectionalCrossAttention(text, audio)        (skipped when absent)
        └─► n_self  × SelfAttentionBlock([text; audio])
        └─► GatedAttentionPooling ─► [B, d] ─► PresetHeads (one MLP per schema effect)

The adapter (``text_adapter`` > 0) is a residual bottleneck MLP on the frozen encoder's token
and sentence vectors, ``x + W2·GELU(W1·LN(x))`` in the encoder's own space (W2 starts at zero, so
training starts from the identity): the encoder stays frozen and its embedding cache stays valid,
while the adapter learns how encoder space maps onto effect space. It is part of the network
(and of any export of it), not of the encoder.

The audio view is ``"none"`` (text only), ``"mel"`` (log-mel frames of the input audio through
:class:`AudioContextEncoder`), ``"clap"`` (a CLAP embedding as one token) or ``"profile"`` (the
fixed-length :func:`audiomanip.audio_profile.profile` vector as one token, through
:class:`ProfileContextEncoder`). A model with an audio view still runs from text alone: the
view is simply left out of the sequence. The profile token joins the self-attention layers
without cross-attention layers, so ``view_present`` can leave it out per batch item (its
attention mask) and a masked item is computed exactly as without a view: that is how one
exported graph serves both ``apply`` and ``apply --text-only``, and how training drops the
view per item.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from audiomanip.model.audio_context import AudioContextEncoder, ClapContextEncoder, ProfileContextEncoder
from audiomanip.model.fusion import BidirectionalCrossAttention, GatedAttentionPooling, SelfAttentionBlock
from audiomanip.model.heads import PresetHeads

AUDIO_VIEWS = ("none", "mel", "clap", "profile")


@dataclass
class ModelConfig:
    """Sizes of :class:`PresetNet` (the defaults fit a laptop CPU; ~1 M parameters)."""

    text_dim: int = 384
    d_model: int = 128
    n_heads: int = 8
    n_cross_layers: int = 1
    n_self_layers: int = 2
    ff_mult: int = 2
    head_hidden: int = 128
    dropout: float = 0.1
    audio_view: str = "none"
    n_mels: int = 64
    analysis_rate: float = 16000.0
    clap_dim: int = 512
    text_adapter: int = 0

    def __post_init__(self) -> None:
        if self.audio_view not in AUDIO_VIEWS:
            raise ValueError(f"audio_view must be one of {', '.join(AUDIO_VIEWS)}, got {self.audio_view!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**data)


class TextAdapter(nn.Module):
    """Residual bottleneck MLP on encoder vectors: [..., D] -> [..., D], identity at initialisation."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class PresetNet(nn.Module):
    """Text tokens (+ optional audio view) -> HeadOutputs (see :mod:`audiomanip.model.heads`)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.adapter: nn.Module = (TextAdapter(config.text_dim, config.text_adapter, config.dropout)
                                   if config.text_adapter > 0 else nn.Identity())
        self.text_proj = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, d))
        self.pooled_proj = nn.Sequential(nn.LayerNorm(config.text_dim), nn.Linear(config.text_dim, d))
        self.type_embed = nn.Parameter(torch.zeros(3, d))  # 0: pooled token, 1: text, 2: audio
        nn.init.normal_(self.type_embed, std=0.02)
        if config.audio_view == "mel":
            self.context: nn.Module | None = AudioContextEncoder(config.n_mels, d)
        elif config.audio_view == "clap":
            self.context = ClapContextEncoder(config.clap_dim, d)
        elif config.audio_view == "profile":
            self.context = ProfileContextEncoder(d)
        else:
            self.context = None
        self.cross = nn.ModuleList(
            BidirectionalCrossAttention(d, config.n_heads, config.ff_mult, config.dropout)
            for _ in range(config.n_cross_layers if config.audio_view in ("mel", "clap") else 0)
        )
        self.self_layers = nn.ModuleList(
            SelfAttentionBlock(d, config.n_heads, config.ff_mult, config.dropout)
            for _ in range(config.n_self_layers)
        )
        self.pool = GatedAttentionPooling(d)
        self.heads = PresetHeads(d, config.head_hidden, config.dropout)

    def forward(self, text_tokens: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor,
                view: torch.Tensor | None = None, view_present: torch.Tensor | None = None
                ) -> dict[str, dict[str, torch.Tensor]]:
        """``text_tokens`` [B, L, text_dim], ``text_mask`` [B, L] bool (True = token),
        ``pooled`` [B, text_dim] sentence embedding, ``view``: log-mel [B, n_mels, frames] for
        the mel view, CLAP embedding [B, clap_dim] for the clap view, profile [B, PROFILE_SIZE]
        for the profile view, or None (text only). ``view_present`` [B] bool (profile view
        only): False leaves that item's view out, exactly as ``view=None`` would."""
        return self.heads(self.summary(text_tokens, text_mask, pooled, view, view_present))

    def summary(self, text_tokens: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor,
                view: torch.Tensor | None = None, view_present: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled state [B, d_model] the heads read (inputs as :meth:`forward`)."""
        B = text_tokens.shape[0]
        t = self.text_proj(self.adapter(text_tokens)) + self.type_embed[1]
        p = (self.pooled_proj(self.adapter(pooled)) + self.type_embed[0])[:, None, :]
        t = torch.cat([p, t], dim=1)
        t_mask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=t.device), text_mask.bool()], dim=1)
        if view is not None:
            if self.context is None:
                raise ValueError("this model has no audio view (audio_view='none'); pass view=None")
            a = self.context(view) + self.type_embed[2]
            a_mask = torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
            if view_present is not None:
                if len(self.cross):
                    raise ValueError("view_present needs a view without cross-attention (the profile view)")
                a_mask = a_mask & view_present.bool().reshape(-1, 1)
            for layer in self.cross:
                t, a = layer(t, t_mask, a, a_mask)
            x = torch.cat([t, a], dim=1)
            mask = torch.cat([t_mask, a_mask], dim=1)
        else:
            x, mask = t, t_mask
        for layer in self.self_layers:
            x = layer(x, mask)
        return self.pool(x, mask)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def parameter_table(net: PresetNet) -> list[tuple[str, int]]:
    """``(component, parameters)`` rows for a model summary."""
    rows = []
    if net.config.text_adapter > 0:
        rows.append((f"text adapter (hidden {net.config.text_adapter})", count_parameters(net.adapter)))
    rows.append(("text projection", count_parameters(net.text_proj) + count_parameters(net.pooled_proj)
                 + net.type_embed.numel()))
    if net.context is not None:
        rows.append((f"audio context ({net.config.audio_view})", count_parameters(net.context)))
    if len(net.cross):
        rows.append((f"bidirectional cross-attention × {len(net.cross)}", count_parameters(net.cross)))
    rows.append((f"self-attention × {len(net.self_layers)}", count_parameters(net.self_layers)))
    rows.append(("gated attention pooling", count_parameters(net.pool)))
    for name, head in net.heads.heads.items():
        rows.append((f"head: {name} ({head.layout.size} outputs)", count_parameters(head)))
    return rows

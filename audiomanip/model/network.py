"""The network: frozen-encoder text tokens (+ optional audio view) -> per-effect head outputs.

::

    text tokens [B, L, D_text] ─ adapter ─ Linear ─► [B, L, d]  (+ pooled sentence vector as token 0)
    audio view (optional)      ─ context encoder ─► [B, F, d]          (mel, clap)
        └─► n_cross × BidirectionalCrossAttention(text, audio)        (skipped when absent)
        └─► n_self  × SelfAttentionBlock([text; audio])
        └─► GatedAttentionPooling ─► state [B, d] ─► PresetHeads (one MLP per schema effect)
    profile view: ProfileContextEncoder(state, profile) ─► a factor per amount parameter

The adapter (``text_adapter`` > 0) is a residual bottleneck MLP on the frozen encoder's token
and sentence vectors, ``x + W2·GELU(W1·LN(x))`` in the encoder's own space (W2 starts at zero, so
training starts from the identity): the encoder stays frozen and its embedding cache stays valid,
while the adapter learns how encoder space maps onto effect space. It is part of the network
(and of any export of it), not of the encoder.

The audio view is ``"none"`` (text only), ``"mel"`` (log-mel frames of the input audio through
:class:`AudioContextEncoder`), ``"clap"`` (a CLAP embedding as one token) or ``"profile"`` (the
fixed-length :func:`audiomanip.audio_profile.profile` vector). A model with an audio view still
runs from text alone: the view is simply left out. The mel and CLAP views join the sequence as
tokens (cross-attention, then self-attention). The profile view instead decides how much of
what the words asked for this source needs: the words are read exactly as without a view, and
:class:`ProfileContextEncoder` turns the words' pooled state and the profile into one factor per
amount parameter (:data:`AMOUNT_PARAMS`: each EQ band's gain, drive and colour, the
compressor's threshold, ratio and make-up, the reverb's wet mix), within ¼ … 4, that scales the
parameter's distance from its neutral value in the normalised space. So the view can give a
source more or less of what was asked, never the opposite nor something not asked for.
``view_present`` [B] leaves the factors at exactly 1 per batch item, so a masked item is
computed exactly as without a view: that is how one exported graph serves both ``apply`` and
``apply --text-only``, how training drops the view per item, and why ``--view-only`` training
(the view's weights alone) leaves every words-only prediction as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from audiomanip.model.audio_context import AudioContextEncoder, ClapContextEncoder, ProfileContextEncoder
from audiomanip.model.fusion import BidirectionalCrossAttention, GatedAttentionPooling, SelfAttentionBlock
from audiomanip.model.heads import PresetHeads, schema_layout, split_head_output

AUDIO_VIEWS = ("none", "mel", "clap", "profile")


def amount_params() -> list[tuple[str, str]]:
    """``(effect, flat parameter)`` of every amount the profile view scales: the schema's
    continuous parameters with a neutral value, except the pitch (an f0 ratio is the words' own
    on any source) and the output gain (levels are set by loudness matching, not by the view)."""
    from audiomanip import params as P

    return [(e.name, name) for e in P.SCHEMA if e.name not in ("pitch", "output")
            for name, p, _ in e.continuous() if p.neutral is not None]


AMOUNT_PARAMS = amount_params()


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
            self.context = ProfileContextEncoder(d, len(AMOUNT_PARAMS),
                                                 sum(lay.size for lay in schema_layout()) + len(AMOUNT_PARAMS))
            self._amount_columns = _amount_columns()
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
        #: the profile view's log factors [B, n_amounts] of the last forward that heard a profile
        self.log_factors: torch.Tensor | None = None

    def forward(self, text_tokens: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor,
                view: torch.Tensor | None = None, view_present: torch.Tensor | None = None
                ) -> dict[str, dict[str, torch.Tensor]]:
        """``text_tokens`` [B, L, text_dim], ``text_mask`` [B, L] bool (True = token),
        ``pooled`` [B, text_dim] sentence embedding, ``view``: log-mel [B, n_mels, frames] for
        the mel view, CLAP embedding [B, clap_dim] for the clap view, profile [B, PROFILE_SIZE]
        for the profile view, or None (text only). ``view_present`` [B] bool (profile view
        only): False leaves that item's view out, exactly as ``view=None`` would."""
        flat = self.flat(text_tokens, text_mask, pooled, view, view_present)
        return {name: split_head_output(head.layout, flat[name]) for name, head in self.heads.heads.items()}

    def flat(self, text_tokens: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor,
             view: torch.Tensor | None = None, view_present: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each effect's flat head output [B, layout.size] (:meth:`EffectHead.flat`; inputs as
        :meth:`forward`): the layout the ONNX graph outputs."""
        if view is not None and self.context is None:
            raise ValueError("this model has no audio view (audio_view='none'); pass view=None")
        if view_present is not None and self.config.audio_view != "profile":
            raise ValueError("view_present needs the profile view")
        listening = view is not None and self.config.audio_view == "profile"
        state = self.summary(text_tokens, text_mask, pooled, None if listening else view)
        flat = {name: head.flat(state) for name, head in self.heads.heads.items()}
        if listening:
            words = torch.cat([flat[name] for name in self.heads.heads] + [self._deviations(flat)], dim=1)
            log_factor = self.context(state, words, view)  # [B, n_amounts]
            if view_present is not None:
                log_factor = log_factor * view_present.to(log_factor.dtype).reshape(-1, 1)
            if self.training:
                self.log_factors = log_factor  # read by training's neutrality term
            flat = self._scaled(flat, torch.exp(log_factor) - 1.0)
        return flat

    def _deviations(self, flat: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each amount's distance from its neutral value in the normalised space, × 10 (so a
        1 dB EQ boost reads 0.25, a cut as much below 0): [B, n_amounts] in AMOUNT_PARAMS order."""
        cols = sorted((a, effect, c, n) for effect, columns in self._amount_columns.items() for c, n, a in columns)
        return torch.stack([flat[effect][:, c] - n for _, effect, c, n in cols], dim=1) * 10.0

    def _scaled(self, flat: dict[str, torch.Tensor], extra: torch.Tensor) -> dict[str, torch.Tensor]:
        """``flat`` with each amount's distance from neutral scaled by ``1 + extra`` [B, n_amounts]
        (``extra`` 0 leaves it exactly as it was), clamped to [0, 1]."""
        out = dict(flat)
        for effect, columns in self._amount_columns.items():
            f = out[effect]
            cols = [c for c, _, _ in columns]
            neutral = f.new_tensor([n for _, n, _ in columns])
            moved = f[:, cols] + (f[:, cols] - neutral) * extra[:, [a for _, _, a in columns]]
            parts, last = [], 0
            for j, c in enumerate(cols):
                parts += [f[:, last:c], moved[:, j:j + 1].clamp(0.0, 1.0)]
                last = c + 1
            out[effect] = torch.cat(parts + [f[:, last:]], dim=1)
        return out

    def summary(self, text_tokens: torch.Tensor, text_mask: torch.Tensor, pooled: torch.Tensor,
                view: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled state [B, d_model] the heads read: from the words and a token view (mel,
        CLAP) when given; the profile view does not enter it (see :meth:`flat`)."""
        B = text_tokens.shape[0]
        t = self.text_proj(self.adapter(text_tokens)) + self.type_embed[1]
        p = (self.pooled_proj(self.adapter(pooled)) + self.type_embed[0])[:, None, :]
        x = torch.cat([p, t], dim=1)
        mask = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=x.device), text_mask.bool()], dim=1)
        if view is not None:
            a = self.context(view) + self.type_embed[2]
            a_mask = torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
            for layer in self.cross:
                x, a = layer(x, mask, a, a_mask)
            x, mask = torch.cat([x, a], dim=1), torch.cat([mask, a_mask], dim=1)
        for layer in self.self_layers:
            x = layer(x, mask)
        return self.pool(x, mask)


def _amount_columns() -> dict[str, list[tuple[int, float, int]]]:
    """Per effect, ``(column in the flat head output, neutral value normalised, index in
    AMOUNT_PARAMS)`` of each amount parameter (the flat layout: the enabled logit, then the
    continuous parameters in schema order)."""
    from audiomanip import params as P

    out: dict[str, list[tuple[int, float, int]]] = {}
    for a, (effect, name) in enumerate(AMOUNT_PARAMS):
        continuous = P.effect(effect).continuous()
        j = [n for n, _, _ in continuous].index(name)
        param = continuous[j][1]
        out.setdefault(effect, []).append((1 + j, float(param.normalize(param.neutral)), a))
    return out


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

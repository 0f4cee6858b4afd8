"""A descriptor memory: retrieval of known recipes by text similarity, inside the network.

The memory holds, for every surface form of the *training* vocabulary ("warm", "a small
room", "tape-saturated" …), a key (the frozen encoder's unit-norm pooled embedding of the form,
[text_dim]) and a value (the descriptor's recipe as a full preset in the schema's normalised
space, see :func:`preset_value_vector`, [value_dim]). Both are buffers: the training code fills
them and they travel in the checkpoint's safetensors file, so inference needs no corpus.

Each prompt token (frozen-encoder token embedding) queries the memory by cosine similarity;
a softmax with a learned temperature over the entries gives a retrieved recipe per token,
which is projected (with the best similarity, how sure the match is) to a memory token of
width ``d_model``. The network appends these tokens to the fusion sequence, so a word that was
never trained on ("woolly") can borrow the recipes of the words it resembles ("muffled", "warm").

During training the entries of the descriptors present in a prompt may be hidden
(``exclude``), so the network learns how far to trust the neighbours of an unknown word.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from audiomanip import params as P


def value_dim() -> int:
    """Size of one memory value: per schema effect, the enabled flag, the normalised
    continuous parameters and a one-hot vector per choice parameter (EQ band types)."""
    from audiomanip.model.heads import schema_layout

    return sum(lay.size for lay in schema_layout())


def preset_value_vector(presets: Sequence[P.Preset]) -> torch.Tensor:
    """Memory values of presets: Tensor [N, value_dim] (see :func:`value_dim`)."""
    from audiomanip.model.heads import schema_layout, targets_from_presets

    t = targets_from_presets(list(presets))
    parts = []
    for lay in schema_layout():
        e = t[lay.name]
        parts.append(e["enabled"][:, None])
        parts.append(e["continuous"])
        if lay.n_choice:
            parts.append(nn.functional.one_hot(e["choices"], lay.n_classes).float().flatten(1))
    return torch.cat(parts, dim=1)


class DescriptorMemory(nn.Module):
    """Token-level retrieval over ``size`` (key, value) entries: tokens [B, L, text_dim] ->
    memory tokens [B, L, d_model]. Keys [size, text_dim] and values [size, value_dim] are
    buffers (filled by :meth:`fill`); the temperature and the projection are learned."""

    def __init__(self, size: int, text_dim: int, d_model: int, init_temperature: float = 0.05):
        super().__init__()
        vdim = value_dim()
        self.register_buffer("keys", torch.zeros(size, text_dim))
        self.register_buffer("values", torch.zeros(size, vdim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.proj = nn.Sequential(nn.Linear(vdim + 1, d_model), nn.GELU(), nn.Linear(d_model, d_model),
                                  nn.LayerNorm(d_model))

    @property
    def size(self) -> int:
        return int(self.keys.shape[0])

    @torch.no_grad()
    def fill(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Set the entries: ``keys`` [size, text_dim] (normalised here), ``values`` [size, value_dim]."""
        if tuple(keys.shape) != tuple(self.keys.shape) or tuple(values.shape) != tuple(self.values.shape):
            raise ValueError(f"memory entries must be {tuple(self.keys.shape)} and {tuple(self.values.shape)}, "
                             f"got {tuple(keys.shape)} and {tuple(values.shape)}")
        self.keys.copy_(nn.functional.normalize(keys.float(), dim=-1))
        self.values.copy_(values.float())

    def forward(self, tokens: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens`` [B, L, text_dim]; ``exclude`` bool [B, size] (True: entry hidden for that
        example) or None. Returns memory tokens [B, L, d_model]."""
        q = nn.functional.normalize(tokens, dim=-1)
        sims = torch.einsum("bld,md->blm", q, self.keys.to(q.dtype))
        if exclude is not None:
            sims = sims.masked_fill(exclude[:, None, :], -1.0)
        scale = self.log_scale.clamp(0.0, 6.0).exp()
        w = torch.softmax(sims * scale, dim=-1)
        retrieved = torch.einsum("blm,mv->blv", w, self.values.to(q.dtype))
        best = sims.max(dim=-1, keepdim=True).values
        return self.proj(torch.cat([retrieved, best], dim=-1))

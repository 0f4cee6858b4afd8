"""A small pure-torch BERT encoder (inference only) that reads Hugging Face BERT weights.

It computes exactly what ``transformers.BertModel`` computes for ``last_hidden_state``
(absolute position embeddings, post-LayerNorm blocks, GELU feed-forward) so that the default
text encoder loads without importing transformers or sentence-transformers, which cost seconds
of start-up. Parameter names follow the Hugging Face layout (``embeddings.word_embeddings``,
``encoder.layer.N.attention.self.query`` ...) so a ``model.safetensors`` loads as it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from audiomanip.errors import CheckpointError

_ACTIVATIONS = {"gelu": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face ``config.json`` this encoder uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.json") -> "BertConfig":
        """Read a Hugging Face BERT config; :class:`CheckpointError` when it is not one this
        encoder computes exactly (another architecture, activation or position scheme)."""
        model_type = data.get("model_type", "bert")
        if model_type != "bert":
            raise CheckpointError(f"{source}: model_type {model_type!r} is not a BERT model")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise CheckpointError(f"{source}: only absolute position embeddings are supported, "
                                  f"found {data.get('position_embedding_type')!r}")
        act = data.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise CheckpointError(f"{source}: activation {act!r} is not supported "
                                  f"(supported: {', '.join(_ACTIVATIONS)})")
        try:
            cfg = cls(
                vocab_size=int(data["vocab_size"]),
                hidden_size=int(data["hidden_size"]),
                num_hidden_layers=int(data["num_hidden_layers"]),
                num_attention_heads=int(data["num_attention_heads"]),
                intermediate_size=int(data["intermediate_size"]),
                max_position_embeddings=int(data["max_position_embeddings"]),
                type_vocab_size=int(data.get("type_vocab_size", 2)),
                layer_norm_eps=float(data.get("layer_norm_eps", 1e-12)),
                hidden_act=act,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: incomplete BERT config ({exc!r})") from None
        if cfg.hidden_size % cfg.num_attention_heads:
            raise CheckpointError(f"{source}: hidden_size {cfg.hidden_size} is not a multiple of "
                                  f"num_attention_heads {cfg.num_attention_heads}")
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> "BertConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read BERT config {path}: {exc}") from None
        return cls.from_dict(data, source=str(path))


class _Linear(nn.Linear):
    """nn.Linear whose weights are left uninitialised: they are always loaded from a file."""

    def reset_parameters(self) -> None:
        pass


class _Embedding(nn.Embedding):
    """nn.Embedding whose weights are left uninitialised: they are always loaded from a file."""

    def reset_parameters(self) -> None:
        pass


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = _Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = _Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = _Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        positions = torch.arange(length, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        x = x + self.token_type_embeddings.weight[0]  # single-segment input: token type 0
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.query = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = _Linear(cfg.hidden_size, cfg.hidden_size)


class _AttentionOutput(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.dense = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.self = _SelfAttention(cfg)
        self.output = _AttentionOutput(cfg)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        head_dim = hidden // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # [B, L, H] -> [B, heads, L, H/heads]
            return t.view(batch, length, self.heads, head_dim).transpose(1, 2)

        q, k, v = split(self.self.query(x)), split(self.self.key(x)), split(self.self.value(x))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :],
                                                 scale=1.0 / math.sqrt(head_dim))
        context = context.transpose(1, 2).reshape(batch, length, hidden)
        return self.output.LayerNorm(self.output.dense(context) + x)


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int, norm_eps: float | None = None):
        super().__init__()
        self.dense = _Linear(n_in, n_out)
        if norm_eps is not None:
            self.LayerNorm = nn.LayerNorm(n_out, eps=norm_eps)


class _Layer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = _Attention(cfg)
        self.intermediate = _Dense(cfg.hidden_size, cfg.intermediate_size)
        self.output = _Dense(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps)
        self._gelu_approximation = _ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, key_mask)
        h = F.gelu(self.intermediate.dense(x), approximate=self._gelu_approximation)
        return self.output.LayerNorm(self.output.dense(h) + x)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))


class BertEncoder(nn.Module):
    """BERT without the pooler: ``forward(input_ids [B, L] long, attention_mask [B, L] bool)``
    returns the last hidden state, float32 [B, L, hidden_size]."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        key_mask = attention_mask.to(torch.bool)
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x, key_mask)
        return x

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu") -> "BertEncoder":
        """Load ``config.json`` and ``model.safetensors`` from a Hugging Face BERT folder.

        The weights are read with safetensors (never unpickled) and assigned without a random
        initialisation first. Raises :class:`CheckpointError` when files are missing or the
        weights do not fit the config.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg = BertConfig.from_file(folder / "config.json")
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"no model.safetensors in {folder}")
        try:
            state = load_file(str(weights), device=str(device))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read {weights}: {exc}") from None
        state = _strip_prefix(state)
        model = cls(cfg)  # parameters allocated but not initialised (fast), then assigned
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        if missing:
            raise CheckpointError(f"{weights} lacks {len(missing)} BERT weights, e.g. {missing[:3]}")
        wrong = [f"{k}: expected {tuple(v.shape)}, found {tuple(state[k].shape)}"
                 for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            raise CheckpointError(f"{weights} does not fit its config.json: {'; '.join(wrong[:3])}")
        model.load_state_dict({k: state[k].float() for k in expected}, assign=True)
        return model.eval().requires_grad_(False)


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a leading ``bert.`` (BertFor* checkpoints) so keys match :class:`BertEncoder`."""
    if any(k.startswith("embeddings.") for k in state):
        return state
    return {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}

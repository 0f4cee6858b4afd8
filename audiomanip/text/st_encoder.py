"""Any sentence-transformers model (by name or local folder) behind the text-encoder protocol.

Loading never downloads unless the caller allows it: ``local_files_only`` is passed and the
Hugging Face offline switches default to on while loading (see :mod:`audiomanip.text.offline`).
A model that is not on disk is a :class:`CheckpointError` that says how to get it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from audiomanip.errors import CheckpointError, DependencyError
from audiomanip.text.offline import offline_by_environment, offline_environment
from audiomanip.text.types import EncodedText, check_texts


def looks_like_path(name_or_path: str) -> bool:
    """True when the string names a folder on disk rather than a hub model id."""
    return (Path(name_or_path).expanduser().exists() or name_or_path.startswith((".", "~", "/"))
            or "\\" in name_or_path or name_or_path.count("/") > 1)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and warnings while a model loads (the library never
    prints); the previous settings are restored."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers always brings transformers
        yield
        return
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def how_to_get(name: str) -> str:
    """A sentence telling the user how to make a sentence-transformers model available offline."""
    folder = f"models/{Path(name).name}"
    return ("Download it once while online: python -c \"from sentence_transformers import "
            f"SentenceTransformer; SentenceTransformer('{name}').save('{folder}')\", "
            f"then pass the saved folder (--encoder {folder}); or allow downloads "
            "(allow_download=True, with HF_HUB_OFFLINE unset)")


class SentenceTransformerEncoder:
    """Text encoder for any sentence-transformers model.

    ``name_or_path``: a hub id (``all-mpnet-base-v2``) found in the local Hugging Face cache, or
    a saved sentence-transformers folder. ``device``: torch device string.
    ``allow_download``: let sentence-transformers fetch a missing model (the user's
    ``HF_HUB_OFFLINE=1`` still wins; huggingface_hub reads that variable once, when it is first
    imported, so downloads stay off in a process that loaded an encoder offline before).
    Token vectors are the first module's ``token_embeddings``; the pooled vector is the model's
    sentence embedding, L2-normalised.
    """

    backend = "sentence-transformers"

    def __init__(self, name_or_path: str, device: str = "cpu", *, allow_download: bool = False,
                 name: str | None = None):
        source = str(name_or_path)
        if looks_like_path(source) and not Path(source).expanduser().is_dir():
            raise CheckpointError(f"text encoder folder {source} does not exist")
        if looks_like_path(source):
            source = str(Path(source).expanduser())
        with offline_environment(allow_download):
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise DependencyError(f"text encoder {name_or_path!r} needs sentence-transformers "
                                      f"({exc}): pip install sentence-transformers") from None
            with _quiet_transformers():
                try:
                    self.model = SentenceTransformer(source, device=device,
                                                     local_files_only=not allow_download)
                except (OSError, ValueError, KeyError) as exc:
                    if allow_download and offline_by_environment():
                        why = "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set, so it cannot be downloaded"
                    elif allow_download:
                        why = f"it could not be downloaded: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                    else:
                        why = "not in the local Hugging Face cache; audiomanip does not download models"
                    raise CheckpointError(f"text encoder {name_or_path!r} is not available on this machine "
                                          f"({why}). " + how_to_get(str(name_or_path))) from None
        self.model.eval()
        self.name = name or str(name_or_path)
        self.device = device
        self.path = Path(source) if looks_like_path(source) else None
        tokenizer = getattr(self.model, "tokenizer", None)
        self.max_tokens = int(self.model.max_seq_length or getattr(tokenizer, "model_max_length", 512))
        probe = self.encode(["a"])
        self.dim = int(probe.tokens.shape[-1])
        if probe.pooled.shape[-1] != self.dim:
            raise CheckpointError(
                f"text encoder {self.name!r} gives {self.dim}-d tokens but {probe.pooled.shape[-1]}-d "
                "sentence vectors (a Dense projection after pooling); audiomanip needs both the same size")

    def _features(self, texts: list[str]) -> dict[str, Any]:
        preprocess = getattr(self.model, "preprocess", None) or self.model.tokenize
        return preprocess(texts)

    def _truncated(self, texts: list[str]) -> list[bool]:
        tokenizer = getattr(self.model, "tokenizer", None)
        if tokenizer is None:  # pragma: no cover - every text sentence-transformer has one
            return [False] * len(texts)
        ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(x) > self.max_tokens for x in ids]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> EncodedText:
        """Encode prompts -> :class:`EncodedText` (tokens float32 [B, L, D] with zeros at
        padding, mask bool [B, L], pooled [B, D] L2-normalised, truncated list[bool])."""
        import torch
        import torch.nn.functional as F

        from audiomanip.text.pooling import pad_stack

        texts = check_texts(texts)
        if not texts:
            return EncodedText.empty(getattr(self, "dim", 0))
        tokens, masks, pooled = [], [], []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                features = self._features(texts[start:start + batch_size])
                features = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in features.items()}
                out = self.model(features)
                mask = out["attention_mask"].to(torch.bool)
                tokens.append((out["token_embeddings"] * mask.unsqueeze(-1)).float())
                masks.append(mask)
                pooled.append(F.normalize(out["sentence_embedding"].float(), p=2, dim=1))
        longest = max(t.shape[1] for t in tokens)
        return EncodedText(pad_stack(tokens, longest), pad_stack(masks, longest), torch.cat(pooled),
                           self._truncated(texts))

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(name={self.name!r}, dim={self.dim}, max_tokens={self.max_tokens})"

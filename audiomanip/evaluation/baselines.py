"""Predictors the evaluation compares: the model and three baselines.

Every predictor has a ``name`` and ``predict_presets(prompts) -> list[Preset]``:

- :class:`ModelPredictor` wraps a :class:`~audiomanip.model.preset_model.PresetModel` (or any
  object with ``predict(prompt) -> Prediction`` and optionally ``predict_many``).
- :class:`CorpusMeanBaseline`: the mean of the training presets in the schema's normalised
  space (per effect over the examples that enable it), the majority class for every choice and
  enabled flag; the same preset for every prompt.
- :class:`RandomPresetBaseline`: a uniformly random preset in normalised space, enabled flags and
  classes by fair draws; seeded per prompt, so a prompt always gets the same preset.
- :class:`NearestNeighbourBaseline`: the preset of the training prompt whose pooled
  text embedding (same encoder as the model) has the highest cosine similarity.

:func:`load_model_for_eval` loads a checkpoint with a :class:`MemoEncoder`, so the model and
the nearest neighbour share one encoding of each prompt.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from audiomanip.params import SCHEMA, Preset

MODEL = "model"
CORPUS_MEAN = "corpus_mean"
RANDOM = "random"
NEAREST = "nearest_neighbour"
BASELINES = (CORPUS_MEAN, RANDOM, NEAREST)


class ModelPredictor:
    """The model under test as a predictor (text only: no audio view is given)."""

    name = MODEL

    def __init__(self, model: Any, batch_size: int = 64):
        self.model = model
        self.batch_size = batch_size

    def prepare(self, prompts: Sequence[str], progress: Callable[[dict], None] | None = None) -> None:
        """Encode all ``prompts`` in one pass when the model's encoder can (a :class:`MemoEncoder`)."""
        prefetch = getattr(getattr(self.model, "encoder", None), "prefetch", None)
        if callable(prefetch):
            prefetch(list(prompts), progress)

    def predict_presets_heard(self, prompts: Sequence[str], sources: Sequence[Any], sample_rate: int
                              ) -> dict[str, list[Preset]] | None:
        """Per source name, the presets of ``prompts`` predicted hearing that source (``audio``
        [1, T] at ``sample_rate`` Hz); None when the model reads text only."""
        if str((getattr(self.model, "info", {}) or {}).get("audio_view", "none")) == "none":
            return None
        return {src.name: [p.preset for p in self.model.predict_many(list(prompts), audio=src.audio,
                                                                      sample_rate=sample_rate,
                                                                      batch_size=self.batch_size)]
                for src in sources}

    def predict_presets(self, prompts: Sequence[str]) -> list[Preset]:
        many = getattr(self.model, "predict_many", None)
        if callable(many):
            preds = many(list(prompts), batch_size=self.batch_size)
        else:
            preds = [self.model.predict(p) for p in prompts]
        return [getattr(p, "preset", p) for p in preds]


class CorpusMeanBaseline:
    """Mean training preset in normalised space (see the module docstring)."""

    name = CORPUS_MEAN

    def __init__(self, train_presets: Sequence[Preset]):
        if not train_presets:
            raise ValueError("the corpus-mean baseline needs at least one training preset")
        norms = [p.to_normalized() for p in train_presets]
        mean: dict[str, dict[str, Any]] = {}
        for e in SCHEMA:
            enabled = np.array([n[e.name]["enabled"] for n in norms])
            on = [n[e.name] for n, flag in zip(norms, enabled) if flag > 0.5] or [n[e.name] for n in norms]
            cont = np.array([n["continuous"] for n in on], dtype=np.float64).reshape(len(on), -1)
            choices = np.array([n["choices"] for n in on], dtype=np.int64).reshape(len(on), -1)
            majority = [
                int(np.bincount(choices[:, j], minlength=len(p.choices)).argmax())
                for j, (_, p, _) in enumerate(e.choice())
            ]
            mean[e.name] = {
                "enabled": float(enabled.mean() >= 0.5),
                "continuous": cont.mean(axis=0).tolist(),
                "choices": majority,
            }
        self.preset = Preset.from_normalized(mean)
        self.preset.name = "corpus mean"

    def predict_presets(self, prompts: Sequence[str]) -> list[Preset]:
        return [self.preset.copy() for _ in prompts]


def random_preset(rng: np.random.Generator) -> Preset:
    """A preset drawn uniformly in normalised space; every enabled flag and class by a fair draw."""
    norm = {}
    for e in SCHEMA:
        norm[e.name] = {
            "enabled": float(rng.random() < 0.5),
            "continuous": rng.random(len(e.continuous())).tolist(),
            "choices": [int(rng.integers(len(p.choices))) for _, p, _ in e.choice()],
        }
    return Preset.from_normalized(norm)


class RandomPresetBaseline:
    """A random preset per prompt, reproducible from (seed, prompt)."""

    name = RANDOM

    def __init__(self, seed: int = 0):
        self.seed = seed

    def predict_presets(self, prompts: Sequence[str]) -> list[Preset]:
        out = []
        for p in prompts:
            digest = hashlib.sha256(f"{self.seed}\n{p}".encode("utf-8")).digest()
            out.append(random_preset(np.random.default_rng(int.from_bytes(digest[:8], "little"))))
        return out


class MemoEncoder:
    """A text encoder that remembers what it encoded, so the model and the nearest-neighbour
    baseline encode each evaluation prompt once.

    Has the wrapped encoder's ``name``, ``dim``, ``max_tokens`` and ``encode``; adds
    :meth:`encode_pooled` (pooled vectors only: what the nearest neighbour needs, without
    keeping token vectors of the whole training split in memory). With ``cache_dir`` it reads
    and fills the training's on-disk :class:`~audiomanip.training.dataset.EmbeddingCache`, so
    prompts a model was trained on are not encoded again. Vectors are kept as float16, as
    the training cache keeps them (so the model sees what it was trained on).
    """

    def __init__(self, encoder: Any, cache_dir: str | Path | None = None):
        self.inner = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.max_tokens = getattr(encoder, "max_tokens", 512)
        self._full: dict[str, tuple[Any, Any]] = {}  # prompt -> (tokens [L, D], pooled [D]) float16
        self._pooled: dict[str, Any] = {}  # prompt -> pooled [D] float16
        self._disk = None
        if cache_dir is not None:
            from audiomanip.training.dataset import EmbeddingCache

            self._disk = EmbeddingCache(encoder, cache_dir)

    def __getattr__(self, name: str) -> Any:  # e.g. a CLAP encoder's encode_audio
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _compute(self, texts: list[str], progress: Callable[[dict], None] | None = None
                 ) -> list[tuple[Any, Any]]:
        """(tokens [L, D], pooled [D]) float16 for each text, from the disk cache or the encoder."""
        import torch

        if self._disk is not None:
            self._disk.ensure(texts, progress=progress)
            rows = self._disk.rows(texts)
            out = []
            for start in range(0, len(rows), 512):
                tokens, mask, pooled = self._disk.batch(rows[start:start + 512])
                out.extend((tokens[i][mask[i]].half(), pooled[i].half()) for i in range(len(mask)))
            return out
        out = []
        for start in range(0, len(texts), 128):
            with torch.no_grad():
                enc = self.inner.encode(texts[start:start + 128]).as_torch()
            out.extend((enc.tokens[i][enc.mask[i].bool()].detach().cpu().half(),
                        enc.pooled[i].detach().cpu().half()) for i in range(len(enc.mask)))
            if progress:
                progress({"event": "encode", "done": min(start + 128, len(texts)), "total": len(texts)})
        return out

    def prefetch(self, texts: Sequence[str], progress: Callable[[dict], None] | None = None) -> None:
        """Encode (or read from the disk cache) every text not held yet, in one pass, so later
        ``encode`` calls are memory look-ups. Progress events as :meth:`encode_pooled`."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._full))
        for t, row in zip(todo, self._compute(todo, progress)):
            self._full[t] = row
            self._pooled.pop(t, None)

    def encode(self, texts: Sequence[str]) -> Any:
        """Like the wrapped encoder's ``encode`` (``truncated`` is reported as all False)."""
        import torch

        from audiomanip.text.types import EncodedText

        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._full))
        for t, row in zip(todo, self._compute(todo)):
            self._full[t] = row
            self._pooled.pop(t, None)
        rows = [self._full[t] for t in texts]
        length = max([1] + [r[0].shape[0] for r in rows])
        tokens = torch.zeros(len(rows), length, self.dim)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for i, (tok, _) in enumerate(rows):
            tokens[i, :tok.shape[0]] = tok.float()
            mask[i, :tok.shape[0]] = True
        pooled = torch.stack([r[1].float() for r in rows]) if rows else torch.zeros(0, self.dim)
        return EncodedText(tokens, mask, pooled, [False] * len(rows))

    def encode_pooled(self, texts: Sequence[str], progress: Callable[[dict], None] | None = None) -> np.ndarray:
        """Pooled vectors float32 [N, D] of ``texts``. Progress events:
        ``{"event": "encode", "done": n, "total": m}``."""
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self._full and t not in self._pooled))
        for t, (_, pooled) in zip(todo, self._compute(todo, progress)):
            self._pooled[t] = pooled
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([(self._full[t][1] if t in self._full else self._pooled[t]).float().numpy()
                         for t in texts]).astype(np.float32)


def pooled_embeddings(encoder: Any, prompts: Sequence[str],
                      progress: Callable[[dict], None] | None = None) -> np.ndarray:
    """L2-normalised pooled embeddings float32 [N, D] of ``prompts`` (through
    :meth:`MemoEncoder.encode_pooled` when the encoder has it, else ``encode`` in batches)."""
    import torch

    prompts = list(prompts)
    if hasattr(encoder, "encode_pooled"):
        emb = encoder.encode_pooled(prompts, progress)
    elif not prompts:
        emb = np.zeros((0, int(encoder.dim)), np.float32)
    else:
        out = []
        for start in range(0, len(prompts), 128):
            with torch.no_grad():
                out.append(encoder.encode(prompts[start:start + 128]).pooled.float().cpu().numpy())
            if progress:
                progress({"event": "encode", "done": min(start + 128, len(prompts)), "total": len(prompts)})
        emb = np.concatenate(out)
    emb = np.asarray(emb, np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


class NearestNeighbourBaseline:
    """The preset of the most similar training prompt (cosine of pooled embeddings).

    ``train_prompts``/``train_presets`` are parallel; a prompt that occurs more than once keeps
    its first preset. Give a :class:`MemoEncoder` to share encodings with the model.
    """

    name = NEAREST

    def __init__(self, encoder: Any, train_prompts: Sequence[str], train_presets: Sequence[Preset], *,
                 progress: Callable[[dict], None] | None = None):
        if len(train_prompts) != len(train_presets) or not train_prompts:
            raise ValueError("the nearest-neighbour baseline needs parallel, non-empty prompts and presets")
        first: dict[str, int] = {}
        for i, p in enumerate(train_prompts):
            first.setdefault(p, i)
        self.encoder = encoder
        self.prompts = list(first)
        self.presets = [train_presets[i] for i in first.values()]
        self.index = pooled_embeddings(encoder, self.prompts, progress)

    def neighbours(self, prompts: Sequence[str]) -> list[int]:
        """Index (into ``self.prompts``) of each prompt's nearest training prompt."""
        q = pooled_embeddings(self.encoder, prompts)
        out: list[int] = []
        for start in range(0, q.shape[0], 512):
            out.extend(np.argmax(q[start:start + 512] @ self.index.T, axis=1).tolist())
        return out

    def predict_presets(self, prompts: Sequence[str]) -> list[Preset]:
        return [self.presets[i].copy() for i in self.neighbours(prompts)]


def load_model_for_eval(checkpoint_path: str | Path | None = None, checkpoint_dir: str | Path | None = None,
                        device: str = "cpu", cache_dir: str | Path | None = None, backend: str = "torch",
                        note: Callable[[str], None] | None = None) -> Any:
    """The checkpoint's model on ``backend`` (``"torch"``, ``"onnx"`` or ``"auto"``, see
    :func:`audiomanip.inference.loader.load_model`) with its text encoder, of the same
    runtime, wrapped in a :class:`MemoEncoder` (``model.encoder``; ``cache_dir``: its on-disk
    embedding cache, shared by both runtimes: they compute the same vectors)."""
    from audiomanip import checkpoint
    from audiomanip.inference.loader import choose_backend, load_model

    path = checkpoint.find_checkpoint(checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir)
    config = checkpoint.load_checkpoint_config(path)
    backend = choose_backend(path, config, backend)
    if backend == "onnx":
        from audiomanip.device import resolve_device
        from audiomanip.inference.loader import onnx_cuda_available
        from audiomanip.inference.text_encoder import OnnxTextEncoder

        inner: Any = OnnxTextEncoder(optimize=True, device=resolve_device(
            device, cuda_available=onnx_cuda_available, runtime="onnxruntime"))
    else:
        from audiomanip.text import load_text_encoder

        inner = load_text_encoder(config["encoder"]["name"])
    return load_model(checkpoint_path=path, device=device, backend=backend, note=note, optimize=True,
                      encoder=MemoEncoder(inner, cache_dir))

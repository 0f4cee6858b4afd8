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


def pooled_embeddings(encoder: Any, prompts: Sequence[str], *, cache_dir: str | Path | None = None,
                      batch_size: int = 128, progress: Callable[[dict], None] | None = None) -> np.ndarray:
    """L2-normalised pooled embeddings float32 [N, D] of ``prompts``.

    With ``cache_dir`` the training's on-disk embedding cache (:class:`EmbeddingCache`) is used,
    so prompts the model was trained on are not encoded again. Progress events:
    ``{"event": "encode", "done": n, "total": m}``.
    """
    import torch

    prompts = list(prompts)
    if not prompts:
        return np.zeros((0, int(getattr(encoder, "dim", 0))), np.float32)
    if cache_dir is not None:
        from audiomanip.data.dataset import EmbeddingCache

        cache = EmbeddingCache(encoder, cache_dir)
        cache.ensure(prompts, batch_size=batch_size, progress=progress)
        rows = cache.rows(prompts)
        out = []
        for start in range(0, len(rows), 1024):
            out.append(cache.batch(rows[start:start + 1024])[2].numpy())
        emb = np.concatenate(out).astype(np.float32)
    else:
        out = []
        for start in range(0, len(prompts), batch_size):
            with torch.no_grad():
                out.append(encoder.encode(prompts[start:start + batch_size]).pooled.float().cpu().numpy())
            if progress:
                progress({"event": "encode", "done": min(start + batch_size, len(prompts)), "total": len(prompts)})
        emb = np.concatenate(out).astype(np.float32)
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norm, 1e-12)


class NearestNeighbourBaseline:
    """The preset of the most similar training prompt (cosine of pooled embeddings).

    ``train_prompts``/``train_presets`` are parallel; a prompt that occurs more than once keeps
    its first preset. ``cache_dir``: see :func:`pooled_embeddings`.
    """

    name = NEAREST

    def __init__(self, encoder: Any, train_prompts: Sequence[str], train_presets: Sequence[Preset], *,
                 cache_dir: str | Path | None = None, progress: Callable[[dict], None] | None = None):
        if len(train_prompts) != len(train_presets) or not train_prompts:
            raise ValueError("the nearest-neighbour baseline needs parallel, non-empty prompts and presets")
        first: dict[str, int] = {}
        for i, p in enumerate(train_prompts):
            first.setdefault(p, i)
        self.encoder = encoder
        self.cache_dir = cache_dir
        self.prompts = list(first)
        self.presets = [train_presets[i] for i in first.values()]
        self.index = pooled_embeddings(encoder, self.prompts, cache_dir=cache_dir, progress=progress)

    def neighbours(self, prompts: Sequence[str]) -> list[int]:
        """Index (into ``self.prompts``) of each prompt's nearest training prompt."""
        q = pooled_embeddings(self.encoder, prompts, cache_dir=self.cache_dir)
        out: list[int] = []
        for start in range(0, q.shape[0], 512):
            out.extend(np.argmax(q[start:start + 512] @ self.index.T, axis=1).tolist())
        return out

    def predict_presets(self, prompts: Sequence[str]) -> list[Preset]:
        return [self.presets[i].copy() for i in self.neighbours(prompts)]

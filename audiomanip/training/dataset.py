"""Training data: prompt/preset pairs, an on-disk cache of frozen-encoder embeddings, a Dataset.

Embedding cache
    The text encoder is frozen, so each prompt is encoded once. :class:`EmbeddingCache` keeps
    the token embeddings (only the valid tokens, float16) and the pooled embedding of every
    prompt in safetensors shards under ``<cache_dir>/<encoder-slug>/``; an entry's key is
    ``sha256(encoder name + "\\n" + prompt)``, stored in the shard's metadata. Epochs after
    the first (and later runs with the same encoder) never call the encoder again.

Pair files
    ``--dataset-path``: JSONL (one ``{"prompt": ..., "preset": ...}`` per line) or YAML/JSON (a
    list of such mappings). ``preset`` is a preset mapping (as ``audiomanip export-preset``
    writes, validated strictly against the schema) or the name of a preset of the corpus.
    ``--description-path``: a text file, one ``description => preset`` per line, where
    ``preset`` is a corpus preset name or a preset file (.json/.yaml); ``#`` starts a comment.
    It teaches the model new words for presets that already exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from audiomanip.errors import InputNotFoundError, PresetFileError
from audiomanip.params import Preset, PresetError


@dataclass(frozen=True)
class PromptPresetPair:
    """One training example: a description and the preset it asks for."""

    prompt: str
    preset: Preset


# --------------------------------------------------------------------------- pair files
def _resolve_preset(value: Any, where: str, base: Path) -> Preset:
    if isinstance(value, str):
        candidate = (base / value) if not Path(value).is_absolute() else Path(value)
        if candidate.suffix.lower() in (".json", ".yaml", ".yml"):
            if not candidate.is_file():
                raise PresetFileError(f"{where}: preset file not found: {candidate}")
            try:
                return Preset.load(candidate, strict=True)
            except PresetError as exc:
                raise PresetFileError(f"{where}: {exc}") from None
        from audiomanip.vocab.named_presets import get_named_preset

        try:
            return get_named_preset(value.strip()).preset
        except PresetFileError as exc:
            raise PresetFileError(f"{where}: {exc}") from None
    if isinstance(value, dict):
        try:
            return Preset.from_dict(value, strict=True)
        except PresetError as exc:
            raise PresetFileError(f"{where}: {exc}") from None
    raise PresetFileError(f"{where}: 'preset' must be a preset mapping or a preset name, got {type(value).__name__}")


def _pair_from_item(item: Any, where: str, base: Path) -> PromptPresetPair:
    if not isinstance(item, dict) or "prompt" not in item or "preset" not in item:
        raise PresetFileError(f"{where}: expected a mapping with 'prompt' and 'preset'")
    prompt = item["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise PresetFileError(f"{where}: 'prompt' must be a non-empty string")
    return PromptPresetPair(prompt.strip(), _resolve_preset(item["preset"], where, base))


def load_pairs_file(path: str | Path) -> list[PromptPresetPair]:
    """Read a ``--dataset-path`` file (JSONL, JSON or YAML; see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"dataset file not found: {path}")
    text = path.read_text(encoding="utf-8")
    base = path.parent
    pairs: list[PromptPresetPair] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PresetFileError(f"{path}:{n}: not valid JSON: {exc}") from None
            pairs.append(_pair_from_item(item, f"{path}:{n}", base))
    else:
        import yaml

        try:
            data = yaml.safe_load(text)  # JSON is YAML
        except yaml.YAMLError as exc:
            raise PresetFileError(f"{path}: not valid YAML/JSON: {exc}") from None
        if isinstance(data, dict) and "pairs" in data:
            data = data["pairs"]
        if not isinstance(data, list):
            raise PresetFileError(f"{path}: expected a list of {{prompt, preset}} mappings")
        for n, item in enumerate(data, 1):
            pairs.append(_pair_from_item(item, f"{path}: item {n}", base))
    if not pairs:
        raise PresetFileError(f"{path}: no prompt/preset pairs found")
    return pairs


def load_description_file(path: str | Path) -> list[PromptPresetPair]:
    """Read a ``--description-path`` file: ``description => preset name or file`` per line."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"description file not found: {path}")
    pairs = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=>" not in line:
            raise PresetFileError(f"{path}:{n}: expected 'description => preset name or file', got {raw.strip()!r}")
        prompt, target = (s.strip() for s in line.split("=>", 1))
        if not prompt or not target:
            raise PresetFileError(f"{path}:{n}: both the description and the preset are needed")
        pairs.append(PromptPresetPair(prompt, _resolve_preset(target, f"{path}:{n}", path.parent)))
    if not pairs:
        raise PresetFileError(f"{path}: no 'description => preset' lines found")
    return pairs


# --------------------------------------------------------------------------- embedding cache
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "encoder"


class EmbeddingCache:
    """Frozen-encoder embeddings of prompts, cached in memory and on disk (see module docstring).

    ``encoder`` needs ``.name``, ``.dim`` and ``.encode(list[str]) -> EncodedText(tokens
    [B, L, D], mask [B, L], pooled [B, D])``. ``cache_dir=None`` keeps the cache in memory only.
    """

    def __init__(self, encoder: Any, cache_dir: str | Path | None = None):
        self.encoder = encoder
        self.dir = Path(cache_dir) / _slug(encoder.name) if cache_dir is not None else None
        self._rows: dict[str, int] = {}
        self._tokens: list[torch.Tensor] = []  # each [L_i, D] float16
        self._pooled: list[torch.Tensor] = []  # each [D] float16
        self.encoded_now = 0
        if self.dir is not None and self.dir.is_dir():
            self._load_shards()

    def key(self, prompt: str) -> str:
        return hashlib.sha256(f"{self.encoder.name}\n{prompt}".encode()).hexdigest()[:32]

    def __len__(self) -> int:
        return len(self._rows)

    def _add(self, key: str, tokens: torch.Tensor, pooled: torch.Tensor) -> None:
        if key in self._rows:
            return
        self._rows[key] = len(self._tokens)
        self._tokens.append(tokens)
        self._pooled.append(pooled)

    def _load_shards(self) -> None:
        from safetensors import safe_open

        assert self.dir is not None
        for shard in sorted(self.dir.glob("shard-*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as f:
                    meta = f.metadata() or {}
                    keys = json.loads(meta.get("keys", "[]"))
                    if meta.get("encoder") != self.encoder.name:
                        continue
                    tokens = f.get_tensor("tokens")
                    lengths = f.get_tensor("lengths").tolist()
                    pooled = f.get_tensor("pooled")
            except Exception:  # noqa: BLE001 - a damaged shard is re-encoded, never trusted
                continue
            if tokens.shape[-1] != self.encoder.dim or len(keys) != len(lengths):
                continue
            start = 0
            for i, (key, n) in enumerate(zip(keys, lengths)):
                self._add(key, tokens[start:start + n], pooled[i])
                start += n

    def _write_shard(self, keys: list[str], tokens: list[torch.Tensor], pooled: list[torch.Tensor]) -> None:
        from safetensors.torch import save

        from audiomanip.tempfiles import write_bytes

        assert self.dir is not None
        self.dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        data = save(
            {
                "tokens": torch.cat(tokens).contiguous(),
                "lengths": torch.tensor([t.shape[0] for t in tokens], dtype=torch.int32),
                "pooled": torch.stack(pooled).contiguous(),
            },
            metadata={"encoder": self.encoder.name, "keys": json.dumps(keys)},
        )
        # a temporary name of this writer's own, then a rename: processes sharing the cache
        # (training ranks, concurrent runs) never see or clobber a half-written shard
        write_bytes(self.dir / f"shard-{digest}.safetensors", data)

    def ensure(self, prompts: Iterable[str], *, batch_size: int = 128, shard_size: int = 4096,
               progress: Callable[[dict], None] | None = None) -> int:
        """Encode every prompt not cached yet; returns how many were encoded. Progress events:
        ``{"event": "encode", "done": n, "total": m}``."""
        todo: dict[str, str] = {}
        for p in prompts:
            k = self.key(p)
            if k not in self._rows and k not in todo:
                todo[k] = p
        items = list(todo.items())
        keys_buf: list[str] = []
        tok_buf: list[torch.Tensor] = []
        pool_buf: list[torch.Tensor] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            with torch.no_grad():
                enc = self.encoder.encode([p for _, p in chunk]).as_torch()
            for i, (k, _) in enumerate(chunk):
                tok = enc.tokens[i][enc.mask[i].bool()].detach().to("cpu", torch.float16).contiguous()
                pooled = enc.pooled[i].detach().to("cpu", torch.float16).contiguous()
                self._add(k, tok, pooled)
                keys_buf.append(k)
                tok_buf.append(tok)
                pool_buf.append(pooled)
            if self.dir is not None and len(keys_buf) >= shard_size:
                self._write_shard(keys_buf, tok_buf, pool_buf)
                keys_buf, tok_buf, pool_buf = [], [], []
            if progress:
                progress({"event": "encode", "done": min(start + batch_size, len(items)), "total": len(items)})
        if self.dir is not None and keys_buf:
            self._write_shard(keys_buf, tok_buf, pool_buf)
        self.encoded_now += len(items)
        return len(items)

    def rows(self, prompts: Sequence[str]) -> list[int]:
        """Row indices of cached prompts (KeyError for a prompt that was not ensured)."""
        return [self._rows[self.key(p)] for p in prompts]

    def batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded ``(tokens [B, L, D] float32, mask [B, L] bool, pooled [B, D] float32)``."""
        toks = [self._tokens[r] for r in rows]
        L = max(1, max(t.shape[0] for t in toks))
        D = self.encoder.dim
        tokens = torch.zeros(len(toks), L, D, dtype=torch.float32)
        mask = torch.zeros(len(toks), L, dtype=torch.bool)
        for i, t in enumerate(toks):
            tokens[i, :t.shape[0]] = t.float()
            mask[i, :t.shape[0]] = True
        pooled = torch.stack([self._pooled[r] for r in rows]).float()
        return tokens, mask, pooled


# --------------------------------------------------------------------------- dataset
class PairDataset(torch.utils.data.Dataset):
    """Prompt/preset pairs with cached embeddings and precomputed normalised targets.

    ``dataset[i]`` is the index ``i``; :meth:`batch` builds a whole batch at once:
    ``{"tokens" [B, L, D], "mask" [B, L], "pooled" [B, D], "targets" (HeadTargets),
    "presets" list[Preset], "prompts" list[str]}``.
    """

    def __init__(self, pairs: Sequence[Any], cache: EmbeddingCache,
                 progress: Callable[[dict], None] | None = None):
        from audiomanip.model.heads import targets_from_presets

        self.pairs = list(pairs)
        if not self.pairs:
            raise ValueError("a dataset needs at least one prompt/preset pair")
        self.cache = cache
        cache.ensure([p.prompt for p in self.pairs], progress=progress)
        self.rows = cache.rows([p.prompt for p in self.pairs])
        self.targets = targets_from_presets([p.preset for p in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> int:
        return i

    def batch(self, indices: Sequence[int]) -> dict[str, Any]:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        tokens, mask, pooled = self.cache.batch([self.rows[i] for i in idx.tolist()])
        targets = {e: {k: v[idx] for k, v in t.items()} for e, t in self.targets.items()}
        return {
            "tokens": tokens,
            "mask": mask,
            "pooled": pooled,
            "targets": targets,
            "presets": [self.pairs[i].preset for i in idx.tolist()],
            "prompts": [self.pairs[i].prompt for i in idx.tolist()],
        }

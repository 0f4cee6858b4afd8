"""The preset network on ONNX Runtime: :class:`OnnxPresetModel` (``predict``, torch-free).

A checkpoint runs here when its graph (``model.onnx`` beside ``model.safetensors``, or
``NAME.onnx`` beside ``NAME.safetensors``; written by ``audiomanip train --export`` or
``python -m audiomanip.inference.export CHECKPOINT``) is present. The graph reads the
checkpoint's own safetensors file (see :mod:`audiomanip.inference.weights`). Text-only models
(``audio_view`` "none") and models with the ``profile`` view (computed here with numpy,
:mod:`audiomanip.audio_profile`) only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audiomanip.inference.heads import schema_layout, split_head_output
from audiomanip.inference.predictor import PresetPredictor

#: The audio views a graph can carry (the others run on torch).
ONNX_VIEWS = ("none", "profile")


def graph_file(checkpoint: str | Path) -> Path:
    """The ONNX graph of a checkpoint (a folder, ``NAME.safetensors`` or its ``.json``):
    ``model.onnx`` or ``NAME.onnx`` beside the weights (it need not exist)."""
    from audiomanip.checkpoint import checkpoint_files

    weights, _ = checkpoint_files(checkpoint)
    return weights.with_suffix(".onnx")


def reexport_hint(checkpoint: str | Path) -> str:
    """The command that (re-)writes a checkpoint's graph."""
    return f"export it with `python -m audiomanip.inference.export {checkpoint}` (needs the train extra)"


class OnnxPresetModel(PresetPredictor):
    """A checkpoint's network and the text encoder on ONNX Runtime.

    ``config``: the checked checkpoint config; ``path``: the checkpoint; ``encoder``: any
    text encoder (default: :class:`~audiomanip.inference.text_encoder.OnnxTextEncoder`, loaded
    on first use); ``device``: ``"cpu"`` or ``"cuda"``; ``optimize``: for many prompts (see
    :func:`audiomanip.inference.weights.open_session`). Build it with
    :func:`audiomanip.inference.loader.load_model`.
    """

    backend = "onnx"

    def __init__(self, config: dict[str, Any], path: str | Path, *, encoder: Any = None, device: str = "cpu",
                 optimize: bool = False):
        from audiomanip.checkpoint import checkpoint_files
        from audiomanip.inference.weights import open_session

        self.config = config
        self.path = Path(path)
        self.device = device
        self._encoder = encoder
        self.optimize = optimize
        weights, _ = checkpoint_files(self.path)
        self._session = open_session(graph_file(self.path), weights, device=device, optimize=optimize,
                                     reexport_hint=reexport_hint(self.path))
        self._layouts = schema_layout()
        outputs = [o.name for o in self._session.get_outputs()]
        if outputs != [lay.name for lay in self._layouts]:
            from audiomanip.errors import CheckpointError

            raise CheckpointError(f"{graph_file(self.path)} outputs {outputs}, not one head per effect of this "
                                  f"schema; {reexport_hint(self.path)}")

    @property
    def encoder(self) -> Any:
        """The text encoder (the ONNX Runtime one unless another was given), loaded on first use."""
        if self._encoder is None:
            from audiomanip.errors import CheckpointError
            from audiomanip.inference.text_encoder import OnnxTextEncoder
            from audiomanip.text.loader import is_default_encoder

            name = self.config["encoder"]["name"]
            if not is_default_encoder(name):
                raise CheckpointError(f"{self.path} reads the text encoder {name!r}; ONNX Runtime has only the "
                                      "default all-MiniLM-L6-v2: use the torch backend (--backend torch)")
            self._encoder = OnnxTextEncoder(device=self.device, optimize=self.optimize)
        return self._encoder

    @property
    def info(self) -> dict[str, Any]:
        """Name, path, encoder, schema version, parameter count, audio view, training facts, backend."""
        return {
            "name": self.config.get("name") or self.path.name,
            "path": str(self.path),
            "encoder": self.config["encoder"]["name"],
            "schema_version": self.config["schema_version"],
            "parameters": self.config.get("parameters"),
            "audio_view": self.config.get("model", {}).get("audio_view", "none"),
            "trained": self.config.get("trained", {}),
            "backend": self.backend,
        }

    @property
    def view_name(self) -> str:
        return str(self.config.get("model", {}).get("audio_view", "none"))

    def audio_view(self, audio: Any, sample_rate: float | None, notes: list[str]) -> Any:
        """The profile vector float32 [1, PROFILE_SIZE] of ``audio`` [C, T] for a profile-view
        model, else None (see :meth:`PresetPredictor.audio_view`)."""
        if audio is None or self.view_name != "profile":
            return super().audio_view(audio, sample_rate, notes)
        if sample_rate is None:
            raise ValueError("sample_rate is needed with audio")
        from audiomanip.audio_profile import profile_of

        return profile_of(audio, float(sample_rate))

    def head_outputs(self, prompts: Sequence[str], view: Any = None
                     ) -> tuple[dict[str, dict[str, np.ndarray]], list[bool]]:
        """HeadOutputs (numpy) for ``prompts`` and whether each was truncated; ``view``: the
        profile [B, PROFILE_SIZE] of a profile-view model, or None (from the text alone)."""
        enc = self.encoder.encode(list(prompts))
        feeds = {
            "text_tokens": np.ascontiguousarray(enc.tokens, dtype=np.float32),
            "text_mask": np.ascontiguousarray(enc.mask, dtype=bool),
            "pooled": np.ascontiguousarray(enc.pooled, dtype=np.float32),
        }
        if self.view_name == "profile":
            from audiomanip.audio_profile import PROFILE_SIZE

            n = len(feeds["pooled"])
            feeds["profile"] = np.ascontiguousarray(
                np.zeros((n, PROFILE_SIZE)) if view is None else view, dtype=np.float32)
            feeds["view_present"] = np.full(n, view is not None, dtype=bool)
        flat = self._session.run(None, feeds)
        truncated = list(getattr(enc, "truncated", None) or [False] * len(prompts))
        return {lay.name: split_head_output(lay, out) for lay, out in zip(self._layouts, flat)}, truncated

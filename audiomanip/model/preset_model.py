"""PresetModel: the trained network plus its frozen text encoder, with one verb, ``predict``.

:func:`build_model` rebuilds the network from the config stored beside a checkpoint's weights
and returns a :class:`PresetModel` in eval mode; :func:`audiomanip.load_model` (with
``backend="torch"``) finds the checkpoint, checks it was trained for this schema and calls it.

A checkpoint's config (JSON) holds::

    format: "audiomanip-preset-model", class: "PresetNet", schema_version, heads (the head
    layout derived from the schema), model (ModelConfig), encoder {name, dim}, parameters,
    trained {steps, epochs, pairs, seconds, recipe ...}, and for resumable checkpoints
    training_state {step, epoch, ...} with the optimizer beside the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from audiomanip import params as P
from audiomanip.errors import CheckpointError
from audiomanip.inference.heads import CHECKPOINT_FORMAT, check_checkpoint_kind, layout_signature
from audiomanip.inference.predictor import Prediction, PresetPredictor, explicit_lines  # noqa: F401
from audiomanip.model.audio_context import log_mel
from audiomanip.model.network import ModelConfig, PresetNet, count_parameters

#: Keys of a resumable checkpoint's optimizer state (ignored when loading a model for inference).
OPTIMIZER_PREFIX = "__optimizer__."
#: Most attention layers of each kind a checkpoint config may ask for (sanity bound on untrusted configs).
MAX_LAYERS = 64
#: Largest width a checkpoint config may ask for (d_model, text_dim, head_hidden …).
MAX_WIDTH = 4096
#: Largest network (parameters, estimated from the config) a checkpoint may ask for.
MAX_PARAMETERS = 200_000_000


def model_config_dict(net: PresetNet, encoder_name: str, *, trained: dict[str, Any] | None = None,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON config saved beside a network's weights."""
    cfg: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "class": "PresetNet",
        "schema_version": P.SCHEMA_VERSION,
        "heads": layout_signature(),
        "model": net.config.to_dict(),
        "encoder": {"name": encoder_name, "dim": net.config.text_dim},
        "parameters": count_parameters(net),
        "trained": trained or {},
    }
    if extra:
        cfg.update(extra)
    return cfg


def check_config(config: dict[str, Any], source: str = "checkpoint") -> ModelConfig:
    """Validate a checkpoint config against this schema; return its :class:`ModelConfig`.
    Raises :class:`CheckpointError` with the reason when it does not fit."""
    check_checkpoint_kind(config, source)
    try:
        mcfg = ModelConfig.from_dict(dict(config["model"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise CheckpointError(f"{source} has an invalid model config: {exc}") from None
    encoder = config.get("encoder")
    encoder_dim = encoder.get("dim") if isinstance(encoder, dict) else None
    if encoder_dim is not None and encoder_dim != mcfg.text_dim:
        raise CheckpointError(
            f"{source} contradicts itself: its encoder gives {encoder_dim!r}-d tokens but its network "
            f"reads {mcfg.text_dim}-d tokens; the checkpoint is damaged, save it again")
    # a config is untrusted input: building 10**5 layers would hang before any weight is compared
    limits = (("n_cross_layers", MAX_LAYERS), ("n_self_layers", MAX_LAYERS), ("d_model", MAX_WIDTH),
              ("text_dim", MAX_WIDTH), ("head_hidden", MAX_WIDTH), ("ff_mult", 16), ("n_heads", 64),
              ("n_mels", 512), ("clap_dim", MAX_WIDTH), ("text_adapter", MAX_WIDTH))
    for name, most in limits:
        value = getattr(mcfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            raise CheckpointError(f"{source} has an invalid model config: {name} = {value!r} (0 … {most})")
    layers = 2 * mcfg.n_cross_layers + mcfg.n_self_layers
    estimate = layers * (4 + 2 * mcfg.ff_mult) * mcfg.d_model ** 2 + (mcfg.text_dim + mcfg.clap_dim) * mcfg.d_model \
        + 2 * mcfg.text_dim * mcfg.text_adapter
    if estimate > MAX_PARAMETERS:
        raise CheckpointError(f"{source} has an invalid model config: it asks for about {estimate:,} parameters "
                              f"(at most {MAX_PARAMETERS:,})")
    return mcfg


class PresetModel(nn.Module, PresetPredictor):
    """The network (:class:`PresetNet`), its frozen text encoder and its checkpoint config.

    The encoder is not a submodule (its weights are not part of ``state_dict``); it is loaded
    by name on first use unless one is given.
    """

    def __init__(self, net: PresetNet, config: dict[str, Any], encoder: Any = None,
                 path: str | Path | None = None):
        super().__init__()
        self.net = net
        self.config = config
        self.path = Path(path) if path is not None else None
        object.__setattr__(self, "_encoder", encoder)

    # ------------------------------------------------------------------ properties
    @property
    def encoder(self) -> Any:
        """The frozen text encoder (loaded on first use by the name in the config)."""
        if self._encoder is None:
            from audiomanip.text import load_text_encoder

            enc = load_text_encoder(self.config["encoder"]["name"])
            if enc.dim != self.net.config.text_dim:
                raise CheckpointError(
                    f"text encoder {enc.name!r} gives {enc.dim}-d tokens but the model expects "
                    f"{self.net.config.text_dim}-d"
                )
            object.__setattr__(self, "_encoder", enc)
        return self._encoder

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def info(self) -> dict[str, Any]:
        """Name, path, encoder, schema version, parameter count, audio view and training facts."""
        trained = self.config.get("trained", {})
        return {
            "name": self.config.get("name") or (self.path.name if self.path else "untrained"),
            "path": str(self.path) if self.path else None,
            "encoder": self.config["encoder"]["name"],
            "schema_version": self.config["schema_version"],
            "parameters": count_parameters(self.net),
            "audio_view": self.net.config.audio_view,
            "trained": trained,
        }

    # ------------------------------------------------------------------ inference
    def audio_view(self, audio: np.ndarray | None, sample_rate: float | None, notes: list[str]
                   ) -> torch.Tensor | None:
        if audio is None:
            return None
        view = self.net.config.audio_view
        if view == "none":
            notes.append("this model reads text only: the input audio does not change the preset")
            return None
        if sample_rate is None:
            raise ValueError("sample_rate is needed with audio")
        if view == "profile":
            from audiomanip.audio_profile import profile_of

            return torch.as_tensor(profile_of(audio, float(sample_rate)), device=self.device)
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32), device=self.device)
        if x.ndim == 1:
            x = x[None]
        if view == "mel":
            return log_mel(x[None], float(sample_rate), analysis_rate=self.net.config.analysis_rate,
                           n_mels=self.net.config.n_mels)
        encode_audio = getattr(self.encoder, "encode_audio", None)
        if encode_audio is None:
            notes.append("the CLAP audio view needs a CLAP encoder with audio support: audio ignored")
            return None
        return torch.as_tensor(encode_audio([np.asarray(audio, dtype=np.float32)], float(sample_rate)),
                               device=self.device).reshape(1, -1)

    @torch.no_grad()
    def predict_normalized(self, prompts: Sequence[str], view: torch.Tensor | None = None
                           ) -> dict[str, dict[str, torch.Tensor]]:
        """HeadOutputs for a list of prompts (no explicit values applied)."""
        return self._encode_and_run(prompts, view)[0]

    @torch.no_grad()
    def _encode_and_run(self, prompts: Sequence[str], view: torch.Tensor | None = None
                        ) -> tuple[dict[str, dict[str, torch.Tensor]], list[bool]]:
        """HeadOutputs and, per prompt, whether the encoder had to truncate it."""
        enc = self.encoder.encode(list(prompts))
        truncated = list(getattr(enc, "truncated", None) or [False] * len(prompts))
        dev = self.device
        was_training = self.net.training
        self.net.eval()
        try:
            return self.net(enc.tokens.to(dev, torch.float32), enc.mask.to(dev), enc.pooled.to(dev, torch.float32),
                            view), truncated
        finally:
            self.net.train(was_training)

    def head_outputs(self, prompts: Sequence[str], view: torch.Tensor | None = None
                     ) -> tuple[dict[str, dict[str, np.ndarray]], list[bool]]:
        """HeadOutputs as numpy arrays, and per prompt whether the encoder truncated it."""
        outputs, truncated = self._encode_and_run(prompts, view)
        return {name: {k: v.detach().cpu().numpy() for k, v in o.items()} for name, o in outputs.items()}, truncated


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def build_model(config: dict[str, Any], state: dict[str, torch.Tensor] | None = None, *, encoder: Any = None,
                path: str | Path | None = None, device: str = "cpu", source: str = "checkpoint") -> PresetModel:
    """A :class:`PresetModel` from a checkpoint config (and weights)."""
    from audiomanip.checkpoint import check_state_shapes

    mcfg = check_config(config, source)
    bad_config = (ValueError, TypeError, ZeroDivisionError, OverflowError, RuntimeError)
    # check_config bounded every size, so building the network first is cheap. (Not on the meta
    # device: initialising there imports torch._dynamo, 1.4 s of start-up on every `apply`.)
    try:
        net = PresetNet(mcfg)
    except bad_config as exc:
        raise CheckpointError(f"{source} has an invalid model config: {_first_line(exc)}") from None
    if state is not None:
        state = {k: v for k, v in state.items() if not k.startswith(OPTIMIZER_PREFIX)}
        check_state_shapes(state, net.state_dict(), source)
        broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if broken:
            raise CheckpointError(f"{source}: {len(broken)} weight tensor(s) hold NaN or infinite values, "
                                  f"e.g. {', '.join(broken[:3])}; the checkpoint is damaged")
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{source}: weights do not fit the model config ({str(exc).splitlines()[0]})") from None
    model = PresetModel(net, config, encoder=encoder, path=path)
    model.to(device)
    model.eval()
    return model

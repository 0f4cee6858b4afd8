"""CLAP (LAION contrastive language-audio) embeddings of text and audio: the optional ``clap`` extra.

``laion_clap`` is imported only when a :class:`ClapEncoder` is built without a module, so the
rest of audiomanip works without it. The checkpoint is read by us, safely: a ``.safetensors``
file, or a LAION ``.pt``/``.ckpt`` file through ``torch.load(weights_only=True)`` (tensors only,
no code runs), then loaded into ``module.model``.

A module is anything with the interface of ``laion_clap.CLAP_Module``: ``.model`` (the
``torch.nn.Module`` whose state the checkpoint holds), ``get_text_embedding(list[str])`` ->
[N, 512], ``get_audio_embedding_from_data(list of float32 [T] at 48 kHz, use_tensor=False)`` ->
[N, 512], and ``.tokenize`` (a Hugging Face tokenizer, used to report truncation).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Callable, Sequence

from audiomanip.errors import CheckpointError, DependencyError
from audiomanip.text.offline import offline_environment
from audiomanip.text.types import EncodedText, check_texts

#: Sample rate (Hz) CLAP's audio branch reads.
CLAP_SAMPLE_RATE = 48000
#: Longest text CLAP's RoBERTa tokenizer reads (tokens, special tokens included).
CLAP_MAX_TOKENS = 77
INSTALL_HINT = "install the clap extra: pip install 'audiomanip[clap]'"


def build_laion_module(device: str = "cpu", enable_fusion: bool = False,
                       audio_model: str = "HTSAT-tiny") -> Any:
    """A fresh ``laion_clap.CLAP_Module`` (random weights). Raises :class:`DependencyError`
    when laion-clap is missing and :class:`CheckpointError` when its RoBERTa tokenizer is not in
    the local Hugging Face cache (nothing is downloaded)."""
    try:
        import laion_clap
    except ImportError as exc:
        raise DependencyError(f"CLAP embeddings need laion-clap ({exc}); {INSTALL_HINT}") from None
    except Exception as exc:  # a broken install (numpy/torch mismatch ...) fails at import
        raise DependencyError(f"laion-clap is installed but does not import ({type(exc).__name__}: {exc}); "
                              f"reinstall it: {INSTALL_HINT}") from None
    with offline_environment(), contextlib.redirect_stdout(io.StringIO()):
        try:
            return laion_clap.CLAP_Module(enable_fusion=enable_fusion, device=device, amodel=audio_model)
        except OSError as exc:
            raise CheckpointError(
                "CLAP needs the roberta-base tokenizer in the Hugging Face cache and it is not there "
                f"({str(exc).splitlines()[0]}); fetch it once while online with `python -c \"from "
                "transformers import RobertaTokenizer; RobertaTokenizer.from_pretrained('roberta-base')\"`"
            ) from None


def read_clap_state(path: str | Path) -> dict[str, Any]:
    """The tensors of a CLAP checkpoint: ``.safetensors`` with safetensors, anything else with
    ``torch.load(weights_only=True)``. A ``state_dict`` entry is unwrapped, a ``module.`` prefix
    (DataParallel) and ``text_branch.embeddings.position_ids`` are dropped, as laion-clap does."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"CLAP checkpoint {path} is not a readable safetensors file: {exc}"
                                  ) from None
    else:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes about pickle protocols are not for users
                state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError ...
            raise CheckpointError(
                f"CLAP checkpoint {path} cannot be read safely with torch.load(weights_only=True): "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. "
                "If it comes from a source you trust, convert it to .safetensors first") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"CLAP checkpoint {path} holds no state dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    state.pop("text_branch.embeddings.position_ids", None)
    return state


class ClapEncoder:
    """Text and audio embeddings from a LAION CLAP checkpoint.

    ``checkpoint_path``: a CLAP checkpoint (``.pt``/``.ckpt`` from LAION or ``.safetensors``);
    ``device``: torch device string; ``enable_fusion``/``audio_model``: the laion-clap model
    the checkpoint was trained as; ``module``: an already built module with the
    ``CLAP_Module`` interface (see the module docstring) instead of building laion-clap's;
    ``module_factory``: ``f(device) -> module``, the same, built lazily.

    Text: :meth:`encode` gives each prompt as a one-token sequence (``tokens`` [B, 1, 512]) whose
    only vector is the L2-normalised CLAP text embedding, also ``pooled`` [B, 512].
    Audio: :meth:`encode_audio` gives the L2-normalised CLAP audio embedding.
    """

    backend = "clap"

    def __init__(self, checkpoint_path: str | Path, device: str = "cpu", *, enable_fusion: bool = False,
                 audio_model: str = "HTSAT-tiny", module: Any = None,
                 module_factory: Callable[[str], Any] | None = None, name: str | None = None):
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            raise CheckpointError(
                f"CLAP checkpoint {path} does not exist; download a LAION CLAP checkpoint (e.g. "
                "630k-audioset-best.pt from https://huggingface.co/lukewys/laion_clap) and pass its path")
        if module is None:
            module = (module_factory(device) if module_factory is not None
                      else build_laion_module(device, enable_fusion, audio_model))
        state = read_clap_state(path)
        try:
            module.model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"CLAP checkpoint {path} does not fit the {audio_model} "
                                  f"(fusion={enable_fusion}) model: {str(exc).splitlines()[0]}") from None
        module.model.to(device)
        module.model.eval()
        self.module = module
        self.device = device
        self.path = path
        self.name = name or f"clap:{path}"
        self.max_tokens = CLAP_MAX_TOKENS
        self.dim = int(self.encode(["a"]).pooled.shape[-1])

    def _truncated(self, texts: list[str]) -> list[bool]:
        tokenize = getattr(self.module, "tokenize", None)
        if not callable(tokenize):
            return [False] * len(texts)
        ids = tokenize(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return [len(x) > self.max_tokens for x in ids]

    def encode(self, texts: Sequence[str]) -> EncodedText:
        """Encode prompts -> :class:`EncodedText` with tokens [B, 1, D], mask [B, 1] (all True),
        pooled [B, D] (L2-normalised CLAP text embeddings) and truncated list[bool]."""
        import torch
        import torch.nn.functional as F

        texts = check_texts(texts)
        if not texts:
            return EncodedText.empty(getattr(self, "dim", 0), length=1)
        with torch.no_grad():
            embedded = torch.as_tensor(self.module.get_text_embedding(texts)).float().cpu()
        pooled = F.normalize(embedded.reshape(len(texts), -1), p=2, dim=1)
        return EncodedText(pooled[:, None, :].clone(), torch.ones(len(texts), 1, dtype=torch.bool), pooled,
                           self._truncated(texts))

    def encode_audio(self, audio: Any, sample_rate: float) -> "Any":
        """CLAP audio embedding(s), L2-normalised float32 torch tensors.

        ``audio``: numpy float32 [C, T] or [T] at ``sample_rate`` Hz -> Tensor [D]; or a list of
        such arrays -> Tensor [N, D]. Channels are averaged to mono and resampled to 48 kHz.
        """
        import numpy as np
        import torch
        import torch.nn.functional as F

        from audiomanip.audio_io import resample

        single = not isinstance(audio, (list, tuple))
        clips = [audio] if single else list(audio)
        mono = []
        for clip in clips:
            x = np.asarray(clip, dtype=np.float32)
            if x.ndim == 2:
                x = x.mean(axis=0)
            if x.ndim != 1 or x.size == 0:
                raise ValueError(f"audio must be a non-empty [C, T] or [T] array, got shape {np.shape(clip)}")
            at_48k = resample(x, int(sample_rate), CLAP_SAMPLE_RATE)
            mono.append(np.ascontiguousarray(at_48k, dtype=np.float32))
        with torch.no_grad():
            embedded = torch.as_tensor(self.module.get_audio_embedding_from_data(mono, use_tensor=False))
        embedded = F.normalize(embedded.float().cpu().reshape(len(mono), -1), p=2, dim=1)
        return embedded[0] if single else embedded

    def __repr__(self) -> str:
        return f"ClapEncoder(path={str(self.path)!r}, dim={self.dim})"

"""``load_model``: THE loader of a checkpoint's preset model (``audiomanip.load_model``), on
ONNX Runtime, or on torch when asked or when it must.

Backends: ``"onnx"`` (ONNX Runtime, torch-free: needs the checkpoint's graph, a text-only or
profile-view model and the default text encoder), ``"torch"`` (:class:`audiomanip.model.PresetModel` via
:func:`audiomanip.model.build_model`, needs the ``train`` extra: training, ``eval --backend
torch``, ONNX export) and ``"auto"``: ONNX Runtime when the checkpoint has its graph, else
torch. Every caller (apply, batch, export-preset, eval, training's exports) loads through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from audiomanip.errors import CheckpointError, DependencyError, DeviceError, UsageError

BACKENDS = ("auto", "onnx", "torch")


def onnx_cuda_available() -> bool:
    """True when ONNX Runtime has its CUDA execution provider."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _torch_cuda_available() -> bool:
    """torch's CUDA probe when torch is installed (imports it: only asked when ONNX Runtime has no CUDA)."""
    if not _torch_installed():
        return False
    import torch

    return torch.cuda.is_available()


def choose_backend(path: str | Path, config: dict[str, Any], backend: str = "auto") -> str:
    """``"onnx"`` or ``"torch"`` for a checkpoint (see the module docstring).
    :class:`CheckpointError` when ``"onnx"`` is asked for a checkpoint that cannot run there."""
    from audiomanip.inference.model import ONNX_VIEWS, graph_file, reexport_hint
    from audiomanip.text.loader import is_default_encoder

    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return "torch"
    view = config.get("model", {}).get("audio_view", "none") if isinstance(config.get("model"), dict) else "none"
    problem = None
    if view not in ONNX_VIEWS:
        problem = f"it reads the input audio ({view!r} view), which runs on torch only"
    elif not is_default_encoder(config["encoder"]["name"]):
        problem = f"its text encoder {config['encoder']['name']!r} runs on torch only"
    elif not graph_file(path).is_file():
        problem = f"it has no ONNX graph {graph_file(path).name}; {reexport_hint(path)}"
    if problem is None:
        return "onnx"
    if backend == "onnx":
        raise CheckpointError(f"checkpoint {path} cannot run on ONNX Runtime: {problem}")
    return "torch"


def load_model(checkpoint_path: str | Path | None = None, checkpoint_dir: str | Path | None = None, *,
               device: str = "cpu", backend: str = "auto", encoder: Any = None, optimize: bool = False,
               note: Callable[[str], None] | None = None) -> Any:
    """The preset model of the checkpoint found by :func:`audiomanip.checkpoint.find_checkpoint`'s
    rule, on the ``backend`` (see the module docstring).

    ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"`` (resolved for the backend's runtime; ``note``
    receives the CPU fall-back message of ``auto``). ``encoder``: a text encoder to use instead
    of the checkpoint's. ``optimize``: for many prompts (ONNX Runtime optimises its graphs at
    load, see :func:`audiomanip.inference.weights.open_session`). Returns an object with ``predict``/``predict_many``, ``info`` and
    ``encoder``. Raises :class:`CheckpointError` or :class:`DependencyError`.
    """
    from audiomanip.checkpoint import find_checkpoint, load_checkpoint_config, verify_weights
    from audiomanip.device import resolve_device

    if backend != "torch" and (device or "auto").lower() != "auto":
        # a device no runtime can use is an error before any file is read (auto never is one)
        resolve_device(device, cuda_available=lambda: onnx_cuda_available() or _torch_cuda_available(),
                       runtime="onnxruntime")
    path = find_checkpoint(checkpoint_path=checkpoint_path, checkpoint_dir=checkpoint_dir)
    config = load_checkpoint_config(path)
    chosen = choose_backend(path, config, backend)
    if chosen == "torch":
        if not _torch_installed():
            raise DependencyError(f"checkpoint {path} needs torch (the train extra: pip install "
                                  f"'audiomanip[train]'), or its ONNX graph: {choose_reason(path, config)}")
        from audiomanip.checkpoint import load_checkpoint
        from audiomanip.model import build_model

        state, config = load_checkpoint(path)
        return build_model(config, state, encoder=encoder, path=path, device=resolve_device(device, note=note),
                           source=str(path))
    from audiomanip.inference.heads import check_checkpoint_kind
    from audiomanip.inference.model import OnnxPresetModel

    from audiomanip.inference.weights import nonfinite_tensors

    check_checkpoint_kind(config, str(path))
    broken = nonfinite_tensors(verify_weights(path, config))
    if broken:
        raise CheckpointError(f"{path}: {len(broken)} weight tensor(s) hold NaN or infinite values, "
                              f"e.g. {', '.join(broken[:3])}; the checkpoint is damaged")
    resolved = resolve_device(device, note=note, cuda_available=onnx_cuda_available, runtime="onnxruntime")
    try:
        return OnnxPresetModel(config, path, encoder=encoder, device=resolved, optimize=optimize)
    except DeviceError as exc:
        if (device or "auto").lower() != "auto":
            raise
        if note:  # auto never fails for want of CUDA
            note(f"CUDA not usable ({str(exc).split(': ', 1)[-1].split(';')[0]}): running on CPU")
        return OnnxPresetModel(config, path, encoder=encoder, device="cpu", optimize=optimize)


def choose_reason(path: str | Path, config: dict[str, Any]) -> str:
    """Why a checkpoint cannot run on ONNX Runtime (the message of :func:`choose_backend`)."""
    try:
        choose_backend(path, config, "onnx")
    except CheckpointError as exc:
        return str(exc).split(": ", 1)[-1]
    return "it can"

"""Automatic compute-device choice (``--device auto|cpu|cuda``)."""

from __future__ import annotations

from typing import Callable

from audiomanip.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def _torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(name: str = "auto", note: Callable[[str], None] | None = None, *,
                   cuda_available: Callable[[], bool] | None = None, runtime: str = "torch") -> str:
    """Return ``"cpu"`` or ``"cuda"`` (``"cuda:N"`` when asked) for a user's choice.

    ``auto`` picks CUDA when available and otherwise CPU, calling ``note`` with a short
    message on the fallback; ``cuda`` without CUDA raises :class:`DeviceError`.
    ``cuda_available``: the probe of the runtime that will compute (default: torch's);
    ``runtime``: its name in messages (``"torch"``, ``"onnxruntime"``).
    """
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "cpu":
        return "cpu"
    available = (cuda_available or _torch_cuda_available)()
    if name == "auto":
        if available:
            return "cuda"
        if note:
            note("CUDA not available: running on CPU")
        return "cpu"
    if not available:
        why = ("onnxruntime-gpu is not installed" if runtime == "onnxruntime"
               else f"{runtime} was installed without CUDA")
        raise DeviceError(
            f"--device {name} was asked for but CUDA is not available "
            f"(no NVIDIA GPU, or {why}); use --device cpu or auto"
        )
    return name

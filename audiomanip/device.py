"""Automatic compute-device choice (``--device auto|cpu|cuda``)."""

from __future__ import annotations

from typing import Callable

from audiomanip.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", note: Callable[[str], None] | None = None) -> str:
    """Return ``"cpu"`` or ``"cuda"`` (a torch device string) for a user's choice.

    ``auto`` picks CUDA when available and otherwise CPU, calling ``note`` with a short
    message on the fallback; ``cuda`` without CUDA raises :class:`DeviceError`.
    """
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        if available:
            return "cuda"
        if note:
            note("CUDA not available: running on CPU")
        return "cpu"
    if not available:
        raise DeviceError(
            f"--device {name} was asked for but CUDA is not available "
            "(no NVIDIA GPU, or torch was installed without CUDA); use --device cpu or auto"
        )
    return name

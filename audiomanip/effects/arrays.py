"""The array library of the DSP math: numpy for the renderer, torch for training.

The formulas of the effects (biquad coefficients, the waveshaper, the compressor's gain
computer, the reverb's impulse response) are written once, against the Python array API
standard through ``array-api-compat``: called with numpy arrays they run on numpy (the renderer,
the exports, the plots; torch is never imported), called with torch tensors they run on torch
with autograd (training). This module picks the namespace and converts scalar arguments.

For numpy arrays the namespace is ``numpy`` itself where numpy implements the standard in its
main namespace (numpy >= 2.1) for every function the effects use: importing
``array_api_compat.numpy`` costs about 60 ms at start-up (it walks numpy's whole namespace,
loading f2py, testing and ma) and its wrappers add nothing there. Older numpy gets the wrapper.
"""

from __future__ import annotations

import functools
import numbers

import array_api_compat
from numpy.lib import NumpyVersion


@functools.cache
def numpy_namespace():
    """The array-API namespace of numpy arrays: ``numpy`` itself from numpy 2.1 on (its main
    namespace is the standard's for what the effects use), else ``array_api_compat.numpy``."""
    import numpy

    if NumpyVersion(numpy.__version__) >= "2.1.0":
        return numpy
    import array_api_compat.numpy as xp

    return xp


def namespace(*values, default: str = "numpy"):
    """The array-API namespace of the arrays among ``values`` (Python and numpy scalars and
    ``None`` are ignored); ``default`` (``"numpy"`` or ``"torch"``) when there is none.
    Arrays of different libraries raise TypeError."""
    arrays = [v for v in values if v is not None and not isinstance(v, numbers.Number)]
    if arrays:
        if all(array_api_compat.is_numpy_array(a) for a in arrays):
            return numpy_namespace()
        return array_api_compat.array_namespace(*arrays)
    if default == "torch":
        import array_api_compat.torch as xp

        return xp
    return numpy_namespace()


def is_torch(xp) -> bool:
    """Whether ``xp`` is the torch namespace."""
    return array_api_compat.is_torch_namespace(xp)


def float_arrays(xp, *values, dtype=None, device=None) -> list:
    """``values`` (arrays or numbers) as arrays of ``xp`` with one floating dtype and device,
    broadcast together. The dtype is ``dtype``, else that of the first floating array among
    ``values``, else float64 (float32 for torch, its default); the device is ``device``, else
    that of the first array."""
    arrays = [v for v in values if not isinstance(v, numbers.Number)]
    if dtype is None:
        floats = [a.dtype for a in arrays if xp.isdtype(a.dtype, "real floating")]
        dtype = floats[0] if floats else (xp.float32 if is_torch(xp) else xp.float64)
    if device is None and arrays:
        device = array_api_compat.device(arrays[0])

    def convert(v):
        if isinstance(v, numbers.Number):
            return xp.asarray(v, dtype=dtype, device=device)
        if namespace(v) is not xp:
            v = xp.asarray(v)
        if array_api_compat.device(v) != device:
            v = array_api_compat.to_device(v, device)
        return xp.astype(v, dtype, copy=False)

    return list(xp.broadcast_arrays(*(convert(v) for v in values)))


def device(x):
    """The device of the array ``x`` (``"cpu"`` for numpy)."""
    return array_api_compat.device(x)


def scalar(x) -> float:
    """The value of a 0-d array (numpy or torch, also one that requires a gradient) or number."""
    return float(x.detach()) if hasattr(x, "detach") else float(x)


def as_batch(value, ref):
    """``value`` (a number, sequence or tensor; one entry per batch item, or one for all) as a
    torch ``Tensor[B]`` (``[1]`` for a number, which broadcasts) on ``ref``'s device and dtype.
    Torch only: the per-item settings of a batch while training."""
    import torch

    return torch.as_tensor(value, device=ref.device, dtype=ref.dtype).reshape(-1)

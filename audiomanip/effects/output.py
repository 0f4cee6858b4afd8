"""Output gain (the renderer adds true-peak safety after it), numpy or torch."""

from __future__ import annotations

from audiomanip.effects.arrays import device, float_arrays, namespace


def output(x, gain_db):
    """Multiply ``x [B, C, T]`` by ``10 ** (gain_db / 20)``; ``gain_db [B]`` in dB.

    Returns ``[B, C, T]`` in the dtype/device of ``x`` (numpy or torch, differentiable in torch).
    """
    xp = namespace(x, gain_db)
    (gain_db,) = float_arrays(xp, gain_db, dtype=x.dtype, device=device(x))
    return x * (10.0 ** (xp.reshape(gain_db, (-1,)) / 20.0))[:, None, None]


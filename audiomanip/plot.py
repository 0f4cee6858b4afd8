"""PNG plots of a preset: the EQ magnitude response and input/output spectra.

matplotlib (Agg backend, no display needed) is imported only when a plot is drawn; it is the
optional ``plot`` extra (``pip install 'audiomanip[plot]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.effects.registry import REGISTRY, EffectRegistry
from audiomanip.params import Preset

#: Seconds of audio read from each file for the spectra.
SPECTRUM_SECONDS = 30.0


def require_matplotlib() -> None:
    """:class:`DependencyError` saying how to install matplotlib when it is missing (checked
    before any work, so that ``--plot`` fails at once)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        from audiomanip.errors import DependencyError

        raise DependencyError("--plot needs matplotlib, which is not installed: pip install 'audiomanip[plot]'")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed); see :func:`require_matplotlib`."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def eq_curve_db(preset: Preset, sample_rate: float, freqs_hz: np.ndarray, *,
                registry: EffectRegistry = REGISTRY) -> np.ndarray:
    """Magnitude response in dB at ``freqs_hz`` (shape [F]) of the preset's filter effects: the
    sum of the ``response_db`` of every effect of ``registry`` that declares one and is enabled
    (the EQ, by the renderer's biquads, numpy only). 0 dB everywhere when none is enabled."""
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    curve = np.zeros_like(freqs_hz)
    for name, entry in registry.items():
        if entry.response_db is not None and preset.enabled[name]:
            curve = curve + entry.response_db(preset[name], sample_rate, freqs_hz)
    return curve


def plot_preset(
    preset: Preset,
    png_path: str | Path,
    *,
    sample_rate: float = 48000.0,
    input_audio: np.ndarray | None = None,
    output_audio: np.ndarray | None = None,
    title: str | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a PNG: the EQ curve (dB over a log frequency axis, 20 Hz to Nyquist) and, when
    audio [C, T] is given, the input and output spectra beneath. Returns the path."""
    plt = pyplot()
    png_path = Path(png_path)
    nyquist = sample_rate / 2.0
    freqs = np.geomspace(20.0, min(20000.0, nyquist * 0.999), 512)
    curve = eq_curve_db(preset, sample_rate, freqs)
    spectra = input_audio is not None or output_audio is not None
    fig, axes = plt.subplots(2 if spectra else 1, 1, figsize=(8, 6.5 if spectra else 3.6), squeeze=False)
    ax = axes[0][0]
    ax.semilogx(freqs, curve, color="tab:blue", lw=2)
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlim(freqs[0], freqs[-1])
    lim = max(6.0, float(np.ceil(np.max(np.abs(curve)) / 3.0) * 3.0 + 3.0))
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("EQ gain (dB)")
    # parse_math=False: a prompt or preset name with "$" is a title, not TeX
    ax.set_title(title or "EQ response" + ("" if preset.enabled["eq"] else " (EQ off)"), parse_math=False)
    ax.grid(True, which="both", alpha=0.3)
    if spectra:
        from audiomanip.features import power_spectrum

        ax2 = axes[1][0]
        for audio, label, color in ((input_audio, "input", "0.5"), (output_audio, "output", "tab:orange")):
            if audio is None or np.size(audio) == 0:
                continue
            f, power = power_spectrum(np.mean(np.atleast_2d(audio), axis=0), sample_rate)  # mono mix
            db = 10.0 * np.log10(np.maximum(power, 1e-20))
            keep = f >= 20.0
            ax2.semilogx(f[keep], db[keep], label=label, color=color, lw=1.2)
        ax2.set_xlim(freqs[0], freqs[-1])
        ax2.set_xlabel("frequency (Hz)")
        ax2.set_ylabel("power (dB)")
        ax2.legend(loc="lower left")
        ax2.grid(True, which="both", alpha=0.3)
    else:
        ax.set_xlabel("frequency (Hz)")
    fig.tight_layout()
    return save_figure(fig, png_path, overwrite=overwrite)


def save_figure(fig: Any, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write a matplotlib figure as PNG (110 dpi) through :func:`audiomanip.destination.write_atomic`
    (regular files only, no half-written file), and close it."""
    import io

    import matplotlib.pyplot as plt

    from audiomanip.destination import write_atomic

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110)
    finally:
        plt.close(fig)
    return write_atomic(path, buffer.getvalue(), overwrite=overwrite)

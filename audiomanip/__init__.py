"""audiomanip: words to audio effects.

The library in four names (README.md has the command line):

- :class:`Preset`: a chain of effects in the schema's units; ``Preset.load(path)``,
  ``preset.save(path)``, ``preset.describe()``.
- :func:`load_model`: the preset model (the shipped one unless a checkpoint is given), on ONNX
  Runtime without torch; ``model.predict(prompt).preset`` is a :class:`Preset`.
- :func:`render`: a preset applied to audio in memory, ``[channels, samples]`` float at a
  sample rate in Hz, returning float32 ``[channels, samples + reverb tail]``.
- :func:`render_file`: a preset applied to an audio file, streaming, written atomically.

Example::

    >>> import numpy as np
    >>> import audiomanip
    >>> model = audiomanip.load_model()
    >>> preset = model.predict("a bit brighter, up 2 semitones").preset
    >>> preset.values["pitch"]["semitones"]
    2.0
    >>> sr = 44100
    >>> tone = 0.1 * np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)
    >>> out = audiomanip.render(preset, tone, sr)
    >>> out.dtype, out.shape[0], out.shape[1] >= sr
    (dtype('float32'), 1, True)
    >>> result = audiomanip.render_file(preset, "examples/voice.wav", "voice-bright.wav")  # doctest: +SKIP

Importing this package is cheap: each of the four loads its module on first use, and torch is
never imported by them (``load_model(backend="torch")`` is the training-side exception).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Preset", "load_model", "render", "render_file", "__version__"]

#: The public names and the module each lives in (imported on first use).
_API = {
    "Preset": "audiomanip.params",
    "load_model": "audiomanip.inference.loader",
    "render": "audiomanip.rendering",
    "render_file": "audiomanip.rendering",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from audiomanip.inference.loader import load_model
    from audiomanip.params import Preset
    from audiomanip.rendering import render, render_file


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'audiomanip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

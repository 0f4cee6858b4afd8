"""Export a Preset for other tools: an ffmpeg ``-af`` filter chain and the reverb IR as a WAV.

The ffmpeg chain runs the effects of :data:`audiomanip.effects.registry.REGISTRY` in the schema's
order (pitch → eq → distortion → compressor → reverb → output), each as the ``ffmpeg -af``
fragment its module declares (``ffmpeg_filter`` in ``audiomanip/effects/<name>.py``, whose
docstring says which of ffmpeg's own filters it uses, parameter for parameter).

The reverb's IR is written beside the chain file (``<stem>_ir.wav``, 32-bit float, stereo) and
referenced by its absolute path, so the chain works from any folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiomanip.effects.registry import REGISTRY, EffectRegistry
from audiomanip.errors import DependencyError, OutputError
from audiomanip.params import Preset

PITCH_METHODS = ("rubberband", "asetrate")


def filter_number(x: float) -> str:
    """A number for a filter argument: plain decimal, no exponent, enough digits."""
    text = f"{float(x):.9f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def filter_path(path: Path) -> str:
    """A file path as a filtergraph option value (two levels of ffmpeg escaping)."""
    value = str(path)
    # level 1: option value inside the filter's arguments
    value = re.sub(r"([\\':])", r"\\\1", value)
    # level 2: the filtergraph description
    value = re.sub(r"([\\'\[\],;])", r"\\\1", value)
    return value


def reverb_ir(preset: Preset, sample_rate: int) -> np.ndarray:
    """The preset's reverb impulse response, float32 ``[2, N]`` at ``sample_rate`` Hz: the very
    IR the renderer convolves with (whether or not the reverb is enabled)."""
    from audiomanip.effects.reverb import reverb_ir_numpy

    return reverb_ir_numpy(preset["reverb"], float(sample_rate)).astype(np.float32)


def write_ir(preset: Preset, path: str | Path, sample_rate: int, *, overwrite: bool = False) -> Path:
    """Write the reverb IR as a stereo 32-bit float WAV (any convolution reverb can load it)."""
    from audiomanip import audio_io

    ir = reverb_ir(preset, sample_rate)
    audio_io.write(path, ir, int(sample_rate), subtype="FLOAT", overwrite=overwrite)
    return Path(path)


def ffmpeg_version() -> tuple[int, int] | None:
    """(major, minor) of the ffmpeg on PATH, or None when there is none."""
    exe = shutil.which("ffmpeg")
    if not exe:
        return None
    try:
        first = subprocess.run(
            [exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20
        ).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
    m = re.search(r"version\s+n?(\d+)\.(\d+)", first)
    return (int(m.group(1)), int(m.group(2))) if m else None


_AFIR_GAIN_CACHE: dict[str, float] = {}


def afir_gain(norm_option: str) -> float:
    """The gain the installed ffmpeg's ``afir`` applies to an IR with ``norm_option`` set
    (1.0 when ffmpeg is missing or the probe fails).

    Measured once per process: an impulse through a 16-tap IR whose first tap is 1. ffmpeg 5.1
    doubles the output with ``gtype=none``; the chain divides the wet weight by this gain.
    """
    if norm_option in _AFIR_GAIN_CACHE:
        return _AFIR_GAIN_CACHE[norm_option]
    gain = 1.0
    exe = shutil.which("ffmpeg")
    if exe:
        import tempfile

        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            ir = np.zeros(16, np.float32)
            ir[0] = 1.0
            x = np.zeros(256, np.float32)
            x[0] = 1.0
            sf.write(f"{tmp}/ir.wav", ir, 8000, subtype="FLOAT")
            sf.write(f"{tmp}/x.wav", x, 8000, subtype="FLOAT")
            ir_ref = filter_path(Path(tmp) / "ir.wav")
            try:
                run_ffmpeg_chain(f"amovie={ir_ref}[ir];[in][ir]afir={norm_option}", f"{tmp}/x.wav",
                                 f"{tmp}/y.wav", timeout_s=30)
                y, _ = sf.read(f"{tmp}/y.wav", dtype="float32")
                if y.size and abs(float(y[0])) > 1e-3:
                    gain = float(y[0])
            except (OutputError, OSError, subprocess.SubprocessError, RuntimeError):
                pass  # keep 1.0: the chain is still valid, only the wet level may differ
    _AFIR_GAIN_CACHE[norm_option] = gain
    return gain


@dataclass(frozen=True)
class FfmpegSettings:
    """What an effect's ``ffmpeg_filter(values, settings)`` may need besides its settings (see
    :func:`ffmpeg_filter_chain` for each field)."""

    sample_rate: int = 48000
    input_channels: int = 2
    pitch_method: str = "rubberband"
    ir_path: str | Path | None = None
    ffmpeg_major: int | None = None

    def afir_normalisation(self) -> tuple[str, float]:
        """``(afir option that turns IR gain normalisation off, gain afir still applies)``:
        ``gtype=none`` before ffmpeg 6, ``irnorm=-1`` from 6 on; with ``ffmpeg_major`` None the
        installed ffmpeg's version (6 when there is none) and its measured :func:`afir_gain`,
        else that version and a gain of 1."""
        major = self.ffmpeg_major
        if major is None:
            ver = ffmpeg_version()
            major = ver[0] if ver else 6
        norm = "gtype=none" if major < 6 else "irnorm=-1"
        return norm, afir_gain(norm) if self.ffmpeg_major is None else 1.0


def ffmpeg_filter_chain(
    preset: Preset,
    *,
    ir_path: str | Path | None = None,
    sample_rate: int = 48000,
    input_channels: int = 2,
    pitch_method: str = "rubberband",
    ffmpeg_major: int | None = None,
    registry: EffectRegistry = REGISTRY,
) -> str:
    """The preset as one ``ffmpeg -af`` filter chain string: the ``ffmpeg_filter`` of every
    effect of ``registry`` (default: the schema's) that the preset enables, in order.

    ``ir_path`` is the IR WAV the ``afir`` stage reads (needed when the reverb is enabled;
    written by :func:`write_ir`). ``sample_rate`` (Hz) is the rate of the audio the chain will
    process (``asetrate`` pitch shifting and the length of the reverb tail use it; write the IR
    at the same rate for an exact match). ``input_channels`` is that audio's channel count:
    channel c is convolved with IR channel c % 2, as in the renderer (a ``pan`` picks the IR
    channels when it is not 2; with another count ffmpeg would mix the IR's channels).
    ``ffmpeg_major`` picks the afir option spelling (ffmpeg < 6:
    ``gtype=none``; 6 and later: ``irnorm=-1``); default: the installed ffmpeg's, else 6. With
    the default, the wet weight is also corrected by :func:`afir_gain` of the installed ffmpeg.
    A bypass preset gives ``anull``.
    """
    if pitch_method not in PITCH_METHODS:
        raise ValueError(f"pitch_method must be one of {PITCH_METHODS}")
    settings = FfmpegSettings(sample_rate=sample_rate, input_channels=input_channels,
                              pitch_method=pitch_method, ir_path=ir_path, ffmpeg_major=ffmpeg_major)
    fragments = [entry.ffmpeg_filter(preset[name], settings) for name, entry in registry.items()
                 if preset.enabled[name]]
    return ",".join(f for f in fragments if f) or "anull"


def write_ffmpeg_chain(
    preset: Preset,
    path: str | Path,
    *,
    sample_rate: int = 48000,
    input_channels: int = 2,
    pitch_method: str = "rubberband",
    overwrite: bool = False,
) -> tuple[Path, Path | None]:
    """Write the chain (one line) to ``path`` and, when the reverb is enabled, its IR (at
    ``sample_rate`` Hz) to ``<stem>_ir.wav`` beside it. Returns ``(chain_path, ir_path or None)``.
    See :func:`ffmpeg_filter_chain` for ``sample_rate`` and ``input_channels``.

    Use it as ``ffmpeg -i in.wav -af "$(cat chain.txt)" out.wav``.
    """
    from audiomanip.destination import check_destination
    from audiomanip.outputs import write_text_atomic

    path = Path(path)
    check_destination(path, overwrite=overwrite)
    ir_path = None
    if preset.enabled["reverb"]:
        ir_path = path.with_name(f"{path.stem}_ir.wav")
        check_destination(ir_path, overwrite=overwrite)
        write_ir(preset, ir_path, sample_rate, overwrite=overwrite)
    chain = ffmpeg_filter_chain(
        preset,
        ir_path=ir_path,
        sample_rate=sample_rate,
        input_channels=input_channels,
        pitch_method=pitch_method,
    )
    write_text_atomic(path, chain, overwrite=overwrite)
    return path, ir_path


def run_ffmpeg_chain(
    chain: str, in_path: str | Path, out_path: str | Path, *, timeout_s: float = 120.0
) -> None:
    """Run ``ffmpeg -i in -af chain out`` (used by tests and to check an export).

    DependencyError when ffmpeg is not installed; OutputError with ffmpeg's last message lines
    when it fails.
    """
    exe = shutil.which("ffmpeg")
    if not exe:
        raise DependencyError("ffmpeg is not installed (apt install ffmpeg)")
    proc = subprocess.run(
        [
            exe,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(in_path),
            "-af",
            chain,
            "-c:a",
            "pcm_f32le",
            str(out_path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise OutputError(f"ffmpeg failed ({proc.returncode}): {tail}")


__all__ = [
    "FfmpegSettings",
    "filter_number",
    "filter_path",
    "reverb_ir",
    "write_ir",
    "ffmpeg_filter_chain",
    "write_ffmpeg_chain",
    "run_ffmpeg_chain",
    "ffmpeg_version",
    "PITCH_METHODS",
]

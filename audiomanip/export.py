"""Export a Preset for other tools: an ffmpeg ``-af`` filter chain and the reverb IR as a WAV.

The ffmpeg chain follows the schema's order (pitch → eq → distortion → compressor → reverb →
output) with ffmpeg's own filters, parameter for parameter:

============  ===============================================================================
pitch         ``rubberband=pitch=2^(st/12)`` (tempo kept), or with ``pitch_method="asetrate"``
              ``asetrate=SR·r,aresample=SR,atempo=1/r`` (``SR``: the audio's sample rate)
eq            per band ``lowshelf`` / ``equalizer`` / ``highshelf`` (f, gain, Q) and 2-pole
              ``lowpass`` / ``highpass`` (f, Q): ffmpeg's biquads are the same RBJ cookbook
              filters as ours (``width_type=q``), so the response is identical
distortion    ``aeval`` with our exact waveshaper ``k·(tanh(g·x + b) − tanh(b))`` (constants
              computed here by :mod:`audiomanip.effects.distortion`), then its DC blocker: the
              same RBJ 2-pole ``highpass`` (``DC_BLOCK_HZ``, ``DC_BLOCK_Q``)
compressor    ``acompressor`` with the same threshold, ratio, attack, release and make-up, peak
              detection and a hard knee (ffmpeg links the channels; ballistics differ slightly)
reverb        ``apad`` (room for the tail), ``asplit``; ``amovie=<IR WAV>`` (``pan`` to the
              audio's channel count when not stereo) into ``afir`` (IR gain normalisation off)
              and ``amix`` of dry and wet with our dry/wet weights
output        ``volume=<gain>dB``
============  ===============================================================================

The reverb's IR is written beside the chain file (``<stem>_ir.wav``, 32-bit float, stereo) and
referenced by its absolute path, so the chain works from any folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from audiomanip.errors import DependencyError, OutputError
from audiomanip.params import Preset

PITCH_METHODS = ("rubberband", "asetrate")


def pitch_ratio(semitones: float) -> float:
    """Frequency ratio of a shift by ``semitones`` (12 = ×2)."""
    return 2.0 ** (float(semitones) / 12.0)


def _num(x: float) -> str:
    """A number for a filter argument: plain decimal, no exponent, enough digits."""
    text = f"{float(x):.9f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _quote_path(path: Path) -> str:
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
    from audiomanip.render import reverb_ir_numpy

    return reverb_ir_numpy(preset["reverb"], float(sample_rate)).astype(np.float32)


def write_ir(preset: Preset, path: str | Path, sample_rate: int, *, overwrite: bool = False) -> Path:
    """Write the reverb IR as a stereo 32-bit float WAV (any convolution reverb can load it)."""
    from audiomanip import audio_io

    ir = reverb_ir(preset, sample_rate)
    audio_io.write(path, ir, int(sample_rate), subtype="FLOAT", overwrite=overwrite)
    return Path(path)


def _distortion_expr(drive_db: float, color: float) -> str:
    from audiomanip.effects import distortion as dist

    k = float(dist.compensation_gain(np.array([float(drive_db)]), np.array([float(color)]))[0])
    g = 10.0 ** (drive_db / 20.0)
    b = dist.MAX_BIAS * color
    return f"{_num(k)}*(tanh({_num(g)}*val(ch)+{_num(b)})-tanh({_num(b)}))"


def _dc_blocker_filter() -> str:
    """ffmpeg's RBJ 2-pole high-pass with the distortion's DC-blocker settings (the renderer's
    biquad: within 3e-8 of it on float input at 40 dB drive, color 1)."""
    from audiomanip.effects import distortion as dist

    return f"highpass=f={_num(dist.DC_BLOCK_HZ)}:p=2:t=q:w={_num(dist.DC_BLOCK_Q)}"


def _reverb_weights(wet: float) -> tuple[float, float]:
    """(dry weight, wet weight) of the reverb's mix: (1 - wet)·x + wet·(x ⊛ IR), as
    :func:`audiomanip.effects.reverb.reverb` and the renderer mix."""
    return 1.0 - float(wet), float(wet)


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
            ir_ref = _quote_path(Path(tmp) / "ir.wav")
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


def ffmpeg_filter_chain(
    preset: Preset,
    *,
    ir_path: str | Path | None = None,
    sample_rate: int = 48000,
    input_channels: int = 2,
    pitch_method: str = "rubberband",
    ffmpeg_major: int | None = None,
) -> str:
    """The preset as one ``ffmpeg -af`` filter chain string.

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
    filters: list[str] = []
    if preset.enabled["pitch"] and abs(float(preset["pitch"]["semitones"])) > 1e-9:
        r = pitch_ratio(preset["pitch"]["semitones"])
        if pitch_method == "rubberband":
            filters.append(f"rubberband=pitch={_num(r)}:tempo=1")
        else:
            filters.append(
                f"asetrate={_num(sample_rate * r)},aresample={int(sample_rate)},atempo={_num(1.0 / r)}"
            )
    if preset.enabled["eq"]:
        from audiomanip.params import eq_bands

        for band in eq_bands(preset["eq"]):
            kind, f, g, q = band.type, band.freq_hz, band.gain_db, band.q
            if kind == "peak":
                if abs(g) > 1e-9:
                    filters.append(f"equalizer=f={_num(f)}:t=q:w={_num(q)}:g={_num(g)}")
            elif kind in ("low_shelf", "high_shelf"):
                if abs(g) > 1e-9:
                    name = "lowshelf" if kind == "low_shelf" else "highshelf"
                    filters.append(f"{name}=f={_num(f)}:t=q:w={_num(q)}:g={_num(g)}")
            else:
                name = "lowpass" if kind == "low_pass" else "highpass"
                filters.append(f"{name}=f={_num(f)}:p=2:t=q:w={_num(q)}")
    if preset.enabled["distortion"]:
        d = preset["distortion"]
        filters.append(f"aeval='{_distortion_expr(float(d['drive_db']), float(d['color']))}':c=same")
        filters.append(_dc_blocker_filter())
    if preset.enabled["compressor"]:
        c = preset["compressor"]
        threshold = max(10.0 ** (float(c["threshold_db"]) / 20.0), 0.000976563)
        makeup = 10.0 ** (float(c["makeup_db"]) / 20.0)
        filters.append(
            f"acompressor=threshold={_num(threshold)}:ratio={_num(c['ratio'])}:attack={_num(c['attack_ms'])}"
            f":release={_num(c['release_ms'])}:makeup={_num(makeup)}:knee=1:detection=peak"
        )
    chain = ",".join(filters)
    if preset.enabled["reverb"]:
        if ir_path is None:
            raise ValueError("the reverb is enabled: an IR file (ir_path) is needed for afir")
        from audiomanip.effects.reverb import ir_length

        r = preset["reverb"]
        dry_w, wet_w = _reverb_weights(float(r["wet"]))
        # room for the whole tail, as the renderer writes it
        tail_s = ir_length(sample_rate, float(r["room_size"]), float(r["pre_delay_ms"])) / sample_rate
        major = ffmpeg_major
        if major is None:
            ver = ffmpeg_version()
            major = ver[0] if ver else 6
        norm = "gtype=none" if major < 6 else "irnorm=-1"
        wet_w /= afir_gain(norm) if ffmpeg_major is None else 1.0
        ir = _quote_path(Path(ir_path).resolve())
        if input_channels == 2:
            pick = ""
        elif input_channels == 1:
            pick = ",pan=mono|c0=c0"
        else:
            pick = f",pan={input_channels}c|" + "|".join(f"c{c}=c{c % 2}" for c in range(input_channels))
        reverb = (
            f"apad=pad_dur={_num(tail_s)},asplit=2[am_dry][am_send];"
            f"amovie={ir}{pick}[am_ir];"
            f"[am_send][am_ir]afir={norm}:dry=1:wet=1[am_wet];"
            f"[am_dry][am_wet]amix=inputs=2:weights={_num(dry_w)} {_num(wet_w)}:normalize=0:duration=longest"
        )
        chain = f"{chain},{reverb}" if chain else reverb
    if preset.enabled["output"] and abs(float(preset["output"]["gain_db"])) > 1e-9:
        gain = f"volume={_num(preset['output']['gain_db'])}dB"
        chain = f"{chain},{gain}" if chain else gain
    return chain or "anull"


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
    "pitch_ratio",
    "reverb_ir",
    "write_ir",
    "ffmpeg_filter_chain",
    "write_ffmpeg_chain",
    "run_ffmpeg_chain",
    "ffmpeg_version",
    "PITCH_METHODS",
]

"""Reading audio files: :func:`info` describes a file, :func:`read` loads it (optionally a
range, optionally resampled), :func:`read_with_info` also returns an :class:`AudioInfo` whose
``warnings`` list reports what was repaired (non-finite samples set to 0, see the package
docstring). Streaming block by block is :mod:`audiomanip.audio_io.blocks`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from audiomanip.audio_io.formats import (
    EXTENSION_FORMATS,
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    _ogg_order,
    _sf_name,
    _short,
)
from audiomanip.audio_io.resampling import resample
from audiomanip.destination import file_kind
from audiomanip.errors import AudioReadError, InputNotFoundError

NonFinitePolicy = Literal["zero", "error"]


def _to_wave_order(audio: np.ndarray, info: AudioInfo) -> np.ndarray:
    """Reorder ``audio`` [C, n] read from ``info``'s file into WAVE channel order."""
    perm = _ogg_order(info.format, info.channels)
    if perm is None:
        return audio
    out = np.empty_like(audio)
    out[perm] = audio
    return out


@dataclasses.dataclass
class AudioInfo:
    """What a file holds.

    ``frames`` counts samples per channel; ``duration_s`` = frames / sample_rate (approximate for
    MP3, see the module docstring). ``format`` / ``subtype`` are libsndfile names ("WAV",
    "PCM_24"). ``warnings`` lists one-line notes about repairs made while reading (e.g. non-finite
    samples set to 0); ``nonfinite_samples`` counts those samples.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    format: str
    subtype: str
    warnings: list[str] = dataclasses.field(default_factory=list)
    nonfinite_samples: int = 0



def _check_input_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"input file not found: '{p}'")
    if p.is_dir():
        raise InputNotFoundError(f"input path is a directory, not an audio file: '{p}'")
    try:
        size = p.stat().st_size
    except OSError as e:
        raise InputNotFoundError(f"cannot access input file '{p}': {e.strerror or e}") from None
    kind = file_kind(p)
    if kind is not None:  # /dev/urandom, a FIFO: no audio file, and reading could block forever
        raise AudioReadError(f"cannot read '{p}': it is {kind}, not an audio file")
    if not os.access(p, os.R_OK):
        raise AudioReadError(f"cannot read '{p}': permission denied")
    if size == 0:
        raise AudioReadError(f"cannot read '{p}': the file is empty (0 bytes)")
    return p


def _describe_libsndfile_error(p: Path, err: Exception) -> str:
    msg = str(err)
    low = msg.lower()
    ext = p.suffix.lower().lstrip(".")
    if "format not recognised" in low or "not recognised" in low:
        what = "it is not an audio file in a known format (WAV, FLAC, MP3, OGG, AIFF …)"
        if ext in EXTENSION_FORMATS:
            what = f"it is not a valid {ext.upper()} file (unrecognised contents; renamed or corrupt?)"
        return f"cannot read '{p}': {what}"
    if "malformed" in low or "lost sync" in low or "truncat" in low or "unexpected end" in low:
        return f"cannot read '{p}': the file is truncated or corrupt ({_short(msg)})"
    return f"cannot read '{p}': {_short(msg)}"



def _wav_truncation(p: Path) -> str | None:
    """For a RIFF/WAVE file, say whether its data chunk is shorter than its header declares.

    libsndfile silently reads what is there; we call a file whose ``data`` chunk promises more
    bytes than the file holds truncated. Returns a message or None. Streaming placeholders
    (size 0 or 0xFFFFFFFF) are accepted.
    """
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                hdr = f.read(8)
                if len(hdr) < 8:
                    return None
                cid, csize = hdr[:4], struct.unpack("<I", hdr[4:])[0]
                if cid == b"data":
                    available = size - (pos + 8)
                    if csize not in (0, 0xFFFFFFFF) and csize > available:
                        return (
                            f"the file is truncated: its header declares {csize} bytes of audio "
                            f"but only {available} are present"
                        )
                    return None
                pos += 8 + csize + (csize & 1)
            return "the file is truncated: no audio data chunk was found"
    except OSError:
        return None



@contextlib.contextmanager
def _quiet_decoder(active: bool = True) -> Iterator[None]:
    """Silence what C decoders print on the process's stderr while they run.

    libsndfile decodes MP3 with libmpg123, which writes diagnostics about damaged frames
    ("Illegal Audio-MPEG-Header", "dequantization failed!", "Xing stream size off ...")
    straight to file descriptor 2, where they would bury the one-line error the CLI prints
    (the damage is reported by the errors of this module instead). File descriptor 2 points to
    os.devnull for the duration; anything that fails here leaves stderr as it was.
    """
    if not active:
        yield
        return
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _open(p: Path) -> sf.SoundFile:
    try:
        with _quiet_decoder():
            return sf.SoundFile(_sf_name(p))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioReadError(_describe_libsndfile_error(p, e)) from None
    except OSError as e:
        raise AudioReadError(f"cannot read '{p}': {e.strerror or e}") from None


def _info_from(p: Path, f: sf.SoundFile) -> AudioInfo:
    frames = int(f.frames)
    sr = int(f.samplerate)
    return AudioInfo(
        path=p,
        sample_rate=sr,
        channels=int(f.channels),
        frames=frames,
        duration_s=frames / sr if sr > 0 else 0.0,
        format=str(f.format),
        subtype=str(f.subtype),
    )


def _validate(info: AudioInfo) -> None:
    p = info.path
    if info.sample_rate <= 0:
        raise AudioReadError(f"cannot read '{p}': invalid sample rate {info.sample_rate} Hz")
    if not MIN_SAMPLE_RATE_HZ <= info.sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise AudioReadError(
            f"cannot process '{p}': its sample rate {info.sample_rate} Hz is outside the "
            f"{MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz audiomanip handles"
        )
    if info.channels <= 0:
        raise AudioReadError(f"cannot read '{p}': the file has no audio channels")
    if info.frames <= 0:
        hint = "" if info.format in ("WAV", "WAVEX", "AIFF") else "; it may be truncated"
        raise AudioReadError(f"cannot read '{p}': the file contains no audio samples (0 frames){hint}")
    if info.format in ("WAV", "WAVEX"):
        trunc = _wav_truncation(p)
        if trunc:
            raise AudioReadError(f"cannot read '{p}': {trunc}")


def info(path: str | os.PathLike) -> AudioInfo:
    """Describe an audio file without decoding it.

    Raises InputNotFoundError (missing path, directory) or AudioReadError (empty, not audio,
    unknown format, truncated WAV header, 0 frames).
    """
    p = _check_input_path(path)
    with _open(p) as f:
        result = _info_from(p, f)
    _validate(result)
    return result


def _repair_nonfinite(
    block: np.ndarray, info: AudioInfo, on_nonfinite: NonFinitePolicy, frame_offset: int
) -> np.ndarray:
    """Replace NaN/±Inf by 0 in ``block`` [C, n] (in place) and count them on ``info``."""
    finite = np.isfinite(block)
    if finite.all():
        return block
    bad = int(block.size - np.count_nonzero(finite))
    if on_nonfinite == "error":
        first = int(np.argwhere(~finite)[0][1]) + frame_offset
        raise AudioReadError(
            f"cannot read '{info.path}': it contains {bad} non-finite samples (NaN or Inf), "
            f"the first at frame {first}"
        )
    block[~finite] = 0.0
    info.nonfinite_samples += bad
    return block


def _finish_nonfinite_note(info: AudioInfo) -> None:
    if info.nonfinite_samples:
        info.warnings.append(
            f"'{info.path.name}': {info.nonfinite_samples} non-finite samples (NaN or Inf) were replaced by 0"
        )


def _check_policy(on_nonfinite: str) -> None:
    if on_nonfinite not in ("zero", "error"):
        raise ValueError(f"on_nonfinite must be 'zero' or 'error', not {on_nonfinite!r}")


#: Samples (frames × channels) decoded per step by :func:`read`: memory follows what a file
#: really holds, not the length its header announces (a damaged header may claim terabytes).
_READ_STEP_SAMPLES = 1 << 22


def _read_growing(f: sf.SoundFile, want: int, channels: int) -> np.ndarray:
    """Up to ``want`` frames of ``f`` as float32 ``[frames, channels]``, decoded in steps."""
    step = max(1, _READ_STEP_SAMPLES // max(1, channels))
    blocks = []
    remaining = want
    while remaining > 0:
        n = min(step, remaining)
        block = f.read(n, dtype="float32", always_2d=True)
        blocks.append(block)
        if block.shape[0] < n:
            break
        remaining -= n
    if not blocks:
        return np.zeros((0, channels), np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def read_with_info(
    path: str | os.PathLike,
    *,
    start_frame: int = 0,
    frames: int | None = None,
    sample_rate: int | None = None,
    on_nonfinite: NonFinitePolicy = "zero",
) -> tuple[np.ndarray, int, AudioInfo]:
    """Read a file (or ``frames`` frames from ``start_frame``) as float32 ``[channels, frames]``.

    ``sample_rate`` (Hz), when given and different from the file's, resamples with
    :func:`resample`. Returns ``(audio, sample_rate, info)``; ``info`` describes the file (its own
    rate and length) and carries ``warnings`` (e.g. non-finite samples set to 0).
    """
    _check_policy(on_nonfinite)
    p = _check_input_path(path)
    if start_frame < 0:
        raise ValueError(f"start_frame must be >= 0, not {start_frame}")
    if frames is not None and frames < 0:
        raise ValueError(f"frames must be >= 0 or None, not {frames}")
    with _open(p) as f:
        meta = _info_from(p, f)
        _validate(meta)
        if start_frame > meta.frames:
            raise AudioReadError(
                f"cannot read '{p}': start frame {start_frame} is past its end ({meta.frames} frames)"
            )
        want = meta.frames - start_frame if frames is None else min(frames, meta.frames - start_frame)
        try:
            with _quiet_decoder(meta.format == "MP3"):
                if start_frame:
                    f.seek(start_frame)
                data = _read_growing(f, want, meta.channels)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioReadError(_describe_libsndfile_error(p, e)) from None
    got = data.shape[0]
    if got < want:
        raise AudioReadError(
            f"cannot read '{p}': the file is truncated or corrupt: {meta.frames} frames announced, "
            f"decoding stopped after {start_frame + got}"
        )
    audio = _to_wave_order(np.ascontiguousarray(data.T), meta)
    if audio.shape[1] == 0 and frames is None:
        raise AudioReadError(f"cannot read '{p}': the file contains no audio samples (0 frames)")
    _repair_nonfinite(audio, meta, on_nonfinite, start_frame)
    _finish_nonfinite_note(meta)
    sr = meta.sample_rate
    if sample_rate is not None and int(sample_rate) != sr:
        audio = resample(audio, sr, int(sample_rate))
        sr = int(sample_rate)
    return audio, sr, meta


def read(
    path: str | os.PathLike,
    *,
    start_frame: int = 0,
    frames: int | None = None,
    sample_rate: int | None = None,
    on_nonfinite: NonFinitePolicy = "zero",
) -> tuple[np.ndarray, int]:
    """Read audio as float32 ``[channels, frames]`` and its sample rate (Hz).

    Same arguments as :func:`read_with_info`; use that function to see the repair notes.
    """
    audio, sr, _ = read_with_info(
        path, start_frame=start_frame, frames=frames, sample_rate=sample_rate, on_nonfinite=on_nonfinite
    )
    return audio, sr

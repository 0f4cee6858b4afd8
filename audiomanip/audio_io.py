"""Read and write audio files: WAV, FLAC, MP3 and OGG/Vorbis (and the other formats libsndfile knows).

Arrays are channels-first ``np.ndarray[channels, frames]`` float32 in [-1, 1]. Files keep their own
sample rate and channel count (mono, stereo, 5.1 and more); nothing is mixed down or resampled
unless asked. Multichannel arrays are in WAVE/SMPTE channel order (5.1: L, R, C, LFE, Ls, Rs)
whatever the format: Ogg files, which store the Vorbis order (L, C, R, Ls, Rs, LFE), are
reordered on read and write. Note that Vorbis low-passes the LFE channel.

Reading
    :func:`info` describes a file, :func:`read` loads it (optionally a range, optionally resampled),
    :func:`read_with_info` also returns an :class:`AudioInfo` whose ``warnings`` list reports what
    was repaired, and :func:`iter_blocks` streams a file block by block with bounded memory.

    Non-finite samples (NaN, ±Inf, possible in float WAV files) are replaced by 0 by default
    (``on_nonfinite="zero"``) and counted: the count goes into ``AudioInfo.nonfinite_samples`` and a
    one-line note into ``AudioInfo.warnings``. With ``on_nonfinite="error"`` they raise
    :class:`~audiomanip.errors.AudioReadError` instead.

    MP3: libsndfile decodes MP3 through mpg123, which removes the encoder delay and padding when
    the file carries a LAME/Xing header (files written here do). Files without that header decode
    with up to ~1100 extra frames of silence at the start and a few hundred at the end, so for MP3
    ``frames`` and ``duration_s`` are approximate. Truncated MP3 files are detected when fewer
    frames decode than the header announces.

Writing
    :class:`AtomicWriter` writes block by block into a temporary file in the destination folder
    and renames it over the destination only when everything succeeded. :func:`write` is the
    one-call version. Integer and lossy subtypes clip to [-1, 1]. :func:`output_subtype` picks the
    subtype that keeps the input's one when the destination format supports it.

Errors are the library's own (:mod:`audiomanip.errors`): :class:`InputNotFoundError` for a
missing path or a directory, :class:`AudioReadError` for anything unreadable (the message names
the file and says what is wrong), :class:`OutputError` for anything that cannot be written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from audiomanip import tempfiles
from audiomanip.destination import check_destination, file_kind, replace_into
from audiomanip.errors import AudioReadError, InputNotFoundError, OutputError

#: File extension (lower case, without dot) → libsndfile major format.
EXTENSION_FORMATS: dict[str, str] = {
    "wav": "WAV",
    "wave": "WAV",
    "flac": "FLAC",
    "mp3": "MP3",
    "ogg": "OGG",
    "oga": "OGG",
    "aif": "AIFF",
    "aiff": "AIFF",
    "aifc": "AIFF",
    "au": "AU",
    "snd": "AU",
    "opus": "OGG",
    "w64": "W64",
    "rf64": "RF64",
    "caf": "CAF",
}

#: Sample rates (Hz) audiomanip reads and writes: inputs and --sample-rate outside are refused.
MIN_SAMPLE_RATE_HZ = 1000
MAX_SAMPLE_RATE_HZ = 768000

#: Subtype a file extension implies within its format (an .opus file is Ogg holding Opus, not Vorbis).
EXTENSION_SUBTYPES: dict[str, str] = {"opus": "OPUS"}

#: Sample rates (Hz) an Opus stream can carry.
OPUS_SAMPLE_RATES: tuple[int, ...] = (8000, 12000, 16000, 24000, 48000)

#: Sample rates (Hz) an MPEG-1/2/2.5 Layer III stream can carry.
MP3_SAMPLE_RATES: tuple[int, ...] = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

#: Most channels each format can hold (libsndfile's limits); formats not listed take any count.
MAX_CHANNELS: dict[str, int] = {"MP3": 2, "FLAC": 8}

#: Subtypes whose samples are stored as floating point (no clipping on write).
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})

#: Subtypes that are lossy codecs: a written file does not read back sample-exact.
LOSSY_SUBTYPES = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS"})

NonFinitePolicy = Literal["zero", "error"]

#: Ogg Vorbis/Opus store multichannel audio in the Vorbis channel order (FL, FC, FR, …, LFE last),
#: WAV/FLAC in the WAVE/SMPTE order (FL, FR, FC, LFE, …). libsndfile passes channels through
#: unchanged, so we reorder: arrays in this library are always in WAVE order. Entry i of a
#: permutation is the WAVE-order channel stored as Ogg channel i (same mapping as ffmpeg).
_VORBIS_FROM_WAVE: dict[int, tuple[int, ...]] = {
    3: (0, 2, 1),  # FL FR FC -> FL FC FR
    5: (0, 2, 1, 3, 4),  # FL FR FC BL BR -> FL FC FR BL BR
    6: (0, 2, 1, 4, 5, 3),  # FL FR FC LFE BL BR -> FL FC FR BL BR LFE
    7: (0, 2, 1, 5, 6, 4, 3),  # FL FR FC LFE BC SL SR -> FL FC FR SL SR BC LFE
    8: (0, 2, 1, 6, 7, 4, 5, 3),  # FL FR FC LFE BL BR SL SR -> FL FC FR SL SR BL BR LFE
}


def _ogg_order(format: str, channels: int) -> np.ndarray | None:
    """Permutation WAVE order → file order for ``format``, or None when they agree."""
    if format.upper() != "OGG" or channels not in _VORBIS_FROM_WAVE:
        return None
    return np.array(_VORBIS_FROM_WAVE[channels])


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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


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


def _short(msg: str) -> str:
    msg = " ".join(msg.split())
    if msg.startswith("Error opening"):
        # "Error opening 'x.wav': Some reason." -> "Some reason"
        msg = msg.split(": ", 1)[-1]
    return msg.rstrip(".")


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


def _sf_name(p: Path) -> str | bytes:
    """``p`` as soundfile wants it. A POSIX file name that is not valid UTF-8 (undecodable bytes
    come back from the OS as lone surrogates) is passed as its raw bytes; soundfile would
    otherwise fail to encode it."""
    name = str(p)
    if os.name != "nt":
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(p)
    return name


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


class BlockReader(Iterator[np.ndarray]):
    """Iterator over float32 blocks ``[channels, n]`` of a file, ``n <= block_frames``.

    Memory is bounded by one block whatever the file's length. ``info`` describes the file; its
    ``warnings`` / ``nonfinite_samples`` are complete once the iterator is exhausted. The file is
    closed when the iteration ends, on error, or by :meth:`close` / ``with``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        block_frames: int = 65536,
        max_frames: int | None = None,
        on_nonfinite: NonFinitePolicy = "zero",
    ):
        _check_policy(on_nonfinite)
        if block_frames <= 0:
            raise ValueError(f"block_frames must be > 0, not {block_frames}")
        p = _check_input_path(path)
        self._file: sf.SoundFile | None = _open(p)
        try:
            self.info = _info_from(p, self._file)
            _validate(self.info)
        except BaseException:
            self.close()
            raise
        self.block_frames = int(block_frames)
        self._remaining = self.info.frames if max_frames is None else min(int(max_frames), self.info.frames)
        self._position = 0
        self._on_nonfinite = on_nonfinite

    def __iter__(self) -> BlockReader:
        return self

    def __next__(self) -> np.ndarray:
        if self._file is None or self._remaining <= 0:
            self._finish()
            raise StopIteration
        n = min(self.block_frames, self._remaining)
        try:
            with _quiet_decoder(self.info.format == "MP3"):
                data = self._file.read(n, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            self.close()
            raise AudioReadError(_describe_libsndfile_error(self.info.path, e)) from None
        except BaseException:
            self.close()
            raise
        if data.shape[0] < n:
            self.close()
            raise AudioReadError(
                f"cannot read '{self.info.path}': the file is truncated or corrupt: "
                f"{self.info.frames} frames announced, decoding stopped after "
                f"{self._position + data.shape[0]}"
            )
        block = _to_wave_order(np.ascontiguousarray(data.T), self.info)
        try:
            _repair_nonfinite(block, self.info, self._on_nonfinite, self._position)
        except BaseException:
            self.close()
            raise
        self._position += n
        self._remaining -= n
        return block

    def _finish(self) -> None:
        if self._file is not None:
            self.close()
            _finish_nonfinite_note(self.info)

    _file: sf.SoundFile | None = None  # class default: close() works even if __init__ failed

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def __enter__(self) -> BlockReader:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def iter_blocks(
    path: str | os.PathLike,
    block_frames: int = 65536,
    max_frames: int | None = None,
    *,
    on_nonfinite: NonFinitePolicy = "zero",
) -> BlockReader:
    """Stream a file as float32 blocks ``[channels, n]`` (``n <= block_frames`` frames).

    ``max_frames`` stops after that many frames. Returns a :class:`BlockReader` (an iterator with
    ``.info``). Errors about the file itself are raised here, before the first block.
    """
    return BlockReader(path, block_frames, max_frames, on_nonfinite)


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Resample ``audio`` ``[C, T]`` (or ``[T]``) from ``sr_from`` to ``sr_to`` Hz.

    Polyphase filtering (scipy.signal.resample_poly, Kaiser window β=8.6: stop band about −90 dB)
    with the exact rational ratio. Output length is ``ceil(T * sr_to / sr_from)``; float32 out.
    """
    sr_from, sr_to = int(sr_from), int(sr_to)
    if sr_from <= 0 or sr_to <= 0:
        raise ValueError(f"sample rates must be > 0 Hz, got {sr_from} and {sr_to}")
    x = np.asarray(audio, dtype=np.float32)
    if sr_from == sr_to:
        return x.copy()
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr_from, sr_to)
    up, down = sr_to // g, sr_from // g
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1] + (0,), dtype=np.float32)
    y = resample_poly(x.astype(np.float64), up, down, axis=-1, window=("kaiser", 8.6))
    return y.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def format_for_path(path: str | os.PathLike, format: str | None = None) -> str:
    """The libsndfile major format for ``path``: ``format`` if given, else from the extension."""
    if format:
        fmt = format.upper()
        if fmt not in sf.available_formats():
            raise OutputError(f"unknown audio format '{format}' for '{path}'")
        return fmt
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in EXTENSION_FORMATS:
        known = ", ".join(sorted("." + e for e in EXTENSION_FORMATS))
        raise OutputError(f"cannot tell the audio format of '{path}' from its extension (use {known})")
    return EXTENSION_FORMATS[ext]


def output_subtype(
    out_format: str, in_subtype: str | None = None, requested: str | None = None, path: str | os.PathLike = ""
) -> str:
    """Subtype to write ``out_format`` with.

    ``requested`` wins when given; then the subtype ``path``'s extension implies
    (:data:`EXTENSION_SUBTYPES`: .opus is Opus); otherwise the input's subtype is kept if the output format
    supports it (so a 24-bit WAV stays 24-bit, also as FLAC); otherwise the format's default
    (FLOAT input to FLAC → PCM_24, anything to MP3 → MPEG_LAYER_III, to OGG → VORBIS).
    """
    fmt = out_format.upper()
    if requested:
        sub = requested.upper()
        if not sf.check_format(fmt, sub):
            options = ", ".join(sf.available_subtypes(fmt))
            raise OutputError(f"{fmt} files cannot hold subtype {sub} (choose one of: {options})")
        return sub
    implied = EXTENSION_SUBTYPES.get(Path(path).suffix.lower().lstrip("."))
    if implied and fmt == EXTENSION_FORMATS.get(Path(path).suffix.lower().lstrip(".")):
        return implied
    if in_subtype and in_subtype.upper() not in LOSSY_SUBTYPES and sf.check_format(fmt, in_subtype.upper()):
        return in_subtype.upper()
    if fmt == "FLAC" and in_subtype and in_subtype.upper() in FLOAT_SUBTYPES | {"PCM_32"}:
        return "PCM_24"
    return sf.default_subtype(fmt)


def check_writable(
    format: str, subtype: str, sample_rate: int, channels: int, path: str | os.PathLike = ""
) -> None:
    """Raise OutputError if ``format``/``subtype`` cannot hold this rate (Hz) and channel count."""
    fmt = format.upper()
    where = f" '{path}'" if path else ""
    if channels <= 0:
        raise OutputError(f"cannot write{where}: audio has no channels")
    if sample_rate <= 0:
        raise OutputError(f"cannot write{where}: invalid sample rate {sample_rate} Hz")
    limit = MAX_CHANNELS.get(fmt)
    if limit is not None and channels > limit:
        raise OutputError(
            f"cannot write{where}: {fmt} holds at most {limit} channels, the audio has {channels} "
            "(use WAV, FLAC or OGG)"
        )
    if fmt == "MP3" and sample_rate not in MP3_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in MP3_SAMPLE_RATES)
        raise OutputError(
            f"cannot write{where}: MP3 does not support {sample_rate} Hz (supported: {rates}); "
            "resample or choose another format"
        )
    if subtype.upper() == "OPUS" and sample_rate not in OPUS_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in OPUS_SAMPLE_RATES)
        raise OutputError(f"cannot write{where}: Opus does not support {sample_rate} Hz (supported: {rates})")
    if fmt == "FLAC" and sample_rate > 655350:
        raise OutputError(f"cannot write{where}: FLAC does not support {sample_rate} Hz")
    if not sf.check_format(fmt, subtype.upper()):
        options = ", ".join(sf.available_subtypes(fmt))
        raise OutputError(
            f"cannot write{where}: {fmt} files cannot hold subtype {subtype} (choose one of: {options})"
        )


def writable_output_path(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = None,
    in_subtype: str | None = None,
) -> tuple[Path, str | None]:
    """For an output name made from an input's (never one the user chose): ``(path, None)`` when
    its extension names a format that can hold audio of this rate (Hz) and channel count (not
    checked when None), else ``(path with .wav, note saying why)``. Formats libsndfile reads but
    cannot write, or cannot write at this rate (Opus at 44.1 kHz, MP3 at 96 kHz), fall back to WAV."""
    path = Path(path)
    try:
        fmt = format_for_path(path)
        subtype = output_subtype(fmt, in_subtype, path=path)
        check_writable(fmt, subtype, sample_rate or 48000, channels or 1)
        return path, None
    except OutputError as exc:
        reason = str(exc).removeprefix("cannot write: ")
        if str(exc).startswith("cannot tell"):
            reason = f"no writable audio format has the extension '{path.suffix}'"
        wav = path.with_suffix(".wav")
        return wav, f"{path.suffix or 'this'} output cannot be written ({reason}): written as WAV, {wav.name}"


def check_output(
    path: str | os.PathLike,
    sample_rate: int,
    channels: int,
    *,
    in_subtype: str | None = None,
    overwrite: bool = False,
    protect: str | os.PathLike | None = None,
) -> None:
    """Raise OutputError now if ``path`` could not be written with audio of this rate (Hz) and
    channel count: unknown extension, a format that cannot hold it, not a regular file
    (:func:`audiomanip.destination.check_destination`), exists without ``overwrite``, missing or
    unwritable folder, the input itself. Creates nothing (the checks of :class:`AtomicWriter`)."""
    fmt = format_for_path(path)
    AtomicWriter(path, sample_rate, channels, format=fmt, subtype=output_subtype(fmt, in_subtype, path=path),
                 overwrite=overwrite, protect=protect)


def _os_error_message(path: Path, e: BaseException) -> str:
    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOSPC or "no space left" in text.lower():
        return f"cannot write '{path}': no space left on device"
    if code == errno.EDQUOT:
        return f"cannot write '{path}': disk quota exceeded"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write '{path}': permission denied in folder '{path.parent}'"
    if code == errno.EROFS:
        return f"cannot write '{path}': the file system is read-only"
    if code == errno.ENOENT:
        return f"cannot write '{path}': folder '{path.parent}' does not exist"
    if "system error" in text.lower() and _free_bytes(path.parent) < 1 << 20:
        # libsndfile reports ENOSPC as a bare "System error": look at the file system.
        return f"cannot write '{path}': no space left on device"
    reason = getattr(e, "strerror", None) or _short(text)
    return f"cannot write '{path}': {reason}"


def _free_bytes(folder: Path) -> int:
    """Bytes this process may still write in ``folder``'s file system (large when unknown)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs on Windows
        return 1 << 62
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


#: Temporary files are made and swept by :mod:`audiomanip.tempfiles`; these two are its
#: clean-up calls, re-exported for the callers that stop processes.
remove_temporary_files = tempfiles.remove_temporary_files
remove_partial_files = tempfiles.remove_partial_files


class AtomicWriter:
    """Write an audio file atomically, block by block.

    ``with AtomicWriter(path, sample_rate, channels) as w: w.write(block)`` with blocks float32
    ``[channels, n]``. Samples go to a uniquely named hidden temporary file in the destination
    folder (``.<name>.<pid>.<random>.partial``, see :mod:`audiomanip.tempfiles`); on success it
    is renamed over ``path`` (``os.replace``, atomic on one file system). On any exception,
    KeyboardInterrupt included, the temporary file is removed and the exception propagates; the
    destination is then untouched.

    Checks happen in the constructor, before any work: an existing ``path`` without
    ``overwrite=True`` (or a directory there), a missing or unwritable folder, a format/subtype/
    rate/channel combination the format cannot hold, ``path`` being the same file as
    ``protect`` (the input) → OutputError. Write failures (disk full: ENOSPC, I/O errors) →
    OutputError with a one-line message, and no partial file is left.

    ``format`` defaults from the extension (WAV with more than 2 channels is written as WAVEX,
    whose header carries the channel layout); ``subtype`` defaults to the format's default.
    ``compression_level`` (0 = best quality / least compression … <1) is passed to libsndfile;
    by default lossy formats (MP3, Vorbis, Opus) use 0.0, their highest quality (MP3 ≈ 200
    kbit/s VBR, Vorbis ≈ 270 kbit/s for stereo music), and FLAC libsndfile's default.
    ``frames_written`` counts frames so far.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        channels: int,
        *,
        format: str | None = None,
        subtype: str | None = None,
        overwrite: bool = False,
        protect: str | os.PathLike | None = None,
        compression_level: float | None = None,
    ):
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.format = format_for_path(self.path, format)
        if self.format == "WAV" and int(channels) > 2:
            # WAVE_FORMAT_EXTENSIBLE carries the channel mask (5.1: L R C LFE Ls Rs) that plain
            # WAV lacks; other tools then know the layout.
            self.format = "WAVEX"
        self.subtype = output_subtype(self.format, requested=subtype, path=self.path) if subtype else (
            output_subtype(self.format, path=self.path)
        )
        self.frames_written = 0
        self._tmp: Path | None = None
        self._file: sf.SoundFile | None = None
        self._clip = self.subtype not in FLOAT_SUBTYPES
        self._order = _ogg_order(self.format, self.channels)
        if compression_level is None and self.subtype in LOSSY_SUBTYPES:
            compression_level = 0.0
        if compression_level is not None and not 0.0 <= compression_level < 1.0:
            raise OutputError(f"compression level must lie in [0, 1), not {compression_level}")
        self.compression_level = compression_level

        check_writable(self.format, self.subtype, self.sample_rate, self.channels, self.path)
        if protect is not None and _same_file(self.path, Path(protect)):
            raise OutputError(f"refusing to write '{self.path}': it is the input file")
        check_destination(self.path, overwrite=overwrite)  # only regular files (destination.py)
        folder = self.path.parent
        if not folder.is_dir():
            raise OutputError(f"cannot write '{self.path}': folder '{folder}' does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write '{self.path}': permission denied in folder '{folder}'")

    def __del__(self) -> None:
        # Never leave a temporary file behind, even when neither committed nor aborted.
        if getattr(self, "_tmp", None) is not None:
            self.abort()

    # -- context manager ----------------------------------------------------------------------
    def __enter__(self) -> AtomicWriter:  # noqa: PYI034 - Self needs Python 3.11
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False

    # -- operations ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create the temporary file (called by ``with``)."""
        if self._file is not None:
            return
        try:
            # registered before the file exists: an interrupt at any point after this leaves
            # nothing behind (abort, or remove_temporary_files, removes it)
            self._tmp = tempfiles.create(self.path)
        except OSError as e:
            raise OutputError(_os_error_message(self.path, e)) from None
        try:
            self._file = sf.SoundFile(
                _sf_name(self._tmp),
                mode="w",
                samplerate=self.sample_rate,
                channels=self.channels,
                format=self.format,
                subtype=self.subtype,
                compression_level=self.compression_level,
            )
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, RuntimeError)):
                raise OutputError(_os_error_message(self.path, e)) from None
            raise

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` float ``[channels, n]`` (a 1-D block is taken as mono)."""
        if self._file is None:
            self.open()
        x = np.asarray(block)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            self.abort()
            raise ValueError(f"expected a block of shape [{self.channels}, n], got {tuple(np.shape(block))}")
        if x.shape[1] == 0:
            return
        x = x.astype(np.float64 if self.subtype == "DOUBLE" else np.float32, copy=False)
        if not np.isfinite(x).all():
            self.abort()
            raise ValueError(f"refusing to write non-finite samples (NaN or Inf) to '{self.path}'")
        if self._clip:
            x = np.clip(x, -1.0, 1.0)
        if self._order is not None:
            x = x[self._order]
        try:
            self._file.write(np.ascontiguousarray(x.T))
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, RuntimeError)):
                raise OutputError(_os_error_message(self.path, e)) from None
            raise
        self.frames_written += x.shape[1]

    def commit(self) -> Path:
        """Close and rename the temporary file onto the destination; returns the path."""
        if self._file is None and self._tmp is None:
            self.open()
        try:
            if self._file is not None:
                f, self._file = self._file, None
                f.close()
            if self.frames_written == 0:
                raise OutputError(f"cannot write '{self.path}': no audio samples to write")
            replace_into(self._tmp, self.path)  # never over a device, FIFO or folder
            tempfiles.release(self._tmp)
            self._tmp = None
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, RuntimeError)) and not isinstance(e, OutputError):
                raise OutputError(_os_error_message(self.path, e)) from None
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (idempotent). The destination is left untouched."""
        f, self._file = self._file, None
        try:
            if f is not None:
                with contextlib.suppress(Exception):  # already failing; the temp file goes anyway
                    f.close()
        finally:
            tmp, self._tmp = self._tmp, None
            if tmp is not None:
                tempfiles.discard(tmp)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    *,
    format: str | None = None,
    subtype: str | None = None,
    overwrite: bool = False,
    protect: str | os.PathLike | None = None,
    compression_level: float | None = None,
) -> Path:
    """Write ``audio`` float ``[C, T]`` (or mono ``[T]``) at ``sample_rate`` Hz, atomically.

    See :class:`AtomicWriter` for the checks and errors. Returns the written path.
    """
    x = np.asarray(audio)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {tuple(np.shape(audio))}")
    with AtomicWriter(
        path,
        sample_rate,
        x.shape[0],
        format=format,
        subtype=subtype,
        overwrite=overwrite,
        protect=protect,
        compression_level=compression_level,
    ) as w:
        w.write(x)
    return w.path

"""Writing audio files atomically: :class:`AtomicWriter` writes block by block into a
temporary file in the destination folder and renames it over the destination only when
everything succeeded; :func:`write` is the one-call version; :func:`check_output` runs the
writer's checks before any work; :func:`writable_output_path` falls back to WAV for an output
name made from an input's when its format cannot be written.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from audiomanip import tempfiles
from audiomanip.audio_io.formats import (
    FLOAT_SUBTYPES,
    LOSSY_SUBTYPES,
    _ogg_order,
    _sf_name,
    _short,
    check_writable,
    format_for_path,
    output_subtype,
)
from audiomanip.destination import check_destination, replace_into
from audiomanip.errors import OutputError


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

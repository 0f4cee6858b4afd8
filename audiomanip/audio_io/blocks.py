"""Streaming a file block by block with bounded memory: :func:`iter_blocks` / :class:`BlockReader`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from audiomanip.audio_io.reading import (
    NonFinitePolicy,
    _check_input_path,
    _check_policy,
    _describe_libsndfile_error,
    _finish_nonfinite_note,
    _info_from,
    _open,
    _quiet_decoder,
    _repair_nonfinite,
    _to_wave_order,
    _validate,
)
from audiomanip.errors import AudioReadError


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

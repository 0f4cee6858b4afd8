"""Read and write audio files: WAV, FLAC, MP3 and OGG/Vorbis (and the other formats libsndfile knows).

Arrays are channels-first ``np.ndarray[channels, frames]`` float32 in [-1, 1]. Files keep their own
sample rate and channel count (mono, stereo, 5.1 and more); nothing is mixed down or resampled
unless asked. Multichannel arrays are in WAVE/SMPTE channel order (5.1: L, R, C, LFE, Ls, Rs)
whatever the format: Ogg files, which store the Vorbis order (L, C, R, Ls, Rs, LFE), are
reordered on read and write. Note that Vorbis low-passes the LFE channel.

Reading
    :func:`info` describes a file, :func:`read` loads it (optionally a range, optionally resampled),
    :func:`read_with_info` also returns an :class:`AudioInfo` whose ``warnings`` list reports what
    was repaired (:mod:`.reading`), and :func:`iter_blocks` streams a file block by block with
    bounded memory (:mod:`.blocks`).

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
    subtype that keeps the input's one when the destination format supports it (:mod:`.writing`;
    formats, subtypes and what each can hold: :mod:`.formats`).

Resampling
    :func:`resample` (whole arrays) and :class:`StreamResampler` (block by block, same samples)
    are the package's one resampler, soxr (:mod:`.resampling`).

Errors are the library's own (:mod:`audiomanip.errors`): :class:`InputNotFoundError` for a
missing path or a directory, :class:`AudioReadError` for anything unreadable (the message names
the file and says what is wrong), :class:`OutputError` for anything that cannot be written.
"""

from __future__ import annotations

from audiomanip.audio_io.blocks import BlockReader, iter_blocks
from audiomanip.audio_io.formats import (
    AUDIO_SUFFIXES,
    EXTENSION_FORMATS,
    EXTENSION_SUBTYPES,
    FLOAT_SUBTYPES,
    LOSSY_SUBTYPES,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE_HZ,
    MIN_SAMPLE_RATE_HZ,
    MP3_SAMPLE_RATES,
    OPUS_SAMPLE_RATES,
    check_writable,
    format_for_path,
    output_subtype,
)
from audiomanip.audio_io.reading import AudioInfo, NonFinitePolicy, info, read, read_with_info
from audiomanip.audio_io.resampling import StreamResampler, resample
from audiomanip.audio_io.writing import (
    AtomicWriter,
    check_output,
    writable_output_path,
    write,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "EXTENSION_FORMATS",
    "EXTENSION_SUBTYPES",
    "FLOAT_SUBTYPES",
    "LOSSY_SUBTYPES",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE_HZ",
    "MIN_SAMPLE_RATE_HZ",
    "MP3_SAMPLE_RATES",
    "OPUS_SAMPLE_RATES",
    "AtomicWriter",
    "AudioInfo",
    "BlockReader",
    "NonFinitePolicy",
    "StreamResampler",
    "check_output",
    "check_writable",
    "format_for_path",
    "info",
    "iter_blocks",
    "output_subtype",
    "read",
    "read_with_info",
    "resample",
    "writable_output_path",
    "write",
]

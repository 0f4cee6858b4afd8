"""Audio file formats: which extension is which libsndfile format, what each format can hold
(sample rates, channel counts, subtypes), the channel order Ogg stores, and the subtype an output
is written with; and what reading and writing share about libsndfile (a path as soundfile takes
it, libsndfile's messages shortened to one clause). No file is opened here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from audiomanip.errors import OutputError

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

#: File suffixes (lower case, with the dot) taken as audio when a folder is searched for audio
#: files (batch, ``--audio-dir`` of training and eval): every extension of :data:`EXTENSION_FORMATS`.
AUDIO_SUFFIXES: tuple[str, ...] = tuple(f".{ext}" for ext in EXTENSION_FORMATS)

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


def _short(msg: str) -> str:
    msg = " ".join(msg.split())
    if msg.startswith("Error opening"):
        # "Error opening 'x.wav': Some reason." -> "Some reason"
        msg = msg.split(": ", 1)[-1]
    return msg.rstrip(".")


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

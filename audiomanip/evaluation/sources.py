"""The short mono signals the direction suite renders on (:class:`Source`): speech (espeak-ng, or
the recording the package ships), a harmonic instrument and a drum loop, or the files of
``--audio-dir``, plus a sine probe (THD) and a loud/soft probe (loudness range). Each source's
``roles`` say which :data:`~audiomanip.evaluation.measures.MEASURES` apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from audiomanip.errors import AudioReadError, InputNotFoundError
from audiomanip.evaluation.measures import DYNAMICS_PROBE, MATERIAL, PITCHED, SINE_PROBE, SINE_PROBE_HZ

#: Sample rate (Hz) of the direction suite: high enough to see "air" above 10 kHz.
EVAL_SAMPLE_RATE = 32000
#: Length (s) of each material source: short, so the whole suite renders in about a minute.
SOURCE_SECONDS = 2.0
#: Level of the material sources and the sine probe (peak, dBFS): leaves room for gain.
SOURCE_PEAK_DBFS = -6.0
#: Level of the loud passages of the dynamics probe (peak, dBFS); the soft ones are 12 dB lower.
DYNAMICS_PEAK_DBFS = -3.0


@dataclass
class Source:
    """A mono signal the direction suite renders on: ``audio`` float32 [1, T] at the suite's
    sample rate; ``roles`` says which measures apply (see :data:`audiomanip.evaluation.measures.MEASURES`)."""

    name: str
    audio: np.ndarray
    roles: frozenset[str]
    description: str = ""
    measurements: dict[tuple, float] = field(default_factory=dict, repr=False)


def _trim(x: np.ndarray, sample_rate: int, floor_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing audio quieter than ``floor_db`` re the peak (10 ms frames), so a
    source ends while it still sounds and an added reverb tail starts at its end."""
    frame = max(1, int(0.01 * sample_rate))
    n = x.shape[-1] // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[..., : n * frame].reshape(-1, n, frame) ** 2, axis=(0, 2)))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (floor_db / 20))
    if loud.size == 0:
        return x
    return x[..., loud[0] * frame : (loud[-1] + 1) * frame]


def _fit(x: np.ndarray, n: int, peak_dbfs: float = SOURCE_PEAK_DBFS) -> np.ndarray:
    """Cut to n samples (or keep shorter) and set the peak level (dBFS)."""
    x = np.asarray(x, np.float64)
    x = x[..., :n]
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0:
        x = x * (10 ** (peak_dbfs / 20) / peak)
    return np.ascontiguousarray(x, dtype=np.float32)


SPEECH_TEXT = "The quick brown fox jumps over the lazy dog, and then it sleeps."
#: Seed of the instrument: its partials fall as 1/k^1.05 (a bright, saw-like timbre).
INSTRUMENT_SEED = 29


def instrument_source(sample_rate: int, duration_s: float) -> np.ndarray:
    """The harmonic instrument material → float32 [1, T]: a melody over 110 Hz with up to 40
    partials, trimmed to end while sounding, peak at :data:`SOURCE_PEAK_DBFS`."""
    from audiomanip.training import sources as gen

    n = int(round(duration_s * sample_rate))
    x = gen.harmonic_instrument(duration_s + 0.5, sample_rate, seed=INSTRUMENT_SEED, root_hz=110.0,
                                n_harmonics=40)[:, :n]
    return _fit(_trim(x, sample_rate), n)


#: A short speech recording shipped with the package (2.6 s of ``examples/voice.wav``, 32 kHz mono
#: FLAC): the speech material when espeak-ng is not installed.
SHIPPED_SPEECH = Path(__file__).resolve().parent / "voice_excerpt.flac"


def speech_source(sample_rate: int = EVAL_SAMPLE_RATE, duration_s: float = SOURCE_SECONDS) -> Source:
    """The speech material → Source "speech", mono, up to ``duration_s`` long, peak at
    :data:`SOURCE_PEAK_DBFS`, trimmed so it ends while sounding: espeak-ng speaking
    :data:`SPEECH_TEXT` when espeak-ng is installed (deterministic), otherwise the recording the
    package ships (:data:`SHIPPED_SPEECH`), so the suite also runs on a pip-only machine. The
    description says which."""
    from audiomanip import audio_io
    from audiomanip.training import sources as gen

    n = int(round(duration_s * sample_rate))
    if gen.espeak_path() is not None:
        speech = gen.speech(SPEECH_TEXT, sample_rate)
        description = "espeak-ng speech"
    else:
        audio, _ = audio_io.read(SHIPPED_SPEECH, sample_rate=sample_rate)
        speech = audio.mean(axis=0, keepdims=True)
        description = "recorded speech shipped with the package; espeak-ng is not installed"
    return Source("speech", _fit(_trim(speech, sample_rate), n), frozenset({MATERIAL, PITCHED}), description)


def synthetic_sources(sample_rate: int = EVAL_SAMPLE_RATE, duration_s: float = SOURCE_SECONDS) -> list[Source]:
    """The default material: speech (:func:`speech_source`: espeak-ng, or the shipped recording
    without it), a harmonic instrument with envelopes and a drum loop, each mono, ``duration_s``
    long (speech: up to that), peak at :data:`SOURCE_PEAK_DBFS` and trimmed so it ends while
    sounding. Deterministic for a given espeak-ng version."""
    from audiomanip.training import sources as gen

    n = int(round(duration_s * sample_rate))
    drums = gen.drum_loop(duration_s, sample_rate, seed=0)
    return [
        speech_source(sample_rate, duration_s),
        Source("instrument", instrument_source(sample_rate, duration_s), frozenset({MATERIAL, PITCHED}),
               "harmonic instrument"),
        Source("drums", _fit(drums, n), frozenset({MATERIAL}), "drum loop"),
    ]


def sources_note(sources: Sequence[Source]) -> str:
    """One line naming the sources a direction run used, e.g. ``"sources: speech (espeak-ng
    speech), instrument (harmonic instrument), …"``."""
    return "sources: " + ", ".join(f"{s.name} ({s.description})" if s.description else s.name for s in sources)


def probe_sources(sample_rate: int = EVAL_SAMPLE_RATE) -> list[Source]:
    """The probes: a 1 s sine at :data:`SINE_PROBE_HZ` (THD) and a 12 s harmonic-instrument
    passage loud / soft (-12 dB) / loud in 4 s sections, loud peaks at
    :data:`DYNAMICS_PEAK_DBFS` (loudness range, whose short-term windows are 3 s long)."""
    from audiomanip.training import sources as gen

    amp = 10 ** (SOURCE_PEAK_DBFS / 20)
    sine = gen.sine(SINE_PROBE_HZ, 1.0, sample_rate, amplitude=amp)
    section = 4 * sample_rate
    inst = gen.harmonic_instrument(3 * section / sample_rate, sample_rate, seed=1, notes_per_s=4.0)[0]
    gains = np.repeat([1.0, 10 ** (-12 / 20), 1.0], section)[: inst.shape[0]]
    gains = np.pad(gains, (0, inst.shape[0] - gains.shape[0]), mode="edge")
    dynamics = _fit((inst.astype(np.float64) * gains)[None, :], inst.shape[0], DYNAMICS_PEAK_DBFS)
    return [
        Source("sine", np.ascontiguousarray(sine[:1], np.float32), frozenset({SINE_PROBE}), f"{SINE_PROBE_HZ:g} Hz sine"),
        Source("dynamics", dynamics, frozenset({DYNAMICS_PROBE}), "loud/soft instrument passage"),
    ]


def audio_dir_sources(audio_dir: str | Path, sample_rate: int = EVAL_SAMPLE_RATE,
                      duration_s: float = SOURCE_SECONDS) -> list[Source]:
    """Material from a folder: the first ``duration_s`` seconds (after leading silence) of each
    audio file, mixed to mono and resampled to ``sample_rate``; all count as pitched (f0 checks
    are skipped where no pitch can be measured). Sorted by file name."""
    from audiomanip import audio_io

    folder = Path(audio_dir)
    if not folder.is_dir():
        raise InputNotFoundError(f"--audio-dir is not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in audio_io.AUDIO_SUFFIXES)
    if not files:
        raise InputNotFoundError(f"no audio files ({', '.join(sorted(audio_io.AUDIO_SUFFIXES))}) in {folder}")
    out = []
    n = int(round(duration_s * sample_rate))
    for path in files:
        info = audio_io.info(path)
        frames = min(info.frames, int((duration_s + 5.0) * info.sample_rate))
        audio, _ = audio_io.read(path, frames=frames, sample_rate=sample_rate)
        mono = audio.mean(axis=0, keepdims=True)
        if not np.any(mono):
            raise AudioReadError(f"{path} is silent in its first {duration_s + 5.0:g} s")
        out.append(Source(path.stem, _fit(_trim(mono, sample_rate), n), frozenset({MATERIAL, PITCHED}), str(path)))
    return out


def build_sources(
    sample_rate: int = EVAL_SAMPLE_RATE, duration_s: float = SOURCE_SECONDS, *, audio_dir: str | Path | None = None
) -> list[Source]:
    """Material (synthetic, or the files of ``audio_dir``) followed by the two probes."""
    material = (
        audio_dir_sources(audio_dir, sample_rate, duration_s)
        if audio_dir is not None
        else synthetic_sources(sample_rate, duration_s)
    )
    return material + probe_sources(sample_rate)

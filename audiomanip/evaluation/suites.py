"""The evaluation suites' data and what their checks measure.

Two suites live in data files shipped with the package (``presets/suite_direction.yaml`` and
``presets/suite_paraphrase.yaml``); the parameter suite is the corpus's held-out splits and
needs no file. This module loads and validates the files, builds the short source signals the
direction suite renders on, and turns a check ("the centroid goes down by at least 5 %") into a
pass/fail on a pair (unprocessed, processed) of signals.

Measures (:data:`MEASURES`) compare the processed signal with the unprocessed one either as a
ratio (``after / before``: centroid, f0) or a difference (``after - before``: dB, s, LU, %).
Each has default sources: the *material* (speech, a harmonic instrument, a drum loop, or the
files of ``--audio-dir``), the *pitched* material (f0), a sine probe (THD) or a dynamics probe
(loudness range needs windows of 3 s, so it has its own 9 s probe of loud and soft passages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from audiomanip.errors import AudioReadError, InputNotFoundError

FAMILIES = ("tone", "space", "character", "dynamics", "pitch", "explicit")
DIRECTIONS = ("up", "down", "flat")

#: Source roles: every material source, material with a clear pitch, and the two probes.
MATERIAL = "material"
PITCHED = "pitched"
SINE_PROBE = "sine"
DYNAMICS_PROBE = "dynamics"

#: Sample rate (Hz) of the direction suite: high enough to see "air" above 10 kHz.
EVAL_SAMPLE_RATE = 32000
#: Length (s) of each material source: short, so the whole suite renders in about a minute.
SOURCE_SECONDS = 2.0
#: Level of the material sources and the sine probe (peak, dBFS): leaves room for gain.
SOURCE_PEAK_DBFS = -6.0
#: Level of the loud passages of the dynamics probe (peak, dBFS); the soft ones are 12 dB lower.
DYNAMICS_PEAK_DBFS = -3.0
#: Fewest frames voiced in both the unprocessed and the processed signal for an f0 ratio.
MIN_PITCH_FRAMES = 5
#: Frequency (Hz) of the sine probe that THD is measured on.
SINE_PROBE_HZ = 220.0
#: A reverb tail whose first 50 ms are quieter than this (dB of mean power relative to the last
#: 300 ms of the processed source) counts as no reverb: inaudible.
TAIL_FLOOR_DB = -40.0
#: Lower edge (Hz) of the "air" band (needs a sample rate well above 2 × this).
AIR_HZ = 10000.0


# ------------------------------------------------------------------------------------ measures
@dataclass(frozen=True)
class Measure:
    """One measurement a check can ask for.

    ``compare`` is ``"ratio"`` (change = after / before; thresholds are relative, 0.05 = 5 %) or
    ``"difference"`` (change = after - before, in ``unit``). ``segment`` is ``"body"`` (the first
    T samples, T = the unprocessed length) or ``"tail"`` (what the reverb adds after them).
    """

    name: str
    unit: str
    compare: str
    min_change: float
    sources: str
    segment: str
    description: str


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("centroid", "", "ratio", 0.05, MATERIAL, "body", "spectral centroid (Hz)"),
        Measure("tilt", "dB/oct", "difference", 0.3, MATERIAL, "body", "spectral tilt"),
        Measure("low", "dB", "difference", 0.5, MATERIAL, "body",
                "energy < 200 Hz relative to the rest of the spectrum"),
        Measure("low_mid", "dB", "difference", 0.5, MATERIAL, "body",
                "energy 200-2000 Hz relative to the rest of the spectrum"),
        Measure("high_mid", "dB", "difference", 0.5, MATERIAL, "body",
                "energy 2-6 kHz relative to the rest of the spectrum"),
        Measure("high", "dB", "difference", 0.5, MATERIAL, "body",
                "energy > 6 kHz relative to the rest of the spectrum"),
        Measure("air", "dB", "difference", 0.5, MATERIAL, "body",
                f"energy > {AIR_HZ / 1000:g} kHz relative to the rest of the spectrum"),
        Measure("band_level", "dB", "difference", 1.0, MATERIAL, "body",
                "level of the band low_hz-high_hz (absolute, dB)"),
        Measure("decay", "s", "difference", 0.15, MATERIAL, "tail",
                "decay time T30 of the reverberation added after the source ends (0 when none)"),
        Measure("crest", "dB", "difference", 0.5, MATERIAL, "body", "crest factor (peak / RMS)"),
        Measure("thd", "%", "difference", 1.0, SINE_PROBE, "body",
                "total harmonic distortion of a 220 Hz sine (percent)"),
        Measure("f0", "", "ratio", 2 ** (0.5 / 12) - 1, PITCHED, "body", "fundamental frequency (Hz)"),
        Measure("lra", "LU", "difference", 1.0, DYNAMICS_PROBE, "body",
                "loudness range (EBU Tech 3342) of a probe with loud and soft passages"),
        Measure("loudness", "LU", "difference", 1.0, MATERIAL, "body", "integrated loudness (LUFS)"),
    )
}


# -------------------------------------------------------------------------------------- checks
class SuiteError(ValueError):
    """A suite file is malformed (names the file, the entry and the problem)."""


@dataclass(frozen=True)
class Check:
    """One expected change of one measure.

    Either ``direction`` (``up``/``down`` by at least ``min_change`` and, when set, at most
    ``max_change``; ``flat``: within ``min_change`` either way) or ``target`` ± ``tolerance``
    (for ratio measures the tolerance is relative: 0.02 = 2 %). Thresholds are in the measure's
    change units (see :class:`Measure`). ``band`` is (low_hz, high_hz) for ``band_level``.
    """

    measure: str
    direction: str | None = None
    min_change: float | None = None
    max_change: float | None = None
    target: float | None = None
    tolerance: float | None = None
    band: tuple[float, float] | None = None
    sources: str | tuple[str, ...] | None = None

    @property
    def key(self) -> tuple:
        """What must be measured for this check (measure name, and the band when it has one)."""
        return (self.measure, self.band) if self.band else (self.measure,)

    @property
    def threshold(self) -> float:
        return MEASURES[self.measure].min_change if self.min_change is None else self.min_change

    def change(self, before: float | np.ndarray, after: float | np.ndarray) -> float:
        """The change of the measure: ratio or difference, as the measure compares. For f0
        (pitch tracks, arrays with nan where unvoiced) the median of the frame-by-frame ratio
        over frames voiced in both; nan when fewer than :data:`MIN_PITCH_FRAMES` are."""
        if isinstance(before, np.ndarray) or isinstance(after, np.ndarray):
            b, a = np.asarray(before, float), np.asarray(after, float)
            n = min(a.shape[0], b.shape[0])
            r = a[:n] / b[:n]
            r = r[np.isfinite(r)]
            return float(np.median(r)) if r.size >= MIN_PITCH_FRAMES else math.nan
        if MEASURES[self.measure].compare == "ratio":
            return after / before if before != 0 else math.inf
        return after - before

    def passes(self, change: float) -> bool:
        """Whether a measured change (from :meth:`change`) satisfies the check."""
        if not math.isfinite(change):
            return False
        ratio = MEASURES[self.measure].compare == "ratio"
        if self.target is not None:
            tol = self.tolerance if self.tolerance is not None else self.threshold
            if ratio:
                return abs(change / self.target - 1.0) <= tol if self.target != 0 else False
            return abs(change - self.target) <= tol
        m = self.threshold
        if ratio:
            if change <= 0:
                return False
            lo, hi = 1.0 / (1.0 + m), 1.0 + m
            if self.direction == "up":
                return change >= hi and (self.max_change is None or change <= 1.0 + self.max_change)
            if self.direction == "down":
                return change <= lo and (self.max_change is None or change >= 1.0 / (1.0 + self.max_change))
            return lo < change < hi
        if self.direction == "up":
            return change >= m and (self.max_change is None or change <= self.max_change)
        if self.direction == "down":
            return change <= -m and (self.max_change is None or change >= -self.max_change)
        return abs(change) < m

    def describe(self) -> str:
        unit = MEASURES[self.measure].unit
        name = self.measure if not self.band else f"level {self.band[0]:g}-{self.band[1]:g} Hz"
        if self.target is not None:
            tol = self.tolerance if self.tolerance is not None else self.threshold
            if MEASURES[self.measure].compare == "ratio":
                return f"{name} ×{self.target:.4g} ± {100 * tol:g} %"
            return f"{name} {self.target:+g} ± {tol:g} {unit}".rstrip()
        if MEASURES[self.measure].compare == "ratio":
            amount = f"{100 * self.threshold:g} %"
        else:
            amount = f"{self.threshold:g} {unit}".rstrip()
        if self.direction == "flat":
            return f"{name} unchanged (within {amount})"
        return f"{name} {self.direction} by ≥ {amount}"

    def applies_to(self, source: "Source") -> bool:
        wanted = self.sources if self.sources is not None else MEASURES[self.measure].sources
        if isinstance(wanted, tuple):
            return source.name in wanted
        return wanted in source.roles


@dataclass(frozen=True)
class DirectionPrompt:
    prompt: str
    family: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class DirectionSuite:
    prompts: tuple[DirectionPrompt, ...]
    path: str = ""

    def families(self) -> list[str]:
        seen = {p.family for p in self.prompts}
        return [f for f in FAMILIES if f in seen]


@dataclass(frozen=True)
class ParaphraseSuite:
    groups: dict[str, tuple[str, ...]]
    path: str = ""


def _suite_path(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("audiomanip.presets").joinpath(name)))


def _read_yaml(path: str | Path) -> Any:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"suite file not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SuiteError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


_CHECK_KEYS = {
    "measure", "direction", "min_change", "max_change", "target", "tolerance",
    "semitones", "min_semitones", "max_semitones", "low_hz", "high_hz", "sources",
}


def parse_check(data: Mapping[str, Any], where: str = "check") -> Check:
    """Validate one check mapping of a suite file (see the file's header for the keys)."""
    if not isinstance(data, Mapping):
        raise SuiteError(f"{where}: a check must be a mapping, got {data!r}")
    unknown = set(data) - _CHECK_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = data.get("measure")
    if name not in MEASURES:
        raise SuiteError(f"{where}: measure must be one of {', '.join(MEASURES)}, got {name!r}")
    num = {k: _number(where, k, data[k]) for k in _CHECK_KEYS - {"measure", "direction", "sources"} if k in data}
    direction = data.get("direction")
    target = num.get("target")
    tolerance = num.get("tolerance")
    min_change = num.get("min_change")
    max_change = num.get("max_change")
    if any(k in num for k in ("semitones", "min_semitones", "max_semitones")):
        if name != "f0":
            raise SuiteError(f"{where}: semitones keys only go with measure f0")
        if "semitones" in num:
            target = 2 ** (num["semitones"] / 12)
        if "min_semitones" in num:
            min_change = 2 ** (abs(num["min_semitones"]) / 12) - 1
        if "max_semitones" in num:
            max_change = 2 ** (abs(num["max_semitones"]) / 12) - 1
    if target is None and direction not in DIRECTIONS:
        raise SuiteError(f"{where}: give a direction ({', '.join(DIRECTIONS)}) or a target, got {direction!r}")
    if target is not None and direction is not None:
        raise SuiteError(f"{where}: give a direction or a target, not both")
    for k, v in (("min_change", min_change), ("max_change", max_change), ("tolerance", tolerance)):
        if v is not None and v < 0:
            raise SuiteError(f"{where}: {k} must be >= 0, got {v:g}")
    band = None
    if name == "band_level":
        if "low_hz" not in num or "high_hz" not in num or not 0 < num["low_hz"] < num["high_hz"]:
            raise SuiteError(f"{where}: band_level needs 0 < low_hz < high_hz")
        band = (num["low_hz"], num["high_hz"])
    elif "low_hz" in num or "high_hz" in num:
        raise SuiteError(f"{where}: low_hz/high_hz only go with measure band_level")
    sources = data.get("sources")
    if sources is not None:
        if isinstance(sources, str):
            sources = (sources,)
        if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) for s in sources):
            raise SuiteError(f"{where}: sources must be a list of source names")
        sources = tuple(sources)
    return Check(name, direction, min_change, max_change, target, tolerance, band, sources)


def load_direction_suite(path: str | Path | None = None) -> DirectionSuite:
    """Read and validate the direction suite (default: the shipped ``suite_direction.yaml``)."""
    path = Path(path) if path is not None else _suite_path("suite_direction.yaml")
    data = _read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("prompts"), list):
        raise SuiteError(f"{path}: expected a mapping with a list 'prompts'")
    prompts = []
    seen: set[str] = set()
    for i, item in enumerate(data["prompts"]):
        where = f"{path.name}: prompts[{i}]"
        if not isinstance(item, Mapping):
            raise SuiteError(f"{where}: expected a mapping")
        prompt, family, checks = item.get("prompt"), item.get("family"), item.get("checks")
        if not isinstance(prompt, str) or not prompt.strip():
            raise SuiteError(f"{where}: prompt must be a non-empty string")
        if prompt in seen:
            raise SuiteError(f"{where}: duplicate prompt {prompt!r}")
        seen.add(prompt)
        if family not in FAMILIES:
            raise SuiteError(f"{where} ({prompt!r}): family must be one of {', '.join(FAMILIES)}, got {family!r}")
        if not isinstance(checks, list) or not checks:
            raise SuiteError(f"{where} ({prompt!r}): checks must be a non-empty list")
        parsed = tuple(parse_check(c, f"{where} ({prompt!r}) check {j}") for j, c in enumerate(checks))
        prompts.append(DirectionPrompt(prompt, family, parsed))
    if not prompts:
        raise SuiteError(f"{path}: no prompts")
    return DirectionSuite(tuple(prompts), str(path))


def load_paraphrase_suite(path: str | Path | None = None) -> ParaphraseSuite:
    """Read and validate the paraphrase suite (default: the shipped ``suite_paraphrase.yaml``):
    at least two groups, each of at least two distinct prompts, no prompt in two groups."""
    path = Path(path) if path is not None else _suite_path("suite_paraphrase.yaml")
    data = _read_yaml(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("groups"), Mapping):
        raise SuiteError(f"{path}: expected a mapping with a mapping 'groups'")
    groups: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, prompts in data["groups"].items():
        if not isinstance(prompts, list) or len(prompts) < 2:
            raise SuiteError(f"{path.name}: group {name!r} needs a list of at least 2 prompts")
        for p in prompts:
            if not isinstance(p, str) or not p.strip():
                raise SuiteError(f"{path.name}: group {name!r}: prompts must be non-empty strings")
            if p in seen:
                raise SuiteError(f"{path.name}: prompt {p!r} is in groups {seen[p]!r} and {name!r}")
            seen[p] = str(name)
        groups[str(name)] = tuple(prompts)
    if len(groups) < 2:
        raise SuiteError(f"{path}: need at least 2 groups")
    return ParaphraseSuite(groups, str(path))


# ------------------------------------------------------------------------------------- sources
@dataclass
class Source:
    """A mono signal the direction suite renders on: ``audio`` float32 [1, T] at the suite's
    sample rate; ``roles`` says which measures apply (see :data:`MEASURES`)."""

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


# --------------------------------------------------------------------------------- measuring
def _balance_db(ratios: Mapping[str, float], band: str) -> float:
    r = min(max(ratios[band], 1e-12), 1 - 1e-12)
    return 10 * math.log10(r / (1 - r))


def band_level_db(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float) -> float:
    """Mean power (dB, arbitrary but fixed reference) of ``x`` [C, T] between low_hz and high_hz
    (Hann-windowed FFT of the whole signal, channels summed); -inf for silence in the band."""
    from audiomanip.features import power_spectrum

    freqs, spec = power_spectrum(x, sample_rate, n_fft=None)
    sel = (freqs >= low_hz) & (freqs <= high_hz)
    p = float(spec[sel].mean()) if sel.any() else 0.0
    return 10 * math.log10(p) if p > 0 else -math.inf


def band_balance_db(x: np.ndarray, sample_rate: float, low_hz: float, high_hz: float = math.inf) -> float:
    """Energy between low_hz and high_hz relative to the energy outside it (dB) of ``x``
    [C, T]; -inf when the band is empty (e.g. above the source's own bandwidth)."""
    from audiomanip.features import power_spectrum

    freqs, spec = power_spectrum(x, sample_rate, n_fft=None)
    sel = (freqs >= low_hz) & (freqs < high_hz)
    inside, outside = float(spec[sel].sum()), float(spec[~sel].sum())
    if inside <= 0 or outside <= 0:
        return -math.inf
    return 10 * math.log10(inside / outside)


def tail_decay_s(audio: np.ndarray, sample_rate: float, body_frames: int) -> float:
    """Decay time T30 (s; T20 when the tail does not fall 35 dB) of what follows the first
    ``body_frames`` samples of ``audio`` [C, T'] (the reverb tail after the source ends); 0.0
    when there is no tail, or it is inaudible (:data:`TAIL_FLOOR_DB`), or it does not decay."""
    from audiomanip import features

    tail = audio[:, body_frames:].astype(np.float64)
    if tail.shape[1] < int(0.05 * sample_rate):
        return 0.0
    end = audio[:, max(0, body_frames - int(0.3 * sample_rate)):body_frames].astype(np.float64)
    p_tail = float(np.mean(tail[:, : int(0.05 * sample_rate)] ** 2))
    p_end = float(np.mean(end**2)) if end.size else 0.0
    if p_tail <= 0 or p_end <= 0 or 10 * math.log10(p_tail / p_end) < TAIL_FLOOR_DB:
        return 0.0
    for method in ("t30", "t20"):
        try:
            return features.decay_time_s(tail, sample_rate, method=method)
        except ValueError:
            continue
    return 0.0


def pitch_track(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """YIN f0 track (Hz, 10 ms hop, 30-1000 Hz) with nan in unvoiced frames → [F]."""
    from audiomanip import features

    f0, voiced = features.yin_track(x, sample_rate, fmin=30.0, fmax=1000.0)
    f0 = np.array(f0, dtype=np.float64)
    f0[~voiced] = np.nan
    return f0


def is_measurable(value: float | np.ndarray) -> bool:
    """Whether a measurement of an unprocessed source can anchor a check (finite; a pitch
    track with at least :data:`MIN_PITCH_FRAMES` voiced frames)."""
    if isinstance(value, np.ndarray):
        return int(np.isfinite(value).sum()) >= MIN_PITCH_FRAMES
    return math.isfinite(value)


def summary_value(value: float | np.ndarray) -> float:
    """A measurement as one number for reports (a pitch track's median over voiced frames)."""
    if isinstance(value, np.ndarray):
        v = value[np.isfinite(value)]
        return float(np.median(v)) if v.size else math.nan
    return float(value)


def measure(key: tuple, audio: np.ndarray, sample_rate: float, body_frames: int, *,
            reference: bool) -> float | np.ndarray:
    """The value of measure ``key`` (from :attr:`Check.key`) on ``audio`` [C, T'].

    ``body_frames`` is the length T of the unprocessed source; ``reference`` is True for the
    unprocessed source itself. ``f0`` returns the pitch track (:func:`pitch_track`); a
    reference where :func:`is_measurable` is false makes the check not apply to that source.
    """
    from audiomanip import features

    name = key[0]
    m = MEASURES[name]
    body = audio[:, :body_frames] if m.segment == "body" else audio
    if name == "centroid":
        return features.spectral_centroid_hz(body, sample_rate)
    if name == "tilt":
        return features.spectral_tilt_db_per_octave(body, sample_rate)
    if name in ("low", "low_mid", "high_mid", "high"):
        return _balance_db(features.band_energy_ratios(body, sample_rate), name)
    if name == "air":
        return band_balance_db(body, sample_rate, AIR_HZ) if sample_rate > 2.2 * AIR_HZ else math.nan
    if name == "band_level":
        return band_level_db(body, sample_rate, *key[1])
    if name == "decay":
        return 0.0 if reference else tail_decay_s(audio, sample_rate, body_frames)
    if name == "crest":
        return features.crest_factor_db(body)
    if name == "thd":
        f0 = SINE_PROBE_HZ
        if not reference:
            est = features.estimate_f0_hz(body, sample_rate)
            f0 = est if math.isfinite(est) else SINE_PROBE_HZ
        try:
            return 100.0 * features.thd(body, sample_rate, f0)
        except ValueError:
            return math.inf  # no energy at any fundamental: not a clean sine any more
    if name == "f0":
        return pitch_track(body, sample_rate)
    if name == "lra":
        return features.loudness_range_lu(body, sample_rate)
    if name == "loudness":
        return features.integrated_loudness_lufs(body, sample_rate)
    raise KeyError(name)


def measure_reference(source: Source, keys: Sequence[tuple], sample_rate: float) -> None:
    """Measure the unprocessed source once per key (cached on ``source.measurements``)."""
    n = source.audio.shape[1]
    for key in keys:
        if key not in source.measurements:
            source.measurements[key] = measure(key, source.audio, sample_rate, n, reference=True)

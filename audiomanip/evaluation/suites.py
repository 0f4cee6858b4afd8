"""The evaluation suites' files and their checks.

Two suites live in data files shipped with the package (``presets/suite_direction.yaml`` and
``presets/suite_paraphrase.yaml``); the parameter suite is the corpus's held-out splits and
needs no file. This module loads and validates the files and turns a check ("the centroid goes
down by at least 5 %") into a pass/fail on a measured change. What a check measures is in
:mod:`audiomanip.evaluation.measures`; the signals the direction suite renders on are in
:mod:`audiomanip.evaluation.sources`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from audiomanip.errors import InputNotFoundError
from audiomanip.evaluation.measures import MEASURES, MIN_PITCH_FRAMES

if TYPE_CHECKING:
    from audiomanip.evaluation.sources import Source

FAMILIES = ("tone", "space", "character", "dynamics", "pitch", "explicit")
DIRECTIONS = ("up", "down", "flat")


# -------------------------------------------------------------------------------------- checks
class SuiteError(ValueError):
    """A suite file is malformed (names the file, the entry and the problem)."""


@dataclass(frozen=True)
class Check:
    """One expected change of one measure.

    Either ``direction`` (``up``/``down`` by at least ``min_change`` and, when set, at most
    ``max_change``; ``flat``: within ``min_change`` either way) or ``target`` ± ``tolerance``
    (for ratio measures the tolerance is relative: 0.02 = 2 %). Thresholds are in the measure's
    change units (see :class:`~audiomanip.evaluation.measures.Measure`). ``band`` is (low_hz, high_hz) for ``band_level``.
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
        over frames voiced in both; nan when fewer than :data:`~audiomanip.evaluation.measures.MIN_PITCH_FRAMES` are."""
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

"""The effect schema: the one source of truth for every effect parameter.

Every other part of audiomanip (model heads, differentiable DSP, renderer, preset files, CLI)
derives names, units, ranges, scales and defaults from :data:`SCHEMA`. Nothing else hard-codes
a range or a list of parameter names.

A :class:`Preset` holds, per effect, an ``enabled`` flag and a value for every parameter.
Parameters are stored flat per effect; an effect with ``bands > 1`` (the EQ) repeats its
parameters per band under the names ``band{i}_{param}`` (``i`` from 1).

Normalised space (what the model heads predict): continuous parameters map to [0, 1] linearly
or logarithmically according to their scale; choice parameters map to a class index.

This module imports nothing else from audiomanip.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)


class PresetError(ValueError):
    """A preset (dict, JSON or YAML) is malformed or holds a value outside the schema."""


@dataclass(frozen=True)
class Param:
    """One parameter of an effect.

    ``name`` carries its unit as a suffix where it has one (``freq_hz``, ``gain_db``).
    ``low``/``high`` are the inclusive physical range, ``scale`` is ``"lin"`` or ``"log"``
    (log needs ``low > 0``). ``neutral`` is the value at which the parameter does nothing
    (used by ``--strength``); ``None`` means the parameter has no neutral value of its own.
    A choice parameter has ``choices`` and its value is one of those strings.
    """

    name: str
    unit: str
    low: float = 0.0
    high: float = 1.0
    default: float | str = 0.0
    scale: str = "lin"
    neutral: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    def normalize(self, value: float) -> float:
        """Physical value -> [0, 1] (continuous parameters only)."""
        if self.scale == "log":
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def denormalize(self, u: float) -> float:
        """[0, 1] -> physical value (continuous parameters only); ``u`` is clipped to [0, 1].

        The value is rounded to 6 significant digits (far below anything audible), so that
        predicted presets read cleanly and survive a JSON/YAML round trip unchanged.
        """
        u = min(1.0, max(0.0, float(u)))
        if self.scale == "log":
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return min(self.high, max(self.low, float(f"{value:.6g}")))

    def range_text(self) -> str:
        if self.is_choice:
            return " | ".join(self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low:g} … {self.high:g}{unit}"


@dataclass(frozen=True)
class Effect:
    """One effect of the chain: its parameters, band count and whether it starts enabled.

    ``band_defaults`` (one mapping per band) overrides ``Param.default`` band by band.
    """

    name: str
    params: tuple[Param, ...]
    description: str
    bands: int = 1
    enabled_default: bool = False
    band_defaults: tuple[Mapping[str, Any], ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        """The flat parameter names as they appear in a Preset (``band1_freq_hz`` …)."""
        return tuple(name for name, _, _ in self.flat_params())

    def flat_params(self) -> Iterator[tuple[str, Param, int]]:
        """Yield ``(flat_name, param, band_index)``; band_index is 0 for single-band effects."""
        if self.bands == 1:
            for p in self.params:
                yield p.name, p, 0
        else:
            for b in range(self.bands):
                for p in self.params:
                    yield f"band{b + 1}_{p.name}", p, b

    def default_of(self, param: Param, band: int) -> float | str:
        if self.band_defaults and param.name in self.band_defaults[band]:
            return self.band_defaults[band][param.name]
        return param.default

    def continuous(self) -> list[tuple[str, Param, int]]:
        return [t for t in self.flat_params() if not t[1].is_choice]

    def choice(self) -> list[tuple[str, Param, int]]:
        return [t for t in self.flat_params() if t[1].is_choice]

    def param(self, flat_name: str) -> Param:
        for name, p, _ in self.flat_params():
            if name == flat_name:
                return p
        raise KeyError(flat_name)

    def table_rows(self) -> list[str]:
        """This effect's rows of the README's schema table (:func:`schema_table_markdown`):
        ``enabled``, then one row per parameter (per-band parameters as ``band1…N_name``)."""
        enabled = str(self.enabled_default).lower()
        rows = [f"| {self.name} | enabled | | true / false | | {enabled} | {self.description} |"]
        for p in self.params:
            name = p.name if self.bands == 1 else f"band1…{self.bands}_{p.name}"
            if self.bands > 1:
                defaults = ", ".join(_fmt(self.default_of(p, b)).strip("'") for b in range(self.bands))
            else:
                defaults = _fmt(p.default).strip("'")
            rng = " / ".join(p.choices) if p.is_choice else f"{p.low:g} … {p.high:g}"
            scale = "class" if p.is_choice else p.scale
            rows.append(f"| {self.name} | {name} | {p.unit} | {rng} | {scale} | {defaults} | {p.description} |")
        return rows


EQ_BAND_TYPES = ("low_shelf", "peak", "high_shelf", "low_pass", "high_pass")

SCHEMA: tuple[Effect, ...] = (
    Effect(
        name="pitch",
        description="Pitch shift with tempo preserved.",
        params=(
            Param("semitones", "st", -12.0, 12.0, 0.0, "lin", neutral=0.0,
                  description="Pitch shift in semitones (12 = one octave)."),
        ),
    ),
    Effect(
        name="eq",
        description="5-band parametric EQ of RBJ biquads.",
        bands=5,
        params=(
            Param("type", "", default="peak", choices=EQ_BAND_TYPES,
                  description="Filter type of the band."),
            Param("freq_hz", "Hz", 20.0, 20000.0, 1000.0, "log",
                  description="Centre, corner or cut-off frequency."),
            Param("gain_db", "dB", -20.0, 20.0, 0.0, "lin", neutral=0.0,
                  description="Gain of a shelf or peak band (ignored by pass filters)."),
            Param("q", "", 0.1, 10.0, 0.707, "log",
                  description="Quality factor (bandwidth of a peak, slope of a shelf, resonance of a pass filter)."),
        ),
        band_defaults=(
            {"type": "low_shelf", "freq_hz": 100.0},
            {"type": "peak", "freq_hz": 300.0},
            {"type": "peak", "freq_hz": 1000.0},
            {"type": "peak", "freq_hz": 3500.0},
            {"type": "high_shelf", "freq_hz": 10000.0},
        ),
    ),
    Effect(
        name="distortion",
        description="Waveshaping saturation with output level compensation.",
        params=(
            Param("drive_db", "dB", 0.0, 40.0, 0.0, "lin", neutral=0.0,
                  description="Gain into the waveshaper."),
            Param("color", "", 0.0, 1.0, 0.0, "lin", neutral=0.0,
                  description="Asymmetry of the curve: 0 odd harmonics only (tube-like symmetric), 1 strong even harmonics."),
        ),
    ),
    Effect(
        name="compressor",
        description="Feed-forward compressor with make-up gain.",
        params=(
            Param("threshold_db", "dB", -60.0, 0.0, 0.0, "lin", neutral=0.0,
                  description="Level above which gain is reduced."),
            Param("ratio", ":1", 1.0, 20.0, 1.0, "log", neutral=1.0,
                  description="Input dB over threshold per output dB over threshold."),
            Param("attack_ms", "ms", 0.1, 100.0, 10.0, "log",
                  description="Time to react to a rise in level."),
            Param("release_ms", "ms", 10.0, 2000.0, 100.0, "log",
                  description="Time to recover after the level falls."),
            Param("makeup_db", "dB", 0.0, 24.0, 0.0, "lin", neutral=0.0,
                  description="Gain after compression."),
        ),
    ),
    Effect(
        name="reverb",
        description="Convolution with a synthesised stereo room impulse response.",
        params=(
            Param("room_size", "", 0.0, 1.0, 0.5, "lin",
                  description="Size of the space; sets the decay time T60 = 0.15 s × 60^room_size (0.15 s … 9 s, room_size_to_t60_s)."),
            Param("pre_delay_ms", "ms", 0.0, 200.0, 10.0, "lin",
                  description="Delay between the dry sound and the first reflection."),
            Param("diffusion", "", 0.0, 1.0, 0.7, "lin",
                  description="Density of the reflections: 0 sparse, distinct echoes; 1 a smooth dense tail."),
            Param("damping", "", 0.0, 1.0, 0.5, "lin",
                  description="How much faster high frequencies decay than low ones."),
            Param("wet", "", 0.0, 1.0, 0.25, "lin", neutral=0.0,
                  description="Wet/dry mix: 0 dry only, 1 reverb only."),
        ),
    ),
    Effect(
        name="output",
        description="Output gain; the renderer adds peak safety after it.",
        enabled_default=True,
        params=(
            Param("gain_db", "dB", -24.0, 24.0, 0.0, "lin", neutral=0.0,
                  description="Gain applied at the end of the chain."),
        ),
    ),
)

#: Processing order of the chain.
EFFECT_ORDER: tuple[str, ...] = tuple(e.name for e in SCHEMA)
EFFECTS: dict[str, Effect] = {e.name: e for e in SCHEMA}


#: Decay time of the reverb at room_size 0 (seconds) and its growth factor up to room_size 1:
#: T60 = REVERB_T60_AT_ZERO_S × REVERB_T60_GROWTH ** room_size (0.15 s … 9 s).
REVERB_T60_AT_ZERO_S = 0.15
REVERB_T60_GROWTH = 60.0


def room_size_to_t60_s(room_size):
    """Decay time T60 in seconds of ``reverb.room_size`` (float or tensor; differentiable)."""
    return REVERB_T60_AT_ZERO_S * REVERB_T60_GROWTH ** room_size


def t60_s_to_room_size(t60_s: float) -> float:
    """Inverse of :func:`room_size_to_t60_s` (not clamped to the parameter's range)."""
    return math.log(t60_s / REVERB_T60_AT_ZERO_S) / math.log(REVERB_T60_GROWTH)


def effect(name: str) -> Effect:
    """The schema entry of effect ``name`` (KeyError with the known names otherwise)."""
    try:
        return EFFECTS[name]
    except KeyError:
        raise KeyError(f"unknown effect {name!r}; known: {', '.join(EFFECT_ORDER)}") from None


@dataclass(frozen=True)
class EqBand:
    """One band of the EQ: its type (one of :data:`EQ_BAND_TYPES`), frequency (Hz), gain (dB;
    unused by the low- and high-pass types) and Q."""

    type: str
    freq_hz: float
    gain_db: float
    q: float


def eq_bands(values: Mapping[str, Any]) -> list[EqBand]:
    """The EQ settings ``values`` (a Preset's ``eq`` values: ``band1_type``, ``band1_freq_hz``, …)
    as one :class:`EqBand` per band, band 1 first."""
    return [
        EqBand(str(values[f"band{i}_type"]),
               *(float(values[f"band{i}_{name}"]) for name in ("freq_hz", "gain_db", "q")))
        for i in range(1, effect("eq").bands + 1)
    ]


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


@dataclass
class Preset:
    """A complete, validated setting of the whole chain.

    ``enabled[effect]`` is a bool; ``values[effect][flat_param_name]`` is a float (or a string
    for choice parameters) in physical units. Build with :meth:`default`, :meth:`from_dict`,
    :meth:`from_json`, :meth:`from_yaml`, :meth:`load` or :meth:`from_normalized`.
    """

    enabled: dict[str, bool] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str | None = None
    description: str | None = None
    #: Messages about keys that were filled with defaults, ignored or clamped while loading.
    notes: list[str] = field(default_factory=list, compare=False, repr=False)

    # ---------------------------------------------------------------- construction
    @classmethod
    def default(cls) -> Preset:
        """The neutral preset: every effect at its defaults, only ``output`` enabled."""
        enabled = {e.name: e.enabled_default for e in SCHEMA}
        values = {
            e.name: {fname: e.default_of(p, b) for fname, p, b in e.flat_params()} for e in SCHEMA
        }
        return cls(enabled=enabled, values=values)

    def copy(self) -> Preset:
        return Preset(
            enabled=dict(self.enabled),
            values={k: dict(v) for k, v in self.values.items()},
            name=self.name,
            description=self.description,
            notes=list(self.notes),
        )

    def __getitem__(self, effect_name: str) -> dict[str, Any]:
        return self.values[effect_name]

    def set(self, effect_name: str, param: str, value: Any, *, enable: bool = True) -> Preset:
        """Set one value (validated) and, by default, enable the effect. Returns self."""
        eff = effect(effect_name)
        p = eff.param(param)
        self.values[effect_name][param] = _check_value(effect_name, param, p, value, clamp=False, notes=[])
        if enable:
            self.enabled[effect_name] = True
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, clamp: bool = False, strict: bool = False) -> Preset:
        """Build from the dict form (as written by :meth:`to_dict`).

        Missing effects/keys are filled with defaults and reported in ``notes``; unknown keys
        are an error when ``strict`` and reported otherwise. Out-of-range values are a
        :class:`PresetError` unless ``clamp`` is true, in which case they are clamped and
        reported. A ``schema_version`` other than a supported one is an error.
        """
        if not isinstance(data, Mapping):
            raise PresetError(f"a preset must be a mapping of effects, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_SCHEMA_VERSIONS:
            raise PresetError(
                f"unsupported schema_version {_short_repr(version)}; this audiomanip reads schema version(s) "
                f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}"
            )
        preset = cls.default()
        notes: list[str] = []
        meta_keys = {"schema_version", "name", "description", "effects"}
        effects_data = data.get("effects", None)
        if effects_data is None:
            effects_data = {k: v for k, v in data.items() if k not in meta_keys}
        elif not isinstance(effects_data, Mapping):
            raise PresetError("'effects' must be a mapping of effect name to settings")
        if not any(k in EFFECTS for k in effects_data):
            raise PresetError(
                "this is not an audiomanip preset: it names none of the effects "
                f"{', '.join(EFFECT_ORDER)}"
            )
        for key in data:
            if key not in meta_keys and key not in EFFECTS and "effects" in data:
                _unknown(f"top-level key {_short_repr(key)}", strict, notes)
        for ename, settings in effects_data.items():
            if ename not in EFFECTS:
                _unknown(f"effect {_short_repr(ename)} (known: {', '.join(EFFECT_ORDER)})", strict, notes)
                continue
            eff = EFFECTS[ename]
            if settings is None:
                settings = {}
            if not isinstance(settings, Mapping):
                raise PresetError(f"{ename}: settings must be a mapping, got {type(settings).__name__}")
            known = set(eff.param_names) | {"enabled"}
            for key in settings:
                if key not in known:
                    _unknown(f"{ename}.{key}", strict, notes)
            if "enabled" in settings:
                en = settings["enabled"]
                if not isinstance(en, bool):
                    raise PresetError(f"{ename}.enabled must be true or false, got {_short_repr(en)}")
                preset.enabled[ename] = en
            else:
                preset.enabled[ename] = True
            for fname, p, _ in eff.flat_params():
                if fname in settings:
                    preset.values[ename][fname] = _check_value(ename, fname, p, settings[fname], clamp, notes)
                else:
                    notes.append(f"{ename}.{fname} missing: default {_fmt(preset.values[ename][fname])} used")
        for ename in EFFECT_ORDER:
            if ename not in effects_data:
                notes.append(f"effect {ename!r} missing: {'enabled' if preset.enabled[ename] else 'disabled'} with defaults")
        name = data.get("name")
        desc = data.get("description")
        for key, text in (("name", name), ("description", desc)):
            if text is not None and (isinstance(text, bool) or not isinstance(text, (str, int, float))):
                raise PresetError(f"{key} must be text, got {type(text).__name__} {_short_repr(text)}")
        preset.name = str(name) if name is not None else None
        preset.description = str(desc) if desc is not None else None
        preset.notes = notes
        return preset

    def to_dict(self) -> dict[str, Any]:
        """The dict form: ``schema_version``, optional ``name``/``description``, then one
        mapping per effect in processing order with ``enabled`` and every parameter."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        for e in SCHEMA:
            d: dict[str, Any] = {"enabled": bool(self.enabled[e.name])}
            for fname, p, _ in e.flat_params():
                v = self.values[e.name][fname]
                d[fname] = v if p.is_choice else float(v)
            out[e.name] = d
        return out

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_json(cls, text: str, **kw: Any) -> Preset:
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys_dict)
        except PresetError:
            raise
        except json.JSONDecodeError as exc:
            raise PresetError(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise PresetError("not a preset: the JSON is nested far too deeply") from None
        except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
            raise PresetError(f"not a usable preset: {_first_line(exc)}") from None
        return cls.from_dict(_unwrap(data), **kw)

    @classmethod
    def from_yaml(cls, text: str, **kw: Any) -> Preset:
        import yaml

        try:
            data = yaml.load(text, Loader=_unique_keys_yaml_loader())  # noqa: S506 - a SafeLoader
        except PresetError:
            raise
        except yaml.YAMLError as exc:
            raise PresetError(f"not valid YAML (only plain YAML is read, no object tags): {exc}") from None
        except RecursionError:
            raise PresetError("not a preset: the YAML is nested far too deeply") from None
        except ValueError as exc:  # e.g. an integer longer than Python converts (4300 digits)
            raise PresetError(f"not a usable preset: {_first_line(exc)}") from None
        return cls.from_dict(_unwrap(data), **kw)

    @classmethod
    def load(cls, path: str | Path, **kw: Any) -> Preset:
        """Read a preset file (``.json``, ``.yaml`` or ``.yml``)."""
        path = Path(path)
        if not path.exists():
            raise PresetError(f"preset file not found: {path}")
        if path.is_dir():
            raise PresetError(f"expected a preset file, got a directory: {path}")
        try:
            text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark (Windows editors) is skipped
        except UnicodeDecodeError:
            raise PresetError(f"{path} is not a text file (a preset is JSON or YAML)") from None
        except OSError as exc:
            raise PresetError(f"cannot read {path}: {exc.strerror or exc}") from None
        if path.suffix.lower() == ".json":
            return cls.from_json(text, **kw)
        return cls.from_yaml(text, **kw)

    def save(self, path: str | Path) -> None:
        """Write as JSON or YAML by the file's suffix (atomically), only to a regular file.

        The rule of ``audiomanip.destination`` (which this base module may not import): a
        destination that exists and is not a regular file (device, FIFO, socket, folder) is
        refused with PresetError and never renamed over."""
        import stat

        path = Path(path)
        text = self.to_json() if path.suffix.lower() == ".json" else self.to_yaml()

        def check() -> None:
            if path.exists() and not stat.S_ISREG(path.stat().st_mode):
                raise PresetError(f"refusing to write '{path}': it is not a regular file")

        check()
        # a fresh temporary name, created exclusively, named as audiomanip.tempfiles names them
        # (params imports nothing of ours, so the few lines are here)
        while True:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.partial")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + ("" if text.endswith("\n") else "\n"))
            check()  # again, just before the rename
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ---------------------------------------------------------------- normalised space
    def to_normalized(self) -> dict[str, dict[str, Any]]:
        """Per effect: ``enabled`` (0./1.), ``continuous`` (list of floats in [0, 1], in
        :meth:`Effect.continuous` order) and ``choices`` (list of class indices)."""
        out = {}
        for e in SCHEMA:
            vals = self.values[e.name]
            out[e.name] = {
                "enabled": 1.0 if self.enabled[e.name] else 0.0,
                "continuous": [p.normalize(float(vals[n])) for n, p, _ in e.continuous()],
                "choices": [p.choices.index(vals[n]) for n, p, _ in e.choice()],
            }
        return out

    @classmethod
    def from_normalized(cls, norm: Mapping[str, Mapping[str, Any]]) -> Preset:
        """Inverse of :meth:`to_normalized`; ``enabled`` is true when above 0.5."""
        preset = cls.default()
        for e in SCHEMA:
            n = norm[e.name]
            preset.enabled[e.name] = float(n["enabled"]) > 0.5
            for (fname, p, _), u in zip(e.continuous(), n["continuous"]):
                preset.values[e.name][fname] = p.denormalize(float(u))
            for (fname, p, _), idx in zip(e.choice(), n["choices"]):
                preset.values[e.name][fname] = p.choices[int(idx)]
        return preset

    # ---------------------------------------------------------------- helpers
    def with_strength(self, strength: float) -> Preset:
        """Move every parameter that has a neutral value towards it.

        ``strength`` 1 returns an equal preset, 0 bypasses every effect (the identity chain),
        values between interpolate in normalised space between neutral and the preset's value.
        """
        if not 0.0 <= strength <= 1.0:
            raise PresetError(f"strength must be between 0 and 1, got {strength:g}")
        out = self.copy()
        if strength == 0.0:
            for e in SCHEMA:
                out.enabled[e.name] = False
            return out
        for e in SCHEMA:
            for fname, p, _ in e.continuous():
                if p.neutral is None:
                    continue
                u0 = p.normalize(p.neutral)
                u1 = p.normalize(float(self.values[e.name][fname]))
                out.values[e.name][fname] = p.denormalize(u0 + strength * (u1 - u0))
        return out

    def describe(self) -> str:
        """A one-line human summary of the enabled effects."""
        parts = []
        for e in SCHEMA:
            if not self.enabled[e.name]:
                continue
            vals = self.values[e.name]
            parts.append(f"{e.name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in vals.items()) + ")")
        return "; ".join(parts) if parts else "bypass"


def _unique_keys_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; PresetError naming a key that occurs twice (JSON would keep the
    last one silently, and the user would not know which value counts)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PresetError(f"duplicate key {key!r}: each key may appear once")
        out[key] = value
    return out


def _unique_keys_yaml_loader() -> type:
    """yaml.SafeLoader that refuses a mapping holding the same key twice (PresetError naming the
    key and its line)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                try:
                    key = self.construct_object(key_node, deep=deep)
                    duplicate = key in seen and key != "<<"
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                if duplicate:
                    raise PresetError(
                        f"duplicate key {key!r} (line {key_node.start_mark.line + 1}): each key may appear once"
                    )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _unwrap(data: Any) -> Any:
    """Accept the ``{"preset": {...}}`` wrapper that ``apply`` writes in ``*_preset.json``."""
    if isinstance(data, Mapping) and "preset" in data and isinstance(data["preset"], Mapping):
        return data["preset"]
    return data


def _short_repr(value: Any) -> str:
    """``repr`` bounded in length and depth: a hostile file (a YAML "billion laughs" of aliases)
    must not turn an error message into gigabytes."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring = r.maxother = 60
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple = 2, 4, 4, 4
    return r.repr(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unknown(what: str, strict: bool, notes: list[str]) -> None:
    if strict:
        raise PresetError(f"unknown {what}")
    notes.append(f"unknown {what} ignored")


def _check_value(ename: str, fname: str, p: Param, value: Any, clamp: bool, notes: list[str]) -> Any:
    if p.is_choice:
        if value not in p.choices:
            raise PresetError(f"{ename}.{fname} = {_short_repr(value)} is not one of {', '.join(p.choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"{ename}.{fname} = {_short_repr(value)} must be a number ({p.range_text()})")
    try:
        value = float(value)
        shown = f"{value:g}"
    except OverflowError:  # an integer too large for a float: beyond any range
        value = math.inf if value > 0 else -math.inf
        shown = f"{'-' if value < 0 else ''}(a number too large for a float)"
    else:
        if not math.isfinite(value):
            raise PresetError(f"{ename}.{fname} = {value!r} must be finite ({p.range_text()})")
    if value < p.low or value > p.high:
        if not clamp:
            raise PresetError(f"{ename}.{fname} = {shown} is out of range {p.range_text()}")
        clamped = min(p.high, max(p.low, value))
        notes.append(f"{ename}.{fname} = {shown} clamped to {clamped:g} ({p.range_text()})")
        value = clamped
    return value


def schema_table_markdown() -> str:
    """The schema as a Markdown table (README.md's table is checked against this)."""
    lines = [
        "| effect | parameter | unit | range | scale | default | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in SCHEMA:
        lines += e.table_rows()
    return "\n".join(lines)

"""Recipes (partial presets) and the rules that compose them, as ``descriptors.yaml`` documents
in its header:

* a **recipe** is a partial preset: values for some parameters (physical units) plus
  enable/disable flags. EQ values follow the band convention of ``descriptors.yaml``
  (``conventions.eq_bands``): band1 lows (low_shelf or high_pass), band2 low-mids peak,
  band3 mids peak, band4 presence peak, band5 highs (high_shelf or low_pass).
* :func:`compose` merges recipes with the rules of ``conventions.composition`` (EQ gains
  add and clip, pass filters keep the most restrictive cut-off, reverb/distortion/compressor
  take the stronger recipe, pitch adds).
* :meth:`Recipe.scaled` applies an intensity factor to the deviation from neutral in the
  schema's normalised space.

Every recipe read from a file is validated against :mod:`audiomanip.params`; a bad entry is a
:class:`~audiomanip.errors.PresetFileError` that names the file and the entry.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audiomanip.params import EFFECT_ORDER, EFFECTS, Param, Preset, effect
from audiomanip.vocab.corpus_files import corpus_error, load_yaml_section

PASS_TYPES = ("low_pass", "high_pass")


# ---------------------------------------------------------------------------- conventions
@dataclass(frozen=True)
class BandRole:
    """The role of one EQ band in the composition convention."""

    band: int  # 1-based
    role: str
    types: tuple[str, ...]
    freq_range_hz: tuple[float, float]

    @property
    def pass_type(self) -> str | None:
        return next((t for t in self.types if t in PASS_TYPES), None)

    @property
    def gain_type(self) -> str:
        return next(t for t in self.types if t not in PASS_TYPES)


@dataclass(frozen=True)
class Conventions:
    """EQ band roles and per-parameter composition rules (from ``descriptors.yaml``)."""

    bands: tuple[BandRole, ...]
    #: ``{effect: {param: rule}}`` with rule one of add, max, min, follow (non-EQ effects).
    rules: Mapping[str, Mapping[str, str]]
    #: ``{effect: param}``: the parameter whose winner the ``follow`` parameters follow.
    lead: Mapping[str, str]
    #: ``(effect, flat_param)`` pairs with a neutral value that intensity does not scale.
    intensity_keeps: frozenset[tuple[str, str]] = frozenset()


@functools.cache
def conventions() -> Conventions:
    """The validated EQ band convention and composition rules."""
    where = "descriptors.yaml: conventions"
    conv = load_yaml_section("descriptors.yaml", "conventions")
    if not isinstance(conv, Mapping):
        raise corpus_error("descriptors.yaml", "missing the 'conventions' section")
    eq = effect("eq")
    type_param = eq.params[[p.name for p in eq.params].index("type")]
    freq_param = eq.param("band1_freq_hz")
    bands = []
    raw_bands = conv.get("eq_bands") or {}
    for b in range(1, eq.bands + 1):
        spec = raw_bands.get(f"band{b}")
        if not isinstance(spec, Mapping):
            raise corpus_error(where, f"eq_bands.band{b} is missing")
        types = tuple(spec.get("types") or ())
        bad = [t for t in types if t not in type_param.choices]
        if not types or bad:
            raise corpus_error(where, f"eq_bands.band{b}.types {list(types)} must be among {', '.join(type_param.choices)}")
        if sum(t not in PASS_TYPES for t in types) != 1 or sum(t in PASS_TYPES for t in types) > 1:
            raise corpus_error(where, f"eq_bands.band{b}.types needs exactly one gain type and at most one pass type")
        lo, hi = (float(x) for x in spec.get("freq_hz"))
        if not (freq_param.low <= lo < hi <= freq_param.high):
            raise corpus_error(where, f"eq_bands.band{b}.freq_hz [{lo:g}, {hi:g}] outside {freq_param.range_text()}")
        bands.append(BandRole(b, str(spec.get("role", "")), types, (lo, hi)))
    rules: dict[str, dict[str, str]] = {}
    for rule, names in (conv.get("composition") or {}).items():
        if rule not in ("add", "max", "min", "follow"):
            raise corpus_error(where, f"unknown composition rule {rule!r} (add, max, min, follow)")
        for dotted in names:
            ename, _, pname = str(dotted).partition(".")
            if ename not in EFFECTS or ename == "eq":
                raise corpus_error(where, f"composition.{rule}: {dotted!r} is not a non-EQ effect parameter")
            try:
                EFFECTS[ename].param(pname)
            except KeyError:
                raise corpus_error(where, f"composition.{rule}: unknown parameter {dotted!r}") from None
            rules.setdefault(ename, {})[pname] = rule
    for ename in EFFECT_ORDER:
        if ename == "eq":
            continue
        missing = [n for n in EFFECTS[ename].param_names if n not in rules.get(ename, {})]
        if missing:
            raise corpus_error(where, f"composition has no rule for {', '.join(f'{ename}.{n}' for n in missing)}")
    lead = dict(conv.get("lead") or {})
    for ename, pname in lead.items():
        if rules.get(ename, {}).get(pname) not in ("max", "min"):
            raise corpus_error(where, f"lead.{ename} = {pname!r} must be a max or min parameter of {ename}")
    for ename, prules in rules.items():
        if "follow" in prules.values() and ename not in lead:
            raise corpus_error(where, f"{ename} has 'follow' parameters but no lead parameter")
    keeps = set()
    for dotted in conv.get("intensity_keeps") or ():
        ename, _, pname = str(dotted).partition(".")
        try:
            effect(ename).param(pname)
        except KeyError:
            raise corpus_error(where, f"intensity_keeps: unknown parameter {dotted!r}") from None
        keeps.add((ename, pname))
    return Conventions(tuple(bands), rules, lead, frozenset(keeps))


# ---------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Recipe:
    """A partial preset.

    ``values[effect][flat_param]`` holds physical values (strings for EQ band types) for the
    parameters the recipe sets; ``enabled[effect]`` an explicit flag. An effect with values
    and no flag is enabled; an effect flagged ``False`` stays off.
    """

    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    enabled: Mapping[str, bool] = field(default_factory=dict)

    def effects_on(self) -> set[str]:
        on = {e for e, v in self.values.items() if v and self.enabled.get(e, True)}
        return on | {e for e, flag in self.enabled.items() if flag}

    def scaled(self, factor: float) -> Recipe:
        """Scale every deviation from neutral by ``factor`` in normalised space.

        Parameters without a neutral value (frequencies, Q, times, room size, types) are
        kept, and so are ``conventions.intensity_keeps``. A negative factor inverts the
        recipe (used for "less muddy"); values clip to the schema's range.
        """
        if factor == 1.0:
            return self
        keeps = conventions().intensity_keeps
        values: dict[str, dict[str, Any]] = {}
        for ename, vals in self.values.items():
            out = {}
            for fname, v in vals.items():
                p = _param(ename, fname)
                if p.is_choice or p.neutral is None or (ename, fname) in keeps:
                    out[fname] = v
                    continue
                u0 = p.normalize(p.neutral)
                out[fname] = p.denormalize(u0 + factor * (p.normalize(float(v)) - u0))
            values[ename] = out
        return Recipe(values, dict(self.enabled))

    def with_overrides(self, other: Recipe) -> Recipe:
        """Values and flags of ``other`` replace this recipe's (no composition rules)."""
        values = {e: dict(v) for e, v in self.values.items()}
        for ename, vals in other.values.items():
            values.setdefault(ename, {}).update(vals)
        enabled = dict(self.enabled)
        enabled.update(other.enabled)
        return Recipe(values, enabled)

    def to_preset(self, name: str | None = None, description: str | None = None) -> Preset:
        """The full preset: schema defaults, then this recipe's values and flags."""
        preset = _default_preset().copy()
        for ename, vals in self.values.items():
            preset.values[ename].update(vals)
        on = self.effects_on()
        for ename in EFFECT_ORDER:
            if ename in on:
                preset.enabled[ename] = True
            elif self.enabled.get(ename) is False:
                preset.enabled[ename] = False
        preset.name = name
        preset.description = description
        return preset


@functools.cache
def _param(ename: str, fname: str) -> Param:
    return EFFECTS[ename].param(fname)


@functools.lru_cache(maxsize=1)
def _default_preset() -> Preset:
    return Preset.default()


def _band_fields(band: int) -> tuple[str, str, str, str]:
    return (f"band{band}_type", f"band{band}_freq_hz", f"band{band}_gain_db", f"band{band}_q")


def _compose_eq(recipes: list[Recipe], conv: Conventions) -> dict[str, Any]:
    eq = effect("eq")
    gain_p = eq.param("band1_gain_db")
    out: dict[str, Any] = {}
    for role in conv.bands:
        tkey, fkey, gkey, qkey = _band_fields(role.band)
        entries = [r.values["eq"] for r in recipes if "eq" in r.values and tkey in r.values["eq"]]
        if not entries:
            continue
        passes = [e for e in entries if e[tkey] in PASS_TYPES]
        if passes:
            # the most restrictive cut-off: highest high-pass, lowest low-pass
            pick = max if passes[0][tkey] == "high_pass" else min
            win = pick(passes, key=lambda e: e[fkey])
            out.update({tkey: win[tkey], fkey: win[fkey], gkey: 0.0, qkey: win[qkey]})
            continue
        weights = [abs(float(e[gkey])) + 0.1 for e in entries]
        total = sum(weights)
        out[tkey] = role.gain_type
        out[gkey] = min(gain_p.high, max(gain_p.low, sum(float(e[gkey]) for e in entries)))
        out[fkey] = math.exp(sum(w * math.log(e[fkey]) for w, e in zip(weights, entries)) / total)
        out[qkey] = math.exp(sum(w * math.log(e[qkey]) for w, e in zip(weights, entries)) / total)
    return out


def compose(recipes: Iterable[Recipe]) -> Recipe:
    """Merge recipes with the rules of ``descriptors.yaml`` ``conventions``.

    EQ: per band, gains add (clipped to the schema's range) with gain-weighted (log) mean
    frequency and Q; a pass filter in a band wins over a shelf there and, among pass
    filters, the most restrictive cut-off wins. Other effects: ``add`` parameters add
    their deviations from neutral (clipped), ``max``/``min`` take the extreme, ``follow``
    parameters come from the recipe that won the effect's ``lead`` parameter. An effect is
    on when any recipe turns it on.
    """
    recipes = list(recipes)
    if len(recipes) == 1:
        return recipes[0]
    conv = conventions()
    values: dict[str, dict[str, Any]] = {}
    if any("eq" in r.values for r in recipes):
        values["eq"] = _compose_eq(recipes, conv)
    for ename in EFFECT_ORDER:
        if ename == "eq":
            continue
        having = [r.values[ename] for r in recipes if r.values.get(ename)]
        if not having:
            continue
        eff = EFFECTS[ename]
        rules = conv.rules[ename]
        lead_name = conv.lead.get(ename)
        leader = None
        if lead_name is not None:
            with_lead = [v for v in having if lead_name in v]
            if with_lead:
                pick = max if rules[lead_name] == "max" else min
                leader = pick(with_lead, key=lambda v: v[lead_name])
        out: dict[str, Any] = {}
        for fname in eff.param_names:
            vs = [v[fname] for v in having if fname in v]
            if not vs:
                continue
            rule = rules[fname]
            p = _param(ename, fname)
            if rule == "add":
                n = p.neutral or 0.0
                out[fname] = min(p.high, max(p.low, n + sum(float(v) - n for v in vs)))
            elif rule == "max":
                out[fname] = max(vs)
            elif rule == "min":
                out[fname] = min(vs)
            else:
                out[fname] = leader[fname] if leader is not None and fname in leader else vs[0]
        values[ename] = out
    enabled: dict[str, bool] = {}
    for r in recipes:
        for ename in r.effects_on():
            enabled[ename] = True
        for ename, flag in r.enabled.items():
            if not flag:
                enabled.setdefault(ename, False)
    return Recipe(values, enabled)


def parse_recipe(raw: Any, where: str) -> Recipe:
    """Validate a YAML recipe mapping ``{effect: {param: value, enabled: bool}}``.

    EQ bands may be written nested (``band2: {type: peak, freq_hz: 300, gain_db: -3}``);
    missing band fields are filled from the schema's band defaults (type from the band
    convention) so that every band a recipe touches is complete.
    """
    if raw is None:
        return Recipe()
    if not isinstance(raw, Mapping):
        raise corpus_error(where, f"recipe must be a mapping of effects, got {type(raw).__name__}")
    conv = conventions()
    values: dict[str, dict[str, Any]] = {}
    enabled: dict[str, bool] = {}
    for ename, settings in raw.items():
        if ename not in EFFECTS:
            raise corpus_error(where, f"unknown effect {ename!r} (known: {', '.join(EFFECT_ORDER)})")
        eff = EFFECTS[ename]
        if settings is None:
            settings = {}
        if isinstance(settings, bool):
            settings = {"enabled": settings}
        if not isinstance(settings, Mapping):
            raise corpus_error(where, f"{ename}: settings must be a mapping")
        flat: dict[str, Any] = {}
        for key, val in settings.items():
            if key == "enabled":
                if not isinstance(val, bool):
                    raise corpus_error(where, f"{ename}.enabled must be true or false")
                enabled[ename] = val
            elif eff.bands > 1 and re.fullmatch(r"band\d+", str(key)):
                if not isinstance(val, Mapping):
                    raise corpus_error(where, f"{ename}.{key} must be a mapping of band parameters")
                for sub, v in val.items():
                    flat[f"{key}_{sub}"] = v
            else:
                flat[str(key)] = val
        for fname, v in flat.items():
            try:
                p = eff.param(fname)
            except KeyError:
                raise corpus_error(where, f"unknown parameter {ename}.{fname} (known: {', '.join(eff.param_names)})") from None
            flat[fname] = _check(where, ename, fname, p, v)
        if ename == "eq":
            flat = _complete_bands(flat, conv, where)
        if flat:
            values[ename] = flat
    return Recipe(values, enabled)


def _check(where: str, ename: str, fname: str, p: Param, v: Any) -> Any:
    if p.is_choice:
        if v not in p.choices:
            raise corpus_error(where, f"{ename}.{fname} = {v!r} is not one of {', '.join(p.choices)}")
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise corpus_error(where, f"{ename}.{fname} = {v!r} must be a number ({p.range_text()})")
    if not p.low <= v <= p.high:
        raise corpus_error(where, f"{ename}.{fname} = {v:g} is out of range {p.range_text()}")
    return float(v)


def _complete_bands(flat: dict[str, Any], conv: Conventions, where: str) -> dict[str, Any]:
    eq = effect("eq")
    out = dict(flat)
    for role in conv.bands:
        keys = _band_fields(role.band)
        if not any(k in flat for k in keys):
            continue
        btype = flat.get(keys[0], role.gain_type)
        if btype not in role.types:
            raise corpus_error(where, f"eq band{role.band} ({role.role}) must be {' or '.join(role.types)}, got {btype!r}")
        out[keys[0]] = btype
        for k in keys[1:]:
            if k not in out:
                out[k] = float(eq.default_of(eq.param(k), role.band - 1))
        if btype in PASS_TYPES:
            out[keys[2]] = 0.0
        lo, hi = role.freq_range_hz
        if not lo <= out[keys[1]] <= hi:
            raise corpus_error(where, f"eq band{role.band} ({role.role}) frequency {out[keys[1]]:g} Hz outside [{lo:g}, {hi:g}] Hz")
    return out

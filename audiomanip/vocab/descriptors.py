"""The preset corpus: descriptor vocabulary, intensity modifiers, named presets, templates.

The knowledge lives in YAML under ``presets/`` (installed as the package
``audiomanip.presets``); this module loads it, validates every entry against
:mod:`audiomanip.params` (a bad entry is a :class:`~audiomanip.errors.PresetFileError` that names
the file and the entry) and implements the composition rules that ``descriptors.yaml``
documents in its header:

* a **recipe** is a partial preset: values for some parameters (physical units) plus
  enable/disable flags. EQ values follow the band convention of ``descriptors.yaml``
  (``conventions.eq_bands``): band1 lows (low_shelf or high_pass), band2 low-mids peak,
  band3 mids peak, band4 presence peak, band5 highs (high_shelf or low_pass).
* :func:`compose` merges recipes with the rules of ``conventions.composition`` (EQ gains
  add and clip, pass filters keep the most restrictive cut-off, reverb/distortion/compressor
  take the stronger recipe, pitch adds).
* :meth:`Recipe.scaled` applies an intensity factor to the deviation from neutral in the
  schema's normalised space.

Loading is cached and uses libyaml's ``CSafeLoader`` when available (safe loading only).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audiomanip.errors import PresetFileError
from audiomanip.params import EFFECT_ORDER, EFFECTS, Param, Preset, PresetError, effect

FAMILIES = ("tone", "space", "character", "dynamics", "pitch")
PASS_TYPES = ("low_pass", "high_pass")
FORM_KINDS = ("adj", "noun", "place", "band")


# ---------------------------------------------------------------------------- files
def presets_dir() -> Path:
    """The folder that holds the corpus YAML files (the ``audiomanip.presets`` package)."""
    return Path(str(resources.files("audiomanip.presets")))


@functools.cache
def load_yaml(filename: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    path = presets_dir() / filename
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetFileError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise PresetFileError(f"{path.name} is not valid YAML: {exc}") from None


def corpus_error(where: str, message: str) -> PresetFileError:
    return PresetFileError(f"presets/{where}: {message}")


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
    data = load_yaml("descriptors.yaml")
    where = "descriptors.yaml: conventions"
    conv = data.get("conventions") if isinstance(data, Mapping) else None
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


def _parse_recipe(raw: Any, where: str) -> Recipe:
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


# ---------------------------------------------------------------------------- descriptors
@dataclass(frozen=True)
class Descriptor:
    """One word (or short phrase) of the vocabulary and what it does to the chain.

    ``adj`` forms fit "make it ___" / "a ___ sound"; ``noun`` forms fit "add ___" /
    "with ___"; ``place`` forms (space only) fit "in ___"; ``band`` forms (EQ-only tone
    descriptors whose recipe can be inverted) name the band the recipe raises and fit "boost ___"
    / "cut ___" ("the highs"). ``intensity`` tells whether intensity words may scale it;
    ``heldout`` keeps it out of training prompts.
    """

    name: str
    family: str
    adj: tuple[str, ...]
    noun: tuple[str, ...]
    place: tuple[str, ...]
    recipe: Recipe
    intensity: bool = True
    heldout: bool = False
    note: str = ""
    band: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        return self.adj + self.noun + self.place + self.band

    @property
    def invertible(self) -> bool:
        """True when "less ___" has a meaning: only gains (EQ shelves/peaks, output) move."""
        if self.family != "tone" or self.recipe.enabled:
            return False
        if set(self.recipe.values) - {"eq"}:
            return False
        return not any(v in PASS_TYPES for v in self.recipe.values.get("eq", {}).values())


@functools.cache
def load_descriptors() -> dict[str, Descriptor]:
    """All descriptors of ``presets/descriptors.yaml`` by name, validated."""
    data = load_yaml("descriptors.yaml")
    raw = data.get("descriptors") if isinstance(data, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        raise corpus_error("descriptors.yaml", "missing the 'descriptors' mapping")
    out: dict[str, Descriptor] = {}
    owner: dict[str, str] = {}
    for name, entry in raw.items():
        where = f"descriptors.yaml: descriptor {name!r}"
        if not isinstance(entry, Mapping):
            raise corpus_error(where, "must be a mapping")
        unknown = set(entry) - {"family", "adj", "noun", "place", "band", "recipe", "intensity", "heldout", "note"}
        if unknown:
            raise corpus_error(where, f"unknown keys {', '.join(sorted(unknown))}")
        family = entry.get("family")
        if family not in FAMILIES:
            raise corpus_error(where, f"family {family!r} must be one of {', '.join(FAMILIES)}")
        forms = {k: tuple(str(f).strip() for f in (entry.get(k) or ())) for k in FORM_KINDS}
        if not any(forms.values()):
            raise corpus_error(where, "needs at least one surface form (adj, noun or place)")
        if forms["place"] and family != "space":
            raise corpus_error(where, "only space descriptors have place forms")
        for f in set(sum(forms.values(), ())):
            if f.lower() != f or not f:
                raise corpus_error(where, f"surface form {f!r} must be non-empty lower case")
            if f in owner and owner[f] != name:
                raise corpus_error(where, f"surface form {f!r} is also a form of {owner[f]!r}")
            owner[f] = name
        recipe = _parse_recipe(entry.get("recipe"), where)
        if not recipe.values and not recipe.enabled:
            raise corpus_error(where, "recipe is empty")
        d = Descriptor(
            name=str(name), family=family, adj=forms["adj"], noun=forms["noun"], place=forms["place"],
            recipe=recipe, intensity=bool(entry.get("intensity", True)), heldout=bool(entry.get("heldout", False)),
            note=str(entry.get("note", "")), band=forms["band"],
        )
        if d.band and not d.invertible:
            raise corpus_error(where, "only EQ-only tone descriptors without pass filters have band forms "
                               "(\"cut the highs\" inverts the recipe)")
        if any(not f.startswith("the ") for f in d.band):
            raise corpus_error(where, "band forms start with 'the' (\"the highs\")")
        out[str(name)] = d
    return out


def descriptor_preset(name: str, intensity: float = 1.0) -> Preset:
    """The preset of one descriptor at an intensity factor (1 = as written)."""
    d = load_descriptors()[name]
    return d.recipe.scaled(intensity).to_preset()


# ---------------------------------------------------------------------------- modifiers
@dataclass(frozen=True)
class Modifier:
    """An intensity word: ``kind`` is adverb ("very"), comparative ("much" before "warmer"),
    quantity ("a touch of") or negation ("less"); ``factor`` scales the recipe's deviation
    from neutral; a negative factor inverts."""

    text: str
    kind: str
    factor: float


@functools.cache
def load_modifiers() -> tuple[Modifier, ...]:
    data = load_yaml("modifiers.yaml")
    out = []
    kinds = {"adverbs": "adverb", "comparatives": "comparative", "quantities": "quantity", "negations": "negation"}
    for section_name, kind in kinds.items():
        section = (data or {}).get(section_name)
        if not isinstance(section, Mapping) or not section:
            raise corpus_error("modifiers.yaml", f"missing the {section_name!r} mapping")
        for text, factor in section.items():
            where = f"modifiers.yaml: {section_name}.{text}"
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                raise corpus_error(where, "factor must be a number")
            if kind == "negation" and not -1.5 <= factor < 0:
                raise corpus_error(where, "a negation factor lies in [-1.5, 0)")
            if kind != "negation" and not 0 < factor <= 2.5:
                raise corpus_error(where, "an intensity factor lies in (0, 2.5]")
            out.append(Modifier(str(text), kind, float(factor)))
    return tuple(out)


# ---------------------------------------------------------------------------- named presets
@dataclass(frozen=True)
class NamedPreset:
    """A preset shipped with audiomanip (``presets/named.yaml``)."""

    name: str
    tags: tuple[str, ...]
    description: str
    preset: Preset
    #: descriptor names it is composed of (empty for full presets)
    descriptors: tuple[str, ...] = ()
    #: phrases that name it in prompts ("warm tape", "a warm tape sound" …)
    phrases: tuple[str, ...] = ()
    #: the composed recipe (None for full presets); prompts compose it with more descriptors
    recipe: Recipe | None = None


def normalize_name(name: str) -> str:
    """Lookup key of a preset name: lower case, runs of space/_/- as one hyphen."""
    return re.sub(r"[\s_\-]+", "-", name.strip().lower())


def _compose_spec(items: Any, where: str) -> tuple[Recipe, tuple[str, ...]]:
    descriptors = load_descriptors()
    recipes, names = [], []
    for item in items or ():
        if isinstance(item, str):
            dname, factor = item, 1.0
        elif isinstance(item, Mapping) and len(item) == 1:
            dname, factor = next(iter(item.items()))
        else:
            raise corpus_error(where, f"compose item {item!r} must be a descriptor name or {{name: intensity}}")
        if dname not in descriptors:
            close = difflib.get_close_matches(str(dname), list(descriptors), n=3)
            raise corpus_error(where, f"unknown descriptor {dname!r}" + (f" (close: {', '.join(close)})" if close else ""))
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 2.5:
            raise corpus_error(where, f"intensity of {dname!r} must be a number in (0, 2.5]")
        recipes.append(descriptors[dname].recipe.scaled(float(factor)))
        names.append(str(dname))
    return (compose(recipes) if recipes else Recipe()), tuple(names)


@functools.cache
def load_named_presets() -> dict[str, NamedPreset]:
    """Every named preset of ``presets/named.yaml`` by (normalised) name, validated.

    The mapping and its presets are cached and shared: read them, or take a copy with
    :func:`get_named_preset` before changing one.
    """
    data = load_yaml("named.yaml")
    raw = data.get("presets") if isinstance(data, Mapping) else None
    if not isinstance(raw, list) or not raw:
        raise corpus_error("named.yaml", "missing the 'presets' list")
    out: dict[str, NamedPreset] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise corpus_error("named.yaml", f"entry #{i + 1} needs a name")
        name = normalize_name(str(entry["name"]))
        where = f"named.yaml: preset {name!r}"
        unknown = set(entry) - {"name", "tags", "description", "compose", "overrides", "preset", "phrases"}
        if unknown:
            raise corpus_error(where, f"unknown keys {', '.join(sorted(unknown))}")
        if name in out:
            raise corpus_error(where, "is defined twice")
        description = str(entry.get("description") or "").strip()
        if not description:
            raise corpus_error(where, "needs a one-line description")
        tags = tuple(str(t) for t in entry.get("tags") or ())
        if "preset" in entry:
            if "compose" in entry or "overrides" in entry:
                raise corpus_error(where, "has a full 'preset'; 'compose'/'overrides' do not apply")
            try:
                preset = Preset.from_dict(entry["preset"], strict=True)
            except PresetError as exc:
                raise corpus_error(where, str(exc)) from None
            preset.notes = []
            names: tuple[str, ...] = ()
            recipe = None
        else:
            recipe, names = _compose_spec(entry.get("compose"), where)
            recipe = recipe.with_overrides(_parse_recipe(entry.get("overrides"), where))
            if not recipe.values and not recipe.enabled:
                raise corpus_error(where, "composes nothing")
            preset = recipe.to_preset()
        preset.name = name
        preset.description = description
        phrases = tuple(str(p).strip().lower() for p in entry.get("phrases") or ()) or (name.replace("-", " "),)
        out[name] = NamedPreset(name, tags, description, preset, names, phrases, recipe)
    return out


def get_named_preset(name: str) -> NamedPreset:
    """One named preset (case, spaces, ``_`` and ``-`` do not matter).

    Raises PresetFileError listing close names when ``name`` is unknown. The returned
    preset is a copy the caller may change.
    """
    presets = load_named_presets()
    key = normalize_name(name)
    if key not in presets:
        close = difflib.get_close_matches(key, list(presets), n=5, cutoff=0.5)
        hint = f"; did you mean: {', '.join(close)}?" if close else "; `audiomanip presets` lists them"
        raise PresetFileError(f"unknown preset {name!r}{hint}")
    np_ = presets[key]
    return NamedPreset(np_.name, np_.tags, np_.description, np_.preset.copy(), np_.descriptors, np_.phrases, np_.recipe)


def normalize_text(text: str) -> str:
    """Lower case, single spaces, no spaces at the ends (how prompts are compared)."""
    return re.sub(r"\s+", " ", text.lower()).strip()

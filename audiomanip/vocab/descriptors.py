"""The descriptor vocabulary (``presets/descriptors.yaml``) and the intensity modifiers
(``presets/modifiers.yaml``), loaded, validated and cached.

A descriptor is a word with its surface forms and the recipe it stands for
(:mod:`audiomanip.vocab.recipes`); a modifier is an intensity word ("very", "a touch of",
"less") with the factor it scales a recipe by. Named presets are in
:mod:`audiomanip.vocab.named_presets`; the corpus files are read by
:mod:`audiomanip.vocab.corpus_files`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from audiomanip.params import Preset
from audiomanip.vocab.corpus_files import corpus_error, load_yaml, load_yaml_entry
from audiomanip.vocab.recipes import PASS_TYPES, Recipe, parse_recipe

FAMILIES = ("tone", "space", "character", "dynamics", "pitch")
FORM_KINDS = ("adj", "noun", "place", "band")


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
        d = _descriptor(name, entry)
        for f in set(d.forms):
            if f in owner and owner[f] != d.name:
                raise corpus_error(f"descriptors.yaml: descriptor {name!r}",
                                   f"surface form {f!r} is also a form of {owner[f]!r}")
            owner[f] = d.name
        out[str(name)] = d
    return out


def get_descriptor(name: str) -> Descriptor | None:
    """The descriptor ``name`` (validated as :func:`load_descriptors` validates each one), read
    from its own entry of ``descriptors.yaml`` unless every descriptor is loaded already; None
    when there is no such descriptor. Checks across descriptors (a surface form owned twice)
    are :func:`load_descriptors`'s."""
    if not load_descriptors.cache_info().currsize:
        found = load_yaml_entry("descriptors.yaml", "descriptors", lambda key: key == name)
        if found is not None:
            return _descriptor(*found)
    return load_descriptors().get(name)


def _descriptor(name: object, entry: object) -> Descriptor:
    """One entry of ``descriptors.yaml``, validated (PresetFileError naming it)."""
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
    recipe = parse_recipe(entry.get("recipe"), where)
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
    return d


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


def normalize_text(text: str) -> str:
    """Lower case, single spaces, no spaces at the ends (how prompts are compared)."""
    return re.sub(r"\s+", " ", text.lower()).strip()

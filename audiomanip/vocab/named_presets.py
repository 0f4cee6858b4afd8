"""The named presets shipped with audiomanip (``presets/named.yaml``): full presets, or
descriptors composed (:func:`audiomanip.vocab.recipes.compose`) with overrides, each with the
phrases that name it in prompts.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audiomanip.errors import PresetFileError
from audiomanip.params import Preset, PresetError
from audiomanip.vocab.corpus_files import corpus_error, load_yaml
from audiomanip.vocab.descriptors import load_descriptors
from audiomanip.vocab.recipes import Recipe, parse_recipe, compose


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
            recipe = recipe.with_overrides(parse_recipe(entry.get("overrides"), where))
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

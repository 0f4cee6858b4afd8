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
from pathlib import Path
from typing import Any

from audiomanip.errors import PresetFileError
from audiomanip.params import Preset, PresetError
from audiomanip.vocab import corpus_files
from audiomanip.vocab.corpus_files import corpus_error, load_yaml, load_yaml_entry
from audiomanip.vocab.descriptors import get_descriptor, load_descriptors
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
    recipes, names = [], []
    for item in items or ():
        if isinstance(item, str):
            dname, factor = item, 1.0
        elif isinstance(item, Mapping) and len(item) == 1:
            dname, factor = next(iter(item.items()))
        else:
            raise corpus_error(where, f"compose item {item!r} must be a descriptor name or {{name: intensity}}")
        descriptor = get_descriptor(dname) if isinstance(dname, str) else None
        if descriptor is None:
            close = difflib.get_close_matches(str(dname), list(load_descriptors()), n=3)
            raise corpus_error(where, f"unknown descriptor {dname!r}" + (f" (close: {', '.join(close)})" if close else ""))
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 2.5:
            raise corpus_error(where, f"intensity of {dname!r} must be a number in (0, 2.5]")
        recipes.append(descriptor.recipe.scaled(float(factor)))
        names.append(str(dname))
    return (compose(recipes) if recipes else Recipe()), tuple(names)


def _named_preset(entry: Any, number: int) -> NamedPreset:
    """Entry ``number`` (from 1) of ``named.yaml``'s presets list, validated."""
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise corpus_error("named.yaml", f"entry #{number} needs a name")
    name = normalize_name(str(entry["name"]))
    where = f"named.yaml: preset {name!r}"
    unknown = set(entry) - {"name", "tags", "description", "compose", "overrides", "preset", "phrases"}
    if unknown:
        raise corpus_error(where, f"unknown keys {', '.join(sorted(unknown))}")
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
    return NamedPreset(name, tags, description, preset, names, phrases, recipe)


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
        named = _named_preset(entry, i + 1)
        if named.name in out:
            raise corpus_error(f"named.yaml: preset {named.name!r}", "is defined twice")
        out[named.name] = named
    return out


def _one_named_preset(key: str) -> NamedPreset | None:
    """The preset ``key`` (normalised) from its own entry of ``named.yaml`` and the descriptors it
    composes, without reading the other presets; None when its entry cannot be read alone (not
    there, named twice …: :func:`load_named_presets` then decides). Cached per name while
    ``named.yaml`` keeps its size and modification time."""
    if load_named_presets.cache_info().currsize:
        return None
    path = corpus_files.presets_dir() / "named.yaml"
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_alone(path, stat.st_mtime_ns, stat.st_size, key)


@functools.lru_cache(maxsize=256)
def _read_alone(path: Path, mtime_ns: int, size: int, key: str) -> NamedPreset | None:
    entry = load_yaml_entry("named.yaml", "presets", lambda name: normalize_name(name) == key)
    return _named_preset(entry, 0) if entry is not None else None


def get_named_preset(name: str) -> NamedPreset:
    """One named preset (case, spaces, ``_`` and ``-`` do not matter).

    Raises PresetFileError listing close names when ``name`` is unknown. The returned
    preset is a copy the caller may change. Only that preset's entry of ``named.yaml`` (and
    the descriptors it composes) is read, unless all presets are loaded already.
    """
    key = normalize_name(name)
    np_ = _one_named_preset(key)
    if np_ is None:
        presets = load_named_presets()
        if key not in presets:
            close = difflib.get_close_matches(key, list(presets), n=5, cutoff=0.5)
            hint = f"; did you mean: {', '.join(close)}?" if close else "; `audiomanip presets` lists them"
            raise PresetFileError(f"unknown preset {name!r}{hint}")
        np_ = presets[key]
    return NamedPreset(np_.name, np_.tags, np_.description, np_.preset.copy(), np_.descriptors, np_.phrases, np_.recipe)

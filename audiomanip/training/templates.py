"""Training-prompt phrasings of ``templates.yaml`` and the prompts kept out of training.

:func:`load_templates` reads and checks the phrasing templates, source nouns and explicit-value
patterns that prompt synthesis (:mod:`audiomanip.training.prompts`) fills with descriptor words;
:func:`evaluation_prompts` is the set of evaluation-suite prompts it must never generate.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from audiomanip.vocab.corpus_files import corpus_error, load_yaml
from audiomanip.vocab.descriptors import FAMILIES, FORM_KINDS, load_descriptors, load_modifiers, normalize_text
from audiomanip.vocab.named_presets import load_named_presets

@dataclass(frozen=True)
class Template:
    """A phrasing with slots ({src}, {adj}, {adj2}, {noun}, {place}, {named}, {explicit} …)."""

    id: str
    text: str
    heldout: bool
    negate: bool
    slots: tuple[str, ...]
    #: strength a template carries in its words: a negate template's ("too boomy" -0.7; None =
    #: use a negation word from modifiers.yaml) or a band template's ("cut {band}" -1, "push
    #: {band} a bit" 0.5; None = 1)
    factor: float | None = None
    #: relative chance of the template being drawn (1 = as often as a plain template)
    weight: float = 1.0

    @property
    def descriptor_slots(self) -> tuple[str, ...]:
        return tuple(s for s in self.slots if s.rstrip("23") in FORM_KINDS)


_SLOT_RE = re.compile(r"\{(\w+)\}")
_KNOWN_SLOTS = {"src", "named", "explicit"} | {k + s for k in FORM_KINDS for s in ("", "2", "3")}


@dataclass(frozen=True)
class TemplateSet:
    templates: tuple[Template, ...]
    sources: tuple[str, ...]
    #: explicit-value phrase patterns with typed number slots ({st}, {hz}, {db} …)
    explicit: tuple[str, ...]


@functools.cache
def load_templates() -> TemplateSet:
    """Phrasing templates, source nouns and explicit-value patterns of ``templates.yaml``."""
    data = load_yaml("templates.yaml") or {}
    templates = []
    seen = set()
    for i, entry in enumerate(data.get("templates") or ()):
        where = f"templates.yaml: template #{i + 1}"
        if not isinstance(entry, Mapping) or "id" not in entry or "text" not in entry:
            raise corpus_error(where, "needs id and text")
        tid, text = str(entry["id"]), str(entry["text"])
        if tid in seen:
            raise corpus_error(where, f"id {tid!r} is used twice")
        seen.add(tid)
        slots = tuple(_SLOT_RE.findall(text))
        bad = [s for s in slots if s not in _KNOWN_SLOTS]
        if bad:
            raise corpus_error(f"templates.yaml: template {tid!r}", f"unknown slots {bad}")
        if len(set(slots)) != len(slots):
            raise corpus_error(f"templates.yaml: template {tid!r}", "a slot appears twice")
        factor = entry.get("factor")
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float))):
            raise corpus_error(f"templates.yaml: template {tid!r}", "factor must be a number")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 10:
            raise corpus_error(f"templates.yaml: template {tid!r}", "weight must be a number in (0, 10]")
        t = Template(tid, text, bool(entry.get("heldout", False)), bool(entry.get("negate", False)), slots,
                     None if factor is None else float(factor), float(weight))
        band = "band" in (s.rstrip("23") for s in t.descriptor_slots)
        if band and (t.negate or t.descriptor_slots != ("band",)):
            raise corpus_error(f"templates.yaml: template {tid!r}", "a band template has exactly one {band} slot "
                                                             "and carries its sign in factor (not negate)")
        if factor is not None and band and not (-1.6 <= factor <= 1.6 and factor != 0):
            raise corpus_error(f"templates.yaml: template {tid!r}", "a band template's factor must be in [-1.6, 1.6], not 0")
        if factor is not None and not band and not (t.negate and -1.5 <= factor < 0):
            raise corpus_error(f"templates.yaml: template {tid!r}", "factor applies to negate templates (a negative "
                                                             "number in [-1.5, 0)) and band templates")
        if t.negate and t.descriptor_slots != ("adj",):
            raise corpus_error(f"templates.yaml: template {tid!r}", "a negate template has exactly one {adj} slot")
        if not t.descriptor_slots and "named" not in slots and "explicit" not in slots:
            raise corpus_error(f"templates.yaml: template {tid!r}", "has no descriptor, named or explicit slot")
        templates.append(t)
    sources = tuple(str(s) for s in data.get("sources") or ())
    explicit = tuple(str(s) for s in data.get("explicit") or ())
    if not templates or not sources or not explicit:
        raise corpus_error("templates.yaml", "needs 'templates', 'sources' and 'explicit' lists")
    return TemplateSet(tuple(templates), sources, explicit)


@functools.cache
def evaluation_prompts() -> frozenset[str]:
    """The prompts of the shipped evaluation suites (``suite_direction.yaml`` and
    ``suite_paraphrase.yaml``), lower case with single spaces: prompt synthesis keeps them out
    of the training split, so the suites measure prompts the model never saw. Read by the
    suites' own validating loaders (:mod:`audiomanip.evaluation.suites`) check them; training
    reads only the prompt strings, so it never imports evaluation."""
    direction = [item.get("prompt") for item in (load_yaml("suite_direction.yaml") or {}).get("prompts") or ()]
    groups = ((load_yaml("suite_paraphrase.yaml") or {}).get("groups") or {}).values()
    return frozenset(normalize_text(p) for p in direction + [p for group in groups for p in group]
                     if isinstance(p, str))



def validate_all() -> dict[str, int]:
    """Load and validate every corpus file; returns counts (used by tests and `presets`)."""
    descriptors = load_descriptors()
    counts = {f: sum(d.family == f for d in descriptors.values()) for f in FAMILIES}
    counts["descriptors"] = len(descriptors)
    counts["named"] = len(load_named_presets())
    counts["modifiers"] = len(load_modifiers())
    counts["templates"] = len(load_templates().templates)
    return counts

"""Prompt synthesis: (prompt, Preset) pairs from the corpus in ``presets/``.

:func:`generate_dataset` fills the phrasing templates of ``templates.yaml`` with 1–3
descriptors (with intensity words), named presets and explicit values, and computes each
target preset with the corpus' composition rules (:func:`audiomanip.vocab.recipes.compose`)
followed by the prompt's explicit values (:func:`audiomanip.vocab.explicit.parse_explicit`),
exactly as the model's prediction is post-processed.

Three splits measure generalisation rather than memory:

* ``train``: training descriptors (``heldout: false``) in training phrasings, never a prompt of
  the evaluation suites (:func:`audiomanip.training.templates.evaluation_prompts`);
* ``heldout_descriptors``: every prompt holds at least one held-out descriptor (or a named
  preset built from one), in training phrasings; held-out words never occur in ``train``;
* ``heldout_phrasings``: training descriptors in the held-out phrasings.

Generation is deterministic: the same seed gives the same lists.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from audiomanip.vocab import descriptors as corpus
from audiomanip.training.templates import Template, evaluation_prompts, load_templates
from audiomanip.vocab.descriptors import Descriptor
from audiomanip.vocab.named_presets import NamedPreset, load_named_presets
from audiomanip.vocab.recipes import PASS_TYPES, Recipe, compose
from audiomanip.vocab.explicit import parse_explicit
from audiomanip.params import Preset

#: Share of ``n_pairs`` that goes to each held-out split.
HELDOUT_FRACTION = 0.1
#: Chance that a descriptor slot gets an intensity word.
INTENSITY_PROBABILITY = 0.4


@dataclass(frozen=True)
class PromptExample:
    """One training pair. ``descriptors`` are the descriptor names behind the prompt (those of
    a named preset included), ``families`` their families, ``template_id`` the phrasing,
    ``factors`` the signed intensity factor of each descriptor the prompt names itself (the
    first ``len(factors)`` of ``descriptors``: "a bit brighter" 0.55, "cut the bottom" < 0)."""

    prompt: str
    preset: Preset
    descriptors: tuple[str, ...]
    families: tuple[str, ...]
    template_id: str
    factors: tuple[float, ...] = ()


@dataclass
class PromptDataset:
    """The three splits of :func:`generate_dataset`."""

    train: list[PromptExample] = field(default_factory=list)
    heldout_descriptors: list[PromptExample] = field(default_factory=list)
    heldout_phrasings: list[PromptExample] = field(default_factory=list)

    def splits(self) -> dict[str, list[PromptExample]]:
        return {
            "train": self.train,
            "heldout_descriptors": self.heldout_descriptors,
            "heldout_phrasings": self.heldout_phrasings,
        }


# ---------------------------------------------------------------------------- vocabulary
def _word_re(forms: Sequence[str]) -> re.Pattern:
    alts = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])")


def heldout_forms() -> tuple[str, ...]:
    """Every surface form of a held-out descriptor."""
    return tuple(f for d in corpus.load_descriptors().values() if d.heldout for f in d.forms)


def heldout_form_pattern() -> re.Pattern:
    """Regex finding a held-out surface form as a whole word (hyphens join words)."""
    return _word_re(heldout_forms())


def _is_comparative(form: str) -> bool:
    return " " not in form and "-" not in form and form.endswith("er")


def _has_article(form: str) -> bool:
    return form.startswith(("a ", "an ", "the "))


@dataclass
class _Pool:
    """The descriptors and named presets one split draws from."""

    descriptors: list[Descriptor]
    named: list[NamedPreset]
    by_kind: dict[str, list[Descriptor]] = field(default_factory=dict)

    def must_by_kind(self, kind: str, must: list[Descriptor]) -> list[Descriptor]:
        """The descriptors of ``must`` that fit a slot of ``kind`` (cached)."""
        key = (kind, tuple(d.name for d in must))
        if key not in self._must:
            names = {d.name for d in self.by_kind[kind]}
            self._must[key] = [d for d in must if d.name in names]
        return self._must[key]

    def __post_init__(self) -> None:
        self._must: dict[tuple, list[Descriptor]] = {}
        self.by_kind = {
            "adj": [d for d in self.descriptors if d.adj],
            "noun": [d for d in self.descriptors if d.noun],
            "place": [d for d in self.descriptors if d.place],
            "band": [d for d in self.descriptors if d.band],
            "negate": [d for d in self.descriptors if d.invertible and any(not _is_comparative(f) for f in d.adj)],
        }


def _split_vocabulary() -> tuple[_Pool, _Pool, list[Descriptor]]:
    """(training pool, full pool, held-out descriptors).

    A named preset built from a held-out descriptor is held out; one whose phrases hold a
    held-out word keeps only its other phrases for training.
    """
    descriptors = list(corpus.load_descriptors().values())
    held = [d for d in descriptors if d.heldout]
    held_names = {d.name for d in held}
    pattern = heldout_form_pattern()
    named_train, named_held = [], []
    for n in load_named_presets().values():
        if any(d in held_names for d in n.descriptors):
            named_held.append(n)
            continue
        clean = tuple(p for p in n.phrases if not pattern.search(p))
        leaking = tuple(p for p in n.phrases if pattern.search(p))
        if clean:
            named_train.append(dataclasses.replace(n, phrases=clean))
        if leaking:
            named_held.append(dataclasses.replace(n, phrases=leaking))
    train = _Pool([d for d in descriptors if not d.heldout], named_train)
    full = _Pool(descriptors, named_train + named_held)
    return train, full, held


# ---------------------------------------------------------------------------- filling
_A_AN = re.compile(r"\ba (?=[aeiou](?!ni|se|su|ku)|hour|honest)")


def _fix_articles(text: str) -> str:
    return re.sub(r"\s+", " ", _A_AN.sub("an ", text)).strip()


def _compatible(d: Descriptor, chosen: list[Descriptor]) -> bool:
    for c in chosen:
        if c.name == d.name:
            return False
        if c.family == d.family and (d.family != "tone" or _clash(c.recipe, d.recipe)):
            return False
    tones = sum(c.family == "tone" for c in chosen)
    return not (d.family == "tone" and tones >= 2)


def _clash(a: Recipe, b: Recipe) -> bool:
    """Two tone recipes pull one EQ band opposite ways (or a pass filter meets a boost)."""
    ea, eb = a.values.get("eq", {}), b.values.get("eq", {})
    for key, ta in ea.items():
        if not key.endswith("_type") or key not in eb:
            continue
        stem = key[: -len("type")]
        ga, gb = ea[stem + "gain_db"], eb[stem + "gain_db"]
        pa, pb = ta in PASS_TYPES, eb[key] in PASS_TYPES
        if pa or pb:
            if not (pa and pb) and (ga if pb else gb) > 0:
                return True
        elif ga * gb < 0:
            return True
    return False


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.templates = load_templates()
        mods = corpus.load_modifiers()
        self.adverbs = [m for m in mods if m.kind == "adverb"]
        self.comparatives = [m for m in mods if m.kind == "comparative"]
        self.quantities = [m for m in mods if m.kind == "quantity"]
        self.negations = [m for m in mods if m.kind == "negation"]

    # -- numbers for explicit phrases
    def number(self, slot: str) -> str:
        r = self.rng
        if slot == "st":
            n = r.randint(1, 7)
            words = ["one", "two", "three", "four", "five", "six", "seven"]
            return words[n - 1] if r.random() < 0.3 else str(n)
        if slot == "hz":
            f = r.choice([60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 800, 1000, 1500, 2000, 2500,
                          3000, 4000, 5000, 6000, 8000, 10000, 12000])
            return _freq_text(f, r)
        if slot == "hz_hp":
            return _freq_text(r.choice([40, 60, 80, 100, 120, 150, 200, 250, 300]), r)
        if slot == "hz_lp":
            return _freq_text(r.choice([2000, 3000, 3400, 4000, 5000, 6000, 8000, 10000, 12000]), r)
        if slot == "db":
            return r.choice(["1", "2", "3", "4", "5", "6", "8", "9", "1.5", "2.5", "4.5"])
        if slot == "pct":
            return str(r.randrange(10, 85, 5))
        if slot == "wet":
            return f"{r.randrange(1, 9) / 10:g}"
        if slot == "sec":
            return r.choice(["0.5", "0.8", "1", "1.2", "1.5", "2", "2.5", "3", "4", "5", "6"])
        if slot == "ms":
            return str(r.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 80]))
        if slot == "ratio":
            return str(r.choice([2, 3, 4, 6, 8, 10]))
        if slot == "thr":
            return str(r.choice([10, 12, 15, 18, 20, 24, 30, 36, 40]))
        if slot == "atk":
            return str(r.choice([1, 2, 3, 5, 10, 15, 20, 30]))
        if slot == "rel":
            return str(r.choice([50, 80, 100, 150, 200, 300, 500]))
        if slot == "drive":
            return str(r.choice([3, 6, 9, 12, 15, 18, 24]))
        raise KeyError(slot)

    def explicit_phrase(self) -> str:
        pattern = self.rng.choice(self.templates.explicit)
        return re.sub(r"\{(\w+)\}", lambda m: self.number(m.group(1)), pattern)

    # -- one descriptor slot
    def pick(self, pool: list[Descriptor], chosen: list[Descriptor], required: Descriptor | None) -> Descriptor | None:
        if required is not None:
            return required if _compatible(required, chosen) else None
        for _ in range(30):
            d = self.rng.choice(pool)
            if _compatible(d, chosen):
                return d
        return None

    def fill(self, template: Template, slot: str, d: Descriptor) -> tuple[str, float] | None:
        """The slot's text and the descriptor's intensity factor (None: no fitting form)."""
        r = self.rng
        kind = slot.rstrip("23")
        forms = list(getattr(d, kind))
        attributive = re.search(rf"\b(?:a|an|the) \{{{slot}\}}", template.text) is not None
        if attributive:
            forms = [f for f in forms if not _has_article(f)]
        if template.negate:
            forms = [f for f in forms if not _is_comparative(f)]
        if not forms:
            return None
        form = r.choice(forms)
        if kind == "band":  # "cut the highs": the template carries sign and strength
            return form, 1.0 if template.factor is None else template.factor
        if template.negate:
            if template.factor is not None:
                return form, template.factor
            m = r.choice(self.negations)
            return f"{m.text} {form}", m.factor
        if kind == "place" or not d.intensity or r.random() >= INTENSITY_PROBABILITY:
            return form, 1.0
        if _has_article(form):
            return form, 1.0
        if kind == "noun":
            choices = self.quantities
        elif _is_comparative(form):
            choices = self.comparatives
        else:
            choices = self.adverbs
        if attributive:  # "a very warm sound", never "a a little warm sound"
            choices = [m for m in choices if not _has_article(m.text + " ")]
        m = r.choice(choices)
        return f"{m.text} {form}", m.factor

    def named_phrase(self, template: Template, n: NamedPreset) -> str | None:
        phrases = list(n.phrases)
        if re.search(r"\b(?:a|an|the) \{named\}", template.text):
            phrases = [p for p in phrases if not _has_article(p)]
        return self.rng.choice(phrases) if phrases else None

    # -- one example
    def example(self, templates: list[Template], pool: _Pool, must: list[Descriptor] | None) -> PromptExample | None:
        """One example, or None when the drawn template and words do not fit (caller retries).

        ``must``: the held-out descriptors of which one has to appear (held-out split).
        """
        r = self.rng
        t = r.choices(templates, weights=[x.weight for x in templates])[0]
        dslots = t.descriptor_slots
        required_slot = None
        if must is not None:
            if not dslots:  # the held-out word goes into a descriptor slot
                return None
            required_slot = r.choice(dslots)
        named = None
        if "named" in t.slots:
            candidates = [n for n in pool.named if n.recipe is not None] if dslots else pool.named
            if not candidates:
                return None
            named = r.choice(candidates)
        values: dict[str, str] = {}
        chosen: list[Descriptor] = []
        factors: list[float] = []
        recipes: list[Recipe] = []
        for slot in dslots:
            kind = "negate" if t.negate else slot.rstrip("23")
            required = None
            if slot == required_slot:
                fitting = pool.must_by_kind(kind, must)
                if not fitting:
                    return None
                required = r.choice(fitting)
            d = self.pick(pool.by_kind[kind], chosen, required)
            if d is None:
                return None
            filled = self.fill(t, slot, d)
            if filled is None:
                return None
            values[slot], factor = filled
            factors.append(factor)
            chosen.append(d)
            recipes.append(d.recipe.scaled(factor))
        if named is not None:
            phrase = self.named_phrase(t, named)
            if phrase is None:
                return None
            values["named"] = phrase
        if "src" in t.slots:
            values["src"] = r.choice(self.templates.sources)
        if "explicit" in t.slots:
            values["explicit"] = self.explicit_phrase()
        prompt = _fix_articles(t.text.format(**values))
        names = [d.name for d in chosen]
        families = [d.family for d in chosen]
        if named is not None:
            names += [n for n in named.descriptors if n not in names]
            descs = corpus.load_descriptors()
            families += [descs[n].family for n in named.descriptors]
            if named.recipe is None:
                preset = named.preset.copy()
            else:
                preset = compose([named.recipe] + recipes).to_preset()
        elif recipes:
            preset = compose(recipes).to_preset()
        else:
            preset = Preset.default()
        explicit = parse_explicit(prompt)
        if explicit:
            preset = explicit.apply(preset)
        preset.notes = []
        return PromptExample(prompt, preset, tuple(names), tuple(dict.fromkeys(families)), t.id, tuple(factors))


def _freq_text(f: int, r: random.Random) -> str:
    if f >= 1000 and r.random() < 0.7:
        k = f"{f / 1000:g}"
        return r.choice([f"{k}k", f"{k} khz", f"{k}khz"])
    return r.choice([f"{f} hz", f"{f}hz"])


def generate_dataset(seed: int = 0, n_pairs: int = 30000, heldout_fraction: float = HELDOUT_FRACTION,
                     exclude: Iterable[str] | None = None) -> PromptDataset:
    """Synthesise ``n_pairs`` (prompt, Preset) examples in total, deterministically from ``seed``.

    ``heldout_fraction`` of ``n_pairs`` goes to each held-out split, the rest to ``train``.
    ``exclude``: prompts that never enter ``train`` (compared lower case, spaces collapsed;
    default: the evaluation suites' prompts). Each example is a :class:`PromptExample`; see
    the module docstring for the splits.
    """
    if n_pairs < 0:
        raise ValueError(f"n_pairs must be >= 0, got {n_pairs}")
    if not 0.0 <= heldout_fraction < 0.5:
        raise ValueError(f"heldout_fraction must be in [0, 0.5), got {heldout_fraction}")
    rng = random.Random(seed)
    gen = _Generator(rng)
    train_pool, full_pool, held = _split_vocabulary()
    all_templates = gen.templates.templates
    train_t = [t for t in all_templates if not t.heldout]
    held_t = [t for t in all_templates if t.heldout]
    n_held = round(n_pairs * heldout_fraction)
    n_train = n_pairs - 2 * n_held
    banned = evaluation_prompts() if exclude is None else frozenset(corpus.normalize_text(p) for p in exclude)

    def run(n: int, templates: list[Template], pool: _Pool, must: list[Descriptor] | None,
            skip: frozenset[str] = frozenset()) -> list[PromptExample]:
        out: list[PromptExample] = []
        attempts = 0
        while len(out) < n:
            attempts += 1
            if attempts > 50 * n + 1000:
                raise RuntimeError("prompt generation cannot fill its templates; check presets/templates.yaml")
            ex = gen.example(templates, pool, must)
            if ex is not None and (not skip or corpus.normalize_text(ex.prompt) not in skip):
                out.append(ex)
        return out

    train = run(n_train, train_t, train_pool, None, banned)
    heldout_descriptors = run(n_held, train_t, full_pool, held)
    heldout_phrasings = run(n_held, held_t, train_pool, None)
    return PromptDataset(train, heldout_descriptors, heldout_phrasings)

"""The crowd word table: per-word targets derived from the SocialFX listening data.

``presets/crowd_words.json`` is written by ``scripts/derive_crowd_words.py`` (the derivation
lives in :mod:`audiomanip.training.crowd_derive`, which the runtime never imports). This module only
reads the table (json, no torch) and answers:

* :func:`load_crowd_words`: every English crowd word with its counts, confidences, crowd
  measurements (EQ curve, T60, compressor settings) and its target as a :class:`Recipe`;
* :func:`heldout_words` / :func:`training_words` / :func:`fold_words`: the fixed, seeded split
  (fold 0 of 5 word-level folds, about 20 %); keep held-out words out of training and tuning;
* :func:`grounded_recipe`: the target of a word after the crowd-vs-authored rule
  (:func:`crowd_wins`); :func:`grounded_targets`: every training word's target with a weight
  (pass ``exclude_folds=(0, K)`` to train for ``eval --suite crowd --crowd-fold K``);
* :func:`vocabulary`: authored descriptor forms and crowd words with counts and source tags
  (``audiomanip presets words``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audiomanip.vocab.corpus_files import presets_dir
from audiomanip.vocab.descriptors import load_descriptors, normalize_text
from audiomanip.vocab.recipes import Recipe
from audiomanip.errors import PresetFileError
from audiomanip.params import EQ_BAND_TYPES

TABLE_FILE = "crowd_words.json"
TABLE_FORMAT = 1
SOURCE_CITATION = (
    "SocialFX crowd data, Interactive Audio Lab, Northwestern University: SocialEQ (Cartwright & "
    "Pardo, ISMIR 2013), Audealize (Seetharaman & Pardo, JAES 2016), SocialFX (Zheng, "
    "Seetharaman & Pardo, ACM MM 2016)"
)
#: Centre frequencies (Hz) of SocialEQ's 40 bands.
EQ_BAND_HZ = (20, 50, 83, 120, 161, 208, 259, 318, 383, 455, 537, 628, 729, 843, 971, 1114, 1273,
              1452, 1652, 1875, 2126, 2406, 2719, 3070, 3462, 3901, 4392, 4941, 5556, 6244, 7014,
              7875, 8839, 9917, 11124, 12474, 13984, 15675, 17566, 19682)
CROWD_EFFECTS = ("eq", "reverb", "compressor")
#: A crowd effect overrides an authored recipe only from this confidence up.
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class CrowdEffect:
    """One effect's crowd data for a word.

    ``n``: sessions (EQ) or uses (reverb, compressor); ``confidence``: the empirical-Bayes weight
    in [0, 1) of the word's own mean against the mean of all words (more contributions and more
    agreement give more); ``values``: our schema's values for the effect (physical units), from
    the shrunk mean; ``data``: the crowd measurements kept for evaluation (``curve`` 40 z-scores
    and ``sessions`` for EQ, ``t60_s`` and ``t60_uses_s`` for reverb, ``threshold_db``,
    ``ratio`` and ``uses`` for the compressor)."""

    n: int
    confidence: float
    values: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CrowdWord:
    """A crowd word: its effects' data, its fold (0 = held out, -1 = an authored form, never held
    out) and, where it is also an authored descriptor form, the crowd-vs-authored decision."""

    word: str
    effects: Mapping[str, CrowdEffect]
    fold: int
    authored: Mapping[str, Any] | None = None
    #: The effects whose experiment the word is most typical of (:func:`typical_effects`).
    typical: tuple[str, ...] = ()

    @property
    def heldout(self) -> bool:
        return self.fold == 0

    @property
    def count(self) -> int:
        return sum(e.n for e in self.effects.values())

    @property
    def confidence(self) -> float:
        """Confidence that the word has a target of its own: 1 - prod(1 - confidence per effect)."""
        p = 1.0
        for e in self.effects.values():
            p *= 1.0 - e.confidence
        return 1.0 - p

    def recipe(self) -> Recipe:
        """The crowd target: the EQ wherever there is EQ data; the reverb or compressor of the
        experiment the word is most typical of (:func:`typical_effects`). Listeners described
        whatever they heard: "warm" was typed 287 times for reverbs, but it is more than twice as
        typical of the EQ sessions, so its target sets the EQ and no reverb; "echo" (281 reverb
        uses, 25 compressor uses) sets a reverb. Values of rare words are close to the crowd's
        average setting (shrinkage); use :attr:`confidence` as the target's weight."""
        values = {name: dict(e.values) for name, e in self.effects.items()
                  if name == "eq" or name in self.typical}
        return Recipe(values, {})


def typical_effects(counts: Mapping[str, int], totals: Mapping[str, int]) -> tuple[str, ...]:
    """The effects whose crowd experiment a word is most typical of: those where its share of the
    experiment's contributions (``counts[e] / totals[e]``) is the largest of its shares (ties
    kept). Each experiment asked people to name whatever they heard, so a common word turns up
    in all three; its largest share says which effect it names."""
    shares = {e: counts[e] / totals[e] for e in counts if counts[e] > 0 and totals.get(e)}
    if not shares:
        return ()
    top = max(shares.values())
    return tuple(e for e in CROWD_EFFECTS if e in shares and shares[e] >= top)


#: What the crowd replaces in an authored recipe when it wins an effect: what it was compared on
#: (:func:`crowd_wins`). None: the whole effect (the EQ curve); otherwise only these parameters
#: (the reverb's decay, the compressor's ratio), the recipe's others stay.
COMPARED_PARAMS: dict[str, tuple[str, ...] | None] = {"eq": None, "reverb": ("room_size",),
                                                      "compressor": ("ratio",)}


def crowd_wins(confidence: float, agreement: float) -> bool:
    """The crowd-vs-authored rule for one effect of a word that is both.

    ``agreement`` is the Pearson r between the authored recipe's EQ response and the crowd curve
    over the 40 bands (EQ), or +1 / -1 for whether the authored reverb decay and compressor ratio
    lie on the same side of the corpus' neutral/mean as the crowd's word mean. The authored recipe
    says what engineers mean and is kept, unless listeners clearly heard the opposite: the crowd
    replaces that effect when its confidence is at least :data:`MIN_CONFIDENCE` and it disagrees
    (agreement < 0)."""
    return confidence >= MIN_CONFIDENCE and agreement < 0.0


def _eq_values(bands: list[list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (t, f, g, q) in enumerate(bands, start=1):
        out[f"band{i}_type"] = EQ_BAND_TYPES[int(t)]
        out[f"band{i}_freq_hz"] = float(f)
        out[f"band{i}_gain_db"] = float(g)
        out[f"band{i}_q"] = float(q)
    return out


def _effect(name: str, raw: Mapping[str, Any]) -> CrowdEffect:
    if name == "eq":
        values = _eq_values(raw["bands"])
        data = {k: raw[k] for k in ("curve", "sessions", "fit_rms_db") if k in raw}
    else:
        values = dict(raw["values"])
        data = {k: v for k, v in raw.items() if k not in ("n", "confidence", "values")}
    return CrowdEffect(int(raw["n"]), float(raw["confidence"]), values, data)


@functools.cache
def load_table() -> dict[str, Any]:
    """The raw table (``presets/crowd_words.json``); PresetFileError when missing or malformed."""
    path = presets_dir() / TABLE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetFileError(f"cannot read the crowd table {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise PresetFileError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT or not isinstance(data.get("words"), dict):
        raise PresetFileError(f"{path.name}: not a crowd table of format {TABLE_FORMAT} "
                              "(rebuild it with scripts/derive_crowd_words.py)")
    return data


@functools.cache
def load_crowd_words() -> dict[str, CrowdWord]:
    """Every crowd word of the table by word."""
    table = load_table()
    g = table["global"]
    totals = {"eq": g["eq"]["sessions"], "reverb": g["reverb"]["uses"], "compressor": g["compressor"]["uses"]}
    out = {}
    for word, raw in table["words"].items():
        try:
            effects = {name: _effect(name, raw[name]) for name in CROWD_EFFECTS if name in raw}
            typical = typical_effects({e: c.n for e, c in effects.items()}, totals)
            out[word] = CrowdWord(word, effects, int(raw["fold"]), raw.get("authored"), typical)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PresetFileError(f"{TABLE_FILE}: word {word!r} is malformed ({exc})") from None
    return out


def fold_words(fold: int) -> frozenset[str]:
    """The crowd words of one of the 5 word-level folds (fold 0 is the held-out split)."""
    return frozenset(w for w, c in load_crowd_words().items() if c.fold == fold)


def heldout_words() -> frozenset[str]:
    """The held-out crowd words (fold 0, about 20 %): never train or tune on them."""
    return fold_words(0)


def training_words(exclude_folds: tuple[int, ...] = (0,)) -> frozenset[str]:
    """Crowd words available for training: all but the held-out fold (and ``exclude_folds``)."""
    return frozenset(w for w, c in load_crowd_words().items() if c.fold not in exclude_folds)


def grounded_recipe(word: str) -> tuple[Recipe, str]:
    """The target of ``word`` and its source tag: ``authored``, ``crowd`` or
    ``authored+crowd`` (an authored form where the crowd overrode what it was compared on,
    :data:`COMPARED_PARAMS`, by :func:`crowd_wins`; the decision was made when the table was
    derived and is stored with the word). KeyError for a word that is neither."""
    key = normalize_text(word)
    owner = _authored_forms().get(key)
    cw = load_crowd_words().get(key)
    if owner is None:
        if cw is None:
            raise KeyError(word)
        return cw.recipe(), "crowd"
    recipe = load_descriptors()[owner].recipe
    winners = (cw.authored or {}).get("winner", {}) if cw else {}
    crowd_effects = [e for e, who in winners.items() if who == "crowd"]
    if not crowd_effects:
        return recipe, "authored"
    values = {e: dict(v) for e, v in recipe.values.items()}
    enabled = dict(recipe.enabled)
    for e in crowd_effects:
        crowd_values = cw.effects[e].values
        keys = COMPARED_PARAMS[e] or tuple(crowd_values)
        if COMPARED_PARAMS[e] is None:
            values[e] = {}
        values[e].update({k: crowd_values[k] for k in keys})
        enabled[e] = True
    return Recipe(values, enabled), "authored+crowd"


@dataclass(frozen=True)
class GroundedTarget:
    """A training target: a word, its recipe, its source tag (as :func:`grounded_recipe`) and a
    weight in (0, 1]: 1 for authored forms, the crowd confidence for crowd words."""

    word: str
    recipe: Recipe
    source: str
    weight: float


def grounded_targets(*, exclude_folds: tuple[int, ...] = (0,)) -> list[GroundedTarget]:
    """Every authored form and crowd word outside ``exclude_folds`` (default: the held-out fold)
    with its grounded recipe, sorted by word. Authored descriptors marked ``heldout`` in
    ``descriptors.yaml`` are left out too."""
    descriptors = load_descriptors()
    forms = _authored_forms()
    words = load_crowd_words()
    out = []
    for w in sorted(set(forms) | set(words)):
        if w in forms and descriptors[forms[w]].heldout:
            continue
        cw = words.get(w)
        if w not in forms and cw is not None and cw.fold in exclude_folds:
            continue
        recipe, source = grounded_recipe(w)
        weight = 1.0 if w in forms else cw.confidence
        out.append(GroundedTarget(w, recipe, source, weight))
    return out


@functools.cache
def _authored_forms() -> dict[str, str]:
    return {f: d.name for d in load_descriptors().values() for f in d.forms}


@dataclass(frozen=True)
class VocabularyEntry:
    """One word or phrase with a grounded target: its sources (``authored``, ``crowd-eq``,
    ``crowd-reverb``, ``crowd-compressor``), crowd counts per effect, the authored descriptor it
    belongs to, whether it is held out, and the crowd confidence."""

    word: str
    sources: tuple[str, ...]
    counts: Mapping[str, int]
    descriptor: str | None
    heldout: bool
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "sources": list(self.sources), "counts": dict(self.counts),
                "descriptor": self.descriptor, "heldout": self.heldout, "confidence": round(self.confidence, 3)}


def vocabulary(query: str | None = None) -> list[VocabularyEntry]:
    """Authored descriptor forms and crowd words, sorted by word; ``query`` keeps entries with a
    word that starts with it ("warm" finds "warmer" and "nice warm", not "swarm")."""
    forms = _authored_forms()
    descriptors = load_descriptors()
    crowd_words = load_crowd_words()
    pattern = re.compile(r"\b" + re.escape(normalize_text(query))) if query else None
    out = []
    for w in sorted(set(forms) | set(crowd_words)):
        if pattern is not None and not pattern.search(w):
            continue
        cw = crowd_words.get(w)
        sources = (("authored",) if w in forms else ()) + tuple(
            f"crowd-{e}" for e in CROWD_EFFECTS if cw and e in cw.effects)
        counts = {e: cw.effects[e].n for e in CROWD_EFFECTS if cw and e in cw.effects}
        heldout = (w in forms and descriptors[forms[w]].heldout) or bool(cw and cw.heldout)
        out.append(VocabularyEntry(w, sources, counts, forms.get(w), heldout, cw.confidence if cw else 0.0))
    return out

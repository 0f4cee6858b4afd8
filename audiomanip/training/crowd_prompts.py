"""Training prompts for crowd words: each crowd word of the training folds in the corpus' plain
one-adjective phrasings ("make the vocals {adj}", "a {adj} sound" …), with its crowd target.

The crowd vocabulary (:mod:`audiomanip.vocab.crowd`, a few thousand words people used after
hearing an effect) teaches the network how the frozen encoder's space maps onto effect space over
far more words than the authored descriptors, which is what lets it place words it never saw.

Kept out, always: the held-out crowd fold (``crowd.heldout_words``), every surface form of a
held-out authored descriptor (so "shrill", an authored held-out word with crowd EQ data, is
never trained on), words that are training descriptors' forms (the corpus already teaches them,
with the crowd-vs-authored rule applied in :func:`audiomanip.vocab.crowd.grounded_recipe`), and
words whose training target is empty (:func:`training_recipe`: a reverb or compressor word used
once or twice carries no target of its own). ``exclude_folds`` removes more folds (a validation fold for tuning).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from audiomanip.vocab import descriptors as corpus
from audiomanip.training import templates as prompt_templates
from audiomanip.training.prompts import PromptExample, _fix_articles, heldout_forms
from audiomanip.vocab.recipes import Recipe

#: Template slots a crowd word can fill (it has only an adjective form).
_SLOTS = {"adj", "src"}
#: An effect's crowd data enters a training target from this confidence up. Below it the values
#: are mostly the shrinkage prior (the mean of all words): 274 of the 341 EQ words occur once
#: (confidence 0.21), and training on them taught the network that any word means the crowd's
#: mean curve (low boost, top cut), which flattened "bright" from +4 dB to under 1 dB.
MIN_CONFIDENCE = 0.3


def training_recipe(cw, min_confidence: float = MIN_CONFIDENCE) -> Recipe:
    """A crowd word's training target: :meth:`audiomanip.vocab.crowd.CrowdWord.recipe` (its EQ,
    and the reverb or compressor of the experiment it is typical of) without the effects whose
    confidence is under ``min_confidence``."""
    values = {name: dict(v) for name, v in cw.recipe().values.items()
              if cw.effects[name].confidence >= min_confidence}
    return Recipe(values, {})


def crowd_training_words(exclude_folds: Sequence[int] = (0,)) -> list[str]:
    """Crowd words that may be trained on (sorted; see the module docstring for what is kept out)."""
    from audiomanip.vocab import crowd

    held_forms = set(heldout_forms())
    authored = {f for d in corpus.load_descriptors().values() for f in d.forms}
    out = []
    for word, cw in sorted(crowd.load_crowd_words().items()):
        if cw.fold in tuple(exclude_folds) or word in held_forms or word in authored:
            continue
        if training_recipe(cw).effects_on():
            out.append(word)
    return out


def _phrasings() -> list[prompt_templates.Template]:
    return [t for t in prompt_templates.load_templates().templates
            if not t.heldout and not t.negate and set(t.slots) <= _SLOTS and "adj" in t.slots]


def crowd_examples(seed: int = 0, *, per_word: int = 3, exclude_folds: Sequence[int] = (0,)) -> list[PromptExample]:
    """Training pairs for the crowd words: ``per_word`` phrasings each (the bare word first, as
    ``eval --suite crowd`` asks it), plus one more per 0.25 of the word's confidence (a
    well-attested word is seen more often), deterministic from
    ``seed``. Targets are :func:`training_recipe` as presets; prompts of
    the evaluation suites are never produced."""
    from audiomanip.vocab import crowd

    rng = random.Random(seed * 7919 + 17)
    templates = _phrasings()
    sources = prompt_templates.load_templates().sources
    words = crowd.load_crowd_words()
    banned = prompt_templates.evaluation_prompts()
    out: list[PromptExample] = []
    for word in crowd_training_words(exclude_folds):
        cw = words[word]
        recipe = training_recipe(cw)
        preset = recipe.to_preset()
        families = tuple(sorted(recipe.effects_on()))
        n = per_word + int(cw.confidence / 0.25)
        bare = [t for t in templates if t.text == "{adj}"]
        others = [t for t in templates if t.text != "{adj}"]
        for t in bare[:1] + rng.sample(others, min(n - len(bare[:1]), len(others))):
            text = _fix_articles(t.text.format(adj=word, src=rng.choice(sources)) if "src" in t.slots
                                 else t.text.format(adj=word))
            if corpus.normalize_text(text) not in banned:
                out.append(PromptExample(text, preset, (word,), families, t.id))
    return out

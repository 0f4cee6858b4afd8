"""Crowd words as training prompts: what is kept out (held-out fold, held-out authored words,
authored forms) and what the targets are."""

from __future__ import annotations

from audiomanip.vocab import crowd, descriptors as corpus
from audiomanip.training import templates as prompt_templates
from audiomanip.training.crowd_prompts import MIN_CONFIDENCE, crowd_examples, crowd_training_words, training_recipe
from audiomanip.training.prompts import heldout_forms, heldout_form_pattern


def test_training_words_keep_held_out_words_out():
    words = set(crowd_training_words())
    assert len(words) > 150
    assert not words & crowd.heldout_words()
    assert not words & set(heldout_forms())  # e.g. "shrill": an authored held-out word with crowd EQ data
    assert "shrill" in crowd.load_crowd_words() and "shrill" not in words
    authored = {f for d in corpus.load_descriptors().values() for f in d.forms}
    assert not words & authored
    fold1 = set(crowd_training_words(exclude_folds=(0, 1)))
    assert fold1 < words and not fold1 & crowd.fold_words(1)


def test_crowd_examples_carry_the_crowd_targets():
    examples = crowd_examples(0, per_word=3)
    assert examples == crowd_examples(0, per_word=3)  # deterministic
    pattern = heldout_form_pattern()
    held = crowd.heldout_words()
    banned = prompt_templates.evaluation_prompts()
    words = crowd.load_crowd_words()
    for ex in examples:
        (word,) = ex.descriptors
        assert word in ex.prompt and word not in held and not pattern.search(ex.prompt)
        assert corpus.normalize_text(ex.prompt) not in banned
        want = training_recipe(words[word]).to_preset()
        assert ex.preset.enabled == want.enabled and ex.preset.values == want.values
    # a well-attested word is seen in more phrasings than a word heard once
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.descriptors[0]] = counts.get(ex.descriptors[0], 0) + 1
    best = max(counts, key=lambda w: words[w].confidence)
    worst = min(counts, key=lambda w: words[w].confidence)
    assert counts[best] > counts[worst] >= 3


def test_training_recipe_gates_effects_by_confidence():
    words = crowd.load_crowd_words()
    for effect in ("eq", "reverb"):
        low = next(w for w, c in sorted(words.items()) if set(c.effects) == {effect}
                   and c.effects[effect].confidence < MIN_CONFIDENCE)
        assert not training_recipe(words[low]).effects_on()  # a single session is mostly the prior
        high = next(w for w, c in sorted(words.items()) if effect in c.typical
                    and c.effects[effect].confidence >= 0.5)
        assert effect in training_recipe(words[high]).effects_on()

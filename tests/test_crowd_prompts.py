"""Crowd words as training prompts: what is kept out (held-out fold, held-out authored words,
authored forms) and what the targets are."""

from __future__ import annotations

from audiomanip.data import corpus, crowd
from audiomanip.data.crowd_prompts import crowd_examples, crowd_training_words, training_recipe
from audiomanip.data.prompts import heldout_forms, heldout_form_pattern


def test_training_words_keep_held_out_words_out():
    words = set(crowd_training_words())
    assert len(words) > 300
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
    banned = corpus.evaluation_prompts()
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


def test_training_recipe_gates_reverb_by_confidence():
    words = crowd.load_crowd_words()
    low = next(w for w, c in sorted(words.items()) if set(c.effects) == {"reverb"}
               and c.effects["reverb"].confidence < 0.2)
    assert not training_recipe(words[low]).effects_on()
    high = next(w for w, c in sorted(words.items()) if "reverb" in c.effects and c.effects["reverb"].confidence >= 0.5)
    assert "reverb" in training_recipe(words[high]).effects_on()

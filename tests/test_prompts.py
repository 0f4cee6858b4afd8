"""Prompt synthesis: determinism, split sizes, held-out words never in training, targets that
follow the corpus' recipes and the prompt's explicit values."""

from __future__ import annotations

import re

import pytest

from audiomanip.vocab import descriptors as corpus
from audiomanip.training import templates as prompt_templates
from audiomanip.vocab.explicit import parse_explicit
from audiomanip.training.prompts import PromptDataset, generate_dataset, heldout_form_pattern
from audiomanip.params import Preset


@pytest.fixture(scope="module")
def dataset() -> PromptDataset:
    return generate_dataset(seed=0)  # the default size, as training uses it


def test_split_sizes(dataset):
    assert len(dataset.train) == 24000
    assert len(dataset.heldout_descriptors) == len(dataset.heldout_phrasings) == 3000
    small = generate_dataset(seed=1, n_pairs=1000, heldout_fraction=0.2)
    assert (len(small.train), len(small.heldout_descriptors), len(small.heldout_phrasings)) == (600, 200, 200)


def test_same_seed_same_dataset_other_seed_other_dataset():
    a, b = generate_dataset(seed=7, n_pairs=600), generate_dataset(seed=7, n_pairs=600)
    for split in ("train", "heldout_descriptors", "heldout_phrasings"):
        xa, xb = a.splits()[split], b.splits()[split]
        assert [e.prompt for e in xa] == [e.prompt for e in xb]
        assert [e.preset.to_dict() for e in xa] == [e.preset.to_dict() for e in xb]
        assert [(e.descriptors, e.families, e.template_id) for e in xa] == [
            (e.descriptors, e.families, e.template_id) for e in xb]
    c = generate_dataset(seed=8, n_pairs=600)
    assert [e.prompt for e in c.train] != [e.prompt for e in a.train]


def test_no_heldout_descriptor_in_train(dataset):
    held = {d.name for d in corpus.load_descriptors().values() if d.heldout}
    pattern = heldout_form_pattern()
    for ex in dataset.train:
        assert not held & set(ex.descriptors), ex
        assert not pattern.search(ex.prompt), ex.prompt
    for ex in dataset.heldout_phrasings:
        assert not held & set(ex.descriptors), ex


def test_heldout_descriptor_prompts_each_hold_one(dataset):
    held = {d.name for d in corpus.load_descriptors().values() if d.heldout}
    pattern = heldout_form_pattern()
    seen = set()
    for ex in dataset.heldout_descriptors:
        hit = held & set(ex.descriptors)
        assert hit or pattern.search(ex.prompt), ex
        seen |= hit
    assert len(seen) >= 0.9 * len(held)


def test_phrasing_splits_use_their_templates(dataset):
    templates = {t.id: t for t in prompt_templates.load_templates().templates}
    held_ids = {i for i, t in templates.items() if t.heldout}
    assert len(held_ids) >= 8
    assert not {ex.template_id for ex in dataset.train} & held_ids
    assert not {ex.template_id for ex in dataset.heldout_descriptors} & held_ids
    assert {ex.template_id for ex in dataset.heldout_phrasings} == held_ids
    assert {ex.template_id for ex in dataset.train} == set(templates) - held_ids


def test_train_covers_families_named_presets_and_explicit_values(dataset):
    families = {f for ex in dataset.train for f in ex.families}
    assert families == set(corpus.FAMILIES)
    assert sum(ex.template_id.startswith("named") for ex in dataset.train) > 1000
    explicit = [ex for ex in dataset.train if "explicit" in ex.template_id]
    assert len(explicit) > 1500
    counts = [len(ex.descriptors) for ex in dataset.train if not ex.template_id.startswith("named")]
    assert {1, 2, 3} <= set(counts)


def test_targets_follow_explicit_values(dataset):
    checked = 0
    for ex in dataset.train:
        if "explicit" not in ex.template_id:
            continue
        values = parse_explicit(ex.prompt)
        assert values, ex.prompt
        for o in values.overrides:
            if o.effect not in values.disable:
                last = values.value(o.effect, o.param)
                assert ex.preset.values[o.effect][o.param] == pytest.approx(last), ex.prompt
        for name in values.disable:
            assert not ex.preset.enabled[name], ex.prompt
        checked += 1
    assert checked > 1000


def test_single_plain_descriptor_targets_equal_the_descriptor_recipe(dataset):
    descriptors = corpus.load_descriptors()
    for ex in dataset.train:
        if ex.template_id != "bare_adj" or len(ex.descriptors) != 1:
            continue
        d = descriptors[ex.descriptors[0]]
        if ex.prompt not in d.adj or parse_explicit(ex.prompt):
            continue  # an intensity word, or words the explicit parser also reads
        assert ex.preset.to_dict() == d.recipe.to_preset().to_dict(), ex.prompt


def test_intensity_and_negation_move_the_target(dataset):
    descriptors = corpus.load_descriptors()
    found_less = found_very = 0
    for ex in dataset.train:
        if len(ex.descriptors) != 1 or ex.descriptors[0] != "muddy":
            continue
        gain = ex.preset["eq"]["band2_gain_db"]
        if ex.template_id in ("less_adj", "make_less_adj", "too_adj", "way_too_adj", "bare_too_adj"):
            assert gain < 0, ex.prompt
            found_less += 1
        elif re.search(r"\b(very|really|extremely|super)\b", ex.prompt):
            assert gain > descriptors["muddy"].recipe.values["eq"]["band2_gain_db"], ex.prompt
            found_very += 1
    assert found_less and found_very


def test_band_moves_raise_or_cut_their_band_by_the_templates_factor(dataset):
    """"boost the highs" lifts the high shelf by the recipe's gain, "cut the highs" by minus
    it, "push the highs a bit" by half."""
    templates = {t.id: t for t in prompt_templates.load_templates().templates}
    shelf = corpus.load_descriptors()["trebly"].recipe.values["eq"]["band5_gain_db"]
    seen = set()
    for ex in dataset.train:
        if ex.descriptors != ("trebly",) or "band" not in ex.template_id or parse_explicit(ex.prompt):
            continue
        factor = templates[ex.template_id].factor or 1.0
        assert ex.preset["eq"]["band5_gain_db"] == pytest.approx(shelf * factor, abs=0.6), ex.prompt
        seen.add(factor > 0)
    assert seen == {True, False}


def test_band_moves_are_a_small_share_of_training(dataset):
    share = sum("band" in ex.template_id for ex in dataset.train) / len(dataset.train)
    assert 0.03 < share < 0.2, share


def test_no_evaluation_suite_prompt_is_trained_on(dataset):
    suites = prompt_templates.evaluation_prompts()
    assert len(suites) > 200  # direction and paraphrase prompts
    assert not [ex.prompt for ex in dataset.train if corpus.normalize_text(ex.prompt) in suites]
    # the rule is a filter, not a property of the templates: without it some would be trained on
    unfiltered = generate_dataset(seed=0, exclude=())
    assert [ex.prompt for ex in unfiltered.train if corpus.normalize_text(ex.prompt) in suites]


def test_every_target_is_a_valid_preset(dataset):
    for split in dataset.splits().values():
        for ex in split[::25]:
            Preset.from_dict(ex.preset.to_dict(), strict=True)
            assert ex.prompt == ex.prompt.strip() and "{" not in ex.prompt and "  " not in ex.prompt


def test_articles_are_fixed(dataset):
    for ex in dataset.train:
        assert not re.search(r"\ban? (?:a|an|the)\b", ex.prompt), ex.prompt
        assert not re.search(r"\ba (?:airy|analog|ambient|aggressive|echo|empty|arena|open)\b", ex.prompt), ex.prompt


def test_every_explicit_pattern_is_read_by_the_parser():
    import random

    from audiomanip.training.prompts import _Generator

    gen = _Generator(random.Random(0))
    for pattern in prompt_templates.load_templates().explicit:
        for _ in range(5):
            text = re.sub(r"\{(\w+)\}", lambda m: gen.number(m.group(1)), pattern)
            assert parse_explicit(text), text

"""The crowd word table: derivation math on known values, the committed table, the split, the
crowd-vs-authored rule, `presets words`, unsupported-request notes and the crowd eval suite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import invoke

from audiomanip.vocab import crowd
from audiomanip.training import crowd_derive as D, crowd_eq_fit, socialfx
from audiomanip.vocab.corpus_files import presets_dir
from audiomanip.vocab.descriptors import load_descriptors
from audiomanip.evaluation.crowd import (
    band_edges_hz,
    pearson,
    reference_figures,
    rendered_band_db,
    run_crowd_suite,
    split_half_eq,
    split_half_reverb,
)
from audiomanip.params import Preset, room_size_to_t60_s

SHARED = socialfx.default_data_dir()


def known_eq() -> Preset:
    p = Preset.default()
    for k, v in {"band1_type": "low_shelf", "band1_freq_hz": 150.0, "band1_gain_db": 4.0, "band1_q": 0.7,
                 "band3_type": "peak", "band3_freq_hz": 1000.0, "band3_gain_db": -3.0, "band3_q": 1.0,
                 "band5_type": "high_shelf", "band5_freq_hz": 8000.0, "band5_gain_db": 5.0, "band5_q": 0.7}.items():
        p.set("eq", k, v)
    return p


# ------------------------------------------------------------------------------ EQ fit
def test_rendered_band_db_measures_a_known_peak_on_noise():
    p = Preset.default()
    p.set("eq", "band3_type", "peak").set("eq", "band3_freq_hz", 971.0).set("eq", "band3_gain_db", 6.0)
    p.set("eq", "band3_q", 1.0)
    db = rendered_band_db(p)
    hz = np.asarray(crowd.EQ_BAND_HZ)
    assert db[list(hz).index(971)] == pytest.approx(6.0, abs=0.3)
    far = (hz < 120) | (hz > 9000)
    assert np.abs(db[far]).max() < 0.3
    assert len(band_edges_hz()) == 41


def test_fit_reproduces_a_known_curve_through_the_renderer():
    """A target made by a known 5-band EQ is fitted within 0.5 dB RMS, measured by rendering noise
    through the fitted preset (offset removed: crowd curves have no absolute level)."""
    target = crowd_eq_fit.rendered_eq_db(known_eq().values["eq"])
    fit = crowd_eq_fit.fit_eq(target[None], steps=700)
    assert fit.rms_db[0] < 0.3
    preset = Preset.default()
    for k, v in fit.values(0).items():
        preset.set("eq", k, v)
    measured = rendered_band_db(preset)
    err = (measured - measured.mean()) - (target - target.mean())
    assert math.sqrt(float(np.mean(err ** 2))) < 0.5


def test_fit_of_the_crowd_mean_curve_is_within_half_a_db():
    table = crowd.load_table()
    target = table["constants"]["db_per_sd"] * np.asarray(table["global"]["eq"]["mean_curve"])
    fit = crowd_eq_fit.fit_eq(target[None], steps=700)
    assert fit.rms_db[0] < 0.5


def test_db_scale_gives_the_typical_well_supported_word_the_audealize_peak():
    means = np.array([[0.5, -1.0, 0.2], [2.0, 0.0, -0.5], [0.1, 0.1, 0.1]])
    scale = crowd_eq_fit.eq_db_per_sd(means, [10, 12, 1], min_sessions=8, peak_db=5.0)
    assert scale == pytest.approx(5.0 / 1.5)  # median of 1.0 and 2.0


# ------------------------------------------------------------------------------ reverb mappings
def test_t60_from_d_and_g_on_known_values():
    assert socialfx.crowd_t60_s(0.05, 0.5) == pytest.approx(-0.15 / math.log10(0.5))  # 0.498 s
    assert socialfx.crowd_t60_s(0.099, 0.9) == pytest.approx(6.4907, abs=1e-3)  # 0.297 / 0.04576
    assert socialfx.crowd_t60_s(0.01, 0.01) == pytest.approx(0.015)


def test_damping_wet_and_room_mappings():
    assert socialfx.damping_from_cutoff(22050) == 0.0
    assert socialfx.damping_from_cutoff(200) == 1.0
    assert socialfx.damping_from_cutoff(2000) == pytest.approx(0.5)
    assert socialfx.wet_from_clarity(0.0) == pytest.approx(0.5)
    assert socialfx.wet_from_clarity(10.0) == pytest.approx(1 / 11)
    kw = dict(log_t60_mu=0.5, log_t60_sd=0.4, wet_mu=0.6, wet_sd=0.05)
    mid = D.reverb_recipe(0.5, 0.6, 30.0, 0.4, 0.5, **kw)
    assert mid["room_size"] == pytest.approx(D.ROOM_CENTRE, abs=1e-3)
    up = D.reverb_recipe(0.9, 0.65, 30.0, 0.4, 0.5, **kw)  # +1 between-word SD on both
    assert up["room_size"] == pytest.approx(D.ROOM_CENTRE + D.ROOM_PER_SD, abs=1e-3)
    assert up["wet"] == pytest.approx(D.WET_CENTRE + D.WET_PER_SD, abs=1e-3)
    assert room_size_to_t60_s(up["room_size"]) > room_size_to_t60_s(mid["room_size"])


def test_compressor_mapping_clips_to_the_schema_and_follows_web_audio_makeup():
    v = D.compressor_recipe(-30.0, math.log(4.0), math.log(5.0), math.log(200.0))
    assert v["threshold_db"] == -30.0 and v["ratio"] == pytest.approx(4.0)
    assert v["makeup_db"] == pytest.approx(0.6 * 30 * 0.75)
    assert D.compressor_recipe(-90.0, math.log(20.0), math.log(0.01), math.log(1.0))["threshold_db"] == -60.0


# ------------------------------------------------------------------------------ shrinkage
def test_shrinkage_weighs_count_and_consistency():
    rng = np.random.default_rng(0)
    many = rng.normal(2.0, 1.0, size=(20, 1))
    one = np.array([[2.0]])
    consistent = np.array([[1.0], [1.1], [0.9], [1.0]])
    scattered = np.array([[3.0], [-1.0], [2.5], [-0.5]])
    background = [rng.normal(rng.normal(0, 1), 1.0, size=(int(n), 1)) for n in rng.integers(1, 6, 60)]
    sh = D.eb_shrink([many, one, consistent, scattered] + background)
    w = sh.weight
    assert w[0] > w[1]  # more contributions, more weight
    assert w[2] > w[3]  # same count and mean, more agreement, more weight
    assert np.all((w > 0) & (w < 1))
    # the posterior lies between the word's mean and the overall mean, at the stated weight
    for i in range(4):
        assert sh.posterior[i, 0] == pytest.approx(sh.mu[0] + w[i] * (sh.raw[i, 0] - sh.mu[0]))
    # by hand for the single observation: s2 = sigma2 (prior only), weight = tau2 / (tau2 + sigma2)
    assert w[1] == pytest.approx(sh.tau2 / (sh.tau2 + sh.sigma2))


def test_rare_words_in_the_table_are_shrunk_towards_the_mean():
    words = crowd.load_crowd_words()
    single = [c.effects["eq"].confidence for c in words.values() if "eq" in c.effects and c.effects["eq"].n == 1]
    assert max(single) < 0.5 < words["warm"].effects["eq"].confidence
    # a single session's fitted EQ is gentler than the well-supported word's
    gains = lambda w: max(abs(v) for k, v in words[w].effects["eq"].values.items() if k.endswith("gain_db"))
    rare = [w for w, c in words.items() if "eq" in c.effects and c.effects["eq"].n == 1]
    assert np.median([gains(w) for w in rare]) < gains("warm")


# ------------------------------------------------------------------------------ table, split
def test_table_is_small_and_well_formed():
    path = presets_dir() / crowd.TABLE_FILE
    assert path.stat().st_size < 1.5e6
    table = crowd.load_table()
    assert table["eq_band_hz"] == list(crowd.EQ_BAND_HZ)
    assert "Cartwright" in table["source"]
    words = crowd.load_crowd_words()
    assert len(words) > 1000
    assert words["warm"].effects["eq"].n == 64 and words["warm"].effects["reverb"].n == 287
    fits = [c.effects["eq"].data["fit_rms_db"] for c in words.values() if "eq" in c.effects]
    assert max(fits) < 0.5  # every word's 5-band fit is within 0.5 dB RMS of its target
    for c in list(words.values())[:200]:
        c.recipe().to_preset()  # every target is a valid preset


def test_heldout_split_is_fixed_about_a_fifth_and_disjoint_from_authored_forms():
    words = crowd.load_crowd_words()
    held = crowd.heldout_words()
    forms = {f for d in load_descriptors().values() for f in d.forms}
    assert not held & forms
    candidates = [w for w in words if w not in forms]
    assert 0.18 < len(held) / len(candidates) < 0.22
    assert held.isdisjoint(crowd.training_words())
    assert held | crowd.training_words() == set(words)
    # the split is a function of the strata and the seed
    strata = {w: ("eq3" if "eq" in words[w].effects and words[w].effects["eq"].n >= 3 else "x") for w in candidates}
    assert D.assign_folds(strata) == D.assign_folds(dict(reversed(list(strata.items()))))
    assert D.assign_folds(strata) != D.assign_folds(strata, seed=12)
    eq3 = [w for w in candidates if strata[w] == "eq3"]
    assert sum(words[w].heldout for w in eq3) == round(len(eq3) / 5) or sum(words[w].heldout for w in eq3) >= len(eq3) // 5


@pytest.mark.skipif(not SHARED.is_dir(), reason="the SocialFX data (../shared/data/socialfx) is not here")
def test_table_counts_match_the_raw_data():
    eq = socialfx.read_eq_sessions(SHARED)
    rev = socialfx.read_reverb_uses(SHARED)
    words = crowd.load_crowd_words()
    for w in ("warm", "soft", "harsh"):
        assert words[w].effects["eq"].n == len(eq[w])
        assert words[w].effects["eq"].data["curve"] == pytest.approx(eq[w].mean(axis=0), abs=0.006)
    assert words["echo"].effects["reverb"].n == len(rev["echo"])
    t60 = math.exp(np.mean([u.log_t60 for u in rev["echo"]]))
    assert words["echo"].effects["reverb"].data["t60_s"] == pytest.approx(t60, rel=1e-3)


def test_effects_combine_by_the_experiment_a_word_is_typical_of():
    assert crowd.typical_effects({"eq": 64, "reverb": 287, "compressor": 49},
                                 {"eq": 603, "reverb": 7208, "compressor": 1402}) == ("eq",)
    assert crowd.typical_effects({"reverb": 281, "compressor": 25}, {"eq": 603, "reverb": 7208,
                                                                     "compressor": 1402}) == ("reverb",)
    assert crowd.typical_effects({"eq": 1, "reverb": 12}, {"eq": 100, "reverb": 1200}) == ("eq", "reverb")
    words = crowd.load_crowd_words()
    assert set(words["warm"].recipe().values) == {"eq"}
    assert set(words["echo"].recipe().values) == {"reverb"}
    assert set(words["louder"].recipe().values) == {"compressor"}
    # every crowd word has a target, and its preset switches on what the recipe sets
    assert all(c.recipe().values for c in words.values())
    assert words["echo"].recipe().to_preset().enabled["reverb"]


def test_grounded_targets_keep_held_out_words_out():
    targets = crowd.grounded_targets()
    names = {t.word for t in targets}
    assert not names & crowd.heldout_words()
    held_descriptors = {f for d in load_descriptors().values() if d.heldout for f in d.forms}
    assert not names & held_descriptors
    assert len(targets) > 2000
    by = {t.word: t for t in targets}
    assert by["soft"].source == "authored+crowd" and by["soft"].weight == 1.0
    assert by["haunting"].source == "crowd" and 0 < by["haunting"].weight < 1


# ------------------------------------------------------------------------------ crowd vs authored
def test_crowd_wins_only_when_confident_and_opposite():
    assert crowd.crowd_wins(0.9, -0.4)
    assert not crowd.crowd_wins(0.3, -0.9)  # a few listeners do not overrule the recipe
    assert not crowd.crowd_wins(0.9, 0.2)  # agreeing: the authored recipe is kept
    assert not crowd.crowd_wins(crowd.MIN_CONFIDENCE - 1e-6, -1.0)
    assert crowd.crowd_wins(crowd.MIN_CONFIDENCE, -0.01)


def test_soft_follows_the_crowd_and_warm_keeps_its_recipe():
    """'soft': authored EQ points away from what 29 listeners chose, so the crowd's EQ replaces it
    and the rendered response now correlates positively with the crowd curve; 'warm' agrees
    (r > 0) and keeps its authored recipe."""
    words = crowd.load_crowd_words()
    soft = words["soft"]
    assert soft.authored["winner"]["eq"] == "crowd" and soft.authored["agreement"]["eq"] < 0
    authored = load_descriptors()["soft"].recipe.to_preset()
    recipe, source = crowd.grounded_recipe("soft")
    assert source == "authored+crowd"
    curve = soft.effects["eq"].data["curve"]
    assert pearson(rendered_band_db(authored), curve) < 0
    assert pearson(rendered_band_db(recipe.to_preset()), curve) > 0.8
    warm, source = crowd.grounded_recipe("warm")
    assert source == "authored" and warm == load_descriptors()["warm"].recipe
    assert words["warm"].authored["agreement"]["eq"] > 0
    # "far away": the crowd replaces only the decay it was compared on; the recipe's wet stays
    far, source = crowd.grounded_recipe("far away")
    distant = load_descriptors()["distant"].recipe.values["reverb"]
    assert source == "authored+crowd"
    assert far.values["reverb"]["room_size"] == words["far away"].effects["reverb"].values["room_size"]
    assert far.values["reverb"]["room_size"] < distant["room_size"]
    assert far.values["reverb"]["wet"] == distant["wet"] and far.values["eq"] == load_descriptors()["distant"].recipe.values["eq"]
    recipe, source = crowd.grounded_recipe("haunting")
    assert source == "crowd" and "reverb" in recipe.values
    with pytest.raises(KeyError):
        crowd.grounded_recipe("qwzx not a word")


# ------------------------------------------------------------------------------ presets words
def test_presets_words_json_lists_a_thousand_grounded_entries_with_sources():
    res = invoke("presets", "words", "--json")
    assert res.exit_code == 0, res.output
    entries = json.loads(res.stdout)
    assert len(entries) >= 1000
    by = {e["word"]: e for e in entries}
    assert by["warm"]["sources"] == ["authored", "crowd-eq", "crowd-reverb", "crowd-compressor"]
    assert by["warm"]["counts"] == {"eq": 64, "reverb": 287, "compressor": 49}
    assert by["haunting"]["sources"] == ["crowd-reverb"] and by["haunting"]["descriptor"] is None
    assert all(e["sources"] for e in entries)


def test_presets_words_query_and_table():
    res = invoke("presets", "words", "warm", "--json")
    words = [e["word"] for e in json.loads(res.stdout)]
    assert "warm" in words and "warmer" in words and not any("swarm" in w for w in words)
    res = invoke("presets", "words", "echo", "--limit", "3")
    assert res.exit_code == 0 and "echo" in res.stdout and "281" in res.stdout
    res = invoke("presets", "words", "--limit", "-1")
    assert res.exit_code != 0 and "--limit" in res.stderr


# ------------------------------------------------------------------------------ unsupported requests
def test_unsupported_matcher():
    from audiomanip.vocab.unsupported import unsupported_notes, validate_unsupported

    assert validate_unsupported() >= 20

    for prompt, word in [("less reverb", "reverb"), ("remove the echo", "reverb"), ("Remove the noise", "noise"),
                         ("denoise", "noise"), ("de-ess the vocal", "de-esser"), ("too much reverb", "reverb"),
                         ("make it less echoey please", "reverb"), ("karaoke version", "separate")]:
        notes = unsupported_notes(prompt)
        assert len(notes) == 1 and word in notes[0], (prompt, notes)
    for prompt in ("warm vintage tape with a small room", "big cathedral reverb", "add some echo",
                   "remove the rumble", "less muddy", "dry voice", "noisy lo-fi radio"):
        assert unsupported_notes(prompt) == [], prompt


def test_unsupported_request_gets_a_note_through_the_cli(tmp_path, monkeypatch, tiny_model):
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "in.wav", np.zeros((4800, 1), np.float32), 48000)
    res = invoke("apply", "in.wav", "less reverb", "--checkpoint-path", tiny_model, "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    notes = json.loads(res.stdout)["notes"]
    assert any("cannot remove reverb" in n for n in notes)
    assert "cannot remove reverb" in res.stderr
    res = invoke("apply", "in.wav", "remove the noise", "--checkpoint-path", tiny_model, "--dry-run")
    assert res.exit_code == 0 and "no noise reduction" in res.stderr
    res = invoke("apply", "in.wav", "warm tape", "--checkpoint-path", tiny_model, "--dry-run", "--json")
    assert not any("chain" in n for n in json.loads(res.stdout)["notes"])


# ------------------------------------------------------------------------------ crowd eval
def test_split_half_helpers_on_known_data():
    rng = np.random.default_rng(0)
    base = np.sin(np.linspace(0, 3, 40))
    same = np.stack([base + 0.01 * rng.standard_normal(40) for _ in range(6)])
    assert split_half_eq(same, rng) > 0.99
    noise = rng.standard_normal((6, 40))
    assert abs(split_half_eq(noise, rng, draws=200)) < 0.2
    t = [np.full(30, v) * np.exp(0.01 * rng.standard_normal(30)) for v in (0.5, 1.0, 2.0, 4.0)]
    assert split_half_reverb(t, rng) == pytest.approx(1.0)


def test_reference_figures_match_the_issue():
    ref = reference_figures()
    assert ref["eq_words_4_sessions"] == 22 and ref["reverb_words_20_uses"] == 42
    assert ref["eq_split_half_r"] == pytest.approx(0.49, abs=0.06)
    assert ref["eq_loo_mean_curve_r"] == pytest.approx(0.21, abs=0.03)
    assert ref["reverb_split_half_rho"] == pytest.approx(0.70, abs=0.06)


class _TablePredictor:
    """Predicts each word's crowd target (an oracle for the EQ figure) or one fixed preset."""

    def __init__(self, name: str, fixed: Preset | None = None):
        self.name = name
        self.fixed = fixed

    def predict_presets(self, prompts):
        if self.fixed is not None:
            return [self.fixed.copy() for _ in prompts]
        words = crowd.load_crowd_words()
        return [words[p].recipe().to_preset() for p in prompts]


def test_crowd_suite_scores_the_crowd_targets_above_a_fixed_preset(tmp_path):
    flat = Preset.default()
    flat.enabled["eq"] = True
    rep = run_crowd_suite([_TablePredictor("model"), _TablePredictor("corpus_mean", flat)], fold=1)
    f = rep["figures"]
    assert rep["n"]["eq"] >= 3 and rep["n"]["reverb"] >= 3
    assert f["eq_r"]["corpus_mean"] == 0.0  # a flat EQ matches no curve
    assert f["eq_r"]["model"] > 0.5  # the fitted targets follow the crowd curves
    assert f["reverb_rho"]["corpus_mean"] is None  # a constant has no rank order
    assert f["reverb_rho"]["model"] > 0.5
    assert -1 <= f["eq_r"]["mean_curve"] <= 1 and 0 < f["eq_r"]["ceiling"] <= 1
    held = crowd.heldout_words()
    assert not set(rep["words"]["eq"]) & held  # fold 1 never scores held-out words
    with pytest.raises(ValueError, match="fold"):
        run_crowd_suite([_TablePredictor("model")], fold=7)
    from audiomanip.evaluation.report import plot_report

    plot_report({"predictors": ["model", "corpus_mean"], "suites": {"crowd": rep}}, tmp_path / "crowd.png")
    assert (tmp_path / "crowd.png").stat().st_size > 5000


def test_eval_crowd_fold_is_checked():
    res = invoke("eval", "--suite", "crowd", "--crowd-fold", "9")
    assert res.exit_code == 2 and "--crowd-fold" in res.stderr

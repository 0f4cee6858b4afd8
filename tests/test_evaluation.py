"""Evaluation: metric functions on known inputs, suite files, measures on rendered signals,
baselines, and `evaluate` / `audiomanip eval` end to end on a tiny model."""

from __future__ import annotations

import json
import math
import re
import types

import numpy as np
import pytest
import torch
from fakes import HashEncoder

from audiomanip.evaluation import evaluate as E, measures as M, metrics, report as eval_report, sources as SRC, suites as S
from audiomanip.evaluation.baselines import (
    CorpusMeanBaseline,
    ModelPredictor,
    NearestNeighbourBaseline,
    RandomPresetBaseline,
)
from audiomanip.params import EFFECT_ORDER, SCHEMA, Preset

SR = 16000


# ------------------------------------------------------------------------------ helpers


def tiny_model(seed: int = 0):
    """A randomly initialised PresetModel (the real class) on the hash encoder."""
    from audiomanip.model import ModelConfig, PresetModel, PresetNet, model_config_dict

    torch.manual_seed(seed)
    net = PresetNet(ModelConfig(text_dim=32, d_model=32, n_heads=8, n_self_layers=1, head_hidden=32, dropout=0.0))
    enc = HashEncoder()
    return PresetModel(net, model_config_dict(net, enc.name), encoder=enc).eval()


def preset(**kw) -> Preset:
    """Preset.default() with ``effect__param=value`` set (which enables the effect)."""
    p = Preset.default()
    for key, value in kw.items():
        eff, name = key.split("__")
        p.set(eff, name, value)
    return p


WORD_PRESETS = {
    "warm": preset(eq__band5_gain_db=-8.0, eq__band5_freq_hz=2500.0),
    "bright": preset(eq__band5_gain_db=8.0, eq__band5_freq_hz=2500.0),
    "hall": preset(reverb__room_size=0.7),
    "distorted": preset(distortion__drive_db=20.0),
    "deep": preset(pitch__semitones=-5.0),
}


def example(prompt: str, p: Preset):
    return types.SimpleNamespace(prompt=prompt, preset=p)


def tiny_dataset():
    train = [example(f"{adj} {w}", p) for w, p in WORD_PRESETS.items() for adj in ("very", "a bit", "so")]
    held = [example(f"extremely {w}", p) for w, p in WORD_PRESETS.items()]
    phr = [example(f"make it {w} please", p) for w, p in WORD_PRESETS.items()]
    return types.SimpleNamespace(train=train, heldout_descriptors=held, heldout_phrasings=phr)


@pytest.fixture(scope="module")
def instrument() -> SRC.Source:
    audio = SRC.instrument_source(SR, 1.5)
    return SRC.Source("instrument", audio, frozenset({M.MATERIAL, M.PITCHED}), "test instrument")


def fresh(src: SRC.Source) -> SRC.Source:
    return SRC.Source(src.name, src.audio, src.roles, src.description)


# ------------------------------------------------------------------------- preset metrics
def test_preset_distance_known_values():
    a = Preset.default()
    assert metrics.preset_distance(a, a.copy()) == 0.0
    # Enabling distortion at its default values: block [enabled, drive, color] differs only in
    # the flag → 1/3 for that effect, averaged over the 6 effects.
    b = a.copy()
    b.enabled["distortion"] = True
    assert metrics.preset_distance(a, b) == pytest.approx((1 / 3) / len(SCHEMA))
    # Values of a disabled effect do not count.
    c = a.copy()
    c.values["reverb"]["room_size"] = 0.9
    assert metrics.preset_distance(a, c) == 0.0
    # Within an enabled effect: room 0.5 → 0.9 moves one of 6 entries by 0.4.
    d, e = preset(reverb__room_size=0.5), preset(reverb__room_size=0.9)
    assert metrics.preset_distance(d, e) == pytest.approx((0.4 / 6) / len(SCHEMA))


def test_param_metrics_known_values():
    target = preset(reverb__room_size=0.5, eq__band2_gain_db=6.0)
    pred = preset(reverb__room_size=0.7, eq__band2_gain_db=6.0)
    pred.values["eq"]["band1_type"] = "peak"  # one of 5 band types wrong
    pred.enabled["distortion"] = True  # a wrong enabled flag
    m = metrics.param_metrics([pred, target], [target, target])
    assert m["n"] == 2
    assert m["mae_per_effect"]["reverb"] == pytest.approx((0.2 / 5) / 2)  # room off by 0.2 of 5 params, once
    assert m["mae_per_effect"]["eq"] == pytest.approx(0.0)
    assert m["mae_per_effect"]["distortion"] is None  # the target never enables it
    assert m["mae"] == pytest.approx(np.mean([(0.2 / 5) / 2, 0.0, 0.0]))  # reverb, eq, output
    assert m["enabled_accuracy"]["distortion"] == 0.5
    assert m["enabled_accuracy"]["reverb"] == 1.0
    assert m["enabled_accuracy_mean"] == pytest.approx((5 + 0.5) / 6)
    assert m["eq_band_type_accuracy"] == pytest.approx(9 / 10)
    with pytest.raises(ValueError):
        metrics.param_metrics([pred], [target, target])


def test_paraphrase_metrics_separate_groups_and_score_constant_predictions_zero():
    groups = {
        "warm": [WORD_PRESETS["warm"], WORD_PRESETS["warm"].copy(), WORD_PRESETS["warm"].copy()],
        "hall": [WORD_PRESETS["hall"], WORD_PRESETS["hall"].copy()],
    }
    m = metrics.paraphrase_metrics(groups)
    assert m["within"] == 0.0
    assert m["between"] == pytest.approx(metrics.preset_distance(WORD_PRESETS["warm"], WORD_PRESETS["hall"]))
    assert m["margin"] == pytest.approx(m["between"]) and m["margin"] > 0
    assert m["separation"] == 1.0 and m["n_prompts"] == 5
    same = {g: [Preset.default() for _ in v] for g, v in groups.items()}
    m0 = metrics.paraphrase_metrics(same)
    assert m0["margin"] == 0.0 and m0["separation"] == 0.0
    with pytest.raises(ValueError):
        metrics.paraphrase_metrics({"only": [Preset.default(), Preset.default()]})


def test_direction_summary_counts():
    cases = [
        {"family": "tone", "source": "a", "passed": True},
        {"family": "tone", "source": "b", "passed": False},
        {"family": "space", "source": "a", "passed": True},
        {"family": "space", "source": "b", "passed": True},
    ]
    s = metrics.direction_summary(cases)
    assert (s["n"], s["passed"], s["accuracy"]) == (4, 3, 0.75)
    assert s["per_family"] == {"space": 1.0, "tone": 0.5}
    assert s["per_source"] == {"a": 1.0, "b": 0.5}


def test_ratios_follow_nested_figures_and_drop_noise():
    fig = {"n": 10, "mae": 0.1, "per": {"x": 0.5, "y": None}, "margin": 0.2, "acc": 0.5}
    base = {"n": 10, "mae": 0.2, "per": {"x": 0.25, "y": 0.3}, "margin": -0.001, "acc": 0.0}
    r = metrics.ratios(fig, base)
    assert "n" not in r
    assert r["mae"] == pytest.approx(0.5)
    assert r["per"] == {"x": pytest.approx(2.0), "y": None}
    assert r["margin"] is None  # other sign: not a meaningful ratio
    assert r["acc"] is None  # division by zero
    assert metrics.ratios({"m": 1.0}, {"m": 0.01})["m"] is None  # baseline < 5 % of the figure


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize(
    "spec, change, ok",
    [
        ({"measure": "centroid", "direction": "down"}, 0.90, True),
        ({"measure": "centroid", "direction": "down"}, 0.97, False),  # < 5 % change
        ({"measure": "centroid", "direction": "up"}, 0.90, False),
        ({"measure": "centroid", "direction": "up", "min_change": 0.02}, 1.03, True),
        ({"measure": "decay", "direction": "up", "max_change": 1.2}, 0.5, True),
        ({"measure": "decay", "direction": "up", "max_change": 1.2}, 2.5, False),
        ({"measure": "decay", "direction": "up", "min_change": 1.0}, 0.6, False),
        ({"measure": "decay", "direction": "flat", "min_change": 0.1}, 0.05, True),
        ({"measure": "decay", "direction": "flat", "min_change": 0.1}, 0.4, False),
        ({"measure": "f0", "semitones": -3, "tolerance": 0.02}, 2 ** (-3 / 12) * 1.015, True),
        ({"measure": "f0", "semitones": -3, "tolerance": 0.02}, 2 ** (-3 / 12) * 1.03, False),
        ({"measure": "f0", "direction": "up", "min_semitones": 3}, 2 ** (4 / 12), True),
        ({"measure": "f0", "direction": "up", "min_semitones": 3}, 2 ** (2 / 12), False),
        ({"measure": "f0", "direction": "down", "min_semitones": 0.3, "max_semitones": 4}, 2 ** (-5 / 12), False),
        ({"measure": "loudness", "target": 4.0, "tolerance": 1.0}, 3.2, True),
        ({"measure": "loudness", "target": 4.0, "tolerance": 1.0}, 2.8, False),
        ({"measure": "band_level", "low_hz": 280, "high_hz": 320, "target": -4, "tolerance": 1.5}, -3.0, True),
        ({"measure": "thd", "direction": "up"}, math.nan, False),
    ],
)
def test_check_passes(spec, change, ok):
    assert S.parse_check(spec).passes(change) is ok


def test_f0_change_is_the_median_frame_ratio_over_frames_voiced_in_both():
    c = S.parse_check({"measure": "f0", "semitones": 12, "tolerance": 0.02})
    before = np.array([100.0, 110.0, np.nan, 120.0, 100.0, 100.0, 130.0, 100.0])
    after = before * 2.0
    after[0] = 100.0  # one octave error is outvoted
    after[4] = np.nan
    assert c.change(before, after) == pytest.approx(2.0)
    assert c.passes(c.change(before, after))
    assert math.isnan(c.change(before, np.full(8, np.nan)))  # pitch lost: not measurable → fails


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"measure": "loudnes", "direction": "up"}, "measure must be one of"),
        ({"measure": "centroid"}, "give a direction"),
        ({"measure": "centroid", "direction": "up", "target": 1.1}, "not both"),
        ({"measure": "band_level", "direction": "up"}, "low_hz < high_hz"),
        ({"measure": "centroid", "direction": "up", "semitones": 3}, "only go with measure f0"),
        ({"measure": "centroid", "direction": "up", "min_change": -1}, ">= 0"),
        ({"measure": "centroid", "direction": "sideways"}, "give a direction"),
    ],
)
def test_parse_check_rejects_bad_checks(spec, words):
    with pytest.raises(S.SuiteError, match=re.escape(words)):
        S.parse_check(spec, "x")


# ------------------------------------------------------------------------------ suites
def test_shipped_direction_suite_has_150_prompts_over_every_family():
    suite = S.load_direction_suite()
    assert len(suite.prompts) >= 150
    assert suite.families() == list(S.FAMILIES)
    for fam in S.FAMILIES:
        assert sum(p.family == fam for p in suite.prompts) >= 15, fam
    measures = {c.measure for p in suite.prompts for c in p.checks}
    assert measures == set(M.MEASURES)  # every measure is used
    # Pitch and explicit prompts state amounts (targets or minimum semitones).
    explicit_f0 = [c for p in suite.prompts if p.family == "explicit" for c in p.checks if c.measure == "f0"]
    assert explicit_f0 and all(c.target is not None and c.tolerance == 0.02 for c in explicit_f0)


def test_shipped_paraphrase_suite():
    suite = S.load_paraphrase_suite()
    assert len(suite.groups) >= 10
    assert all(len(v) >= 5 for v in suite.groups.values())


def test_suite_file_errors_name_the_entry(tmp_path):
    bad = tmp_path / "suite.yaml"
    bad.write_text("prompts:\n  - {prompt: warm, family: tone, checks: [{measure: centroid, direction: up}]}\n"
                   "  - {prompt: dark, family: colour, checks: [{measure: centroid, direction: down}]}\n")
    with pytest.raises(S.SuiteError, match=r"prompts\[1\].*'dark'.*family must be one of"):
        S.load_direction_suite(bad)
    dup = tmp_path / "para.yaml"
    dup.write_text("groups:\n  a: [warm, warmer]\n  b: [warm, bright]\n")
    with pytest.raises(S.SuiteError, match="groups 'a' and 'b'"):
        S.load_paraphrase_suite(dup)
    from audiomanip.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError):
        S.load_direction_suite(tmp_path / "missing.yaml")


def test_audio_dir_sources_are_mono_trimmed_and_levelled(tmp_path, tmp_wav):
    from audiomanip.training import sources as gen

    silence = np.zeros((2, 4000), np.float32)
    music = gen.music_like(3.0, 22050, seed=1, channels=2)
    tmp_wav(np.concatenate([silence, music], axis=1), 22050, name="b_song.wav")
    tmp_wav(gen.drum_loop(3.0, 44100, seed=2, channels=1), 44100, name="a_drums.flac")
    (tmp_path / "notes.txt").write_text("not audio")
    srcs = SRC.audio_dir_sources(tmp_path, sample_rate=SR, duration_s=1.0)
    assert [s.name for s in srcs] == ["a_drums", "b_song"]
    for s in srcs:
        assert s.audio.shape == (1, SR) and s.audio.dtype == np.float32
        assert 20 * np.log10(np.max(np.abs(s.audio))) == pytest.approx(SRC.SOURCE_PEAK_DBFS, abs=0.01)
        assert np.abs(s.audio[0, :80]).max() > 1e-3  # the leading silence was cut
    from audiomanip.errors import InputNotFoundError

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match="no audio files"):
        SRC.audio_dir_sources(tmp_path / "empty", sample_rate=SR)


# ------------------------------------------------------------ measures on rendered signals
def _change(check: S.Check, out_preset: Preset, src: SRC.Source) -> float:
    from audiomanip.rendering import render

    M.measure_reference(src, [check.key], SR)
    out = render(out_preset, src.audio, SR)
    after = M.measure(check.key, out, SR, src.audio.shape[1], reference=False)
    return check.change(src.measurements[check.key], after)


def test_measures_move_as_the_rendered_effects_should(instrument):
    src = fresh(instrument)
    dark = preset(eq__band5_gain_db=-12.0, eq__band5_freq_hz=3000.0)
    down = S.parse_check({"measure": "centroid", "direction": "down"})
    assert down.passes(_change(down, dark, src))
    assert not S.parse_check({"measure": "centroid", "direction": "up"}).passes(_change(down, dark, src))
    high = S.parse_check({"measure": "high", "direction": "down", "min_change": 6.0})
    assert high.passes(_change(high, dark, src))

    cut = S.parse_check({"measure": "band_level", "low_hz": 283, "high_hz": 318, "target": -4.0, "tolerance": 0.5})
    assert cut.passes(_change(cut, preset(eq__band2_freq_hz=300.0, eq__band2_gain_db=-4.0, eq__band2_q=1.0), src))

    gain = S.parse_check({"measure": "loudness", "target": 4.0, "tolerance": 0.1})
    assert gain.passes(_change(gain, preset(output__gain_db=4.0), src))

    # The decay time of the added reverb follows T60 = 0.15 s × 60**room_size (1.16 s at 0.5).
    decay = S.parse_check({"measure": "decay", "target": 1.16, "tolerance": 0.35})
    assert decay.passes(_change(decay, preset(reverb__room_size=0.5), src))
    assert _change(decay, Preset.default(), src) == 0.0

    f0 = S.parse_check({"measure": "f0", "semitones": -3, "tolerance": 0.02})
    assert f0.passes(_change(f0, preset(pitch__semitones=-3.0), src))
    assert not f0.passes(_change(f0, preset(pitch__semitones=-1.0), src))


def test_thd_and_loudness_range_probes():
    sine, dynamics = SRC.probe_sources(SR)
    thd_up = S.parse_check({"measure": "thd", "direction": "up", "min_change": 5.0})
    assert thd_up.applies_to(sine) and not thd_up.applies_to(dynamics)
    assert thd_up.passes(_change(thd_up, preset(distortion__drive_db=18.0), sine))
    assert S.parse_check({"measure": "thd", "direction": "flat"}).passes(_change(thd_up, Preset.default(), sine))
    lra = S.parse_check({"measure": "lra", "direction": "down", "min_change": 3.0})
    assert dynamics.measurements.get(("lra",)) is None
    M.measure_reference(dynamics, [("lra",)], SR)
    assert dynamics.measurements[("lra",)] > 8.0  # loud and soft passages 12 dB apart
    assert lra.passes(_change(lra, preset(compressor__threshold_db=-30.0, compressor__ratio=8.0), dynamics))


# ----------------------------------------------------------------------------- baselines
def test_corpus_mean_baseline_is_the_normalised_mean_and_the_majorities():
    a = preset(reverb__room_size=0.2)
    b = preset(reverb__room_size=0.6)
    c = Preset.default()
    c.values["eq"]["band1_type"] = "high_pass"
    base = CorpusMeanBaseline([a, b, c])
    p = base.predict_presets(["anything"])[0]
    assert p.enabled["reverb"]  # 2 of 3 enable it
    assert p.values["reverb"]["room_size"] == pytest.approx(0.4)  # mean over the examples enabling it
    assert not p.enabled["eq"]
    assert p.values["eq"]["band1_type"] == "low_shelf"  # majority class
    assert metrics.preset_distance(p, base.predict_presets(["something else"])[0]) == 0.0


def test_random_baseline_is_reproducible_per_prompt_and_valid():
    r = RandomPresetBaseline(seed=3)
    p1, p2 = r.predict_presets(["warm", "bright"])
    assert metrics.preset_distance(p1, r.predict_presets(["warm"])[0]) == 0.0
    assert metrics.preset_distance(p1, p2) > 0.0
    assert metrics.preset_distance(p1, RandomPresetBaseline(seed=4).predict_presets(["warm"])[0]) > 0.0
    Preset.from_dict(p1.to_dict(), strict=True)  # within the schema
    flags = np.array([[p.enabled[e] for e in EFFECT_ORDER] for p in r.predict_presets([str(i) for i in range(200)])])
    assert 0.4 < flags.mean() < 0.6


def test_nearest_neighbour_returns_the_preset_of_the_most_similar_training_prompt():
    ds = tiny_dataset()
    nn = NearestNeighbourBaseline(HashEncoder(), [e.prompt for e in ds.train], [e.preset for e in ds.train])
    assert len(nn.prompts) == len(ds.train) and nn.index.shape == (len(ds.train), 32)
    assert len(nn.prompts) == len(ds.train)
    got = nn.predict_presets(["so hall", "very deep"])
    assert metrics.preset_distance(got[0], WORD_PRESETS["hall"]) == 0.0
    assert metrics.preset_distance(got[1], WORD_PRESETS["deep"]) == 0.0


# --------------------------------------------------------------------------- end to end
DIRECTION_YAML = """
prompts:
  - {prompt: "warm", family: tone, checks: [{measure: centroid, direction: down}]}
  - {prompt: "bright", family: tone, checks: [{measure: centroid, direction: up}]}
  - {prompt: "hall", family: space, checks: [{measure: decay, direction: up, min_change: 1.0}]}
  - {prompt: "distorted", family: character, checks: [{measure: thd, direction: up}]}
  - {prompt: "deep", family: pitch, checks: [{measure: f0, direction: down, min_semitones: 2}]}
  - {prompt: "pitch down 3 semitones", family: explicit, checks: [{measure: f0, semitones: -3, tolerance: 0.02}]}
"""
PARAPHRASE_YAML = """
groups:
  warm: ["warm", "make it warm", "warm please"]
  hall: ["hall", "a big hall", "hall please"]
"""


def _tiny_suites(tmp_path):
    (tmp_path / "d.yaml").write_text(DIRECTION_YAML)
    (tmp_path / "p.yaml").write_text(PARAPHRASE_YAML)
    return S.load_direction_suite(tmp_path / "d.yaml"), S.load_paraphrase_suite(tmp_path / "p.yaml")


class KeywordModel:
    """A stand-in with the model's predict interface: the preset of the first word it knows."""

    info: dict = {"name": "keyword stand-in"}  # noqa: RUF012

    def predict(self, prompt):
        from audiomanip.vocab.explicit import parse_explicit

        for word, p in WORD_PRESETS.items():
            if word in prompt:
                return types.SimpleNamespace(preset=parse_explicit(prompt).apply(p.copy()))
        return types.SimpleNamespace(preset=parse_explicit(prompt).apply(Preset.default()))


def test_evaluate_end_to_end_report(tmp_path, instrument):
    dsuite, psuite = _tiny_suites(tmp_path)
    sine = SRC.probe_sources(SR)[0]
    events = []
    report = E.evaluate(
        KeywordModel(), dataset=tiny_dataset(), encoder=HashEncoder(), direction_suite=dsuite,
        paraphrase_suite=psuite, sources=[fresh(instrument), sine], sample_rate=SR, progress=events.append)
    assert report["predictors"] == ["model", "corpus_mean", "random", "nearest_neighbour"]
    assert set(report["suites"]) == {"param", "direction", "paraphrase"}
    assert {e["stage"] for e in events} >= {"param", "direction", "paraphrase"}
    param = report["suites"]["param"]
    for split in ("heldout_descriptors", "heldout_phrasings"):
        figs = param["splits"][split]["figures"]
        assert set(figs) == set(report["predictors"])
        assert figs["model"]["mae"] == pytest.approx(0.0)  # the keyword model is exact here
        assert figs["random"]["mae"] > 0.2
        assert set(param["splits"][split]["ratios"]) == {"corpus_mean", "random", "nearest_neighbour"}
        assert param["splits"][split]["ratios"]["random"]["mae"] == pytest.approx(0.0)
    assert param["verdict"]["beats_nearest_neighbour"] is False  # a tie is not a win
    assert "does NOT beat nearest-neighbour" in param["verdict"]["message"]

    direction = report["suites"]["direction"]
    model = direction["figures"]["model"]
    assert model["n"] == direction["n_cases"] == 6  # thd on the sine, 5 prompts on the instrument
    assert model["accuracy"] == 1.0, [c for c in direction["cases"] if not c["passed"]]
    assert set(model["per_family"]) == {"tone", "space", "character", "pitch", "explicit"}
    assert model["per_source"] == {"instrument": 1.0, "sine": 1.0}
    assert direction["figures"]["corpus_mean"]["accuracy"] < 0.5
    case = next(c for c in direction["cases"] if c["prompt"] == "pitch down 3 semitones")
    assert case["checks"][0]["change"] == pytest.approx(2 ** (-3 / 12), rel=0.02)

    para = report["suites"]["paraphrase"]["figures"]
    assert para["model"]["margin"] > 0 and para["model"]["separation"] == 1.0
    assert para["corpus_mean"]["margin"] == 0.0

    eval_report.save_report(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["suites"]["param"]["verdict"]["beats_nearest_neighbour"] is False
    eval_report.plot_report(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_runs_the_real_model_class(tmp_path, instrument):
    _, psuite = _tiny_suites(tmp_path)
    report = E.evaluate(tiny_model(), ["param", "paraphrase"], dataset=tiny_dataset(),
                        paraphrase_suite=psuite, sample_rate=SR)
    assert report["model"]["encoder"] == "test-hash-encoder"
    figs = report["suites"]["param"]["splits"]["heldout_descriptors"]["figures"]
    assert 0.0 < figs["model"]["mae"] < 1.0
    with pytest.raises(ValueError, match="unknown suite"):
        E.evaluate(tiny_model(), ["params"], dataset=tiny_dataset())


def test_random_preset_baseline_scores_about_half_on_direction_prompts(instrument):
    """The direction metric can fail: random presets pass balanced up/down checks about half the time."""
    prompts = [
        S.DirectionPrompt(f"{m} {d} {k}", "tone", (S.parse_check({"measure": m, "direction": d}),))
        for m in ("centroid", "tilt", "low", "high", "high_mid", "crest")
        for d in ("up", "down")
        for k in range(4)
    ]
    suite = S.DirectionSuite(tuple(prompts))
    result = E.run_direction_suite([RandomPresetBaseline(seed=0)], suite, [fresh(instrument)], sample_rate=SR)
    acc = result["figures"]["random"]["accuracy"]
    assert result["figures"]["random"]["n"] == 48
    assert 0.3 <= acc <= 0.7, acc


def test_memo_encoder_gives_the_inner_encoders_results_and_encodes_each_prompt_once():
    from audiomanip.evaluation.baselines import MemoEncoder

    class Counting(HashEncoder):
        seen: list[str] = []  # noqa: RUF012

        def encode(self, texts):
            self.seen.extend(texts)
            return super().encode(texts)

    inner = Counting()
    memo = MemoEncoder(inner)
    assert (memo.name, memo.dim) == (inner.name, inner.dim)
    texts = ["warm and bright", "a big hall", "warm and bright", "x"]
    got, ref = memo.encode(texts), HashEncoder().encode(texts)
    assert torch.equal(got.mask, ref.mask)
    assert torch.allclose(got.tokens, ref.tokens, atol=2e-3)  # kept as float16, like the training cache
    assert torch.allclose(got.pooled, ref.pooled, atol=2e-3)
    memo.encode(["a big hall", "new words"])
    pooled = memo.encode_pooled(["x", "pooled only"])
    assert np.allclose(pooled, HashEncoder().encode(["x", "pooled only"]).pooled.numpy(), atol=2e-3)
    assert inner.seen == ["warm and bright", "a big hall", "x", "new words", "pooled only"]


def test_memo_encoder_fills_and_reads_the_disk_cache(tmp_path):
    from audiomanip.evaluation.baselines import MemoEncoder

    first = MemoEncoder(HashEncoder(), tmp_path)
    a = first.encode(["warm tape", "small room"])
    second = MemoEncoder(HashEncoder(), tmp_path)
    second.inner.encode = None  # must not be needed: everything is on disk
    b = second.encode(["small room", "warm tape"])
    assert torch.equal(a.tokens[0], b.tokens[1]) and torch.equal(a.pooled[1], b.pooled[0])


def test_model_predictor_uses_predict_many_when_present():
    calls = []

    class Many:
        def predict_many(self, prompts, batch_size=64):
            calls.append(list(prompts))
            return [types.SimpleNamespace(preset=Preset.default()) for _ in prompts]

    out = ModelPredictor(Many()).predict_presets(["a", "b"])
    assert calls == [["a", "b"]] and len(out) == 2


# ---------------------------------------------------------------------------------- CLI
def test_cli_eval_writes_report_and_plot(tmp_path, monkeypatch):
    from audiomanip.commands.app import app
    from typer.testing import CliRunner

    import audiomanip.evaluation.baselines

    (tmp_path / "p.yaml").write_text(PARAPHRASE_YAML)
    psuite = S.load_paraphrase_suite(tmp_path / "p.yaml")
    monkeypatch.setattr(audiomanip.evaluation.baselines, "load_model_for_eval", lambda **kw: tiny_model())
    monkeypatch.setattr(E, "default_dataset", tiny_dataset)
    monkeypatch.setattr(E, "load_paraphrase_suite", lambda: psuite)
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--suite", "param", "--device", "cpu", "--report", str(tmp_path / "r.json"),
                              "--plot", str(tmp_path / "r.png"), "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    assert "param suite: heldout descriptors" in res.output
    assert "nearest-neighbour lookup on heldout descriptors" in res.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert list(report["suites"]) == ["param"]
    assert (tmp_path / "r.png").exists()
    bad = runner.invoke(app, ["eval", "--suite", "everything"])
    assert bad.exit_code == 2 and "--suite must be one of" in bad.output


# ------------------------------------------------------------------ without espeak-ng
def _hide_espeak(tmp_path, monkeypatch) -> None:
    """A PATH without espeak-ng, as on a machine where only `pip install` ran."""
    import shutil

    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("espeak-ng") is None


def test_speech_source_without_espeak_is_the_shipped_recording(tmp_path, monkeypatch):
    _hide_espeak(tmp_path, monkeypatch)
    src = SRC.speech_source(SRC.EVAL_SAMPLE_RATE, 2.0)
    assert src.name == "speech" and src.roles == frozenset({M.MATERIAL, M.PITCHED})
    assert "shipped with the package" in src.description
    assert src.audio.shape == (1, 2 * SRC.EVAL_SAMPLE_RATE) and src.audio.dtype == np.float32
    assert 20 * math.log10(np.abs(src.audio).max()) == pytest.approx(SRC.SOURCE_PEAK_DBFS, abs=0.01)
    f0 = M.pitch_track(src.audio[0], SRC.EVAL_SAMPLE_RATE)
    voiced = f0[np.isfinite(f0)]
    assert voiced.size >= 4 * M.MIN_PITCH_FRAMES  # enough voiced frames for the f0 checks
    assert 70.0 < float(np.median(voiced)) < 300.0  # a speaking voice's f0
    assert SRC.SHIPPED_SPEECH.stat().st_size < 300_000


def test_speech_source_prefers_espeak_when_installed():
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    assert SRC.speech_source(16000, 1.0).description == "espeak-ng speech"


def test_cli_eval_direction_runs_without_espeak_and_says_which_sources(tmp_path, monkeypatch):
    from audiomanip.commands.app import app
    from typer.testing import CliRunner

    import audiomanip.evaluation.baselines

    dsuite, _ = _tiny_suites(tmp_path)
    _hide_espeak(tmp_path, monkeypatch)
    monkeypatch.setattr(audiomanip.evaluation.baselines, "load_model_for_eval", lambda **kw: tiny_model())
    monkeypatch.setattr(E, "default_dataset", tiny_dataset)
    monkeypatch.setattr(E, "load_direction_suite", lambda: dsuite)
    res = CliRunner().invoke(app, ["eval", "--suite", "direction", "--device", "cpu", "--report",
                                   str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    output = " ".join(res.output.split())
    assert "direction sources: speech (recorded speech shipped with the package" in output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["baselines"] == ["corpus_mean", "random", "nearest_neighbour"]
    direction = report["suites"]["direction"]
    assert set(direction["figures"]) == set(report["predictors"])
    assert [s["name"] for s in direction["sources"]] == ["speech", "instrument", "drums", "sine", "dynamics"]
    assert direction["sources_note"].startswith("sources: speech (recorded speech shipped")
    assert direction["figures"]["model"]["per_source"]["speech"] is not None

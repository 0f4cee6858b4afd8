"""Outcome targets (audiomanip.training.outcomes) and the varied clip bank, measured on real signals:
the bank's versions differ in the feature they vary, the rule asks less boost of a source that
already has the quality, and the training term's gradient moves a real EQ towards the rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiomanip import audio_profile as AP
from audiomanip.params import Preset
from audiomanip.rendering.chain import render
from audiomanip.training import outcomes as O
from audiomanip.training.clips import VARIATIONS, varied_sources
from audiomanip.training.sources import drum_loop, harmonic_instrument, music_like

SR = 16000


@pytest.fixture(scope="module")
def sources() -> dict[str, np.ndarray]:
    return {"music": music_like(1.0, SR, seed=0, channels=1),
            "instrument": harmonic_instrument(1.0, SR, seed=0, root_hz=220.0, notes_per_s=4.0),
            "drums": drum_loop(1.0, SR, seed=0, bpm=120.0)}


def test_the_varied_bank_varies_the_features_it_says(sources):
    for name, x in sources.items():
        versions = dict(zip(VARIATIONS, varied_sources([x], SR)))
        bass = {k: float(AP.band_share(v, SR, 0.0, 150.0)) for k, v in versions.items()}
        treble = {k: float(AP.band_share(v, SR, 4000.0, 8000.0)) for k, v in versions.items()}
        assert bass["boomy"] > 1.3 * bass["thin"], name
        assert treble["bright"] > 1.5 * treble["dark"], name
        crest, spread = AP.level_statistics(x, SR)[1:3]
        crest_squashed, spread_squashed = AP.level_statistics(versions["squashed"], SR)[1:3]
        assert crest_squashed < crest - 0.4, name
        if name != "drums":  # sustained sources: the level hardly moves any more
            assert spread_squashed < spread - 2.0, name
    drums = dict(zip(VARIATIONS, varied_sources([sources["drums"]], SR)))
    dry = sources["drums"] / np.max(np.abs(sources["drums"])) * 0.5
    assert float(O.tail_share(dry, drums["hall"], SR)) > 2.0 * float(O.tail_share(dry, dry, SR))


def _shelf(gain_db: float) -> Preset:
    return Preset.default().set("eq", "band1_type", "low_shelf").set("eq", "band1_freq_hz", 120.0) \
        .set("eq", "band1_gain_db", gain_db)


def _gain_for_rule(x: np.ndarray, target: float) -> float:
    """The low-shelf gain (dB) at which "more bass" meets the rule's change on ``x`` (bisection)."""
    lo, hi = 0.0, 24.0
    for _ in range(18):
        g = (lo + hi) / 2
        y = render(_shelf(g), x, SR, tail=False, peak_safety=False)
        change = float(O.measured_change("bass", 1, *O.feature_pair("bass", x, y, SR)))
        lo, hi = (g, hi) if change > target else (lo, g)
    return (lo + hi) / 2


def test_more_bass_asks_less_boost_of_a_boomy_source_than_of_a_thin_one(sources):
    x = sources["music"]
    boomy, _, thin = (varied_sources([x], SR, ("boomy", "dark", "thin")))
    assert float(AP.band_share(boomy, SR, 0, 150)) > 3 * float(AP.band_share(thin, SR, 0, 150))
    target = O.target_change(0.3, 1.0)
    assert target == pytest.approx(math.log(0.7))
    g_boomy, g_thin = _gain_for_rule(boomy, target), _gain_for_rule(thin, target)
    assert g_boomy + 3.0 < g_thin  # a boomy source needs several dB less
    # the rule then leaves each source with the same change of its non-bass share
    for v, g in ((boomy, g_boomy), (thin, g_thin)):
        y = render(_shelf(g), v, SR, tail=False, peak_safety=False)
        assert float(O.measured_change("bass", 1, *O.feature_pair("bass", v, y, SR))) == pytest.approx(target, abs=0.02)


def test_intensity_words_scale_the_target_and_signs_turn_the_direction():
    from audiomanip.training.prompts import PromptExample

    steps = {"bright": 0.2, "bassy": 0.3, "cathedral": 0.1}
    ex = PromptExample("a bit brighter, cut the bottom a lot", Preset.default(), ("bright", "bassy", "cathedral"),
                       ("tone",), "t", (0.55, -1.6))
    items = O.example_items(ex, steps)
    assert items == [("treble", 1, pytest.approx(math.log(1 - 0.2 * 0.55))),
                     ("bass", -1, pytest.approx(math.log(1 - 0.3 * 1.6)))]  # the named preset's word has no factor
    assert O.target_change(0.2, 1.4) < O.target_change(0.2, 1.0) < O.target_change(0.2, 0.55) < 0


def test_word_steps_follow_the_recipes(sources):
    clips = np.stack(list(sources.values()))
    steps = O.word_steps(clips, SR, ["muffled", "dark", "bright", "cathedral", "small-room", "fuzz", "saturated"])
    assert steps["muffled"] > steps["dark"] > steps["bright"] > 0
    assert steps["fuzz"] > steps["saturated"] > 0
    assert steps.get("cathedral", 0) > steps.get("small-room", 0)


def test_the_outcome_term_moves_a_real_eq_towards_the_rule(sources):
    torch = pytest.importorskip("torch")
    from audiomanip.effects.chain import preset_tensors, run_chain

    x = torch.tensor(np.stack([sources["music"], sources["drums"]]), dtype=torch.float32)
    params, enabled = preset_tensors([_shelf(0.0), _shelf(0.0)])
    gain = torch.zeros(2, requires_grad=True)  # band 1's gain (dB) on each clip
    target = O.target_change(0.3, 1.0)
    losses = []
    opt = torch.optim.Adam([gain], lr=1.0)
    for _ in range(25):
        p = {e: dict(v) for e, v in params.items()}
        p["eq"]["gain_db"] = torch.cat([gain[:, None], params["eq"]["gain_db"][:, 1:]], dim=1)
        y = run_chain(x, SR, p, enabled)
        loss, n = O.outcome_loss(x, y, SR, [(0, "bass", 1, target), (1, "bass", 1, target)])
        assert n == 2
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.1 * losses[0]
    assert float(gain.detach().min()) > 1.0  # it boosted the bass of both


def test_outcome_rows_weigh_only_the_decided_effect_in_the_parameter_loss():
    torch = pytest.importorskip("torch")
    from audiomanip.model.heads import targets_from_presets
    from audiomanip.model.losses import parameter_loss

    weights = O.outcome_row_weights([[("bass", 1, -0.3)], [], [("space", 1, -0.1)]], 0.0)
    assert weights["eq"].tolist() == [0.0, 1.0, 1.0] and weights["reverb"].tolist() == [1.0, 1.0, 0.0]
    assert weights["compressor"].tolist() == [1.0, 1.0, 1.0]
    # a wrong EQ on row 0 costs nothing once row 0's EQ is decided by its outcome
    target = [_shelf(6.0)] * 3
    wrong = [_shelf(-6.0), _shelf(6.0), _shelf(6.0)]
    t = targets_from_presets(target)
    w = targets_from_presets(wrong)
    outputs = {e: {"enabled_logit": (v["enabled"] * 20 - 10), "continuous": v["continuous"],
                   "choice_logits": torch.nn.functional.one_hot(v["choices"], 5).float() * 20 if v["choices"].numel()
                   else torch.zeros(3, 0, 5)} for e, v in w.items()}
    full, _ = parameter_loss(outputs, t)
    decided, _ = parameter_loss(outputs, t, row_weights=weights)
    assert float(full) > 0.01 and float(decided) < 1e-3


def test_the_eq_response_shortcut_measures_what_the_render_does(sources):
    """eq_outcome_loss scores spectral intents from the clip's spectrum and the EQ's response:
    its change equals the one measured on the rendered clip, and its gradient is live."""
    torch = pytest.importorskip("torch")
    from audiomanip.effects.chain import preset_tensors
    from audiomanip.effects.eq import eq_response

    x = sources["music"]
    for gain in (6.0, 12.0):
        y = render(_shelf(gain), x, SR, tail=False, peak_safety=False)
        rendered = float(O.measured_change("bass", 1, *O.feature_pair("bass", x, y, SR)))
        freqs, power = AP.long_term_power(torch.tensor(x[None], dtype=torch.float64), SR)
        params, _ = preset_tensors([_shelf(0.0)], dtype=torch.float64)
        g = torch.tensor([[gain, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
        eq = params["eq"]
        response = eq_response(SR, freqs, eq["type"], eq["freq_hz"], g, eq["q"]).abs() ** 2
        loss, n = O.eq_outcome_loss(power, freqs, response, [(0, "bass", 1, rendered)])
        assert n == 1 and float(loss.detach()) < 1e-4  # the rendered change is the shortcut's change
        far, _ = O.eq_outcome_loss(power, freqs, response, [(0, "bass", 1, rendered - 0.5)])
        far.backward()
        assert float(g.grad[0, 0]) < 0  # asking for more: a higher gain lowers the loss

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
    assert items == [("treble", 1, 0.2, 0.55), ("bass", -1, 0.3, 1.6)]  # the named preset's word has no factor
    assert O.target_change(0.2, 1.4) < O.target_change(0.2, 1.0) < O.target_change(0.2, 0.55) < 0
    # the spectral target follows the words' own strength ("a bit" < plain < "much")
    for share in (0.001, 0.05, 0.3, 0.8):
        more = [O.band_target_db(1, share, 0.05, g) for g in (1.0, 2.0, 3.0)]
        less = [O.band_target_db(-1, share, 0.05, -g) for g in (1.0, 2.0, 3.0)]
        assert 0 < more[0] < more[1] < more[2] and 0 > less[0] > less[1] > less[2], share


def test_the_band_target_gives_more_to_a_source_that_lacks_the_band_within_bounds():
    """The spectral rule as a level change anchored on the words: a source of the reference share
    gets exactly what the words did; one with less of the band is asked for more, one with more
    for less, always within [0.25, 3] × the words' change; words that went the wrong way give
    no target."""
    ref, g = 0.05, 3.0
    shares = (1e-6, 0.01, 0.05, 0.2, 0.5, 0.9, 0.999)
    more = [O.band_target_db(1, s, ref, g) for s in shares]
    assert all(a >= b for a, b in zip(more, more[1:])) and more[0] > g > more[3]
    assert more[2] == pytest.approx(g)
    assert more[0] == O.BAND_MAX_FRACTION * g and more[-1] == O.BAND_MIN_FRACTION * g
    less = [O.band_target_db(-1, s, ref, -g) for s in shares]
    assert less[2] == pytest.approx(-g) and all(a >= b for a, b in zip(less, less[1:]))  # much of it: cut deeper
    assert O.band_target_db(1, 0.1, ref, -1.0) is None and O.band_target_db(-1, 0.1, ref, 0.5) is None
    # the rule itself: k = 0.2 takes 1 − s from 0.8 to 0.64 (s 0.2 → 0.36)
    k = O.band_step(1, 0.2, 10 * math.log10(0.36 / 0.64) - 10 * math.log10(0.2 / 0.8))
    assert k == pytest.approx(0.2)
    assert float(O.band_level_db(np.float64(0.5))) == pytest.approx(0.0)


def test_word_steps_follow_the_recipes(sources):
    clips = np.stack(list(sources.values()))
    steps = O.word_steps(clips, SR, ["muffled", "dark", "bright", "cathedral", "small-room", "fuzz", "saturated"])
    assert steps["muffled"] > steps["dark"] > steps["bright"] > 0
    assert steps["fuzz"] > steps["saturated"] > 0
    assert steps.get("cathedral", 0) > steps.get("small-room", 0)


def _shelf_power(freqs: np.ndarray, gain_db, torch):
    """The power response at ``freqs`` of :func:`_shelf` with ``gain_db`` [B] (torch)."""
    from audiomanip.effects.chain import preset_tensors
    from audiomanip.effects.eq import eq_response

    params, _ = preset_tensors([_shelf(0.0)] * gain_db.shape[0], dtype=torch.float64)
    eq = params["eq"]
    gains = torch.cat([gain_db[:, None], eq["gain_db"][:, 1:]], dim=1)
    return eq_response(SR, freqs, eq["type"], eq["freq_hz"], gains, eq["q"]).abs() ** 2


def test_the_outcome_term_gives_a_thin_source_more_bass_than_a_boomy_one(sources):
    """Trained on the term alone, the shelf gain of "more bass" on the boomy and the thin version
    of the same music settles where the rule asks: less boost for the boomy one, more for the
    thin one, than the words' +6 dB, which a source of the reference share keeps."""
    torch = pytest.importorskip("torch")
    boomy, thin = varied_sources([sources["music"]], SR, ("boomy", "thin"))
    x = torch.tensor(np.stack([boomy, thin]), dtype=torch.float64)
    freqs, power = AP.long_term_power(x, SR)
    shares = AP.power_band_share(power, freqs, 0.0, 150.0)
    reference = float(torch.sqrt(shares[0] * shares[1]))  # between the two
    words = _shelf_power(freqs, torch.tensor([6.0, 6.0], dtype=torch.float64), torch)
    gain = torch.full((2,), 6.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([gain], lr=0.3)
    losses = []
    for _ in range(60):
        loss, n = O.eq_outcome_loss(power, freqs, _shelf_power(freqs, gain, torch), words, {"bass": reference},
                                    [(0, "bass", 1, 0.3, 1.0), (1, "bass", 1, 0.3, 1.0)])
        assert n == 2
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.05 * losses[0]
    g_boomy, g_thin = (float(v) for v in gain.detach())
    assert 0.0 < g_boomy + 1.0 < 6.0 < g_thin - 1.0
    # each now changes its bass level by what the rule asks of its own share (dB)
    words_change = O.band_level_db(AP.power_band_share(power * words, freqs, 0.0, 150.0)) - O.band_level_db(shares)
    for row, g in ((0, g_boomy), (1, g_thin)):
        after = AP.power_band_share(power[row] * _shelf_power(freqs, torch.tensor([g], dtype=torch.float64), torch)[0],
                                    freqs, 0.0, 150.0)
        change = float(O.band_level_db(after) - O.band_level_db(shares[row]))
        assert change == pytest.approx(O.band_target_db(1, float(shares[row]), reference, float(words_change[row])),
                                       abs=0.3)


def test_the_rendered_term_moves_a_real_compressor_towards_the_rule(sources):
    """The term on rendered clips (density: the crest factor falls by the rule's share)."""
    torch = pytest.importorskip("torch")
    from audiomanip.effects.chain import preset_tensors, run_chain

    x = torch.tensor(np.stack([sources["drums"]]), dtype=torch.float32)
    comp = Preset.default().set("compressor", "attack_ms", 1.0)  # fast enough to catch the hits
    params, enabled = preset_tensors([comp])
    threshold = torch.full((1,), -8.0, requires_grad=True)  # just below the drums' peaks
    opt = torch.optim.Adam([threshold], lr=1.0)
    losses = []
    for _ in range(25):
        p = {e: dict(v) for e, v in params.items()}
        p["compressor"]["ratio"] = torch.full_like(params["compressor"]["ratio"], 4.0)
        p["compressor"]["threshold_db"] = threshold
        loss, n = O.outcome_loss(x, run_chain(x, SR, p, enabled), SR, [(0, "density", 1, 0.2, 1.0),
                                                                       (0, "bass", 1, 0.3, 1.0)])
        assert n == 1  # the spectral item is eq_outcome_loss's
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0] and float(threshold.detach()) < -10.0
    p["compressor"]["threshold_db"] = threshold.detach()
    y = run_chain(x, SR, p, enabled)
    crest = float(AP.crest_factor_db(y[0])) / float(AP.crest_factor_db(x[0]))
    assert crest == pytest.approx(0.8, abs=0.03)  # crest_after = crest_before · (1 − 0.2)


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


def test_the_anchor_asks_every_source_for_the_typical_change():
    """With the bank as anchor, "less bass" asks a source whose bass sits where the words' shelf
    barely reaches (just below 150 Hz) for the same level change as the typical source: trained
    on the term alone, its shelf is cut deeper than the others' and the changes meet. On its own
    clip's anchor it would keep the words' smaller change."""
    torch = pytest.importorskip("torch")
    freqs = np.linspace(0.0, 8000.0, 1025)

    def spectrum(lo_hz, hi_hz):
        return np.where((freqs >= 300) & (freqs < 4000), 1.0, 0.0) + np.where((freqs >= lo_hz) & (freqs < hi_hz), 0.3, 0.0)

    power = torch.tensor(np.stack([spectrum(30, 60), spectrum(60, 90), spectrum(130, 150)]), dtype=torch.float64)
    shares = AP.power_band_share(power, freqs, 0.0, 150.0)
    reference = float(torch.median(shares))
    words = _shelf_power(freqs, torch.full((3,), -6.0, dtype=torch.float64), torch)
    words_change = O.band_level_db(AP.power_band_share(power * words, freqs, 0.0, 150.0)) - O.band_level_db(shares)
    assert float(words_change[2]) > float(words_change[0]) + 1.0  # the shelf misses the third source's bass
    items = [(r, "bass", -1, 0.3, 1.0) for r in range(3)]
    gain = torch.full((3,), -6.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([gain], lr=0.3)
    for _ in range(80):
        loss, n = O.eq_outcome_loss(power, freqs, _shelf_power(freqs, gain, torch), words, {"bass": reference},
                                    items, anchor_power=power)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert n == 3
    after = AP.power_band_share(power * _shelf_power(freqs, gain.detach(), torch), freqs, 0.0, 150.0)
    change = (O.band_level_db(after) - O.band_level_db(shares)).tolist()
    typical = float(torch.median(words_change))
    assert change == pytest.approx([typical] * 3, abs=0.3)
    assert float(gain.detach()[2]) < float(gain.detach()[0]) - 1.0
    own, _ = O.eq_outcome_loss(power, freqs, words, words, {"bass": reference}, items)
    assert float(own) == pytest.approx(0.0, abs=1e-5)  # without the anchor the words' change is the target


def test_the_eq_response_shortcut_measures_what_the_render_does(sources):
    """eq_outcome_loss measures band shares from the clip's spectrum and the EQ's response: they
    equal the shares measured on the rendered clip, and its gradient is live."""
    torch = pytest.importorskip("torch")

    x = sources["music"]
    freqs, power = AP.long_term_power(torch.tensor(x[None], dtype=torch.float64), SR)
    for gain in (-6.0, 6.0, 12.0):
        y = render(_shelf(gain), x, SR, tail=False, peak_safety=False)
        rendered = float(AP.band_share(y.astype(np.float64), SR, 0.0, 150.0))
        shortcut = float(AP.power_band_share(power[0] * _shelf_power(freqs, torch.tensor([gain], dtype=torch.float64),
                                                                     torch)[0], freqs, 0.0, 150.0))
        assert shortcut == pytest.approx(rendered, rel=0.02)
    words = _shelf_power(freqs, torch.tensor([6.0], dtype=torch.float64), torch)
    g = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    share = float(AP.power_band_share(power[0], freqs, 0.0, 150.0))
    loss, n = O.eq_outcome_loss(power, freqs, _shelf_power(freqs, g, torch), words, {"bass": share},
                                [(0, "bass", 1, 0.3, 1.0)])
    loss.backward()
    assert n == 1 and float(g.grad[0]) < 0  # below the words' +6 dB: a higher gain lowers the loss


def test_the_neutrality_term_holds_the_view_only_where_no_rule_speaks():
    """Rows that hear their clip but ask for nothing measurable pay for any factor away from 1;
    rows with an outcome item, and rows that do not hear, pay nothing."""
    torch = pytest.importorskip("torch")
    from audiomanip.training.outcome_step import OutcomeTraining

    training = object.__new__(OutcomeTraining)
    training.weight = 2.0
    training.items = [[("bass", 1, 0.3, 1.0)], [], []]
    log_factors = torch.tensor([[1.0, -1.0], [0.5, 0.5], [3.0, 3.0]], requires_grad=True)
    loss, n = training.neutral_term(log_factors, [0, 1, 2], torch.tensor([True, True, False]))
    assert n == 1 and float(loss) == pytest.approx(2.0 * 0.25)
    loss.backward()
    assert log_factors.grad[0].abs().sum() == 0 and log_factors.grad[2].abs().sum() == 0
    assert (log_factors.grad[1] > 0).all()

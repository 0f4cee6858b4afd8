"""The shipped model listens (issue: audio-aware presets): the same words give a source that
already has what they ask for less of it, measured on real signals rendered by the renderer.

Each check compares two versions of the same source (music, drums and, with espeak-ng,
speech) made by the outcome suite (:func:`audiomanip.evaluation.outcome.outcome_sources`):
boomy and thin for "more bass", bright and dark for "brighter". A source whose band holds
less than 0.1 % of its energy in both versions (the suite's instrument has nothing below
150 Hz nor above 4 kHz) is left out: a gain on an empty band adds nothing to measure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiomanip.audio_profile import band_share, long_term_power
from audiomanip.evaluation.outcome import OUTCOME_SAMPLE_RATE, outcome_sources
from audiomanip.rendering.chain import render

SR = OUTCOME_SAMPLE_RATE


@pytest.fixture(scope="module")
def shipped():
    from audiomanip.inference.loader import load_model

    model = load_model(backend="onnx")
    assert model.info["audio_view"] == "profile"
    return model


@pytest.fixture(scope="module")
def sources() -> dict[str, np.ndarray]:
    return dict(outcome_sources())


#: A source with at least this multiple of the bank's median share of a band is asked, by the
#: outcome rule, for its floor: for a small share s the rule's level change is about the words'
#: change × median / s, below the floor of a quarter from 4 × on.
FLOOR_MULTIPLE = 4.0


@pytest.fixture(scope="module")
def typical_share() -> dict[tuple[float, float], float]:
    """The training bank's median share of each band the checks use (the outcome rule's reference)."""
    from audiomanip.training.clips import clip_bank
    from audiomanip.training.outcomes import INTENTS, reference_shares

    freqs, power = long_term_power(clip_bank(SR, 0.5, varied=True), SR)
    ref = reference_shares(power.numpy(), freqs)
    return {INTENTS["bass"].band_hz: ref["bass"], INTENTS["treble"].band_hz: ref["treble"]}


def _added_db(model, prompt: str, x: np.ndarray, band: tuple[float, float], *, listen: bool = True) -> float:
    """Energy the rendered preset adds to ``band`` (Hz) of ``x`` (dB)."""
    preset = model.predict(prompt, x, SR).preset if listen else model.predict(prompt).preset
    y = render(preset, x, SR, tail=False, peak_safety=False)[:, :x.shape[1]]
    freqs, px = long_term_power(x.astype(np.float64), SR)
    _, py = long_term_power(y.astype(np.float64), SR)
    inside = (freqs >= band[0]) & (freqs < band[1])
    return 10.0 * math.log10(float(py[inside].sum()) / float(px[inside].sum()))


def _source_or_skip(sources, base: str, versions: tuple[str, str], band: tuple[float, float]) -> None:
    if f"{base}/{versions[0]}" not in sources:
        pytest.skip(f"no {base} source here (speech needs espeak-ng)")
    if max(float(band_share(sources[f"{base}/{v}"], SR, *band)) for v in versions) <= 1e-3:
        pytest.skip(f"the {base} source has next to nothing in {band} Hz")


@pytest.mark.parametrize("base", ["music", "drums", "speech"])
@pytest.mark.parametrize("prompt, band, rich, poor", [
    ("more bass", (0.0, 150.0), "boomy", "thin"),
    ("add some low end", (0.0, 150.0), "boomy", "thin"),
    ("brighter", (4000.0, 8000.0), "bright", "dark"),
    ("make it brighter", (4000.0, 8000.0), "bright", "dark"),
])
def test_a_source_that_already_has_the_quality_gets_less_of_it(shipped, sources, typical_share, prompt, band,
                                                               rich, poor, base):
    """"more bass" adds less low end to a boomy source than to a thin one; "brighter" adds less
    high end to a bright source than to a dark one.

    Where both versions hold at least :data:`FLOOR_MULTIPLE` × the training bank's median share
    of the band (the drum loop's treble: 7 × in its dark version, 41 × in its bright one), the
    outcome rule asks both for its floor, a quarter of the words' change, so nothing in the
    training sets them apart (and the words' EQ adds more to the bright one, whose treble sits
    higher); there the check is that both get less than the words alone give."""
    _source_or_skip(sources, base, (rich, poor), band)
    added_rich = _added_db(shipped, prompt, sources[f"{base}/{rich}"], band)
    added_poor = _added_db(shipped, prompt, sources[f"{base}/{poor}"], band)
    shares = [float(band_share(sources[f"{base}/{v}"], SR, *band)) for v in (rich, poor)]
    if min(shares) >= FLOOR_MULTIPLE * typical_share[band]:
        words = [_added_db(shipped, prompt, sources[f"{base}/{v}"], band, listen=False) for v in (rich, poor)]
        assert 0.0 < added_rich < words[0] and 0.0 < added_poor < words[1], (added_rich, added_poor, words)
    else:
        assert 0.0 < added_rich < added_poor, (added_rich, added_poor)


def test_text_only_gives_every_source_the_same_boost(shipped, sources):
    """From the words alone (``apply --text-only``) the boost cannot depend on the source: the
    adaptation above is the view's doing."""
    boomy = _added_db(shipped, "more bass", sources["music/boomy"], (0.0, 150.0), listen=False)
    thin = _added_db(shipped, "more bass", sources["music/thin"], (0.0, 150.0), listen=False)
    assert boomy == pytest.approx(thin, abs=0.5)

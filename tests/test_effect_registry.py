"""The effect registry: every effect of the schema declared once, and a new effect needs no edit
outside its own module (a toy polarity inverter, registered in a copy of the registry, is run
by the renderer, the ffmpeg export, the torch chain and the plot)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from audiomanip import export, plot
from audiomanip.effects import chain
from audiomanip.effects.registry import REGISTRY, EffectEntry, EffectRegistry
from audiomanip.params import EFFECT_ORDER, SCHEMA, Effect, Param, Preset, effect
from audiomanip.rendering import ChainRenderer, render
from audiomanip.rendering.stage import Stage

SR = 48000


def test_the_registry_holds_every_effect_of_the_schema_in_its_order():
    assert list(REGISTRY) == list(EFFECT_ORDER)
    for name, entry in REGISTRY.items():
        assert entry.schema is effect(name)
        assert issubclass(entry.render_stage, Stage) and callable(entry.ffmpeg_filter)
        if entry.torch_function is not None:
            assert entry.torch_parameter_names == tuple(p.name for p in entry.schema.params)
    without_torch = [n for n, e in REGISTRY.items() if e.torch_function is None]
    assert without_torch == list(chain.NON_DIFFERENTIABLE) == ["pitch"]
    assert [n for n, e in REGISTRY.items() if e.response_db is not None] == ["eq"]


def test_a_schema_effect_without_a_module_is_a_clear_error():
    ghost = Effect(name="ghost_echo", params=(), description="not implemented")
    with pytest.raises(LookupError, match="'ghost_echo' is in the schema but has no module audiomanip"):
        len(EffectRegistry.from_schema((*SCHEMA, ghost)))


# ------------------------------------------------ a toy effect, as its own module would declare it
INVERT_SCHEMA = Effect(
    name="invert",
    description="Polarity inversion, partial or whole.",
    params=(Param("amount", "", 0.0, 1.0, 0.0, "lin", neutral=0.0,
                  description="0 unchanged, 1 inverted."),),
)


def invert(x, amount):
    """``(1 − 2·amount) · x`` on ``x [B, C, T]``; ``amount [B]`` (torch, differentiable)."""
    return x * (1.0 - 2.0 * amount)[:, None, None]


class Invert(Stage):
    def __init__(self, values, sample_rate, channels):
        self.channels = channels
        self.factor = np.float32(1.0 - 2.0 * float(values["amount"]))

    def process(self, x):
        return x * self.factor


def invert_ffmpeg(values, settings):
    return f"aeval='{export.filter_number(1.0 - 2.0 * float(values['amount']))}*val(ch)':c=same"


def invert_response_db(values, sample_rate, freqs_hz):
    return np.full(len(freqs_hz), 20.0 * np.log10(abs(1.0 - 2.0 * float(values["amount"]))))


INVERT = EffectEntry(schema=INVERT_SCHEMA, torch_function=invert, render_stage=Invert,
                     ffmpeg_filter=invert_ffmpeg, response_db=invert_response_db)
WITH_INVERT = REGISTRY.with_effect(INVERT, after="eq")


def _preset(amount: float | None) -> Preset:
    """EQ (+6 dB at 1 kHz, −4 dB high shelf), −2 dB output gain and the toy effect if ``amount``."""
    p = Preset.default()
    p.set("eq", "band3_gain_db", 6.0).set("eq", "band5_gain_db", -4.0).set("output", "gain_db", -2.0)
    p.enabled["invert"] = amount is not None
    p.values["invert"] = {"amount": 0.0 if amount is None else amount}
    return p


def _noise(channels=2, seconds=0.3):
    return (0.1 * np.random.default_rng(7).standard_normal((channels, int(SR * seconds)))).astype(np.float32)


def test_a_registry_copy_with_a_toy_effect_leaves_the_real_one_alone():
    assert list(WITH_INVERT) == ["pitch", "eq", "invert", "distortion", "compressor", "reverb", "output"]
    assert "invert" not in REGISTRY and list(REGISTRY) == list(EFFECT_ORDER)


def test_the_renderer_runs_the_toy_effect_in_its_place():
    x = _noise()
    plain = render(_preset(None), x, SR, peak_safety=False, registry=WITH_INVERT)
    assert np.array_equal(plain, render(_preset(None), x, SR, peak_safety=False))  # disabled: skipped
    inverted = render(_preset(1.0), x, SR, peak_safety=False, registry=WITH_INVERT)
    assert np.array_equal(inverted, -plain)  # every stage here is linear and sign-symmetric
    renderer = ChainRenderer(_preset(0.75), SR, 2, registry=WITH_INVERT)
    assert [type(s).__name__ for s in renderer.stages] == ["EQ", "Invert", "Gain", "PeakLimiter"]
    half = render(_preset(0.75), x, SR, peak_safety=False, registry=WITH_INVERT)
    np.testing.assert_allclose(half, -0.5 * plain, rtol=1e-6, atol=1e-8)


def test_the_ffmpeg_export_places_the_toy_filter_and_ffmpeg_renders_what_we_render(tmp_path):
    chain_text = export.ffmpeg_filter_chain(_preset(1.0), registry=WITH_INVERT)
    filters = chain_text.split(",")
    volume = next(f for f in filters if f.startswith("volume="))
    # after the EQ, just before the gain
    assert filters.index("aeval='-1*val(ch)':c=same") == filters.index(volume) - 1
    assert filters[0].startswith("equalizer=")
    assert "aeval" not in export.ffmpeg_filter_chain(_preset(None), registry=WITH_INVERT)
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    x = _noise()
    sf.write(tmp_path / "in.wav", x.T, SR, subtype="FLOAT")
    export.run_ffmpeg_chain(chain_text, tmp_path / "in.wav", tmp_path / "out.wav")
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    ours = render(_preset(1.0), x, SR, peak_safety=False, registry=WITH_INVERT)
    assert y.shape[0] == ours.shape[1]
    assert np.max(np.abs(y.T - ours)) < 1e-4 and np.max(np.abs(ours)) > 0.1


def test_the_torch_chain_runs_the_toy_effect_and_its_gradient_flows():
    presets = [_preset(1.0), _preset(0.25)]
    params, enabled = chain.preset_tensors(presets, dtype=torch.float64, registry=WITH_INVERT)
    assert params["invert"]["amount"].tolist() == [1.0, 0.25]
    x = torch.from_numpy(_noise(seconds=0.05)).to(torch.float64)[None].repeat(2, 1, 1)
    amount = params["invert"]["amount"].clone().requires_grad_(True)
    y = chain.run_chain(x, SR, {**params, "invert": {"amount": amount}}, enabled, registry=WITH_INVERT)
    plain_params, plain_enabled = chain.preset_tensors(presets, dtype=torch.float64)
    plain = chain.run_chain(x, SR, plain_params, plain_enabled)
    torch.testing.assert_close(y, plain * torch.tensor([-1.0, 0.5], dtype=torch.float64)[:, None, None])
    (y * plain).sum().backward()
    assert torch.all(amount.grad < 0)  # more inversion, less agreement with the plain output


def test_the_plot_adds_the_toy_effects_response():
    freqs = np.geomspace(20.0, 20000.0, 32)
    eq_only = plot.eq_curve_db(_preset(None), SR, freqs, registry=WITH_INVERT)
    np.testing.assert_array_equal(eq_only, plot.eq_curve_db(_preset(None), SR, freqs))
    halved = plot.eq_curve_db(_preset(0.75), SR, freqs, registry=WITH_INVERT)
    np.testing.assert_allclose(halved - eq_only, 20.0 * np.log10(0.5), atol=1e-12)

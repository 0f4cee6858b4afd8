"""The preset model: shapes, schema-derived heads, log-mel view, predict, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fakes import HashEncoder

from audiomanip import params as P
from audiomanip.errors import CheckpointError, PromptError
from audiomanip.model import ModelConfig, PresetModel, PresetNet, build_model, model_config_dict
from audiomanip.inference.loader import load_model
from audiomanip.model.audio_context import hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from audiomanip.model.heads import (
    chain_inputs_from_outputs,
    outputs_to_presets,
    schema_layout,
    targets_from_presets,
)


def tiny_config(**kw) -> ModelConfig:
    return ModelConfig(text_dim=32, d_model=32, n_heads=8, n_self_layers=1, head_hidden=32, dropout=0.0, **kw)


def _inputs(B=3, L=5, D=32):
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    return torch.randn(B, L, D, generator=g), mask, torch.randn(B, D, generator=g)


def _check_shapes(out, B):
    assert [lay.name for lay in schema_layout()] == list(out)
    for lay in schema_layout():
        o = out[lay.name]
        assert o["enabled_logit"].shape == (B,)
        assert o["continuous"].shape == (B, lay.n_continuous)
        assert o["choice_logits"].shape == (B, lay.n_choice, lay.n_classes)
        assert float(o["continuous"].detach().min()) >= 0.0 and float(o["continuous"].detach().max()) <= 1.0


def test_forward_text_only_shapes():
    net = PresetNet(tiny_config())
    tokens, mask, pooled = _inputs()
    _check_shapes(net(tokens, mask, pooled), 3)


@pytest.mark.parametrize("view", ["mel", "clap"])
def test_forward_text_and_audio_shapes_and_text_alone(view):
    torch.manual_seed(0)
    net = PresetNet(tiny_config(audio_view=view, n_mels=32)).eval()
    tokens, mask, pooled = _inputs()
    if view == "mel":
        audio = torch.randn(3, 1, 8000) * 0.1
        v = log_mel(audio, 16000, n_mels=32)
        assert v.shape[:2] == (3, 32)
    else:
        v = torch.randn(3, 512)
    with_audio = net(tokens, mask, pooled, v)
    _check_shapes(with_audio, 3)
    text_only = net(tokens, mask, pooled, None)
    _check_shapes(text_only, 3)
    # the audio view changes the prediction (cross-attention is live)
    assert not torch.allclose(with_audio["eq"]["continuous"], text_only["eq"]["continuous"])


def test_heads_follow_the_schema(monkeypatch):
    net = PresetNet(tiny_config())
    for eff in P.SCHEMA:
        head = net.heads.heads[eff.name]
        n_classes = len(eff.choice()[0][1].choices) if eff.choice() else 0
        assert head.net[-1].out_features == 1 + len(eff.continuous()) + len(eff.choice()) * n_classes
    assert net.heads.heads["eq"].layout.n_choice == 5 and net.heads.heads["eq"].layout.n_classes == 5
    # an effect added to the schema gets its own head without any other change
    extra = P.Effect(name="tremolo", description="test", params=(
        P.Param("rate_hz", "Hz", 0.5, 20.0, 5.0, "log"), P.Param("depth", "", 0.0, 1.0, 0.5)))
    monkeypatch.setattr(P, "SCHEMA", P.SCHEMA + (extra,))
    net2 = PresetNet(tiny_config())
    assert net2.heads.heads["tremolo"].net[-1].out_features == 3
    out = net2(*_inputs())
    assert out["tremolo"]["continuous"].shape == (3, 2)


def test_mel_filterbank_and_log_mel_find_a_sine():
    fb = mel_filterbank(16000, 1024, 64)
    assert fb.shape == (64, 513)
    assert float(fb.min()) >= 0.0
    sr = 16000
    t = torch.arange(sr // 2) / sr
    sine = (0.5 * torch.sin(2 * torch.pi * 1000.0 * t))[None, None]
    mel = log_mel(sine, sr, n_mels=64)
    band = int(mel[0].mean(-1).argmax())
    centres = mel_to_hz(np.linspace(hz_to_mel(30.0), hz_to_mel(8000.0), 66))[1:-1]
    assert abs(centres[band] - 1000.0) / 1000.0 < 0.1
    # resampling to the analysis rate keeps the peak where it was
    t44 = torch.arange(22050) / 44100
    mel44 = log_mel((0.5 * torch.sin(2 * torch.pi * 1000.0 * t44))[None, None], 44100, n_mels=64)
    assert int(mel44[0].mean(-1).argmax()) == band


def test_targets_round_trip_through_outputs():
    presets = [P.Preset.default(), P.Preset.default()]
    presets[1].set("reverb", "wet", 0.6).set("eq", "band2_type", "high_shelf").set("pitch", "semitones", 5.0)
    t = targets_from_presets(presets)
    big = 30.0
    layouts = {lay.name: lay for lay in schema_layout()}
    out = {}
    for e, lay in layouts.items():
        logits = (torch.nn.functional.one_hot(t[e]["choices"], lay.n_classes).float() * big if lay.n_choice
                  else torch.zeros(2, 0, 0))
        out[e] = {"enabled_logit": (t[e]["enabled"] * 2 - 1) * big, "continuous": t[e]["continuous"],
                  "choice_logits": logits}
    back = outputs_to_presets(out)
    for a, b in zip(presets, back):
        assert a.enabled == b.enabled
        assert a.values["eq"]["band2_type"] == b.values["eq"]["band2_type"]
        for e in P.SCHEMA:
            for n, p, _ in e.continuous():
                assert b.values[e.name][n] == pytest.approx(a.values[e.name][n], rel=1e-5, abs=1e-5)
    # the soft chain inputs agree with dsp.chain.preset_tensors in physical units
    from audiomanip.effects.chain import preset_tensors

    hard_params, hard_enabled = chain_inputs_from_outputs(out, soft=False)
    ref_params, ref_enabled = preset_tensors(presets)
    for e in P.EFFECT_ORDER:
        assert torch.equal(hard_enabled[e], ref_enabled[e])
        for k, v in ref_params[e].items():
            assert hard_params[e][k].shape == v.shape
            if v.dtype == torch.long:
                assert torch.equal(hard_params[e][k], v)
            else:
                assert torch.allclose(hard_params[e][k], v, rtol=1e-4, atol=1e-4)
    soft_params, _ = chain_inputs_from_outputs(out, soft=True)
    assert soft_params["eq"]["type"].shape == (2, 5, 5)


def _model(seed=0, **kw) -> PresetModel:
    torch.manual_seed(seed)
    net = PresetNet(tiny_config(**kw))
    enc = HashEncoder()
    return PresetModel(net, model_config_dict(net, enc.name), encoder=enc).eval()


def test_predict_returns_a_valid_preset_and_explicit_values_win():
    model = _model()
    pred = model.predict("pitch down 3 semitones, warm and dark")
    assert isinstance(pred.preset, P.Preset)
    P.Preset.from_dict(pred.preset.to_dict(), strict=True)  # validates every value against the schema
    assert pred.preset.enabled["pitch"] is True
    assert pred.preset.values["pitch"]["semitones"] == -3.0
    assert any("pitch" in line for line in pred.explicit)
    assert model.predict("pitch up 7 semitones").preset.values["pitch"]["semitones"] == 7.0
    with pytest.raises(PromptError):
        model.predict("   ")


def test_a_prompt_of_explicit_values_only_gets_a_neutral_chain_with_a_note():
    model = _model()  # untrained: its raw guesses switch effects on at random
    pred = model.predict("high cut at 4 kHz")
    assert [e for e in P.EFFECT_ORDER if pred.preset.enabled[e]] == ["eq", "output"]
    eq = pred.preset.values["eq"]
    assert eq["band5_type"] == "low_pass" and eq["band5_freq_hz"] == 4000.0
    assert all(eq[f"band{i}_gain_db"] == 0.0 for i in range(1, 5))
    assert any("only explicit values" in n for n in pred.notes)
    mixed = model.predict("high cut at 4 kHz, gritty")
    assert not any("only explicit values" in n for n in mixed.notes)
    bands = [(mixed.preset.values["eq"][f"band{i}_type"], mixed.preset.values["eq"][f"band{i}_freq_hz"]) for i in range(1, 6)]
    assert ("low_pass", 4000.0) in bands


def test_predict_with_audio_on_text_only_and_mel_models():
    sr = 22050
    audio = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)).astype(np.float32)[None]
    text_model = _model()
    pred = text_model.predict("big hall reverb", audio=audio, sample_rate=sr)
    assert any("text only" in n for n in pred.notes)
    mel_model = _model(audio_view="mel", n_mels=32)
    a = mel_model.predict_normalized(["big hall reverb"], None)
    with_audio = mel_model.predict("big hall reverb", audio=audio, sample_rate=sr)
    assert isinstance(with_audio.preset, P.Preset)
    assert a["reverb"]["continuous"].shape == (1, 5)


def test_checkpoint_save_load_gives_identical_predictions(tmp_path):
    from audiomanip.checkpoint import load_checkpoint, save_checkpoint

    model = _model(seed=3)
    save_checkpoint(tmp_path / "ckpt", model.net.state_dict(), model.config)
    loaded = load_model(checkpoint_path=tmp_path / "ckpt", encoder=HashEncoder(), backend="torch")
    prompts = ["warm tape with a small room", "bright telephone voice", "huge cathedral, pitch up 12 semitones"]
    a = model.predict_normalized(prompts)
    b = loaded.predict_normalized(prompts)
    for e in a:
        for k in a[e]:
            assert torch.equal(a[e][k], b[e][k])
    for p in prompts:
        assert model.predict(p).preset.to_dict() == loaded.predict(p).preset.to_dict()
    assert loaded.info["parameters"] == sum(p.numel() for p in model.net.parameters())
    assert loaded.info["encoder"] == "test-hash-encoder"
    # a checkpoint trained for another schema fails loudly
    state, config = load_checkpoint(tmp_path / "ckpt")
    config["heads"] = config["heads"][:-1]
    with pytest.raises(CheckpointError, match="schema"):
        build_model(config, state, encoder=HashEncoder())
    config["heads"], config["schema_version"] = model.config["heads"], 99
    with pytest.raises(CheckpointError, match="schema version"):
        build_model(config, state, encoder=HashEncoder())

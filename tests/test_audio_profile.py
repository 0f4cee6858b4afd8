"""The profile audio view: its features measured on signals with a known answer, numpy and torch
alike, the excerpts a long file is read in, and a profile-view model on torch and ONNX Runtime
(the view changes the preset; ``--text-only`` and a left-out view give the words-only preset)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiomanip import audio_profile as AP
from audiomanip.training.sources import drum_loop, harmonic_instrument, sine, white_noise

SR = 16000


def _decaying_bursts(tau_s: float, seconds: float = 2.0, every_s: float = 0.5) -> np.ndarray:
    """White-noise bursts every ``every_s`` s, each decaying with time constant ``tau_s``."""
    n = int(seconds * SR)
    t = (np.arange(n) % int(every_s * SR)) / SR
    return (np.random.default_rng(0).standard_normal(n) * 0.3 * np.exp(-t / tau_s))[None]


def test_band_shares_put_a_sine_in_its_band_and_sum_to_one():
    edges = AP.band_edges_hz()
    x = sine(1000.0, 1.0, SR, amplitude=0.5)
    shares = AP.band_shares(x, SR, edges)
    band = int(np.searchsorted(edges, 1000.0)) - 1
    assert shares[band] > 0.97
    assert abs(float(AP.band_shares(white_noise(1.0, SR, rms=0.1, seed=0), SR, edges).sum()) - 1.0) < 0.02
    # white noise: the share below 150 Hz is its bandwidth share of 0 … 8 kHz
    assert AP.band_share(white_noise(2.0, SR, rms=0.1, seed=0), SR, 0.0, 150.0) == pytest.approx(150 / 8000, abs=0.006)


def test_spectral_measures_ignore_what_lies_above_8_khz():
    low = sine(500.0, 1.0, 44100, amplitude=0.5)
    both = low + sine(12000.0, 1.0, 44100, amplitude=0.5)
    assert AP.profile_of(both, 44100)[0, :AP.N_BANDS] == pytest.approx(AP.profile_of(low, 44100)[0, :AP.N_BANDS], abs=0.1)


def test_crest_factor_spread_and_fall_rate_on_known_signals():
    stats = dict(zip(AP.LEVEL_FEATURES, AP.level_statistics(sine(440.0, 1.0, SR, amplitude=0.5), SR)))
    assert stats["rms_db"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert stats["crest_db"] == pytest.approx(3.01, abs=0.05)  # a sine's peak is √2 × its RMS
    assert stats["level_spread_db"] < 0.5  # steady
    drums = dict(zip(AP.LEVEL_FEATURES, AP.level_statistics(drum_loop(2.0, SR, seed=0, bpm=120.0), SR)))
    assert drums["level_spread_db"] > 5.0 and drums["crest_db"] > 9.0
    # exponential decays fall at 20·log10(e)/τ dB/s
    rates = {tau: float(AP.level_statistics(_decaying_bursts(tau), SR)[3]) for tau in (0.02, 0.05, 0.1, 0.3)}
    for tau in (0.05, 0.1):
        assert rates[tau] == pytest.approx(8.686 / tau, rel=0.2)
    assert rates[0.02] > rates[0.05] > rates[0.1] > rates[0.3]  # faster decays, faster falls


def test_numpy_and_torch_agree_and_torch_carries_gradients():
    torch = pytest.importorskip("torch")
    x = harmonic_instrument(1.0, SR, seed=0, root_hz=220.0, notes_per_s=4.0)
    on_numpy = AP.profile_of(x, SR)
    xt = torch.tensor(x[None], dtype=torch.float32, requires_grad=True)
    on_torch = AP.profile(xt, SR)
    assert on_torch.shape == (1, AP.PROFILE_SIZE)
    assert np.abs(on_torch.detach().numpy() - on_numpy).max() < 1e-3
    AP.band_share(xt, SR, 0.0, 300.0).sum().backward()
    assert xt.grad is not None and float(xt.grad.abs().sum()) > 0


def test_excerpts_of_a_long_file_cover_it_evenly_and_stay_short():
    assert AP.excerpt_starts(3 * SR, SR) == [(0, 3 * SR)]
    starts = AP.excerpt_starts(1200 * SR, SR)
    assert len(starts) == AP.N_EXCERPTS and sum(n for _, n in starts) <= AP.ANALYSIS_SECONDS * SR
    assert starts[0][0] == 0 and starts[-1][0] + starts[-1][1] == 1200 * SR


def test_read_analysis_audio_hears_every_part_of_a_long_file(tmp_path):
    # four 10 s parts at 200, 400, 800, 1600 Hz: the excerpts hear each part once
    parts = [sine(f, 10.0, SR, amplitude=0.3) for f in (200.0, 400.0, 800.0, 1600.0)]
    sf.write(tmp_path / "long.wav", np.concatenate(parts, axis=1).T, SR)
    audio, rate = AP.read_analysis_audio(tmp_path / "long.wav")
    assert rate == SR and audio.shape == (1, int(AP.ANALYSIS_SECONDS * SR))
    for k, f in enumerate((200.0, 400.0, 800.0, 1600.0)):
        excerpt = audio[:, k * SR:(k + 1) * SR]
        assert AP.band_share(excerpt, SR, f / 1.2, f * 1.2) > 0.9
    first, _ = AP.read_analysis_audio(tmp_path / "long.wav", within_frames=10 * SR)  # --audio-length 10
    assert AP.band_share(first, SR, 160.0, 240.0) > 0.95


# --------------------------------------------------------------------------- the network and its graph
@pytest.fixture(scope="module")
def profile_model(tmp_path_factory) -> Path:
    """A small untrained profile-view checkpoint with its exported ONNX graph."""
    torch = pytest.importorskip("torch")
    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.inference.export import export_preset_net
    from audiomanip.model.network import ModelConfig, PresetNet
    from audiomanip.model.preset_model import model_config_dict

    torch.manual_seed(0)
    net = PresetNet(ModelConfig(d_model=32, n_heads=4, head_hidden=32, n_self_layers=1, audio_view="profile"))
    torch.nn.init.normal_(net.context.mix[-1].weight, std=0.3)  # a new view starts silent; this one listens
    folder = tmp_path_factory.mktemp("profile") / "profile_model"
    ckpt = save_checkpoint(folder, net.state_dict(), model_config_dict(net, "all-MiniLM-L6-v2"))
    assert export_preset_net(ckpt) == ckpt / "model.onnx"
    return ckpt


def test_a_left_out_view_is_exactly_the_text_only_path():
    torch = pytest.importorskip("torch")
    from audiomanip.model.network import ModelConfig, PresetNet

    torch.manual_seed(0)
    net = PresetNet(ModelConfig(text_dim=32, d_model=32, n_heads=8, n_self_layers=2, head_hidden=32,
                                dropout=0.0, audio_view="profile")).eval()
    assert len(net.cross) == 0
    g = torch.Generator().manual_seed(1)
    tokens, pooled = torch.randn(2, 4, 32, generator=g), torch.randn(2, 32, generator=g)
    mask = torch.ones(2, 4, dtype=torch.bool)
    profiles = torch.tensor(np.concatenate([AP.profile_of(sine(100.0, 1.0, SR), SR),
                                            AP.profile_of(white_noise(1.0, SR, rms=0.1, seed=0), SR)]))
    words = net(tokens, mask, pooled)["eq"]["continuous"]
    assert torch.equal(net(tokens, mask, pooled, profiles)["eq"]["continuous"], words)  # a new view starts silent
    torch.nn.init.normal_(net.context.mix[-1].weight, std=0.3)  # as a trained one would be
    assert torch.equal(net(tokens, mask, pooled)["eq"]["continuous"], words)
    heard = net(tokens, mask, pooled, profiles)["eq"]["continuous"]
    mixed = net(tokens, mask, pooled, profiles, torch.tensor([True, False]))["eq"]["continuous"]
    assert not torch.allclose(heard, words, atol=1e-4)
    assert torch.allclose(mixed[0], heard[0], atol=1e-6) and torch.allclose(mixed[1], words[1], atol=1e-6)


def test_the_view_scales_a_boost_and_a_cut_by_their_own_factors():
    """A source that needs a smaller boost needs a deeper cut: the view's factor for an amount the
    words move up and for one they move down come from separate outputs. With the boost outputs
    at factor 2 and the cut outputs at 1, every boost doubles (up to the range's end) and every
    cut stays the words' own."""
    torch = pytest.importorskip("torch")
    from audiomanip.model.audio_context import MAX_AMOUNT_FACTOR
    from audiomanip.model.network import ModelConfig, PresetNet

    torch.manual_seed(0)
    net = PresetNet(ModelConfig(text_dim=32, d_model=32, n_heads=8, n_self_layers=1, head_hidden=32,
                                dropout=0.0, audio_view="profile")).eval()
    n = net.context.n_amounts
    with torch.no_grad():
        net.context.mix[-1].bias[:n] = math.atanh(math.log(2.0) / math.log(MAX_AMOUNT_FACTOR))
    g = torch.Generator().manual_seed(1)
    tokens, pooled = torch.randn(8, 4, 32, generator=g), torch.randn(8, 32, generator=g)
    mask = torch.ones(8, 4, dtype=torch.bool)
    profiles = torch.tensor(np.concatenate([AP.profile_of(white_noise(1.0, SR, rms=0.1, seed=k), SR) for k in range(8)]))
    with torch.no_grad():
        asked = net._deviations(net.flat(tokens, mask, pooled)) / 10.0
        heard = net._deviations(net.flat(tokens, mask, pooled, profiles)) / 10.0
    neutral = torch.tensor([c[3] for c in sorted((a, e, c, nv) for e, cols in net._amount_columns.items()
                                                   for c, nv, a in cols)], dtype=asked.dtype)
    up, down = asked > 1e-6, asked < -1e-6
    assert int(up.sum()) > 5 and int(down.sum()) > 5
    doubled = (neutral + 2.0 * asked).clamp(0.0, 1.0) - neutral
    assert torch.allclose(heard[up], doubled[up], atol=1e-6)
    assert torch.allclose(heard[down], asked[down], atol=1e-6)


def _numbers(tree) -> list[float]:
    """Every number of a preset dict, in order (flags as 0/1)."""
    if isinstance(tree, dict):
        return [v for k in sorted(tree) for v in _numbers(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [v for item in tree for v in _numbers(item)]
    return [float(tree)] if isinstance(tree, (int, float)) else []


def test_a_profile_model_runs_on_onnx_runtime_like_torch_and_text_only_ignores_the_audio(tmp_path, profile_model):
    import json

    from audiomanip.apply_job import ApplyJob, ApplyRequest
    from audiomanip.inference.loader import choose_backend, load_model

    ckpt = profile_model

    assert choose_backend(ckpt, json.loads((ckpt / "config.json").read_text())) == "onnx"
    onnx, torch_model = load_model(ckpt, backend="onnx"), load_model(ckpt, backend="torch")
    dark = harmonic_instrument(2.0, SR, seed=0, root_hz=110.0, notes_per_s=2.0)
    bright = white_noise(2.0, SR, rms=0.1, seed=1)
    prompts = ["more bass", "brighter and punchier"]
    for audio in (dark, bright, None):
        a = onnx.predict_many(prompts, audio=audio, sample_rate=SR)
        b = torch_model.predict_many(prompts, audio=audio, sample_rate=SR)
        for pa, pb in zip(a, b):
            va, vb = _numbers(pa.preset.to_dict()), _numbers(pb.preset.to_dict())
            assert len(va) == len(vb) and np.allclose(va, vb, rtol=1e-3, atol=1e-3)
    assert onnx.predict("more bass", dark, SR).preset != onnx.predict("more bass", bright, SR).preset

    sf.write(tmp_path / "dark.wav", dark.T, SR)
    sf.write(tmp_path / "bright.wav", bright.T, SR)

    def preset(name: str, text_only: bool) -> dict:
        request = ApplyRequest(in_path=tmp_path / name, prompt="more bass", checkpoint_path=ckpt, device="cpu",
                               dry_run=True, text_only=text_only)
        return ApplyJob(request).choose_preset().preset.to_dict()

    assert preset("dark.wav", False) != preset("bright.wav", False)
    assert preset("dark.wav", True) == preset("bright.wav", True) == onnx.predict("more bass").preset.to_dict()


def test_cli_apply_text_only_reads_the_words_alone(tmp_path, profile_model):
    import json

    from cli_helpers import invoke

    ckpt = profile_model
    for name, audio in (("dark.wav", harmonic_instrument(2.0, SR, seed=0, root_hz=110.0, notes_per_s=2.0)),
                        ("bright.wav", white_noise(2.0, SR, rms=0.1, seed=1))):
        sf.write(tmp_path / name, audio.T, SR)

    def preset(name: str, *extra: str) -> dict:
        res = invoke("apply", tmp_path / name, "more bass", "--checkpoint-path", ckpt, "--dry-run", "--json", *extra)
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)["preset"]

    assert preset("dark.wav") != preset("bright.wav")
    assert preset("dark.wav", "--text-only") == preset("bright.wav", "--text-only")


def test_the_direction_suite_lets_a_listening_model_hear_each_source(profile_model):
    """``eval``'s direction suite predicts a profile-view model's presets hearing the source each
    is rendered on, as ``apply`` does; a text-only model gives one preset per prompt."""
    from audiomanip.evaluation.baselines import ModelPredictor
    from audiomanip.evaluation.sources import Source
    from audiomanip.inference.loader import load_model

    model = load_model(profile_model, backend="onnx")
    sources = [Source("dark", harmonic_instrument(2.0, SR, seed=0, root_hz=110.0, notes_per_s=2.0), frozenset()),
               Source("bright", white_noise(2.0, SR, rms=0.1, seed=1), frozenset())]
    prompts = ["more bass", "brighter"]
    heard = ModelPredictor(model).predict_presets_heard(prompts, sources, SR)
    for src in sources:
        assert [p.to_dict() for p in heard[src.name]] == [model.predict(p, src.audio, SR).preset.to_dict()
                                                          for p in prompts]
    assert heard["dark"][0] != heard["bright"][0]

    class WordsOnly:
        info = {"audio_view": "none"}

    assert ModelPredictor(WordsOnly()).predict_presets_heard(prompts, sources, SR) is None

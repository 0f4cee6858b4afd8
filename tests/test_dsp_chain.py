"""The differentiable chain: schema names, gradients of every effect, presets as tensors."""

import inspect

import numpy as np
import pytest
import torch

from audiomanip.effects import chain
from audiomanip.effects.chain import (
    DSP_FUNCTIONS,
    function_parameter_names,
    params_from_normalized,
    preset_tensors,
    run_chain,
    schema_parameter_names,
)
from audiomanip.params import EFFECT_ORDER, EQ_BAND_TYPES, SCHEMA, Preset, effect

SR = 16000


def test_every_dsp_function_takes_the_schema_parameter_names():
    assert list(DSP_FUNCTIONS) == [e for e in EFFECT_ORDER if e not in chain.NON_DIFFERENTIABLE]
    assert set(DSP_FUNCTIONS) | set(chain.NON_DIFFERENTIABLE) == set(EFFECT_ORDER)
    for name in DSP_FUNCTIONS:
        assert function_parameter_names(name) == schema_parameter_names(effect(name)), name
        first = next(iter(inspect.signature(DSP_FUNCTIONS[name]).parameters))
        assert first == "x"


def _mid(p, n=None):
    """A value in the middle third of a parameter's normalised range (away from the clamps)."""
    u = 0.5 if n is None else torch.linspace(0.35, 0.65, n, dtype=torch.float64)
    return torch.as_tensor(p.denormalize(u) if n is None else [p.denormalize(float(v)) for v in u], dtype=torch.float64)


def _eq_kwargs():
    eq = effect("eq")
    types = torch.tensor([[0, 1, 2, 3, 4]])
    freq = torch.tensor([[120.0, 700.0, 2500.0, 5000.0, 60.0]], dtype=torch.float64)
    return {
        "type": types,
        "freq_hz": freq,
        "gain_db": torch.tensor([[4.0, -3.0, 5.0, 0.0, 0.0]], dtype=torch.float64),
        "q": _mid(eq.param("band1_q"), 5)[None],
    }


def _eq_prob_kwargs():
    kw = _eq_kwargs()
    probs = torch.softmax(torch.randn(1, 5, len(EQ_BAND_TYPES), generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1)
    return {**kw, "type": probs}


def _single(name):
    eff = effect(name)
    return {p.name: _mid(p)[None] for p in eff.params}


def _compressor_kwargs():
    kw = _single("compressor")
    kw["threshold_db"] = torch.tensor([-20.0], dtype=torch.float64)  # the test signal crosses it
    kw["ratio"] = torch.tensor([4.0], dtype=torch.float64)
    return kw


# [effect, kwargs]: gradients w.r.t. the audio and every continuous parameter
GRADIENT_TABLE = [
    ("eq", _eq_kwargs),
    ("eq", _eq_prob_kwargs),
    ("distortion", lambda: {"drive_db": torch.tensor([12.0], dtype=torch.float64), "color": torch.tensor([0.4], dtype=torch.float64)}),
    ("compressor", _compressor_kwargs),
    ("output", lambda: {"gain_db": torch.tensor([-3.0], dtype=torch.float64)}),
]


def _signal(n=96, channels=2):
    rng = np.random.default_rng(5)
    t = np.arange(n) / SR
    burst = np.sin(2 * np.pi * 440 * t) * np.exp(-t * 200) + 0.05 * rng.standard_normal((channels, n))
    return torch.tensor(0.8 * burst, dtype=torch.float64)[None]


@pytest.mark.parametrize("name,make_kwargs", GRADIENT_TABLE, ids=[f"{n}{i}" for i, (n, _) in enumerate(GRADIENT_TABLE)])
def test_gradcheck_float64(name, make_kwargs):
    fn = DSP_FUNCTIONS[name]
    kwargs = make_kwargs()
    takes_sr = "sample_rate" in inspect.signature(fn).parameters
    names = [k for k, v in kwargs.items() if v.is_floating_point()]
    x = _signal()

    def f(x_, *values):
        kw = {**kwargs, **dict(zip(names, values))}
        return fn(x_, SR, **kw) if takes_sr else fn(x_, **kw)

    inputs = [x.clone().requires_grad_(True)] + [kwargs[k].clone().requires_grad_(True) for k in names]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)
    # every parameter really moves the output
    out = f(*inputs)
    grads = torch.autograd.grad(out.pow(2).sum(), inputs[1:])
    for k, g in zip(names, grads):
        assert torch.all(torch.isfinite(g)) and torch.any(g != 0), (name, k)


def _random_presets(n, seed):
    """Random presets drawn in the normalised space, every effect enabled."""
    rng = np.random.default_rng(seed)
    norm_cont, norm_choice, presets = {}, {}, []
    for e in SCHEMA:
        norm_cont[e.name] = rng.uniform(0.05, 0.95, (n, len(e.continuous())))
        norm_choice[e.name] = rng.integers(0, len(EQ_BAND_TYPES), (n, len(e.choice())))
    for i in range(n):
        presets.append(Preset.from_normalized({
            e.name: {"enabled": 1.0, "continuous": norm_cont[e.name][i], "choices": norm_choice[e.name][i]}
            for e in SCHEMA
        }))
    return presets, norm_cont, norm_choice


def test_preset_tensors_shapes_and_values():
    presets, _, _ = _random_presets(3, 1)
    presets[1].enabled["reverb"] = False
    params, enabled = preset_tensors(presets, dtype=torch.float64)
    assert set(params) == set(EFFECT_ORDER)
    assert params["eq"]["type"].dtype == torch.long and params["eq"]["type"].shape == (3, effect("eq").bands)
    assert params["eq"]["freq_hz"].shape == (3, effect("eq").bands)
    assert params["compressor"]["ratio"].shape == (3,)
    assert enabled["reverb"].tolist() == [1.0, 0.0, 1.0]
    assert params["eq"]["type"][2, 3].item() == EQ_BAND_TYPES.index(presets[2]["eq"]["band4_type"])
    assert params["eq"]["q"][0, 1].item() == pytest.approx(presets[0]["eq"]["band2_q"])
    assert params["distortion"]["drive_db"][1].item() == pytest.approx(presets[1]["distortion"]["drive_db"])


def test_gating_bypasses_mixes_and_applies_output_gain():
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 2, 512)).astype(np.float32))
    params, enabled = preset_tensors([Preset.default(), Preset.default()])
    params["output"]["gain_db"] = torch.tensor([6.0, 6.0])
    off = {k: torch.zeros(2) for k in enabled}
    assert torch.equal(run_chain(x, SR, params, off), x)
    on = {**off, "output": torch.tensor([1.0, 0.5])}
    y = run_chain(x, SR, params, on)
    g = 10 ** (6 / 20)
    torch.testing.assert_close(y[0], g * x[0])
    torch.testing.assert_close(y[1], (0.5 * g + 0.5) * x[1])


def test_chain_on_a_batch_of_random_presets_backpropagates_to_normalised_parameters():
    batch, sample_rate = 8, 44100
    presets, norm_cont, norm_choice = _random_presets(batch, 11)
    cont = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in norm_cont.items()}
    probs = {"eq": torch.nn.functional.one_hot(torch.tensor(norm_choice["eq"]), len(EQ_BAND_TYPES)).float().requires_grad_(True)}
    gates = {k: torch.full((batch,), 0.9, requires_grad=True) for k in EFFECT_ORDER}
    params = params_from_normalized(cont, probs)
    # the torch denormalisation equals the presets' physical values
    ref, _ = preset_tensors(presets)
    for name in EFFECT_ORDER:
        for k, v in ref[name].items():
            if v.is_floating_point():
                torch.testing.assert_close(params[name][k], v, rtol=1e-5, atol=1e-4)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((batch, 2, 4096)).astype(np.float32) * 0.1)
    y = run_chain(x, sample_rate, params, gates)
    assert y.shape == x.shape and torch.all(torch.isfinite(y))
    loss = (y.abs() + 1e-3).log().mean()
    loss.backward()
    for name in DSP_FUNCTIONS:
        g = cont[name].grad
        assert g is not None and torch.all(torch.isfinite(g)), name
        assert torch.all(g.abs().sum(dim=0) > 0), (name, g)  # every parameter gets a gradient
        assert torch.all(torch.isfinite(gates[name].grad)) and torch.any(gates[name].grad != 0)
    assert torch.all(torch.isfinite(probs["eq"].grad)) and torch.any(probs["eq"].grad != 0)
    assert cont["pitch"].grad is None  # parameter loss only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_chain_runs_on_cuda_like_on_cpu():
    presets, _, _ = _random_presets(4, 21)
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((4, 2, 2048)).astype(np.float32) * 0.1)
    params, enabled = preset_tensors(presets)
    y_cpu = run_chain(x, 44100, params, enabled)
    params_gpu, enabled_gpu = preset_tensors(presets, device="cuda")
    y_gpu = run_chain(x.cuda(), 44100, params_gpu, enabled_gpu)
    assert y_gpu.device.type == "cuda" and y_gpu.dtype == torch.float32
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-3, atol=1e-4)

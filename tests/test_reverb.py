"""Reverb: the synthesised IR's decay time, pre-delay, damping, determinism; the wet/dry mix."""

import itertools

import numpy as np
import pytest
import torch

from audiomanip.effects.reverb import ir_length, reverb, reverb_ir, room_size_to_t60_s
from audiomanip.features import decay_time_s
from audiomanip.params import Preset, effect

SR = 48000


def _ir(room_size, pre_delay_ms=0.0, diffusion=1.0, damping=0.0, sr=SR):
    p = [torch.tensor([v], dtype=torch.float64) for v in (room_size, pre_delay_ms, diffusion, damping)]
    return reverb_ir(sr, *p)[0].numpy()


def test_t60_mapping_matches_schema_range():
    rs = effect("reverb").param("room_size")
    assert room_size_to_t60_s(rs.low) == pytest.approx(0.15)
    assert room_size_to_t60_s(rs.high) == pytest.approx(9.0)
    assert "0.15 s × 60^room_size" in rs.description


@pytest.mark.parametrize("diffusion", [1.0, 0.7])
def test_decay_time_matches_t60_and_grows_with_room_size(diffusion):
    sizes = [0.0, 0.25, 0.5, 0.75, 1.0]
    measured = []
    for size in sizes:
        ir = _ir(size, diffusion=diffusion)
        t30 = np.mean([decay_time_s(ir[c], SR, "t30") for c in range(2)])
        expected = room_size_to_t60_s(size)
        assert abs(t30 - expected) / expected < 0.15, (size, t30, expected)
        measured.append(t30)
    assert all(b > a for a, b in itertools.pairwise(measured))


def test_damping_shortens_high_frequency_decay():
    from scipy.signal import butter, sosfilt

    hp = butter(4, 6000, "highpass", fs=SR, output="sos")
    lp = butter(4, 300, "lowpass", fs=SR, output="sos")
    ir0, ir1 = _ir(0.5, damping=0.0), _ir(0.5, damping=1.0)
    t_high0 = decay_time_s(sosfilt(hp, ir0[0]), SR, "t20")
    t_high1 = decay_time_s(sosfilt(hp, ir1[0]), SR, "t20")
    t_low1 = decay_time_s(sosfilt(lp, ir1[0]), SR, "t20")
    assert t_high1 < 0.4 * t_high0  # damping 1: the top band decays 6x faster
    assert t_low1 == pytest.approx(room_size_to_t60_s(0.5), rel=0.2)  # lows keep T60


@pytest.mark.parametrize("pre_delay_ms", [0.0, 7.3, 50.0, 123.45, 200.0])
def test_pre_delay_is_the_first_reflection(pre_delay_ms):
    ir = _ir(0.3, pre_delay_ms=pre_delay_ms, diffusion=0.5, damping=0.5)
    for c in range(2):
        env = np.abs(ir[c])
        onset = np.argmax(env > 0.05 * env.max()) / SR * 1000.0
        assert abs(onset - pre_delay_ms) < 1.0


def test_ir_deterministic_unit_energy_and_independent_of_batch():
    a = _ir(0.4, 12.3, 0.6, 0.3)
    b = _ir(0.4, 12.3, 0.6, 0.3)
    assert np.array_equal(a, b)
    np.testing.assert_allclose((a**2).sum(-1), 1.0, rtol=1e-9)
    assert a.shape[1] == ir_length(SR, 0.4, 12.3)
    batch = reverb_ir(SR, torch.tensor([0.9, 0.4], dtype=torch.float64), torch.tensor([0.0, 12.3], dtype=torch.float64),
                      torch.tensor([1.0, 0.6], dtype=torch.float64), torch.tensor([0.0, 0.3], dtype=torch.float64))
    assert np.array_equal(batch[1, :, : a.shape[1]].numpy(), a)
    assert not batch[1, :, a.shape[1]:].any()
    # decorrelated stereo
    assert abs(np.corrcoef(a[0], a[1])[0, 1]) < 0.2


def test_diffusion_controls_echo_density():
    # Kurtosis of the tail: sparse reflections are peaky, dense noise is Gaussian (kurtosis 3).
    def kurtosis(x):
        x = x[int(0.1 * SR) : int(0.5 * SR)]
        x = x * np.exp(np.arange(x.size) / SR * np.log(1000.0) / room_size_to_t60_s(0.6))
        return np.mean(x**4) / np.mean(x**2) ** 2

    sparse, dense = kurtosis(_ir(0.6, diffusion=0.0)[0]), kurtosis(_ir(0.6, diffusion=1.0)[0])
    assert dense == pytest.approx(3.0, abs=0.5)
    assert sparse > 10.0


def test_wet_zero_is_dry_and_wet_one_is_convolution():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((2, 3, 4000)))
    args = (torch.tensor([0.1, 0.3], dtype=torch.float64), torch.tensor([5.0, 0.0], dtype=torch.float64),
            torch.tensor([0.7, 0.2], dtype=torch.float64), torch.tensor([0.5, 0.9], dtype=torch.float64))
    dry = reverb(x, SR, *args, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(dry, x)
    wet = reverb(x, SR, *args, torch.ones(2, dtype=torch.float64)).numpy()
    ir = reverb_ir(SR, *args).numpy()
    for b in range(2):
        for c in range(3):  # channel c uses IR channel c % 2
            expected = np.convolve(x[b, c].numpy(), ir[b, c % 2])[:4000]
            np.testing.assert_allclose(wet[b, c], expected, atol=1e-9)


def test_gradients_flow_to_every_parameter():
    x = torch.randn(1, 2, 2400, dtype=torch.float64)
    params = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in (0.3, 11.7, 0.5, 0.5, 0.5)]
    reverb(x, SR, *params).pow(2).mean().backward()
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().item() > 0


def test_render_uses_the_same_ir():
    from audiomanip.effects.reverb import reverb_ir_numpy
    from audiomanip.rendering import ChainRenderer

    preset = Preset.default()
    for name, value in (("room_size", 0.35), ("pre_delay_ms", 21.4), ("diffusion", 0.4), ("damping", 0.6)):
        preset.set("reverb", name, value)
    renderer = ChainRenderer(preset, SR, 2, peak_safety=False)
    stage_ir = next(s.ir for s in renderer.stages if hasattr(s, "ir"))
    assert np.array_equal(stage_ir, _ir(0.35, 21.4, 0.4, 0.6))
    assert np.array_equal(reverb_ir_numpy(preset.values["reverb"], SR), stage_ir)
    f32 = reverb_ir(SR, 0.35, 21.4, 0.4, 0.6)[0].numpy()  # the training path (float32)
    np.testing.assert_allclose(f32, stage_ir, atol=1e-4)  # float32 rounding of tap positions

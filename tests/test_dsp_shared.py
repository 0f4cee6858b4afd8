"""One DSP implementation for numpy and torch: the render path imports no torch, and the shared
formulas give the same numbers (and gradients) on both libraries."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from audiomanip.effects.compressor import static_curve_db
from audiomanip.effects.distortion import apply_curve, curve_constants, dc_blocker_coefficients, waveshape
from audiomanip.effects.eq import biquad_coefficients, eq_response
from audiomanip.effects.reverb import reverb_ir
from audiomanip.params import EQ_BAND_TYPES

SR = 48000


def test_importing_the_renderer_imports_no_torch():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import audiomanip.rendering"],
                          capture_output=True, text=True, check=True)
    modules = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert "audiomanip.rendering" in modules
    assert not [m for m in modules if m == "torch" or m.startswith("torch.")]


_RENDER_EVERYTHING = textwrap.dedent(
    """
    import sys
    import numpy as np
    from audiomanip import audio_io, export, plot
    from audiomanip.params import Preset
    from audiomanip.rendering import render_file
    p = Preset.default()
    for name, key, value in (("pitch", "semitones", 2.0), ("eq", "band3_gain_db", 6.0),
                             ("distortion", "drive_db", 20.0), ("distortion", "color", 0.5),
                             ("compressor", "threshold_db", -20.0), ("reverb", "wet", 0.3),
                             ("output", "gain_db", -2.0)):
        p.set(name, key, value)
    assert all(p.enabled.values())
    t = np.arange(SR) / SR
    audio_io.write(sys.argv[1] + "/in.wav", np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2), SR)
    res = render_file(p, sys.argv[1] + "/in.wav", sys.argv[1] + "/out.wav")
    assert res.out_frames > res.in_frames  # the reverb tail
    export.write_ffmpeg_chain(p, sys.argv[1] + "/chain.txt", sample_rate=SR)
    export.write_ir(p, sys.argv[1] + "/ir.wav", SR)
    plot.eq_curve_db(p, SR, np.geomspace(20, 20000, 50))
    print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """
).replace("SR", str(SR))


def test_rendering_every_effect_and_exporting_imports_no_torch(tmp_path):
    """The render path (every effect, the file renderer), the ffmpeg/IR export and the EQ plot
    curve run on numpy: no torch module is loaded."""
    proc = subprocess.run([sys.executable, "-c", _RENDER_EVERYTHING, str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def _bands(rng, n=4):
    types = rng.integers(0, len(EQ_BAND_TYPES), size=(n, 5))
    freq = np.exp(rng.uniform(np.log(20.0), np.log(20000.0), (n, 5)))
    return types, freq, rng.uniform(-18, 18, (n, 5)), np.exp(rng.uniform(np.log(0.1), np.log(10.0), (n, 5)))


def test_biquads_and_eq_response_agree_on_numpy_and_torch():
    types, freq, gain, q = _bands(np.random.default_rng(3))
    b_np, a_np = biquad_coefficients(types, freq, gain, q, SR)
    assert isinstance(b_np, np.ndarray) and b_np.shape == (4, 5, 3)
    b_t, a_t = biquad_coefficients(*(torch.from_numpy(v) for v in (types, freq, gain, q)), SR)
    np.testing.assert_allclose(b_np, b_t.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a_np, a_t.numpy(), rtol=1e-12, atol=1e-14)
    freqs = np.geomspace(20.0, 20000.0, 64)
    h_np = eq_response(SR, freqs, types, freq, gain, q)
    h_t = eq_response(SR, torch.from_numpy(freqs), *(torch.from_numpy(v) for v in (types, freq, gain, q)))
    np.testing.assert_allclose(np.abs(h_np), np.abs(h_t.numpy()), rtol=1e-10)
    b_np, a_np = dc_blocker_coefficients(SR, np)
    b_t, a_t = dc_blocker_coefficients(SR)
    np.testing.assert_allclose(np.concatenate([b_np, a_np]), torch.cat([b_t, a_t]).numpy(), rtol=1e-13)


def test_waveshaper_agrees_on_numpy_and_torch_and_keeps_silence_in_float32():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 2, 500))
    drive, color = np.array([0.0, 17.0, 40.0]), np.array([1.0, 0.3, 0.0])
    y_np = waveshape(x, drive, color)
    y_t = waveshape(torch.from_numpy(x), torch.from_numpy(drive), torch.from_numpy(color)).numpy()
    np.testing.assert_allclose(y_np, y_t, rtol=1e-12, atol=1e-13)
    # the renderer's float32 application of the float64 constants: within 1e-6, silence exact
    g, tb, k = (np.float32(c[0]) for c in curve_constants(drive[:1], color[:1]))
    y32 = apply_curve(x[0].astype(np.float32), g, tb, k)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y_np[0], atol=1e-6)
    assert not apply_curve(np.zeros(8, np.float32), g, tb, k).any()


def test_gain_computer_agrees_on_numpy_and_torch():
    levels = np.linspace(-60.0, 0.0, 121)
    for knee in (0.0, 2.0):
        y_np = static_curve_db(levels, -24.0, 4.0, 3.0, knee_db=knee)
        y_t = static_curve_db(torch.from_numpy(levels), -24.0, 4.0, 3.0, knee_db=knee).numpy()
        np.testing.assert_allclose(y_np, y_t, rtol=1e-14, atol=1e-12)
    # hard knee: 4:1 above -24 dBFS, plus 3 dB make-up
    assert static_curve_db(-4.0, -24.0, 4.0, 3.0, knee_db=0.0) == pytest.approx(-24.0 + 20.0 / 4 + 3.0)


def test_reverb_ir_is_identical_on_numpy_and_torch_and_its_gradient_is_the_derivative():
    args = (0.3, 8.4, 0.6, 0.5)
    ir_np = reverb_ir(SR, *(np.array([v]) for v in args))
    assert isinstance(ir_np, np.ndarray)
    no_grad = reverb_ir(SR, *(torch.tensor([v], dtype=torch.float64) for v in args))
    assert np.array_equal(ir_np, no_grad.numpy())
    params = [torch.tensor([v], dtype=torch.float64, requires_grad=True) for v in args]
    ir_t = reverb_ir(SR, *params)  # torch's own evaluation, for autograd
    np.testing.assert_allclose(ir_t.detach().numpy(), ir_np, rtol=0, atol=1e-12)
    # torch's gradient is the derivative of the numpy values (central differences in the
    # diffusion and the damping, which leave the IR's length alone)
    start = round(args[1] * 1e-3 * SR)

    def early_energy(ir):
        return (ir[..., start : start + SR // 20] ** 2).sum()

    early_energy(ir_t).backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().item() > 0 for p in params)
    h = 1e-6
    for i in (2, 3):
        up, down = list(args), list(args)
        up[i] += h
        down[i] -= h
        fd = (early_energy(reverb_ir(SR, *(np.array([v]) for v in up)))
              - early_energy(reverb_ir(SR, *(np.array([v]) for v in down)))) / (2 * h)
        assert params[i].grad.item() == pytest.approx(fd, rel=1e-4)

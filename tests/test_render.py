"""Renderer: parity with the differentiable chain, pitch accuracy, peak safety, files."""

import itertools

import numpy as np
import pytest
import soundfile as sf
import torch

from audiomanip import audio_io
from audiomanip.training.sources import sine, white_noise
from audiomanip.effects.chain import preset_tensors
from audiomanip.effects.compressor import static_curve_db
from audiomanip.effects.distortion import distortion
from audiomanip.effects.eq import eq, eq_response
from audiomanip.effects.reverb import reverb
from audiomanip.features import estimate_f0_hz, peak_dbfs
from audiomanip.params import Preset
from audiomanip.effects.eq import eq_sos
from audiomanip.rendering import PEAK_CEILING_DBFS, ChainRenderer, render, render_file

SR = 48000
CEILING = 10.0 ** (PEAK_CEILING_DBFS / 20.0)


def _preset(**effects) -> Preset:
    """Preset.default() with ``effects = {name: {param: value}}`` set and enabled."""
    p = Preset.default()
    for name, values in effects.items():
        p.enabled[name] = True
        for k, v in values.items():
            p.set(name, k, v)
    return p


def _torch_effect(fn, preset, name, x, *with_sr):
    params, _ = preset_tensors([preset], dtype=torch.float64)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))[None]
    args = (xt, SR) if with_sr else (xt,)
    return fn(*args, **params[name])[0].numpy()


def test_distortion_matches_torch():
    """Waveshaper + DC blocker: the renderer's IIR (state carried across its 65536-frame blocks:
    1.5 s is two blocks) equals the torch path's frequency-sampled filter. Both start at rest, so
    they agree from the first sample; the torch path's only deviation is the circular aliasing of
    the high-pass tail beyond n_fft − T samples (≥ 1.7 s here, where the tail is below 1e-30)."""
    x = sine(440.0, 1.5, SR, amplitude=0.4, channels=2) + white_noise(1.5, SR, rms=0.01, channels=2, seed=3)
    for drive, color in ((0.0, 0.0), (18.0, 0.3), (40.0, 1.0)):
        p = _preset(distortion={"drive_db": drive, "color": color})
        y = render(p, x, SR, peak_safety=False)
        expected = _torch_effect(distortion, p, "distortion", x, SR)
        np.testing.assert_allclose(y, expected, atol=1e-5)
        if color == 1.0:  # the blocker is active: the curve alone leaves a mean of −0.08 (peak 0.27)
            assert abs(expected.mean()) < 1e-3 * np.abs(expected).max()


def test_distortion_stream_does_not_depend_on_block_sizes():
    x = sine(220.0, 0.5, SR, amplitude=0.5, channels=2) + white_noise(0.5, SR, rms=0.05, channels=2, seed=7)
    p = _preset(distortion={"drive_db": 30.0, "color": 1.0})
    whole = render(p, x, SR, peak_safety=False)
    r = ChainRenderer(p, SR, 2, peak_safety=False)
    edges = [0, 1, 64, 1000, 4097, 13000, x.shape[1]]
    parts = [r.process(x[:, a:b]) for a, b in itertools.pairwise(edges)] + [r.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-7)


def test_disabled_distortion_is_bit_transparent():
    x = white_noise(0.5, SR, rms=0.1, channels=2, seed=1)
    p = _preset(distortion={"drive_db": 0.0})
    p.enabled["distortion"] = False
    assert np.array_equal(render(p, x, SR), x)  # peak safety on, nothing above the ceiling


EQ_CASES = [
    {"band1_gain_db": 6.0, "band2_gain_db": -4.0, "band3_gain_db": 3.0, "band4_gain_db": -8.0, "band5_gain_db": 5.0},
    {"band1_type": "high_pass", "band1_freq_hz": 80.0, "band3_q": 4.0, "band3_gain_db": 12.0,
     "band5_type": "low_pass", "band5_freq_hz": 6000.0, "band5_q": 1.5},
    {"band2_type": "high_shelf", "band2_freq_hz": 2500.0, "band2_gain_db": -15.0, "band4_q": 0.3, "band4_gain_db": 9.0},
]


@pytest.mark.parametrize("values", EQ_CASES)
def test_eq_matches_torch_on_noise(values):
    x = white_noise(1.0, SR, rms=0.01, channels=2, seed=2)
    p = _preset(eq=values)
    y = render(p, x, SR, peak_safety=False)
    expected = _torch_effect(eq, p, "eq", x, True)
    # Frequency sampling on >= 2T points equals the IIR up to the aliasing of decayed tails.
    assert np.max(np.abs(y - expected)) < 1e-6


@pytest.mark.parametrize("values", EQ_CASES)
def test_eq_magnitude_response_within_0p1_db(values):
    from scipy.signal import sosfreqz

    p = _preset(eq=values)
    params, _ = preset_tensors([p], dtype=torch.float64)
    freqs = np.geomspace(20.0, 20000.0, 200)
    torch_db = 20 * np.log10(np.abs(eq_response(SR, torch.from_numpy(freqs), **params["eq"])[0].numpy()))
    _, h = sosfreqz(eq_sos(p.values["eq"], SR), worN=freqs, fs=SR)
    render_db = 20 * np.log10(np.abs(h))
    assert np.max(np.abs(render_db - torch_db)) < 0.1


def test_compressor_static_gain_matches_curve():
    # A steady sine above threshold: the renderer's level after the attack settles on the
    # static curve of dsp.compressor (hard knee, the renderer's curve) within 0.5 dB.
    for level_db, threshold, ratio, makeup in ((-6.0, -20.0, 4.0, 3.0), (-10.0, -30.0, 10.0, 0.0)):
        x = sine(1000.0, 1.0, SR, amplitude=10 ** (level_db / 20), channels=2)
        p = _preset(compressor={"threshold_db": threshold, "ratio": ratio, "attack_ms": 1.0,
                                "release_ms": 50.0, "makeup_db": makeup})
        y = render(p, x, SR, peak_safety=False)
        out_db = 20 * np.log10(np.abs(y[:, SR // 2 :]).max())
        expected = float(static_curve_db(level_db, threshold, ratio, makeup, knee_db=0.0))
        assert out_db == pytest.approx(expected, abs=0.5)


def test_reverb_matches_torch():
    x = np.concatenate([sine(330.0, 0.3, SR, amplitude=0.15, channels=3), np.zeros((3, 2000), np.float32)], 1)
    x[:, 5000] += 0.5
    p = _preset(reverb={"room_size": 0.3, "pre_delay_ms": 17.3, "diffusion": 0.4, "damping": 0.6, "wet": 0.6})
    y = render(p, x, SR, tail=False, peak_safety=False)
    expected = _torch_effect(reverb, p, "reverb", x, True)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, expected, atol=1e-5)
    with_tail = render(p, x, SR, peak_safety=False)
    assert np.array_equal(with_tail[:, : x.shape[1]], y)
    assert np.abs(with_tail[:, x.shape[1]:]).max() > 1e-3  # the tail is there, not cut off


def test_reverb_tail_decays_to_silence_at_its_end():
    x = np.zeros((2, 1000), np.float32)
    x[:, 0] = 1.0
    p = _preset(reverb={"room_size": 0.2, "wet": 1.0, "pre_delay_ms": 0.0})
    y = render(p, x, SR, peak_safety=False)
    assert np.abs(y[:, -100:]).max() < 1e-3 * np.abs(y).max()  # -60 dB and below at the end


@pytest.mark.parametrize("semitones", [7.0, -5.0, 12.0])
def test_pitch_shift_f0_and_length(semitones):
    x = sine(440.0, 2.0, SR, amplitude=0.25, channels=2)
    y = render(_preset(pitch={"semitones": semitones}), x, SR)
    assert y.shape == x.shape
    expected = 440.0 * 2 ** (semitones / 12)
    f0 = estimate_f0_hz(y[0, SR // 4 : -SR // 4], SR, fmin=100.0, fmax=1000.0)
    assert abs(f0 / expected - 1) < 0.01


def test_pitch_output_is_aligned_with_input():
    # A tone burst keeps its position in time after shifting (latency compensated).
    x = np.zeros((1, 2 * SR), np.float32)
    x[:, SR // 2 : SR] = sine(440.0, 0.5, SR, amplitude=0.25)
    y = render(_preset(pitch={"semitones": 4.0}), x, SR)
    env = np.abs(y[0])
    onset = np.argmax(env > 0.1) / SR
    offset = (len(env) - np.argmax(env[::-1] > 0.1)) / SR
    assert onset == pytest.approx(0.5, abs=0.03)
    assert offset == pytest.approx(1.0, abs=0.03)


def test_peak_safety_limits_and_stays_aligned():
    x = sine(200.0, 1.0, SR, amplitude=1.5, channels=2)
    y = render(_preset(output={"gain_db": 6.0}), x, SR)
    assert y.shape == x.shape
    assert np.abs(y).max() <= CEILING + 1e-7
    assert np.corrcoef(y[0], x[0])[0, 1] > 0.95  # same phase: no delay left in the output
    quiet = sine(200.0, 0.2, SR, amplitude=0.125)
    assert np.array_equal(render(Preset.default(), quiet, SR), quiet)


@pytest.mark.parametrize("channels", [1, 6])
def test_channel_count_kept(channels):
    x = white_noise(0.3, SR, rms=0.02, channels=channels, seed=4)
    p = _preset(eq={"band3_gain_db": 6.0}, compressor={"threshold_db": -20.0, "ratio": 3.0},
                reverb={"room_size": 0.1})
    r = ChainRenderer(p, SR, channels)
    y = render(p, x, SR)
    assert y.shape == (channels, x.shape[1] + r.tail_frames)
    assert np.isfinite(y).all() and np.abs(y).max() <= CEILING + 1e-7
    if channels == 6:  # channel c gets IR channel c % 2: channels 0 and 2 equal for equal input
        x6 = np.repeat(x[:1], 6, axis=0)
        y6 = render(p, x6, SR)
        assert np.array_equal(y6[0], y6[2]) and not np.array_equal(y6[0], y6[1])


def test_render_file_keeps_format_and_reports_progress(tmp_path):
    x = white_noise(1.5, SR, rms=0.03, channels=2, seed=5)
    src = tmp_path / "in.wav"
    sf.write(src, x.T, SR, subtype="PCM_24")
    p = _preset(eq={"band4_gain_db": 4.0}, reverb={"room_size": 0.1, "wet": 0.3})
    events = []
    result = render_file(p, src, tmp_path / "out.wav", progress=events.append)
    info = audio_io.info(result.out_path)
    assert (info.sample_rate, info.channels, info.subtype) == (SR, 2, "PCM_24")
    expected = render(p, audio_io.read(src)[0], SR)
    y, _ = audio_io.read(result.out_path)
    assert result.out_frames == info.frames == expected.shape[1]
    assert np.max(np.abs(y - expected)) < 2.0 / 2**23  # 24-bit quantisation
    assert result.peak_dbfs == pytest.approx(peak_dbfs(expected), abs=0.01)
    assert events and all(set(e) == {"stage", "done_frames", "total_frames"} for e in events)
    assert events[-1] == {"stage": "render", "done_frames": x.shape[1], "total_frames": x.shape[1]}


def test_render_file_length_limit_and_resample(tmp_path):
    x = sine(1000.0, 3.0, SR, amplitude=0.25, channels=2)
    src = tmp_path / "in.flac"
    sf.write(src, x.T, SR)
    result = render_file(Preset.default(), src, tmp_path / "out.wav", audio_length_s=1.25,
                         sample_rate=44100, subtype="FLOAT", block_frames=20000)
    y, sr = audio_io.read(result.out_path)
    assert sr == 44100 and result.in_frames == int(1.25 * SR)
    assert y.shape == (2, int(np.ceil(1.25 * 44100)))
    expected = audio_io.resample(audio_io.read(src)[0][:, : int(1.25 * SR)], SR, 44100)
    np.testing.assert_allclose(y, expected, atol=1e-6)  # streaming resampler == whole-signal one
    assert estimate_f0_hz(y[0], 44100, fmin=500.0, fmax=2000.0) == pytest.approx(1000.0, rel=0.005)


def test_render_file_refuses_existing_output(tmp_path):
    from audiomanip.errors import OutputError

    src = tmp_path / "in.wav"
    sf.write(src, sine(440.0, 0.2, SR, amplitude=0.05).T, SR)
    out = tmp_path / "out.wav"
    out.write_bytes(b"keep")
    with pytest.raises(OutputError):
        render_file(Preset.default(), src, out)
    assert out.read_bytes() == b"keep"


def test_limiter_follows_its_definition():
    # out[t] = x[t] * mean_{j=t..t+L-1} min_{i=j-L+1..j} a[i],  a = min(1, ceiling / max_c |x|)
    from numpy.lib.stride_tricks import sliding_window_view

    from audiomanip.rendering.limiter import LIMITER_LOOKAHEAD_MS

    x = white_noise(0.2, SR, rms=0.5, channels=2, seed=9).astype(np.float64)
    x[:, 3000:3010] = 4.0  # a short burst far over the ceiling
    n = x.shape[1]
    length = round(LIMITER_LOOKAHEAD_MS * 1e-3 * SR)
    a = np.minimum(1.0, CEILING / np.maximum(np.abs(x).max(0), 1e-30))
    a_pad = np.concatenate([np.ones(length - 1), a, np.ones(length - 1)])
    m = sliding_window_view(a_pad, length).min(-1)  # m[k] = min a over the window ending at k - (L-1)
    g = sliding_window_view(m, length).mean(-1)[:n]  # g[t] = mean of m over t .. t + L - 1
    expected = np.clip(x * g, -CEILING, CEILING)
    p = Preset.default()
    p.enabled["output"] = False
    y = ChainRenderer(p, SR, 2)
    out = np.concatenate([y.process(x[:, :1234]), y.process(x[:, 1234:]), y.flush()], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(out).max() <= CEILING + 1e-7
    assert np.abs(out[:, 3000:3010]).min() > 0.9 * CEILING  # the burst is brought to the ceiling


def test_pitch_segment_joins_keep_level_and_pitch():
    from audiomanip.effects.pitch import PITCH_SEGMENT

    n = 2 * PITCH_SEGMENT + 20000  # two segment joins
    x = sine(440.0, n / SR, SR, amplitude=0.25)
    y = render(_preset(pitch={"semitones": -5.0}), x, SR)
    assert y.shape == x.shape
    w = SR // 100  # 10 ms RMS
    rms = np.sqrt(np.mean(y[0, : n // w * w].reshape(-1, w) ** 2, axis=1))
    level_db = 20 * np.log10(rms[5:-5] / np.median(rms))
    assert np.abs(level_db).max() < 1.0  # no dip or bump at the joins (nor anywhere else)
    for join in (PITCH_SEGMENT, 2 * PITCH_SEGMENT):
        f0 = estimate_f0_hz(y[0, join - 4096 : join + 8192], SR, fmin=100.0, fmax=1000.0)
        assert abs(f0 / (440.0 * 2 ** (-5 / 12)) - 1) < 0.01


def test_non_finite_samples_render_as_silence():
    p = Preset.default()
    p.set("eq", "band3_gain_db", 6.0).set("reverb", "wet", 0.3).set("reverb", "room_size", 0.1)
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR))[None].repeat(2, 0)
    bad = x.copy()
    bad[0, 1000:1010] = np.nan
    bad[1, 2000] = np.inf
    clean = x.copy()
    clean[0, 1000:1010] = 0.0
    clean[1, 2000] = 0.0
    y = render(p, bad, SR)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y, render(p, clean, SR))

"""Property-based: any valid preset on any short signal renders finite, safe, well-shaped audio."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiomanip.effects.reverb import ir_length
from audiomanip.params import SCHEMA, Preset
from audiomanip.rendering import PEAK_CEILING_DBFS, ChainRenderer, render

CEILING = 10.0 ** (PEAK_CEILING_DBFS / 20.0)


@st.composite
def presets(draw) -> Preset:
    """Any valid preset, drawn in the schema's normalised space."""
    norm = {}
    for e in SCHEMA:
        norm[e.name] = {
            "enabled": draw(st.sampled_from([0.0, 1.0])),
            "continuous": [draw(st.floats(0.0, 1.0)) for _ in e.continuous()],
            "choices": [draw(st.integers(0, len(p.choices) - 1)) for _, p, _ in e.choice()],
        }
    return Preset.from_normalized(norm)


@st.composite
def signals(draw) -> np.ndarray:
    """Short signals [C, T]: silence, full-scale noise, a full-scale square, an impulse or
    arbitrary samples in [-1, 1]."""
    channels = draw(st.integers(1, 3))
    frames = draw(st.integers(1, 3000))
    kind = draw(st.sampled_from(["silence", "noise", "square", "impulse", "arbitrary"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "silence":
        return np.zeros((channels, frames), np.float32)
    if kind == "noise":
        return rng.uniform(-1.0, 1.0, (channels, frames)).astype(np.float32)
    if kind == "square":
        return np.sign(np.sin(np.arange(frames) * 0.05) + 1e-9)[None].repeat(channels, 0).astype(np.float32)
    if kind == "impulse":
        x = np.zeros((channels, frames), np.float32)
        x[:, draw(st.integers(0, frames - 1))] = draw(st.sampled_from([1.0, -1.0]))
        return x
    # arbitrary samples, at most 600 frames: hypothesis refuses to draw lists of over 8192
    # elements (3 channels x 3000 frames would be 9000), and long drawn lists shrink slowly
    frames = min(frames, 600)
    values = draw(st.lists(st.floats(-1.0, 1.0, width=32), min_size=frames * channels, max_size=frames * channels))
    return np.asarray(values, np.float32).reshape(channels, frames)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(preset=presets(), x=signals(), sample_rate=st.sampled_from([16000, 44100, 48000]))
def test_any_preset_any_signal(preset, x, sample_rate):
    y = render(preset, x, sample_rate)
    tail = 0
    if preset.enabled["reverb"]:
        rv = preset.values["reverb"]
        tail = ir_length(sample_rate, rv["room_size"], rv["pre_delay_ms"]) - 1
    assert ChainRenderer(preset, sample_rate, x.shape[0]).tail_frames == tail
    assert y.dtype == np.float32
    assert y.shape == (x.shape[0], x.shape[1] + tail)
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= CEILING + 1e-7
    if not x.any() and not preset.enabled["pitch"]:
        assert not y.any()  # silence in, silence out (pitch aside: the shifter adds no energy)

"""The one resampler (audio_io.resample, audio_io.StreamResampler): tones keep their frequency,
level and phase, what cannot exist at the new rate is rejected, lengths are round(T * to / from),
and a stream gives the same samples as the whole signal whatever its blocks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiomanip import audio_io
from audiomanip.params import Preset
from audiomanip.rendering import render_file
from audiomanip.training import sources

AMP = 0.5


def tone_fit(y: np.ndarray, sample_rate: int, f_hz: float) -> tuple[float, float, float]:
    """Least-squares fit of ``a·sin(2π f t + φ)`` to the steady middle of y [T] (edges of 0.1 s
    dropped): ``(level dB re AMP, phase rad, residual dB re AMP)``."""
    edge = sample_rate // 10
    n = np.arange(edge, y.shape[-1] - edge)
    w = 2 * np.pi * f_hz * n / sample_rate
    basis = np.stack([np.sin(w), np.cos(w)], axis=1)
    seg = y[edge:-edge].astype(np.float64)
    (s, c), *_ = np.linalg.lstsq(basis, seg, rcond=None)
    residual = seg - basis @ np.array([s, c])
    return (20 * np.log10(np.hypot(s, c) / AMP), float(np.arctan2(c, s)),
            20 * np.log10(np.sqrt(2) * residual.std() / AMP + 1e-15))


@pytest.mark.parametrize("sr_from,sr_to,f_hz", [
    (48000, 44100, 1000.0), (48000, 44100, 19000.0), (44100, 16000, 1000.0), (44100, 16000, 7000.0),
    (22050, 32000, 440.0), (16000, 48000, 3000.0),
])
def test_a_tone_keeps_frequency_level_and_phase(sr_from, sr_to, f_hz):
    x = sources.sine(f_hz, 1.0, sr_from, amplitude=AMP)
    y = audio_io.resample(x, sr_from, sr_to)
    assert y.dtype == np.float32 and y.shape == (1, sr_to)
    level_db, phase, residual_db = tone_fit(y[0], sr_to, f_hz)
    assert abs(level_db) < 0.02  # passband flat (measured: < 0.01 dB up to 90 % of Nyquist)
    assert abs(phase) < 1e-3  # no delay: sample n of the output is time n / sr_to
    assert residual_db < -70  # nothing but that tone (a wrong frequency would leave it all)


@pytest.mark.parametrize("sr_from,sr_to,f_hz", [(44100, 16000, 19000.0), (48000, 44100, 23000.0),
                                                (48000, 16000, 20000.0)])
def test_tones_above_the_new_nyquist_are_removed_not_folded(sr_from, sr_to, f_hz):
    y = audio_io.resample(sources.sine(f_hz, 1.0, sr_from, amplitude=AMP), sr_from, sr_to)
    edge = sr_to // 10
    left_db = 20 * np.log10(np.sqrt(2) * y[0, edge:-edge].std() / AMP + 1e-15)
    assert left_db < -100  # the alias (e.g. 19 kHz folded to 3 kHz) is gone


@pytest.mark.parametrize("frames", [1, 2, 7, 441, 1000, 12345, 48001])
@pytest.mark.parametrize("sr_from,sr_to", [(48000, 44100), (44100, 16000), (22050, 32000), (8000, 48000)])
def test_length_is_the_rounded_duration_at_the_new_rate(frames, sr_from, sr_to):
    x = np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32) * 0.1
    assert audio_io.resample(x, sr_from, sr_to).shape == (2, round(frames * sr_to / sr_from))
    assert audio_io.resample(x[0], sr_from, sr_to).shape == (round(frames * sr_to / sr_from),)


def test_same_rate_is_a_copy_and_empty_stays_empty():
    x = sources.sine(1000.0, 0.1, 48000)
    y = audio_io.resample(x, 48000, 48000)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    assert audio_io.resample(np.zeros((2, 0), np.float32), 48000, 44100).shape == (2, 0)


@pytest.mark.parametrize("blocks", [[1], [7, 4096, 333], [65536], [100000], [2, 1, 50000, 3]])
def test_a_stream_equals_the_whole_signal_whatever_its_blocks(blocks):
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((3, 70001))).astype(np.float32)
    x[1] = sources.sine(1500.0, 70001 / 48000, 48000)[0]
    whole = audio_io.resample(x, 48000, 44100)
    r = audio_io.StreamResampler(3, 48000, 44100)
    outs, i, k = [], 0, 0
    while i < x.shape[1]:
        n = blocks[k % len(blocks)]
        outs.append(r.process(x[:, i:i + n]))
        i, k = i + n, k + 1
    outs.append(r.flush())
    assert all(o.shape[0] == 3 and o.dtype == np.float32 for o in outs)
    np.testing.assert_allclose(np.concatenate(outs, axis=1), whole, rtol=0, atol=1e-7)


def test_stream_and_rate_errors_are_clear():
    with pytest.raises(ValueError, match="sample rates must be > 0"):
        audio_io.resample(np.zeros(10), 0, 44100)
    r = audio_io.StreamResampler(2, 48000, 44100)
    with pytest.raises(ValueError, match=r"shape \[2, n\]"):
        r.process(np.zeros((1, 10)))
    r.flush()
    with pytest.raises(ValueError, match="flushed"):
        r.process(np.zeros((2, 10)))


def test_read_resamples_through_the_same_resampler(tmp_path):
    x = sources.sine(1000.0, 1.0, 48000, amplitude=AMP, channels=2)
    path = tmp_path / "in.wav"
    sf.write(path, x.T, 48000, subtype="FLOAT")
    y, sr = audio_io.read(path, sample_rate=16000)
    assert sr == 16000
    np.testing.assert_array_equal(y, audio_io.resample(x, 48000, 16000))


@pytest.mark.parametrize("block_frames", [997, 65536])
def test_render_file_at_another_rate_stays_aligned(tmp_path, block_frames):
    """--sample-rate: the neutral preset's output is the tone at the new rate, in phase (no
    delay from the streaming resampler), whatever the read block size."""
    x = sources.sine(1000.0, 2.0, 48000, amplitude=AMP, channels=2)
    src = tmp_path / "in.wav"
    sf.write(src, x.T, 48000, subtype="FLOAT")
    result = render_file(Preset.default(), src, tmp_path / "out.wav", sample_rate=44100, subtype="FLOAT",
                         block_frames=block_frames)
    y, sr = audio_io.read(result.out_path)
    assert sr == 44100 and y.shape == (2, 88200) and result.out_frames == 88200
    for ch in y:
        level_db, phase, residual_db = tone_fit(ch, 44100, 1000.0)
        assert abs(level_db) < 0.02 and abs(phase) < 1e-3 and residual_db < -70
    np.testing.assert_allclose(y, audio_io.resample(x, 48000, 44100), rtol=0, atol=1e-6)

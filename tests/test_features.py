"""features: every measurement checked on a signal whose answer is known analytically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiomanip import audio_io, features
from audiomanip.rendering.iir import sosfilt
from audiomanip.training import sources

SR = 48000


def db(x: float) -> float:
    return 20 * math.log10(x)


# ------------------------------------------------------------------------------------------
# Spectrum shape
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [44100, 48000])
def test_spectral_centroid_of_sines(rate):
    assert features.spectral_centroid_hz(sources.sine(1000.0, 1.0, rate), rate) == pytest.approx(
        1000.0, rel=0.01
    )
    # Two equal sines: the mean of their frequencies.
    pair = sources.sine(500.0, 1.0, rate) + sources.sine(2000.0, 1.0, rate)
    assert features.spectral_centroid_hz(pair, rate) == pytest.approx(1250.0, rel=0.01)
    assert features.spectral_centroid_hz(np.zeros((2, 4800)), rate) == 0.0


@pytest.mark.parametrize("n_fft", [8192, None])
def test_power_spectrum_of_a_sine_peaks_at_its_frequency_and_sums_channels(n_fft):
    x = sources.sine(1000.0, 1.0, SR)  # [1, T]
    freqs, power = features.power_spectrum(x, SR, n_fft=n_fft)
    assert freqs.shape == power.shape
    assert freqs[1] == pytest.approx(SR / (8192 if n_fft else x.shape[1]))
    assert freqs[int(np.argmax(power))] == pytest.approx(1000.0, abs=freqs[1])
    # Two identical channels: the powers add (twice the power of one).
    _, both = features.power_spectrum(np.concatenate([x, x]), SR, n_fft=n_fft)
    np.testing.assert_allclose(both, 2 * power, rtol=1e-12)
    # Welch frames never run past the signal: a 0.1 s signal gets 4096-sample frames.
    if n_fft:
        short, _ = features.power_spectrum(x[:, : SR // 10], SR, n_fft=n_fft)
        assert short[1] == pytest.approx(SR / 4096)


def test_band_energy_ratios_of_known_mixture():
    amps = {"low": 0.4, "low_mid": 0.2, "high_mid": 0.1, "high": 0.3}
    freqs = {"low": 100.0, "low_mid": 1000.0, "high_mid": 4000.0, "high": 10000.0}
    x = sum(sources.sine(freqs[b], 1.0, SR, amplitude=amps[b]) for b in amps)
    ratios = features.band_energy_ratios(x, SR)
    total = sum(a * a for a in amps.values())
    assert list(ratios) == ["low", "low_mid", "high_mid", "high"]
    assert sum(ratios.values()) == pytest.approx(1.0, abs=1e-9)
    for band, a in amps.items():
        assert ratios[band] == pytest.approx(a * a / total, abs=0.005)


def test_band_energy_ratios_of_white_noise_follow_bandwidths():
    ratios = features.band_energy_ratios(sources.white_noise(4.0, SR, channels=2), SR)
    nyquist = SR / 2
    expected = {
        "low": 200 / nyquist,
        "low_mid": 1800 / nyquist,
        "high_mid": 4000 / nyquist,
        "high": 18000 / nyquist,
    }
    for band, share in expected.items():
        assert ratios[band] == pytest.approx(share, rel=0.05, abs=0.002)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_spectral_tilt_of_white_and_pink_noise(rate):
    white = features.spectral_tilt_db_per_octave(sources.white_noise(8.0, rate, seed=1), rate)
    pink = features.spectral_tilt_db_per_octave(sources.pink_noise(8.0, rate, seed=1), rate)
    assert white == pytest.approx(0.0, abs=0.2)
    assert pink == pytest.approx(-10 * math.log10(2), abs=0.2)


# ------------------------------------------------------------------------------------------
# Decay time (Schroeder)
# ------------------------------------------------------------------------------------------


def exponential_ir(t60_s: float, seconds: float, seed: int = 0, rate: int = SR) -> np.ndarray:
    """Noise with an exponential envelope falling 60 dB in t60_s: an ideal diffuse IR."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * 10 ** (-3 * t / t60_s)).astype(np.float32)


@pytest.mark.parametrize("t60", [0.4, 1.5])
@pytest.mark.parametrize("method", ["t30", "edt"])
def test_decay_time_of_exponential_decay(t60, method):
    ir = exponential_ir(t60, 2 * t60 + 0.2)
    assert features.decay_time_s(ir, SR, method=method) == pytest.approx(t60, rel=0.10)


def test_decay_time_ignores_leading_silence_and_uses_all_channels():
    ir = exponential_ir(1.5, 3.2)
    delayed = np.concatenate([np.zeros(4800, np.float32), ir])
    stereo = np.stack(
        [delayed, np.concatenate([np.zeros(4800, np.float32), exponential_ir(1.5, 3.2, seed=7)])]
    )
    assert features.decay_time_s(stereo, SR) == pytest.approx(1.5, rel=0.10)


def test_edt_and_t30_differ_on_a_double_slope_decay():
    # A fast early decay (T60 0.3 s) down to -20 dB, then a slow tail (T60 2 s).
    n = int(3.0 * SR)
    t = np.arange(n) / SR
    env_db = np.maximum(-60 * t / 0.3, -20 - 60 * t / 2.0 + 2)
    ir = np.random.default_rng(3).standard_normal(n) * 10 ** (env_db / 20)
    edt = features.decay_time_s(ir, SR, method="edt")
    t30 = features.decay_time_s(ir, SR, method="t30")
    assert edt < 0.6
    assert t30 > 1.5


def test_decay_time_needs_enough_decay():
    flat = sources.white_noise(1.0, SR)
    with pytest.raises(ValueError, match="cut off"):
        features.decay_time_s(flat, SR)
    gated = sources.white_noise(1.0, SR)
    gated[:, -4800:] = 0.0  # steady noise switched off: no decay at all, then silence
    with pytest.raises(ValueError, match="not exponential"):
        features.decay_time_s(gated, SR)
    shallow = exponential_ir(3.0, 1.0)  # falls only 20 dB
    with pytest.raises(ValueError, match="cut off 20 dB"):
        features.decay_time_s(shallow, SR)
    assert features.decay_time_s(shallow, SR, method="edt") == pytest.approx(3.0, rel=0.1)
    with pytest.raises(ValueError, match="method"):
        features.decay_time_s(flat, SR, method="t60")


# ------------------------------------------------------------------------------------------
# Peak, crest factor
# ------------------------------------------------------------------------------------------


def test_peak_and_crest_factor():
    sine = sources.sine(1000.0, 1.0, SR, amplitude=0.5)
    assert features.peak_dbfs(sine) == pytest.approx(db(0.5), abs=1e-3)
    assert features.crest_factor_db(sine) == pytest.approx(db(math.sqrt(2)), abs=1e-3)
    square = np.sign(sources.sine(100.0, 1.0, SR) + 1e-9)
    assert features.crest_factor_db(square) == pytest.approx(0.0, abs=1e-6)
    click = sources.impulse(1.0, SR)
    assert features.crest_factor_db(click) == pytest.approx(10 * math.log10(SR), abs=1e-6)
    assert features.peak_dbfs(np.zeros(100)) == -math.inf


# ------------------------------------------------------------------------------------------
# Loudness
# ------------------------------------------------------------------------------------------


def test_k_weighting_matches_the_standard_table_at_48k():
    sos = features.k_weighting_sos(48000)
    np.testing.assert_allclose(sos[0, :3], [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8)
    np.testing.assert_allclose(sos[0, 3:], [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(sos[1, :3], [1.0, -2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(sos[1, 3:], [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_integrated_loudness_of_997_hz_at_minus_20_dbfs(rate):
    x = sources.sine(997.0, 5.0, rate, amplitude=10 ** (-20 / 20))
    assert features.integrated_loudness_lufs(x, rate) == pytest.approx(-23.0, abs=0.1)


def test_integrated_loudness_reference_levels():
    full = sources.sine(1000.0, 5.0, SR, amplitude=1.0)
    # BS.1770-4: a 0 dBFS 1 kHz sine in one front channel reads -3.01 LKFS …
    assert features.integrated_loudness_lufs(full, SR) == pytest.approx(-3.01, abs=0.1)
    # … and in both channels of a stereo file, twice the power: 0.0 LKFS.
    assert features.integrated_loudness_lufs(np.concatenate([full, full]), SR) == pytest.approx(0.0, abs=0.1)


def test_surround_channel_weights():
    tone = sources.sine(997.0, 3.0, SR, amplitude=0.1)[0]

    def in_channel(c: int) -> np.ndarray:
        x = np.zeros((6, tone.size), np.float32)
        x[c] = tone
        return x

    front = features.integrated_loudness_lufs(in_channel(0), SR)
    surround = features.integrated_loudness_lufs(in_channel(4), SR)
    assert front == pytest.approx(-23.0, abs=0.1)
    assert surround - front == pytest.approx(10 * math.log10(1.41), abs=0.01)
    assert features.integrated_loudness_lufs(in_channel(3), SR) == -math.inf  # LFE is not counted


def test_loudness_gating():
    loud = sources.sine(997.0, 10.0, SR, amplitude=10 ** (-20 / 20))
    quiet = sources.sine(997.0, 10.0, SR, amplitude=10 ** (-40 / 20))
    # Silence is below the absolute gate, -43 LUFS is below the relative gate: both ignored.
    with_silence = np.concatenate([loud, np.zeros_like(loud)], axis=1)
    with_quiet = np.concatenate([loud, quiet], axis=1)
    assert features.integrated_loudness_lufs(with_silence, SR) == pytest.approx(-23.0, abs=0.1)
    assert features.integrated_loudness_lufs(with_quiet, SR) == pytest.approx(-23.0, abs=0.1)
    assert features.integrated_loudness_lufs(np.zeros((1, SR)), SR) == -math.inf


@pytest.mark.parametrize("rate", [44100, 11025])  # 11025: 100 ms (1102 samples) does not divide 400 ms (4410)
def test_block_loudness_is_the_mean_square_of_each_k_weighted_block(rate):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, int(2.37 * rate))) * np.linspace(0.01, 1.0, int(2.37 * rate))
    levels = features._block_loudness(x, rate, 0.4, 0.1)
    y = sosfilt(features.k_weighting_sos(rate), x, axis=1)
    block, hop = round(0.4 * rate), round(0.1 * rate)
    starts = range(0, y.shape[1] - block + 1, hop)
    expected = [-0.691 + 10 * math.log10(float(np.sum(np.mean(y[:, s : s + block] ** 2, axis=1)))) for s in starts]
    np.testing.assert_allclose(levels, expected, rtol=0, atol=1e-9)


def test_loudness_of_float32_audio_is_that_of_float64_within_1e_5_lu():
    x = 0.3 * sources.pink_noise(6.0, SR)
    exact = features.integrated_loudness_lufs(x.astype(np.float64), SR)
    single = features.integrated_loudness_lufs(x.astype(np.float32), SR)
    assert single == pytest.approx(features.integrated_loudness_lufs(x.astype(np.float32).astype(np.float64), SR),
                                   abs=1e-5)
    assert single == pytest.approx(exact, abs=1e-5)


@pytest.mark.parametrize("second_dbfs,expected_lu", [(-30.0, 10.0), (-15.0, 5.0)])
def test_loudness_range_tech_3342_cases(second_dbfs, expected_lu):
    # EBU Tech 3342 test signals 1 and 2: 20 s of 1 kHz at -20 dBFS, then 20 s at another level.
    first = sources.sine(1000.0, 20.0, SR, amplitude=10 ** (-20 / 20), channels=2)
    second = sources.sine(1000.0, 20.0, SR, amplitude=10 ** (second_dbfs / 20), channels=2)
    lra = features.loudness_range_lu(np.concatenate([first, second], axis=1), SR)
    assert lra == pytest.approx(expected_lu, abs=1.0)


def test_loudness_range_of_steady_signal_is_zero():
    assert features.loudness_range_lu(sources.pink_noise(10.0, SR), SR) == pytest.approx(0.0, abs=0.5)


# ------------------------------------------------------------------------------------------
# Harmonic distortion
# ------------------------------------------------------------------------------------------


def clipped_sine_thd(clip: float) -> float:
    """THD (all harmonics) of sin θ hard-clipped at ±clip, from its Fourier series.

    With θc = asin(clip): mean power P = (2/π)[θc/2 − sin 2θc/4 + clip²(π/2 − θc)], fundamental
    b1 = (4/π)[θc/2 − sin 2θc/4 + clip·cos θc]; THD = sqrt(P − b1²/2) / (b1/√2).
    """
    tc = math.asin(clip)
    core = tc / 2 - math.sin(2 * tc) / 4
    power = (2 / math.pi) * (core + clip**2 * (math.pi / 2 - tc))
    b1 = (4 / math.pi) * (core + clip * math.cos(tc))
    return math.sqrt(power - b1 * b1 / 2) / (b1 / math.sqrt(2))


@pytest.mark.parametrize("clip", [0.3, 0.5, 0.8])
def test_thd_of_hard_clipped_sine_matches_fourier_series(clip):
    x = np.clip(sources.sine(100.0, 1.0, SR, amplitude=1.0), -clip, clip)
    assert features.thd(x, SR, 100.0) == pytest.approx(clipped_sine_thd(clip), rel=0.01)


def test_thd_of_square_and_pure_sine():
    square = np.sign(sources.sine(100.0, 1.0, SR, amplitude=1.0) + 1e-9)
    assert features.thd(square, SR, 100.0) == pytest.approx(math.sqrt(math.pi**2 / 8 - 1), rel=0.01)
    assert features.thd(sources.sine(1000.0, 1.0, SR), SR, 1000.0) < 1e-4
    with pytest.raises(ValueError, match="too short"):
        features.thd(sources.sine(100.0, 0.05, SR), SR, 100.0)


# ------------------------------------------------------------------------------------------
# Fundamental frequency
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("f0", [82.41, 220.0, 660.0])
def test_f0_of_band_limited_sawtooth(rate, f0):
    saw = sources.sawtooth(f0, 1.0, rate)
    assert features.estimate_f0_hz(saw, rate) == pytest.approx(f0, rel=0.005)


def test_f0_of_silence_is_nan():
    assert math.isnan(features.estimate_f0_hz(np.zeros(SR), SR))


def test_f0_of_speech_is_plausible_and_follows_resampling(speech):
    audio, rate = speech
    f0 = features.estimate_f0_hz(audio, rate)
    assert 70.0 < f0 < 250.0  # an adult voice
    # Resampled up by 5/4 but read at the original rate: played 4/5 as fast, pitch 4/5.
    slower = audio_io.resample(audio, rate, rate * 5 // 4)
    assert f0 / features.estimate_f0_hz(slower, rate) == pytest.approx(1.25, rel=0.01)

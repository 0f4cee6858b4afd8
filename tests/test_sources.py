"""data.sources: shapes, determinism and the measured properties of each synthetic signal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiomanip import features
from audiomanip.training import sources
from audiomanip.errors import DependencyError

SR = 48000

GENERATORS = {
    "sine": lambda **kw: sources.sine(440.0, 0.5, SR, **kw),
    "white_noise": lambda **kw: sources.white_noise(0.5, SR, **kw),
    "pink_noise": lambda **kw: sources.pink_noise(0.5, SR, **kw),
    "impulse": lambda **kw: sources.impulse(0.5, SR, **kw),
    "sawtooth": lambda **kw: sources.sawtooth(440.0, 0.5, SR, **kw),
    "harmonic_instrument": lambda **kw: sources.harmonic_instrument(0.5, SR, **kw),
    "drum_loop": lambda **kw: sources.drum_loop(0.5, SR, **kw),
    "music_like": lambda **kw: sources.music_like(0.5, SR, **kw),
}
SEEDED = ["white_noise", "pink_noise", "harmonic_instrument", "drum_loop", "music_like"]


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_shape_dtype_and_determinism(name, channels):
    make = GENERATORS[name]
    x = make(channels=channels)
    assert x.dtype == np.float32 and x.shape == (channels, SR // 2)
    assert np.isfinite(x).all() and 0 < np.max(np.abs(x)) <= 1.0
    np.testing.assert_array_equal(x, make(channels=channels))
    if name in SEEDED:
        assert not np.array_equal(x, make(channels=channels, seed=1))


def test_sine_frequency_level_and_phase():
    x = sources.sine(1000.0, 1.0, SR, amplitude=0.25, phase=math.pi / 2)
    assert x[0, 0] == pytest.approx(0.25)  # cosine start
    assert features.peak_dbfs(x) == pytest.approx(20 * math.log10(0.25), abs=1e-3)
    assert features.spectral_centroid_hz(x, SR) == pytest.approx(1000.0, rel=0.005)


def test_noises_have_the_asked_rms_and_independent_channels():
    for make in (sources.white_noise, sources.pink_noise):
        x = make(2.0, SR, rms=0.05, channels=2)
        assert np.sqrt(np.mean(x**2, axis=1)) == pytest.approx([0.05, 0.05], rel=1e-4)
        assert abs(np.corrcoef(x)[0, 1]) < 0.05


def test_impulse_is_a_single_sample():
    x = sources.impulse(0.1, SR, amplitude=0.8, at_s=0.01, channels=2)
    assert np.count_nonzero(x) == 2 and x[0, 480] == pytest.approx(0.8) and x[1, 480] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="outside"):
        sources.impulse(0.1, SR, at_s=0.2)


@pytest.mark.parametrize("f0", [220.0, 3000.0])
def test_sawtooth_is_band_limited_with_1_over_k_harmonics(f0):
    x = sources.sawtooth(f0, 1.0, SR, amplitude=0.5)
    amps = features.harmonic_amplitudes(x, SR, f0)
    k = np.arange(1, len(amps) + 1)
    np.testing.assert_allclose(amps / amps[0], 1.0 / k, rtol=0.01, atol=1e-4)
    # No aliases: everything off the harmonics is at least 80 dB down.
    spectrum = np.abs(np.fft.rfft(x[0] * np.blackman(x.shape[1]))) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / SR)
    near_harmonic = np.abs(freqs / f0 - np.round(freqs / f0)) * f0 < 10.0
    assert 10 * np.log10(spectrum[~near_harmonic].sum() / spectrum.sum()) < -80


def test_harmonic_instrument_plays_notes_of_its_scale():
    x = sources.harmonic_instrument(3.0, SR, seed=4, root_hz=220.0)
    assert np.max(np.abs(x)) == pytest.approx(0.5, rel=1e-5)
    f0, voiced = features.yin_track(x, SR, fmin=100.0, fmax=1000.0)
    semitones = 12 * np.log2(f0[voiced] / 220.0)
    assert voiced.mean() > 0.6
    assert np.all((semitones > -0.3) & (semitones < 24.3))
    # Notes sit on the major scale.
    degree = np.round(semitones) % 12
    assert np.isin(degree, [0, 2, 4, 5, 7, 9, 11]).mean() > 0.95
    assert np.abs(semitones - np.round(semitones)).mean() < 0.1
    assert np.abs(x[0, 0]) < 1e-3  # ADSR attack starts from silence


def test_drum_loop_has_beats_at_its_tempo():
    bpm = 120.0
    x = sources.drum_loop(8.0, SR, seed=2, bpm=bpm)
    assert features.crest_factor_db(x) > 10.0  # transients
    ratios = features.band_energy_ratios(x, SR)
    assert ratios["low"] > 0.2 and ratios["high"] > 0.005  # kick and hats
    # Onset envelope (10 ms frames) repeats every beat: autocorrelation peak at 0.5 s.
    hop = SR // 100
    env = np.sqrt(np.mean(x[0, : (x.shape[1] // hop) * hop].reshape(-1, hop) ** 2, axis=1))
    env = np.maximum(np.diff(env), 0)
    ac = np.correlate(env, env, "full")[len(env) - 1 :]
    lags = np.arange(30, 80)  # 0.3-0.8 s
    assert lags[np.argmax(ac[lags])] == pytest.approx(100 * 60 / bpm, abs=1)


def test_music_like_mixes_tonal_and_percussive_parts_in_stereo():
    x = sources.music_like(4.0, SR, seed=5)
    assert x.shape[0] == 2 and not np.allclose(x[0], x[1])
    assert np.max(np.abs(x)) == pytest.approx(0.7, rel=1e-5)
    ratios = features.band_energy_ratios(x, SR)
    assert all(v > 0.001 for v in ratios.values())
    assert features.crest_factor_db(x) > 8.0


def test_speech_without_espeak_is_a_dependency_error(monkeypatch):
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(DependencyError, match="espeak-ng.*apt-get install espeak-ng"):
        sources.speech("hello", SR)


def test_speech_rate_pitch_and_determinism(speech, speech_text):
    audio, rate = speech
    assert audio.dtype == np.float32 and audio.shape[0] == 1
    assert 1.5 < audio.shape[1] / rate < 8.0
    assert np.max(np.abs(audio)) == pytest.approx(0.7, rel=1e-5)
    np.testing.assert_array_equal(audio, sources.speech(speech_text, rate))
    low = sources.speech(speech_text, 16000)
    assert low.shape[1] * 3 == pytest.approx(audio.shape[1], abs=6)
    high_voice = sources.speech(speech_text, 16000, pitch=90)
    assert features.estimate_f0_hz(high_voice, 16000) > 1.2 * features.estimate_f0_hz(low, 16000)
    stereo = sources.speech(speech_text, 16000, channels=2)
    np.testing.assert_array_equal(stereo[0], stereo[1])


def test_speech_text_that_looks_like_an_option_is_spoken(speech):
    x = sources.speech("--help -w out.wav", 16000)
    assert x.shape[1] / 16000 > 0.5  # spoken words, not espeak-ng's help or an error
    with pytest.raises(ValueError, match="empty"):
        sources.speech("   ", 16000)

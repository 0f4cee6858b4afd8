"""Deterministic test and training signals, float32 ``[channels, samples]``.

Every generator takes ``sample_rate`` (Hz) and returns the same array for the same arguments
(random ones take a ``seed``). Multi-channel outputs copy the mono signal to each channel, except
the noises, which draw independent channels.

- :func:`sine`, :func:`white_noise`, :func:`pink_noise`, :func:`impulse`, :func:`sawtooth`
  (band-limited: no aliasing) — signals with known answers for tests.
- :func:`harmonic_instrument`, :func:`drum_loop`, :func:`music_like` — music-like material for
  training and evaluation.
- :func:`speech` — spoken text through the espeak-ng command-line synthesiser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from audiomanip.errors import DependencyError


def _check(duration_s: float, sample_rate: int, channels: int) -> int:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0 Hz, not {sample_rate}")
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0 s, not {duration_s}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, not {channels}")
    return round(duration_s * sample_rate)


def _channels(x: np.ndarray, channels: int) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(x[None, :].astype(np.float32), channels, axis=0))


def sine(
    freq_hz: float,
    duration_s: float,
    sample_rate: int,
    *,
    amplitude: float = 0.5,
    phase: float = 0.0,
    channels: int = 1,
) -> np.ndarray:
    """Sine wave ``amplitude * sin(2π f t + phase)`` (peak amplitude, phase in radians) → [C, T]."""
    n = _check(duration_s, sample_rate, channels)
    t = np.arange(n, dtype=np.float64) / sample_rate
    return _channels(amplitude * np.sin(2 * np.pi * freq_hz * t + phase), channels)


def white_noise(
    duration_s: float, sample_rate: int, *, rms: float = 0.1, channels: int = 1, seed: int = 0
) -> np.ndarray:
    """Gaussian white noise with the given RMS (linear) per channel → [C, T]."""
    n = _check(duration_s, sample_rate, channels)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((channels, n))
    if n:
        x *= rms / np.sqrt(np.mean(x**2, axis=1, keepdims=True))
    return x.astype(np.float32)


def pink_noise(
    duration_s: float, sample_rate: int, *, rms: float = 0.1, channels: int = 1, seed: int = 0
) -> np.ndarray:
    """Pink (1/f power, −3 dB/octave) Gaussian noise with the given RMS per channel → [C, T].

    Made by shaping white noise's spectrum by 1/sqrt(f) (the DC bin is zeroed, the first bin
    is used for everything below it), so the spectrum is exactly pink from f = sample_rate / T.
    """
    n = _check(duration_s, sample_rate, channels)
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((channels, 0), np.float32)
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    k = np.arange(spec.shape[1], dtype=np.float64)
    k[0] = 1.0
    spec /= np.sqrt(k)
    spec[:, 0] = 0.0
    x = np.fft.irfft(spec, n=n, axis=1)
    x *= rms / np.sqrt(np.mean(x**2, axis=1, keepdims=True))
    return x.astype(np.float32)


def impulse(
    duration_s: float, sample_rate: int, *, amplitude: float = 1.0, at_s: float = 0.0, channels: int = 1
) -> np.ndarray:
    """A single-sample impulse of ``amplitude`` at time ``at_s`` seconds, zeros elsewhere → [C, T]."""
    n = _check(duration_s, sample_rate, channels)
    x = np.zeros(n, np.float64)
    i = round(at_s * sample_rate)
    if not 0 <= i < max(n, 1) or n == 0:
        raise ValueError(f"impulse time {at_s} s lies outside the {duration_s} s signal")
    x[i] = amplitude
    return _channels(x, channels)


def sawtooth(
    freq_hz: float,
    duration_s: float,
    sample_rate: int,
    *,
    amplitude: float = 0.5,
    channels: int = 1,
) -> np.ndarray:
    """Band-limited rising sawtooth at ``freq_hz``: harmonics k = 1.. below Nyquist with
    amplitude 1/k (Fourier series of a saw of peak ``amplitude``, without aliasing) → [C, T].
    """
    n = _check(duration_s, sample_rate, channels)
    if not 0 < freq_hz < sample_rate / 2:
        raise ValueError(f"freq_hz must lie in (0, {sample_rate / 2}) Hz, not {freq_hz}")
    t = np.arange(n, dtype=np.float64) / sample_rate
    n_harm = int((sample_rate / 2 - 1e-9) // freq_hz)
    x = np.zeros(n, np.float64)
    for k in range(1, n_harm + 1):
        x += ((-1) ** (k + 1)) / k * np.sin(2 * np.pi * k * freq_hz * t)
    return _channels(amplitude * (2 / np.pi) * x, channels)


def _adsr(
    n: int, sample_rate: int, attack_s: float, decay_s: float, sustain: float, release_s: float
) -> np.ndarray:
    """Linear ADSR envelope of n samples; the release occupies the last release_s seconds."""
    a = min(n, int(attack_s * sample_rate))
    d = min(n - a, int(decay_s * sample_rate))
    r = min(n - a - d, int(release_s * sample_rate))
    s = n - a - d - r
    return np.concatenate(
        [
            np.linspace(0.0, 1.0, a, endpoint=False),
            np.linspace(1.0, sustain, d, endpoint=False),
            np.full(s, sustain),
            np.linspace(sustain, 0.0, r),
        ]
    )


_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # major scale, semitones


def harmonic_instrument(
    duration_s: float,
    sample_rate: int,
    *,
    seed: int = 0,
    channels: int = 1,
    root_hz: float = 220.0,
    notes_per_s: float = 3.0,
    n_harmonics: int = 8,
    peak: float = 0.5,
) -> np.ndarray:
    """A melody of notes from a major scale over ``root_hz`` with ADSR envelopes → [C, T].

    Each note has ``n_harmonics`` partials with amplitudes 1/k^1.5 (a seed-chosen brightness
    tilt), only those below Nyquist. Peak-normalised to ``peak``.
    """
    n = _check(duration_s, sample_rate, channels)
    rng = np.random.default_rng(seed)
    x = np.zeros(n, np.float64)
    tilt = rng.uniform(1.0, 2.0)
    pos = 0
    step = max(1, int(sample_rate / notes_per_s))
    while pos < n:
        length = min(n - pos, int(step * rng.choice([1, 1, 2])))
        degree = int(rng.integers(0, len(_SCALE)))
        octave = int(rng.integers(0, 2))
        f0 = root_hz * 2 ** ((_SCALE[degree] + 12 * octave) / 12)
        t = np.arange(length) / sample_rate
        note = np.zeros(length)
        for k in range(1, n_harmonics + 1):
            if k * f0 >= sample_rate / 2:
                break
            note += k ** (-tilt) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        env = _adsr(
            length,
            sample_rate,
            rng.uniform(0.005, 0.04),
            0.08,
            rng.uniform(0.5, 0.8),
            min(0.1, length / sample_rate / 3),
        )
        x[pos : pos + length] += note * env * rng.uniform(0.6, 1.0)
        pos += length
    return _channels(_normalise(x, peak), channels)


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    m = np.max(np.abs(x)) if x.size else 0.0
    return x * (peak / m) if m > 0 else x


def drum_loop(
    duration_s: float,
    sample_rate: int,
    *,
    seed: int = 0,
    channels: int = 1,
    bpm: float = 120.0,
    peak: float = 0.7,
) -> np.ndarray:
    """A kick/snare/hi-hat pattern on 16th notes at ``bpm`` → [C, T], peak-normalised to ``peak``.

    Kick: a sine falling from 150 to 50 Hz with a 0.25 s decay. Snare: 190 Hz tone plus noise,
    0.12 s decay. Hat: high-passed noise (first difference), 0.04 s decay. The pattern (beyond
    kick on beats 1 and 3, snare on 2 and 4) and the hits' velocities come from ``seed``.
    """
    n = _check(duration_s, sample_rate, channels)
    rng = np.random.default_rng(seed)
    sixteenth = 60.0 / bpm / 4
    x = np.zeros(n, np.float64)

    def hit(sound: np.ndarray, start: int, gain: float) -> None:
        end = min(n, start + len(sound))
        if start < end:
            x[start:end] += gain * sound[: end - start]

    def kick() -> np.ndarray:
        t = np.arange(int(0.4 * sample_rate)) / sample_rate
        f = 50 + 100 * np.exp(-t / 0.04)
        return np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / 0.25 * 3)

    def snare() -> np.ndarray:
        t = np.arange(int(0.25 * sample_rate)) / sample_rate
        tone = 0.5 * np.sin(2 * np.pi * 190 * t)
        noise = rng.standard_normal(len(t))
        return (tone + 0.8 * noise) * np.exp(-t / 0.12 * 3)

    def hat() -> np.ndarray:
        t = np.arange(int(0.06 * sample_rate)) / sample_rate
        noise = np.diff(rng.standard_normal(len(t) + 1))
        return 0.5 * noise * np.exp(-t / 0.04 * 3)

    extra_kicks = rng.random(16) < 0.15
    steps = int(np.ceil(n / (sixteenth * sample_rate))) if n else 0
    for s in range(steps):
        start = round(s * sixteenth * sample_rate)
        pos = s % 16
        if pos in (0, 8) or (extra_kicks[pos] and pos % 4 != 0):
            hit(kick(), start, rng.uniform(0.8, 1.0))
        if pos in (4, 12):
            hit(snare(), start, rng.uniform(0.7, 0.9))
        if pos % 2 == 0 or rng.random() < 0.3:
            hit(hat(), start, rng.uniform(0.2, 0.4))
    return _channels(_normalise(x, peak), channels)


def music_like(
    duration_s: float,
    sample_rate: int,
    *,
    seed: int = 0,
    channels: int = 2,
    peak: float = 0.7,
) -> np.ndarray:
    """Instrument melody, a bass line an octave below and a drum loop, mixed → [C, T].

    With 2 or more channels the instrument is panned slightly left and the bass slightly right,
    so channels differ. Peak-normalised to ``peak``.
    """
    n = _check(duration_s, sample_rate, channels)
    rng = np.random.default_rng(seed)
    lead = harmonic_instrument(
        duration_s, sample_rate, seed=seed, root_hz=float(rng.choice([196.0, 220.0, 261.63]))
    )[0]
    bass = harmonic_instrument(
        duration_s,
        sample_rate,
        seed=seed + 1,
        root_hz=55.0 * 2 ** (int(rng.integers(0, 5)) / 12),
        notes_per_s=1.0,
        n_harmonics=4,
    )[0]
    drums = drum_loop(duration_s, sample_rate, seed=seed + 2, bpm=float(rng.uniform(90, 140)))[0]
    out = np.zeros((channels, n), np.float64)
    for c in range(channels):
        pan = 0.0 if channels == 1 else (c % 2) * 2 - 1  # -1 left, +1 right
        out[c] = 0.6 * lead * (1 - 0.3 * pan) + 0.5 * bass * (1 + 0.3 * pan) + 0.7 * drums
    m = np.max(np.abs(out)) if out.size else 0.0
    if m > 0:
        out *= peak / m
    return out.astype(np.float32)


#: Install hint shown when espeak-ng is missing.
ESPEAK_INSTALL_HINT = (
    "install espeak-ng (Debian/Ubuntu: `sudo apt-get install espeak-ng`, macOS: "
    "`brew install espeak-ng`, Windows: the installer from github.com/espeak-ng/espeak-ng)"
)


def espeak_path() -> str | None:
    """Path of the espeak-ng executable, or None when it is not installed."""
    return shutil.which("espeak-ng")


def speech(
    text: str,
    sample_rate: int = 48000,
    *,
    voice: str = "en",
    words_per_minute: int = 160,
    pitch: int = 50,
    channels: int = 1,
    peak: float = 0.7,
) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return it at ``sample_rate`` Hz → float32 [C, T].

    ``pitch`` is espeak-ng's 0–99 pitch setting (50 = the voice's default, about 100–140 Hz for
    "en"); ``words_per_minute`` its speed. Output is peak-normalised to ``peak``. Deterministic for
    the same arguments and espeak-ng version. Raises DependencyError with an install hint when
    espeak-ng is not installed, ValueError for empty text.
    """
    if not text or not text.strip():
        raise ValueError("speech text must not be empty")
    exe = espeak_path()
    if exe is None:
        raise DependencyError(
            f"espeak-ng is needed to synthesise speech but was not found; {ESPEAK_INSTALL_HINT}"
        )
    from audiomanip import audio_io

    fd, tmp = tempfile.mkstemp(prefix="audiomanip-speech-", suffix=".wav")
    os.close(fd)
    try:
        cmd = [
            exe,
            "-v",
            voice,
            "-s",
            str(int(words_per_minute)),
            "-p",
            str(int(pitch)),
            "-w",
            tmp,
            "--stdin",
        ]
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=120, check=False)
        if proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DependencyError(
                f"espeak-ng failed (exit {proc.returncode}): {msg[-1] if msg else 'no message'}"
            )
        audio, sr = audio_io.read(tmp)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    x = audio[0].astype(np.float64)
    # espeak-ng pads with silence; keep 50 ms around the voiced part.
    loud = np.flatnonzero(np.abs(x) > 1e-3 * max(np.max(np.abs(x)), 1e-12))
    if loud.size:
        pad = int(0.05 * sr)
        x = x[max(0, loud[0] - pad) : loud[-1] + pad + 1]
    y = audio_io.resample(x[None, :], sr, sample_rate)[0] if sr != sample_rate else x
    return _channels(_normalise(np.asarray(y, np.float64), peak), channels)

"""Short mono clips the training loop renders the effect chain on (the STFT and CLAP terms and
the audio view of :mod:`audiomanip.training.loop`).

:func:`clip_bank` gathers music-like signals, a harmonic instrument, a drum loop, white and pink
noise, impulses, a sawtooth, espeak-ng speech (when installed) and random crops of the files in
``audio_dir`` (any suffix of :data:`audiomanip.audio_io.AUDIO_SUFFIXES`).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np

from audiomanip.audio_io import AUDIO_SUFFIXES
from audiomanip.errors import InputNotFoundError


#: Descriptors whose corpus recipes make the varied copies of the bank's sources
#: (:func:`varied_sources`): dark and bright, boomy and thin, squashed, reverberant.
VARIATIONS = ("dark", "bright", "boomy", "thin", "squashed", "hall")


def varied_sources(clips: list[np.ndarray], sample_rate: int, variations: tuple[str, ...] = VARIATIONS
                   ) -> list[np.ndarray]:
    """Each clip [1, T] rendered by the package's own renderer through the recipe of each
    descriptor of ``variations`` (same length, no tail; peak-normalised to 0.5 like the
    sources), so the bank holds dark and bright, boomy and thin, dynamic and squashed, dry and
    reverberant versions of every source."""
    from audiomanip.vocab.descriptors import load_descriptors
    from audiomanip.vocab.recipes import compose

    descriptors = load_descriptors()
    presets = [compose([descriptors[name].recipe]).to_preset() for name in variations]
    return _rendered_versions(((preset, clip) for clip in clips for preset in presets), sample_rate)


def _rendered_versions(jobs: Any, sample_rate: int) -> list[np.ndarray]:
    """Each ``(preset, clip [1, T])`` of ``jobs`` rendered by the package's renderer, same
    length, no tail, peak-normalised to 0.5 like the sources (float32); silent renders left out."""
    from audiomanip.rendering.chain import render

    out = []
    for preset, clip in jobs:
        y = render(preset, clip, sample_rate, tail=False, peak_safety=True)[:, :clip.shape[1]]
        peak = float(np.max(np.abs(y)))
        if peak > 1e-4:
            out.append((y * (0.5 / peak)).astype(np.float32))
    return out


#: Random tone versions of each musical clip in a varied bank (:func:`random_tone_versions`).
RANDOM_TONE_VERSIONS = 8


def random_tone_versions(clips: list[np.ndarray], sample_rate: int, n: int, *, seed: int = 0) -> list[np.ndarray]:
    """``n`` versions of each clip [1, T] through a random tone: a low shelf (60–250 Hz), a
    presence peak (1.5–5 kHz) and a high shelf (3–8 kHz), each −12 … +12 dB, rendered by the
    package's renderer (same length, peak-normalised to 0.5). Between them the bank's sources
    take every balance from thin to boomy and dark to bright, not only the recipes' six."""
    from audiomanip.params import Preset

    rng = np.random.default_rng(seed)

    def tone() -> Preset:
        preset = Preset.default()
        for band, kind, lo, hi in ((1, "low_shelf", 60.0, 250.0), (4, "peak", 1500.0, 5000.0),
                                   (5, "high_shelf", 3000.0, 8000.0)):
            preset = (preset.set("eq", f"band{band}_type", kind)
                      .set("eq", f"band{band}_freq_hz", float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
                      .set("eq", f"band{band}_gain_db", float(rng.uniform(-12.0, 12.0))))
        return preset

    return _rendered_versions(((tone(), clip) for clip in clips for _ in range(n)), sample_rate)


def clip_bank(sample_rate: int = 16000, clip_seconds: float = 0.5, *, seed: int = 0,
              audio_dir: str | Path | None = None, n_file_clips: int = 32, varied: bool = False) -> Any:
    """Short mono training clips, Tensor [N, 1, T] (T = clip_seconds × sample_rate).

    ``varied``: also every musical source (music, instrument, drums, speech; not the test
    signals) in the versions of :func:`varied_sources` and :data:`RANDOM_TONE_VERSIONS` of
    :func:`random_tone_versions`.
    Raises :class:`InputNotFoundError` when ``audio_dir`` is given but holds no readable audio.
    """
    import torch

    from audiomanip.training import sources as S

    sr, d = int(sample_rate), float(clip_seconds)
    T = int(round(d * sr))
    musical: list[np.ndarray] = []  # sources a recording could hold (varied below)
    for k in range(4):
        musical.append(S.music_like(d, sr, seed=seed + k, channels=1))
    for k, root in enumerate((110.0, 220.0, 330.0)):
        musical.append(S.harmonic_instrument(d, sr, seed=seed + k, root_hz=root, notes_per_s=4.0))
    for k, bpm in enumerate((100.0, 140.0)):
        musical.append(S.drum_loop(d, sr, seed=seed + k, bpm=bpm))
    tests = [S.white_noise(d, sr, rms=0.1, seed=seed), S.pink_noise(d, sr, rms=0.1, seed=seed + 1),
             S.impulse(d, sr, amplitude=0.8, at_s=0.01), S.impulse(d, sr, amplitude=0.8, at_s=d / 2),
             S.sawtooth(110.0, d, sr, amplitude=0.4)]
    if S.espeak_path():
        for k, text in enumerate(("the quick brown fox", "hello there, how are you", "sound design")):
            s = S.speech(text, sr, pitch=30 + 25 * k)
            musical.append(s[:, :T] if s.shape[1] >= T else np.pad(s, ((0, 0), (0, T - s.shape[1]))))
    clips = musical[:9] + tests + musical[9:]  # the order of earlier versions of the bank
    if audio_dir is not None:
        clips.extend(_file_clips(Path(audio_dir), sr, T, n_file_clips, seed))
    if varied:
        clips.extend(varied_sources([c[:1, :T] for c in musical], sr))
        clips.extend(random_tone_versions([c[:1, :T] for c in musical], sr, RANDOM_TONE_VERSIONS, seed=seed))
    bank = np.stack([c[:1, :T] for c in clips]).astype(np.float32)
    return torch.from_numpy(bank)


def _file_clips(folder: Path, sr: int, T: int, n: int, seed: int) -> list[np.ndarray]:
    from audiomanip import audio_io

    if not folder.is_dir():
        raise InputNotFoundError(f"--audio-dir is not a folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputNotFoundError(f"--audio-dir holds no audio files ({', '.join(AUDIO_SUFFIXES)}): {folder}")
    rng = random.Random(seed)
    out: list[np.ndarray] = []
    for k in range(n):
        path = files[k % len(files)]
        info = audio_io.info(path)
        frames = int(math.ceil(T * info.sample_rate / sr)) + 1
        start = rng.randint(0, max(0, info.frames - frames))
        x, _ = audio_io.read(path, start_frame=start, frames=frames, sample_rate=sr)
        x = x.mean(axis=0, keepdims=True)[:, :T]
        if x.shape[1] < T:
            x = np.pad(x, ((0, 0), (0, T - x.shape[1])))
        if np.max(np.abs(x)) > 1e-4:
            out.append(x.astype(np.float32))
    return out


class ClipViews:
    """The audio view each training example hears (:mod:`audiomanip.training.loop`): ``config``
    the network's ModelConfig, ``clips`` the bank [N, 1, T] at ``sample_rate`` Hz, ``dropout``
    the chance that an example hears nothing. Profiles of the bank are computed once."""

    def __init__(self, config: Any, clips: Any, sample_rate: int, dropout: float, device: Any):
        self.config, self.clips, self.sample_rate, self.dropout, self.device = config, clips, sample_rate, dropout, device
        self.profiles = None
        if config.audio_view == "profile":
            from audiomanip.audio_profile import profile

            self.profiles = profile(clips, sample_rate).to(device)  # [N, PROFILE_SIZE]

    def batch(self, n: int, rng: Any) -> tuple[Any, Any, Any]:
        """``(view, view_present, pick)`` for ``n`` examples: the profile view gives each its own
        clip ``pick`` [n] and drops it per example (``view_present`` [n] bool); the mel view drops
        it for the whole batch; other views give ``(None, None, None)``."""
        import torch

        if self.profiles is not None:
            pick = torch.randint(0, self.clips.shape[0], (n,), generator=rng)
            present = (torch.rand(n, generator=rng) >= self.dropout).to(self.device)
            return self.profiles[pick], present, pick
        if self.config.audio_view == "mel" and float(torch.rand((), generator=rng)) >= self.dropout:
            from audiomanip.model.audio_context import log_mel

            pick = torch.randint(0, self.clips.shape[0], (n,), generator=rng)
            view = log_mel(self.clips[pick].to(self.device), self.sample_rate,
                           analysis_rate=self.config.analysis_rate, n_mels=self.config.n_mels)
            return view, None, pick
        return None, None, None

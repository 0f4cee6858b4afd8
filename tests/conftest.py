"""Shared fixtures: synthesised audio and temporary audio files.

- ``sample_rate``: 48000 (Hz), the rate the fixtures below use.
- ``speech``: (audio float32 [1, T], 48000) — an English sentence spoken by espeak-ng (about
  2.8 s). Tests using it are skipped, with the reason, only when espeak-ng is not installed
  (CI installs it).
- ``speech_text``: the sentence ``speech`` says.
- ``music``: (audio float32 [2, T], 48000) — 4 s of :func:`audiomanip.training.sources.music_like`.
- ``tmp_wav``: factory ``tmp_wav(audio [C, T] or [T], sample_rate=48000, name="audio.wav",
  subtype=None) -> Path`` that writes a file under the test's ``tmp_path`` (format from the
  extension: .wav, .flac, .mp3, .ogg).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

SAMPLE_RATE = 48000
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog, and then it runs away."


@pytest.fixture(scope="session")
def sample_rate() -> int:
    return SAMPLE_RATE


@pytest.fixture(scope="session")
def speech_text() -> str:
    return SPEECH_TEXT


@pytest.fixture(scope="session")
def speech() -> tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); speech tests need it")
    from audiomanip.training.sources import speech as synthesise

    return synthesise(SPEECH_TEXT, SAMPLE_RATE), SAMPLE_RATE


@pytest.fixture(scope="session")
def music() -> tuple[np.ndarray, int]:
    from audiomanip.training.sources import music_like

    return music_like(4.0, SAMPLE_RATE, seed=0, channels=2), SAMPLE_RATE


@pytest.fixture
def tmp_wav(tmp_path: Path):
    from audiomanip import audio_io

    def make(
        audio: np.ndarray, sample_rate: int = SAMPLE_RATE, name: str = "audio.wav", subtype: str | None = None
    ) -> Path:
        path = tmp_path / name
        audio_io.write(path, audio, sample_rate, subtype=subtype, overwrite=True)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A small untrained checkpoint with the default text encoder: real inference, seconds to build."""
    import torch

    from audiomanip.checkpoint import save_checkpoint
    from audiomanip.model.network import ModelConfig, PresetNet
    from audiomanip.model.preset_model import model_config_dict

    torch.manual_seed(0)
    net = PresetNet(ModelConfig(d_model=32, n_heads=4, head_hidden=32, n_self_layers=1))
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(path, net.state_dict(), model_config_dict(net, "all-MiniLM-L6-v2", extra={"name": "tiny"}))
    return path

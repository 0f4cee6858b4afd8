"""The optional second view of the model: the input audio as log-mel frames (or a CLAP embedding).

The mel filterbank is our own (HTK mel scale, triangular filters on the rFFT bins) so no
torchaudio is needed. ``log_mel`` turns audio [B, C, T] at any sample rate into
[B, n_mels, frames] at the encoder's fixed analysis rate; :class:`AudioContextEncoder` maps those
frames to tokens [B, F, d_model]; :class:`ClapContextEncoder` maps a 512-d CLAP embedding to a
single token [B, 1, d_model]; :class:`ProfileContextEncoder` maps the
:func:`audiomanip.audio_profile.profile` vector to a single token.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def hz_to_mel(f_hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, f_min_hz: float = 30.0,
                   f_max_hz: float | None = None) -> torch.Tensor:
    """Triangular mel filters, Tensor [n_mels, n_fft // 2 + 1], each filter with unit area
    in Hz (Slaney-style normalisation) so bands of different width are comparable."""
    f_max_hz = f_max_hz or sample_rate / 2.0
    bins_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb *= 2.0 / (upper - lower)
    return torch.from_numpy(fb.astype(np.float32))


def resample_fft(x: torch.Tensor, sr_from: float, sr_to: float) -> torch.Tensor:
    """Band-limited resampling of torch audio [B, T] -> [B, round(T * sr_to / sr_from)] by
    cropping or zero-padding its spectrum (rates in Hz), for analysis only: the model's log-mel
    view and the CLAP loss.

    This is not :func:`audiomanip.audio_io.resample` (soxr, numpy) on purpose: it runs on the
    tensor's device and is differentiable, and training needs both (the CLAP loss resamples the
    rendered predictions inside the autograd graph; the mel view resamples batches of clips on
    the training device). The whole clip is one FFT, so it suits short clips, not streams.
    """
    if sr_from == sr_to:
        return x
    T = x.shape[-1]
    T2 = max(1, int(round(T * sr_to / sr_from)))
    X = torch.fft.rfft(x, dim=-1)
    n_keep = min(X.shape[-1], T2 // 2 + 1)
    Y = torch.zeros(*X.shape[:-1], T2 // 2 + 1, dtype=X.dtype, device=X.device)
    Y[..., :n_keep] = X[..., :n_keep]
    return torch.fft.irfft(Y, n=T2, dim=-1) * (T2 / T)


def log_mel(audio: torch.Tensor, sample_rate: float, *, analysis_rate: float = 16000.0, n_fft: int = 1024,
            hop: int = 256, n_mels: int = 64, max_frames: int | None = 256) -> torch.Tensor:
    """Log-mel frames of audio [B, C, T] (channels are averaged): [B, n_mels, frames], in dB
    relative to full scale, floored at -100 dB. Long inputs keep evenly spaced ``max_frames``."""
    x = audio.mean(dim=1)
    x = resample_fft(x, float(sample_rate), float(analysis_rate))
    if x.shape[-1] < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.shape[-1]))
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, center=True, return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2  # [B, F, frames]
    fb = mel_filterbank(analysis_rate, n_fft, n_mels).to(x.device, x.dtype)
    mel = torch.einsum("mf,bft->bmt", fb, power) / (window.sum() ** 2) * 4.0
    mel_db = 10.0 * torch.log10(mel.clamp_min(1e-10))
    if max_frames is not None and mel_db.shape[-1] > max_frames:
        idx = torch.linspace(0, mel_db.shape[-1] - 1, max_frames, device=x.device).round().long()
        mel_db = mel_db[..., idx]
    return mel_db


class AudioContextEncoder(nn.Module):
    """Small conv encoder: log-mel [B, n_mels, frames] -> tokens [B, frames', d_model].

    Two strided 1-D conv layers over time (frames' = ceil(frames / 4)) on a level-normalised
    input (dB / 40), plus a learned positional scale via a depthwise conv.
    """

    def __init__(self, n_mels: int, d_model: int):
        super().__init__()
        self.n_mels = n_mels
        self.conv = nn.Sequential(
            nn.Conv1d(n_mels, d_model, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(d_model, d_model, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(d_model, d_model, kernel_size=3, padding=1, groups=d_model),
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, mel_db: torch.Tensor) -> torch.Tensor:
        h = self.conv((mel_db + 50.0) / 40.0)
        return self.norm(h.transpose(1, 2))

    @staticmethod
    def n_frames_out(frames: int) -> int:
        return math.ceil(math.ceil(frames / 2) / 2)


class ClapContextEncoder(nn.Module):
    """A CLAP embedding [B, clap_dim] as a one-token sequence [B, 1, d_model]."""

    def __init__(self, clap_dim: int, d_model: int):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(clap_dim, d_model), nn.LayerNorm(d_model))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        emb = torch.nn.functional.normalize(emb, dim=-1)
        return self.proj(emb)[:, None, :]


#: The profile view scales each amount by a factor within [1 / MAX_AMOUNT_FACTOR, MAX_AMOUNT_FACTOR].
MAX_AMOUNT_FACTOR = 4.0


class ProfileContextEncoder(nn.Module):
    """How much of what the words asked for this source needs: from the words' pooled state
    [B, d_model], the words' own head outputs [B, n_words] (every effect's flat output, then
    each amount's signed distance from neutral: what was asked, band by band, boost or cut) and
    the profile vector [B, PROFILE_SIZE] (dB and dB/s, see :mod:`audiomanip.audio_profile`), one
    log factor per amount parameter [B, n_amounts], each ``tanh(m)·ln(MAX_AMOUNT_FACTOR)`` with
    ``m = W2·GELU(W1·[state; words; P(profile)])`` and ``P`` an MLP on the profile divided by its
    typical scales. ``W2`` has two rows per amount, one read when the words move it up from
    neutral and one when they move it down: a source that needs a smaller boost (it already has
    plenty) needs a deeper cut, so the two must not share one factor. ``W2`` starts at zero, so
    a new view starts as the words-only model."""

    def __init__(self, d_model: int, n_amounts: int, n_words: int):
        super().__init__()
        from audiomanip.audio_profile import PROFILE_SCALE, PROFILE_SIZE

        self.n_amounts = n_amounts
        self.register_buffer("scale", torch.from_numpy(PROFILE_SCALE.copy()), persistent=False)
        self.proj = nn.Sequential(nn.Linear(PROFILE_SIZE, d_model), nn.GELU(), nn.Linear(d_model, d_model),
                                  nn.LayerNorm(d_model))
        self.mix = nn.Sequential(nn.Linear(2 * d_model + n_words, 2 * d_model), nn.GELU(),
                                 nn.Linear(2 * d_model, 2 * n_amounts))
        nn.init.zeros_(self.mix[-1].weight)
        nn.init.zeros_(self.mix[-1].bias)

    def forward(self, state: torch.Tensor, words: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
        m = self.mix(torch.cat([state, words, self.proj(profile / self.scale)], dim=-1))
        n = self.n_amounts
        m = torch.where(words[:, -n:] < 0, m[:, n:], m[:, :n])  # the cut row where the words cut
        return torch.tanh(m) * math.log(MAX_AMOUNT_FACTOR)

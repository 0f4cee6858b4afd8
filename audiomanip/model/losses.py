"""Training losses: parameter loss in the schema's normalised space, a multi-resolution STFT loss
and the CLAP audio-embedding loss (:class:`ClapAudioLoss`, optional ``clap`` extra).

``parameter_loss`` (HeadOutputs vs HeadTargets, see :mod:`audiomanip.model.heads`):

* BCE on every effect's ``enabled`` logit;
* Huber (smooth L1, beta 0.05) on continuous parameters in [0, 1], counted only where the
  target effect is enabled (a disabled effect's values do not matter);
* cross-entropy on choice parameters (EQ band types), also only where the target is enabled.

Each term is averaged over the elements it counts, then the three are summed with weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from audiomanip.errors import CheckpointError, DependencyError


def parameter_loss(outputs: dict[str, dict[str, torch.Tensor]], targets: dict[str, dict[str, torch.Tensor]],
                   *, enabled_weight: float = 1.0, continuous_weight: float = 4.0,
                   choice_weight: float = 0.5, row_weights: dict[str, torch.Tensor] | None = None
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Returns ``(loss, parts)`` where parts holds the float values of each term.
    ``row_weights``: per effect, a weight [B] of each example's continuous-parameter error
    (default 1; the outcome term decides those parameters where it is lowered)."""
    bce, huber, ce = [], [], []
    n_cont, n_choice = 0.0, 0.0
    for name, o in outputs.items():
        t = targets[name]
        bce.append(F.binary_cross_entropy_with_logits(o["enabled_logit"], t["enabled"], reduction="sum"))
        en = t["enabled"][:, None]
        if o["continuous"].shape[1]:
            err = F.smooth_l1_loss(o["continuous"], t["continuous"], beta=0.05, reduction="none")
            if row_weights is not None and name in row_weights:
                err = err * row_weights[name][:, None]
            huber.append((err * en).sum())
            n_cont = n_cont + float((en.expand_as(err)).sum())
        if o["choice_logits"].shape[1]:
            logits = o["choice_logits"]
            err = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t["choices"].reshape(-1), reduction="none")
            err = err.reshape(t["choices"].shape)
            ce.append((err * en).sum())
            n_choice = n_choice + float(en.expand_as(err).sum())
    B = next(iter(targets.values()))["enabled"].shape[0]
    l_en = torch.stack(bce).sum() / (B * len(bce))
    zero = l_en.new_zeros(())
    l_cont = torch.stack(huber).sum() / max(n_cont, 1.0) if huber else zero
    l_choice = torch.stack(ce).sum() / max(n_choice, 1.0) if ce else zero
    loss = enabled_weight * l_en + continuous_weight * l_cont + choice_weight * l_choice
    return loss, {"enabled": float(l_en.detach()), "continuous": float(l_cont.detach()), "choice": float(l_choice.detach())}


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor,
                               fft_sizes: tuple[int, ...] = (256, 512, 1024)) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over resolutions.

    ``pred``/``target`` [B, C, T] (any rate); hop = fft/4, Hann window. Log magnitudes use a
    floor of 1e-5 (-100 dB) so near-silent bins do not dominate.
    """
    x = pred.reshape(-1, pred.shape[-1])
    y = target.reshape(-1, target.shape[-1])
    total = x.new_zeros(())
    for n_fft in fft_sizes:
        if x.shape[-1] < n_fft:
            continue
        window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
        X = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()
        Y = torch.stft(y, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()
        sc = torch.linalg.norm(Y - X, dim=(-2, -1)) / torch.linalg.norm(Y, dim=(-2, -1)).clamp_min(1e-5)
        logmag = (torch.log(X.clamp_min(1e-5)) - torch.log(Y.clamp_min(1e-5))).abs().mean(dim=(-2, -1))
        total = total + (sc + logmag).mean()
    return total / len(fft_sizes)


class ClapAudioLoss:
    """1 − cosine similarity of LAION-CLAP audio embeddings of two renders (differentiable).

    Loading errors are raised (DependencyError without the ``clap`` extra, CheckpointError for
    a missing or unreadable checkpoint): the term is never silently replaced by a constant.
    """

    CLAP_RATE = 48000

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"CLAP checkpoint not found: {path}")
        try:
            import laion_clap  # type: ignore[import-not-found]
        except ImportError:
            raise DependencyError(
                "--clap-checkpoint needs the optional CLAP extra: pip install 'audiomanip[clap]'"
            ) from None
        try:
            self.model = laion_clap.CLAP_Module(enable_fusion=False, device=device)
            self.model.load_ckpt(str(path), verbose=False)
        except Exception as exc:  # noqa: BLE001 - any failure of the third-party loader
            raise CheckpointError(f"cannot load the CLAP checkpoint {path}: {type(exc).__name__}: {exc}") from None
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def __call__(self, pred: Any, target: Any, sample_rate: int) -> Any:
        from audiomanip.model.audio_context import resample_fft

        x = resample_fft(pred.mean(dim=1), sample_rate, self.CLAP_RATE)
        y = resample_fft(target.mean(dim=1), sample_rate, self.CLAP_RATE)
        ex = self.model.get_audio_embedding_from_data(x=x, use_tensor=True)
        with torch.no_grad():
            ey = self.model.get_audio_embedding_from_data(x=y, use_tensor=True)
        return (1.0 - torch.nn.functional.cosine_similarity(ex, ey, dim=-1)).mean()

"""Small helpers shared by the loss modules (float32 reductions of raw critic outputs)."""
from __future__ import annotations

from typing import Any

import torch

from gan_models.losses.base import as_critic_output, score_of


def score32(out: Any) -> torch.Tensor:
    """The raw critic output, (B,) or a patch map (B, ...), in float32 (autocast-safe reductions).

    Non-linear losses are applied **per element** and then averaged (pix2pix / CycleGAN PatchGAN
    convention); for a (B,) score, or for losses linear in D, this equals averaging per sample first.
    Multi-scale critics: call the loss once per scale and sum (pix2pixHD).
    """
    s = as_critic_output(out).score
    if s is None:
        raise ValueError("this loss needs a critic score, but the discriminator returned none")
    if s.dim() == 0:
        raise ValueError("critic scores must have a batch dimension, got a 0-d tensor")
    return s.float()


def sample_score32(out: Any) -> torch.Tensor:
    """Per-sample score (B,) in float32 (patch maps averaged per sample, ``score_of``)."""
    return score_of(out).float()


def features32(out: Any, what: str) -> torch.Tensor:
    """Per-sample feature matrix (B, d) in float32 from ``CriticOutput.features``."""
    f = as_critic_output(out).features
    if f is None:
        raise ValueError(f"{what} needs CriticOutput.features from the critic, but it returned none")
    return f.reshape(f.shape[0], -1).float()


def require_real(real_out: Any, what: str) -> Any:
    if real_out is None:
        raise ValueError(f"{what}: the generator loss needs real_out (the critic's output on a real batch); "
                         f"the system must honour loss.needs_real_in_g")
    return real_out


def same_batch(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what} pairs real and fake samples and needs equal batch sizes, got "
                         f"{a.shape[0]} and {b.shape[0]}")

"""Spectral normalisation as a network option (Miyato et al., ICLR 2018), via torch's parametrization.

``apply_spectral_norm(module)`` wraps every Conv{1,2,3}d, ConvTranspose{1,2,3}d, Linear and Embedding weight
with :func:`torch.nn.utils.parametrizations.spectral_norm` (W / σ(W), σ by power iteration on W reshaped to
(out, −1); ConvTranspose uses dim = 1 as torch does).  torch's behaviour (GAN_NOTES §5.8): u, v are buffers,
updated by ``n_power_iterations`` iterations per forward **only in training mode** (``eval()`` reuses them),
15 warm-up iterations at registration.  σ is the spectral norm of the reshaped kernel matrix (the SNGAN
convention), not the exact operator norm of the convolution.  Already-normalised weights are left alone.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

SN_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
            nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """Apply SN in place to every Conv/ConvTranspose/Linear/Embedding of ``module``; returns ``module``."""
    if n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be >= 1, got {n_power_iterations}")
    targets = [m for m in module.modules() if isinstance(m, SN_TYPES)]
    for m in targets:
        if parametrize.is_parametrized(m, "weight"):
            continue
        spectral_norm(m, name="weight", n_power_iterations=n_power_iterations, eps=eps)
    return module


def has_spectral_norm(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight") and any(
        type(p).__name__ == "_SpectralNorm" for p in module.parametrizations["weight"])

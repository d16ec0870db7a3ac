"""Kernels and MMD² estimators for GMMN and MMD-GAN (pure functions, float32/float64, differentiable).

**Bandwidth convention (fixed for the whole project):** the Gaussian RBF kernel with bandwidth σ is
k_σ(x, y) = exp(−‖x − y‖² / (2σ²)); a "mixture" is the **sum** Σ_σ k_σ over the bandwidth list (as in the
official MMD-GAN code, ``gamma = 1 / (2 sigma**2)``, and GMMN).  Code elsewhere that calls 2σ² "the
bandwidth" differs by that factor.  Rational quadratic (Bińkowski et al., "Demystifying MMD GANs", 2018):
k_α(x, y) = (1 + ‖x − y‖²/(2α))^(−α), summed over α ∈ {0.2, 0.5, 1, 2, 5}.

MMD² estimators (Gretton et al., JMLR 2012), for samples X (m, d) and Y (n, d):
biased  = mean K_XX + mean K_YY − 2 mean K_XY   (V-statistic, ≥ 0, what MMD-GAN and GMMN use);
unbiased = Σ_{i≠j} K_XX/(m(m−1)) + Σ_{i≠j} K_YY/(n(n−1)) − 2 mean K_XY   (can be < 0: clamp before sqrt).

Median heuristic: σ_med = sqrt(median{‖z_i − z_j‖² : i < j} / 2) over the pooled sample, i.e. the kernel
equals exp(−1) at the median squared distance; computed without gradient.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

MMD_GAN_SIGMAS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
GMMN_SIGMAS: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
RQ_ALPHAS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)


def _flat(x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"MMD needs a non-empty batch, got shape {tuple(x.shape)}")
    x = x.reshape(x.shape[0], -1)
    return x if x.dtype == torch.float64 else x.float()


def pairwise_sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x_i − y_j‖² (m, n) via ‖x‖² + ‖y‖² − 2xᵀy clamped at 0 (finite gradient at zero distance)."""
    x, y = _flat(x), _flat(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"MMD samples have different dimensions: {x.shape[1]} and {y.shape[1]}")
    d = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    return d.clamp_min(0.0)


def rbf_mixture(sq_dists: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Σ_σ exp(−d² / (2σ²))."""
    sigmas = [float(s) for s in sigmas]
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"RBF bandwidths must be a non-empty list of positive numbers, got {sigmas}")
    return sum(torch.exp(-sq_dists / (2.0 * s * s)) for s in sigmas)


def rational_quadratic_mixture(sq_dists: torch.Tensor, alphas: Sequence[float] = RQ_ALPHAS) -> torch.Tensor:
    """Σ_α (1 + d²/(2α))^(−α)."""
    alphas = [float(a) for a in alphas]
    if not alphas or min(alphas) <= 0:
        raise ValueError(f"rational-quadratic alphas must be positive, got {alphas}")
    return sum(torch.pow(1.0 + sq_dists / (2.0 * a), -a) for a in alphas)


@torch.no_grad()
def median_heuristic_sigma(x: torch.Tensor, y: torch.Tensor | None = None) -> float:
    """σ_med = sqrt(median pairwise squared distance / 2) of the pooled sample (distinct pairs only)."""
    z = _flat(x) if y is None else torch.cat([_flat(x), _flat(y)], 0)
    if z.shape[0] < 2:
        raise ValueError("the median heuristic needs at least 2 samples")
    d = pairwise_sq_dists(z, z)
    iu = torch.triu_indices(z.shape[0], z.shape[0], offset=1, device=d.device)
    med = d[iu[0], iu[1]].median()
    if not med > 0:
        raise ValueError("median heuristic: all samples coincide (median distance 0)")
    return float(torch.sqrt(med / 2.0))


def mmd2_from_kernels(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor,
                      biased: bool = True) -> torch.Tensor:
    m, n = k_xx.shape[0], k_yy.shape[0]
    if biased:
        return k_xx.mean() + k_yy.mean() - 2.0 * k_xy.mean()
    if m < 2 or n < 2:
        raise ValueError("the unbiased MMD² estimator needs at least 2 samples per side")
    xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return xx + yy - 2.0 * k_xy.mean()


def mmd2(x: torch.Tensor, y: torch.Tensor, kernel: Callable[[torch.Tensor], torch.Tensor],
         biased: bool = True) -> torch.Tensor:
    """MMD² between samples x (m, ...) and y (n, ...) for ``kernel`` applied to squared distances."""
    return mmd2_from_kernels(kernel(pairwise_sq_dists(x, x)), kernel(pairwise_sq_dists(x, y)),
                             kernel(pairwise_sq_dists(y, y)), biased=biased)


def rbf_mmd2(x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = MMD_GAN_SIGMAS,
             biased: bool = True) -> torch.Tensor:
    return mmd2(x, y, lambda d: rbf_mixture(d, sigmas), biased)


def rq_mmd2(x: torch.Tensor, y: torch.Tensor, alphas: Sequence[float] = RQ_ALPHAS,
            biased: bool = True) -> torch.Tensor:
    return mmd2(x, y, lambda d: rational_quadratic_mixture(d, alphas), biased)


def gaussian_rbf_mmd2_closed_form(mu_sq_norm: float, dim: int, sigma: float) -> float:
    """Population MMD² of N(0, I_d) vs N(μ, I_d) for a single RBF k_σ:
    2 (σ²/(σ²+2))^(d/2) (1 − exp(−‖μ‖²/(2(σ²+2)))).  (Reference value for tests and sanity checks.)"""
    import math
    s2 = sigma * sigma
    return 2.0 * (s2 / (s2 + 2.0)) ** (dim / 2.0) * (1.0 - math.exp(-mu_sq_norm / (2.0 * (s2 + 2.0))))

"""Gradient penalties on a critic: WGAN-GP, WGAN-LP, WGAN-div, R1 and DRAGAN (registered in ``REGULARIZERS``).

Signature of every registered regularizer: ``(critic, real, fake, *, weight, ..., critic_kwargs=None)
-> LossTerms`` with ``total = weight * penalty`` and the unweighted penalty in ``parts``.  ``critic`` is a
callable mapping a batch (plus ``**critic_kwargs``, e.g. the *real* batch's class labels for a conditional
critic, GAN_NOTES §5.5.5) to raw outputs: a tensor or a ``CriticOutput`` whose per-sample score is used
(patch maps are averaged per sample by ``score_of``).

Implementation checklist (GAN_NOTES §5.5, §5.12), each item covered by a test:

* inputs are built from ``real.detach()`` / ``fake.detach()`` and then ``requires_grad_(True)``, so no
  gradient ever reaches the generator through a penalty;
* ε ~ U[0, 1] is drawn **per sample** with shape (B, 1, ..., 1) (torchgan draws one scalar per batch);
* ``torch.autograd.grad(create_graph=True)`` (double backward, DDP-safe: out of place);
* gradients are flattened to (B, -1) and the norm is taken **per sample** over all of C, H, W (not per pixel
  as in PyTorch-GAN #20 / mmgen ``norm_mode='pixel'``, not over the whole batch as in torchgan);
* the norm is ``sqrt(sum g² + eps)`` with eps = 1e-10 inside the sqrt (TF-GAN), so a zero gradient gives a
  finite penalty gradient instead of NaN;
* the squared norm is accumulated in float32 even when the critic ran under bf16 autocast.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from gan_models.losses.base import LossTerms, score_of
from gan_models.registry import REGULARIZERS

NORM_EPS = 1e-10


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.shape != fake.shape:
        raise ValueError(f"gradient penalty needs real and fake batches of the same shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    if not real.is_floating_point():
        raise TypeError(f"gradient penalty needs floating-point inputs, got {real.dtype}")


def interpolates(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """x̂ = ε·x + (1 − ε)·x̃ with ε ~ U[0,1] per sample (shape (B, 1, ..., 1)); detached, requires grad."""
    _check_pair(real, fake)
    real, fake = real.detach(), fake.detach()
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype,
                     generator=generator)
    return (eps * real + (1.0 - eps) * fake).requires_grad_(True)


def critic_input_grad(critic: Callable[..., Any], x: torch.Tensor,
                      critic_kwargs: dict[str, Any] | None = None) -> torch.Tensor:
    """∇_x Σ_i D(x)_i with ``create_graph=True``, flattened per sample to (B, -1), float32."""
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    out = score_of(critic(x, **(critic_kwargs or {})))
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(grad.shape[0], -1).float()


def per_sample_sq_norm(grad_flat: torch.Tensor) -> torch.Tensor:
    return grad_flat.pow(2).sum(dim=1)


def per_sample_norm(grad_flat: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """‖g_i‖₂ with eps inside the sqrt (finite gradient at g = 0)."""
    return torch.sqrt(per_sample_sq_norm(grad_flat) + eps)


def _terms(weight: float, penalty: torch.Tensor, name: str, norms: torch.Tensor) -> LossTerms:
    return LossTerms(weight * penalty, {name: penalty.detach(), "grad_norm": norms.detach().mean()})


@REGULARIZERS.register("gradient_penalty")
def gradient_penalty(critic, real, fake, *, weight: float = 10.0, center: float = 1.0,
                     eps: float = NORM_EPS, critic_kwargs: dict[str, Any] | None = None,
                     generator: torch.Generator | None = None) -> LossTerms:
    """WGAN-GP two-sided penalty λ·E_x̂[(‖∇D(x̂)‖₂ − 1)²] (Gulrajani et al. 2017, Alg. 1; λ = 10)."""
    g = critic_input_grad(critic, interpolates(real, fake, generator), critic_kwargs)
    norms = per_sample_norm(g, eps)
    return _terms(weight, (norms - center).pow(2).mean(), "gp", norms)


@REGULARIZERS.register("lipschitz_penalty")
def lipschitz_penalty(critic, real, fake, *, weight: float = 10.0, eps: float = NORM_EPS,
                      critic_kwargs: dict[str, Any] | None = None,
                      generator: torch.Generator | None = None) -> LossTerms:
    """WGAN-LP one-sided penalty λ·E_x̂[max(0, ‖∇D(x̂)‖₂ − 1)²] (Petzka et al., ICLR 2018).

    Zero whenever the critic is 1-Lipschitz on the sampled points.  x̂ is sampled on the lines between real
    and fake points as in WGAN-GP (the paper's Sec. 5 setting, its eq. (8) with τ = the interpolation
    distribution; λ defaults to 10 as in TF-GAN/LynnHo; see docs/losses.md).
    """
    g = critic_input_grad(critic, interpolates(real, fake, generator), critic_kwargs)
    norms = per_sample_norm(g, eps)
    return _terms(weight, torch.relu(norms - 1.0).pow(2).mean(), "lp", norms)


@REGULARIZERS.register("wgan_div_penalty")
def wgan_div_penalty(critic, real, fake, *, k: float = 2.0, p: float = 6.0, sampling: str = "real_fake",
                     critic_kwargs: dict[str, Any] | None = None,
                     generator: torch.Generator | None = None) -> LossTerms:
    """WGAN-div penalty k·E[‖∇D(x̂)‖₂^p] (Wu et al., ECCV 2018; k = 2, p = 6).

    No "−1" target and no extra square: ‖∇‖^p is computed as (Σ g²)^(p/2).  ``sampling``:
    ``"real_fake"`` (default; the authors' released code and PyTorch-GAN: the penalty is evaluated at the
    real and at the fake points, k/2·(E‖∇D(x)‖^p + E‖∇D(x̃)‖^p) = k·E over the union) or ``"interpolate"``
    (x̂ on real-fake lines as WGAN-GP).  The weight of the term is ``k``.
    """
    if sampling == "real_fake":
        _check_pair(real, fake)
        points = torch.cat([real.detach(), fake.detach()], dim=0).requires_grad_(True)
        kw = critic_kwargs or {}
        kw = {key: (torch.cat([v, v], 0) if isinstance(v, torch.Tensor) else v) for key, v in kw.items()}
        g = critic_input_grad(critic, points, kw)
    elif sampling == "interpolate":
        g = critic_input_grad(critic, interpolates(real, fake, generator), critic_kwargs)
    else:
        raise ValueError(f"wgan_div sampling must be 'real_fake' or 'interpolate', got {sampling!r}")
    sq = per_sample_sq_norm(g)
    penalty = sq.pow(p / 2.0).mean()
    return LossTerms(k * penalty, {"div": penalty.detach(), "grad_norm": sq.detach().sqrt().mean()})


@REGULARIZERS.register("r1")
def r1_penalty(critic, real, fake=None, *, gamma: float = 10.0,
               critic_kwargs: dict[str, Any] | None = None) -> LossTerms:
    """R1 (Mescheder et al., ICML 2018): γ/2 · E_x~P[‖∇D(x)‖₂²] on real data only (γ = 10 default)."""
    if not real.is_floating_point():
        raise TypeError(f"R1 needs floating-point inputs, got {real.dtype}")
    g = critic_input_grad(critic, real.detach().requires_grad_(True), critic_kwargs)
    sq = per_sample_sq_norm(g)
    penalty = sq.mean()
    return LossTerms(0.5 * gamma * penalty, {"r1": penalty.detach(), "grad_norm": sq.detach().sqrt().mean()})


@REGULARIZERS.register("dragan")
def dragan_penalty(critic, real, fake=None, *, weight: float = 10.0, center: float = 1.0, noise: str = "code",
                   scale: float = 0.5, c: float = 10.0, eps: float = NORM_EPS,
                   critic_kwargs: dict[str, Any] | None = None,
                   generator: torch.Generator | None = None) -> LossTerms:
    """DRAGAN (Kodali, Abernethy, Hays, Kira, "On Convergence and Stability of GANs", 2017):
    λ·E[(‖∇D(x̂)‖₂ − k)²] at points x̂ **near the real data** (no fakes involved), λ = 10, k = 1.

    ``noise``: ``"code"`` (default) the authors' released code (kodalinaveen3/DRAGAN, copied by most
    re-implementations): x_p = x + ``scale``·std(x)·u, u ~ U[0, 1) per element (std over the whole real batch,
    ``scale`` = 0.5; the one-sided noise is the code's), then x̂ = x + α(x_p − x) with α ~ U[0, 1] per sample;
    ``"paper"``: x̂ = x + δ, δ ~ N(0, c·I) with c = 10 (the paper's Sec. 4 "c ∼ 10").  Gradients never reach
    the generator (only real data is used); per-sample flattened norms as the other penalties.
    """
    if not real.is_floating_point():
        raise TypeError(f"DRAGAN needs floating-point inputs, got {real.dtype}")
    x = real.detach()
    if noise == "code":
        u = torch.rand(x.shape, device=x.device, dtype=x.dtype, generator=generator)
        perturbed = x + scale * x.std() * u
        alpha = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype,
                           generator=generator)
        points = x + alpha * (perturbed - x)
    elif noise == "paper":
        points = x + (c ** 0.5) * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    else:
        raise ValueError(f"dragan noise must be 'code' or 'paper', got {noise!r}")
    g = critic_input_grad(critic, points.requires_grad_(True), critic_kwargs)
    norms = per_sample_norm(g, eps)
    return _terms(weight, (norms - center).pow(2).mean(), "dragan", norms)

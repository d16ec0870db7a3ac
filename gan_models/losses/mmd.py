"""Kernel-MMD losses: GMMN (fixed kernel, no discriminator) and MMD-GAN (adversarially learned kernel).

Kernel conventions and estimators: :mod:`gan_models.losses.kernels` (k_σ = exp(−‖x−y‖²/(2σ²)), mixtures
are sums).  sqrt(MMD²) is taken as ``sqrt(max(MMD², 1e-12))``: the estimate is clamped (the unbiased one can
be negative) and the floor keeps the gradient finite where the official code's ``sqrt(relu(·))`` gives NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from gan_models.losses._common import features32, require_real
from gan_models.losses.base import AdversarialLoss, CriticOutput, LossTerms, OptimizerSpec
from gan_models.losses.kernels import (GMMN_SIGMAS, MMD_GAN_SIGMAS, RQ_ALPHAS, median_heuristic_sigma, mmd2,
                                       rational_quadratic_mixture, rbf_mixture)
from gan_models.losses.ipm import WGAN, WGAN_RMSPROP
from gan_models.registry import LOSSES

SQRT_FLOOR = 1e-12


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x.clamp_min(SQRT_FLOOR))


def _kernel(kind: str, sigmas, alphas):
    if kind == "rbf":
        return lambda d: rbf_mixture(d, sigmas)
    if kind == "rq":
        return lambda d: rational_quadratic_mixture(d, alphas)
    raise ValueError(f"MMD kernel must be 'rbf' or 'rq', got {kind!r}")


def _samples(out: Any) -> torch.Tensor:
    """GMMN samples: a tensor, or ``CriticOutput.input`` (pixel space) / ``.features`` (code space)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, CriticOutput):
        if out.features is not None:
            return out.features
        if out.input is not None:
            return out.input
    raise ValueError("GMMN needs the samples themselves (a tensor, or CriticOutput.features / .input)")


@LOSSES.register("gmmn")
@dataclass
class GMMN(AdversarialLoss):
    """Generative moment matching network (Li, Swersky, Zemel, ICML 2015): no discriminator.

    L_G = sqrt(MMD²_biased(X, G(z))) with a sum of RBF kernels, σ ∈ {2, 5, 10, 20, 40, 80}
    (the paper optimises the square root of the MMD², which it found to work better; ``sqrt=False`` gives
    MMD² itself).  Samples are compared in pixel space (GMMN) or in an auto-encoder's code space (GMMN+AE:
    pass the codes).  Pixel-space bandwidths depend on the data dimension and range: with
    ``median_heuristic=True`` the bandwidths become σ_med × ``median_multipliers`` computed on each batch.
    ``kernel="rq"`` uses the rational-quadratic mixture instead.  The paper tuned SGD-with-momentum
    hyper-parameters per dataset by Bayesian optimisation (no single published value); we default to
    Adam(2e-4, β1 0.5).  The system has no D phase (``uses_discriminator = False``, ``n_critic = 0``).
    """
    uses_discriminator: ClassVar[bool] = False
    needs_real_in_g: ClassVar[bool] = True
    critic_output: ClassVar[str] = "samples"
    g_optimizer: ClassVar[OptimizerSpec] = OptimizerSpec("adam", 2e-4, (0.5, 0.999))
    n_critic: int = 0
    kernel: str = "rbf"
    sigmas: tuple[float, ...] = GMMN_SIGMAS
    alphas: tuple[float, ...] = RQ_ALPHAS
    median_heuristic: bool = False
    median_multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    biased: bool = True
    sqrt: bool = True

    def __post_init__(self) -> None:
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.alphas = tuple(float(a) for a in self.alphas)
        _kernel(self.kernel, self.sigmas, self.alphas)
        if self.n_critic != 0:
            raise ValueError("gmmn has no discriminator; n_critic must stay 0")

    def critic_repeats(self, step: int) -> int:
        return 0

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        raise RuntimeError("gmmn has no discriminator (uses_discriminator = False): systems must skip the D phase")

    def bandwidths(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, ...]:
        if not self.median_heuristic:
            return self.sigmas
        med = median_heuristic_sigma(x.detach(), y.detach())
        return tuple(med * m for m in self.median_multipliers)

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        x = _samples(require_real(real_out, "gmmn")).detach()
        y = _samples(fake_out)
        sig = self.bandwidths(x, y)
        m2 = mmd2(x, y, _kernel(self.kernel, sig, self.alphas), biased=self.biased)
        total = safe_sqrt(m2) if self.sqrt else m2
        return LossTerms(total, {"mmd2": m2.detach()})


@LOSSES.register("mmd_gan")
@dataclass
class MMDGAN(WGAN):
    """MMD GAN (Li, Chang, Cheng, Yang, Póczos, NeurIPS 2017), signs as the official code (OctoberChang/MMD-GAN).

    The critic is an auto-encoder: ``CriticOutput(features=f_enc(x) (B, k), recon=f_dec(f_enc(x)), input=x)``.
    With M = sqrt(max(MMD²_biased(f(X), f(Y)), ·)) over the RBF mixture σ ∈ {1, 2, 4, 8, 16},
    one_sided(d) = −mean(relu(−d)) applied to d = mean f(X) − mean f(Y), and
    AE_X = mean((x − dec(f(x)))²), AE_Y likewise for fakes (per-element mean, as ``util.match(.., 'L2')``):
    the critic **maximises** M + λ_rg·one_sided − λ_AE(AE_X + AE_Y), i.e. L_D = −(that);
    the generator minimises L_G = M + λ_rg·one_sided.  λ_rg = 16, λ_AE = 8 (both sides), RMSProp 5e-5,
    n_critic 5 (``critic_warmup=True`` adds the code's 100 critic steps for the first 25 generator steps and
    every 500th), encoder weights clipped to ±0.01 after each critic step — mark the **decoder** with
    ``exempt_from_weight_clip = True`` (the official code never clips it).
    """
    critic_output: ClassVar[str] = "features"
    needs_real_in_g: ClassVar[bool] = True
    d_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    g_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    kernel: str = "rbf"
    sigmas: tuple[float, ...] = MMD_GAN_SIGMAS
    alphas: tuple[float, ...] = RQ_ALPHAS
    lambda_rg: float = 16.0
    lambda_ae: float = 8.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sigmas = tuple(float(s) for s in self.sigmas)
        self.alphas = tuple(float(a) for a in self.alphas)
        _kernel(self.kernel, self.sigmas, self.alphas)

    def _mmd_and_rank(self, real_out: Any, fake_out: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fx, fy = features32(real_out, "mmd_gan"), features32(fake_out, "mmd_gan")
        m2 = mmd2(fx, fy, _kernel(self.kernel, self.sigmas, self.alphas), biased=True)
        one_sided = -torch.relu(-(fx.mean(dim=0) - fy.mean(dim=0))).mean()
        return safe_sqrt(m2), m2, one_sided

    @staticmethod
    def _reconstruction(out: Any) -> torch.Tensor:
        o = out if isinstance(out, CriticOutput) else None
        if o is None or o.recon is None or o.input is None:
            raise ValueError("mmd_gan's critic loss needs CriticOutput.recon and .input (the auto-encoder)")
        r, x = o.recon.reshape(o.recon.shape[0], -1), o.input.reshape(o.input.shape[0], -1)
        if r.shape != x.shape:
            raise ValueError(f"mmd_gan reconstruction shape {tuple(r.shape)} != input shape {tuple(x.shape)}")
        return (x.float() - r.float()).pow(2).mean()

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        mmd, m2, one_sided = self._mmd_and_rank(real_out, fake_out)
        ae_x, ae_y = self._reconstruction(real_out), self._reconstruction(fake_out)
        objective = mmd + self.lambda_rg * one_sided - self.lambda_ae * (ae_x + ae_y)
        return LossTerms(-objective, {"mmd2": m2.detach(), "one_sided": one_sided.detach(),
                                      "ae_real": ae_x.detach(), "ae_fake": ae_y.detach()})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        mmd, m2, one_sided = self._mmd_and_rank(require_real(real_out, "mmd_gan"), fake_out)
        return LossTerms(mmd + self.lambda_rg * one_sided, {"mmd2": m2.detach(), "one_sided": one_sided.detach()})

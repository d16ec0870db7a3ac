"""Integral-probability-metric losses: WGAN (clipping, GP, LP, div), hinge, McGAN (mean, covariance), Fisher GAN.

Raw critic values in, a :class:`LossTerms` to **minimise** out.  Critic-side constraints are not in the loss
value: gradient penalties come from ``default_regularizers`` (applied by
``gan_models.regularizers.apply_regularizers``), weight clipping / Stiefel retraction / Fisher's λ update
from ``loss.after_critic_step(critic, terms)``.  Systems call exactly those two and never special-case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from gan_models.losses._common import features32, require_real, score32
from gan_models.losses.base import AdversarialLoss, LossTerms, OptimizerSpec
from gan_models.registry import LOSSES

WGAN_RMSPROP = OptimizerSpec("rmsprop", 5e-5)                # Arjovsky et al. 2017, Alg. 1
GP_ADAM = OptimizerSpec("adam", 1e-4, (0.0, 0.9))            # Gulrajani et al. 2017, Alg. 1
DCGAN_ADAM = OptimizerSpec("adam", 2e-4, (0.5, 0.999))         # DCGAN / Fisher GAN README runs
SNGAN_ADAM = OptimizerSpec("adam", 2e-4, (0.0, 0.9))         # Miyato et al. 2018, ResNet/hinge setting
DIV_ADAM = OptimizerSpec("adam", 2e-4, (0.5, 0.999))         # WGAN-div (PyTorch-GAN port; see WGANDiv)


def _wasserstein_terms(real_out: Any, fake_out: Any) -> LossTerms:
    real = -score32(real_out).mean()
    fake = score32(fake_out).mean()
    return LossTerms(real + fake, {"real": real, "fake": fake, "wdist": -(real + fake).detach()})


def _wasserstein_g(fake_out: Any) -> LossTerms:
    fake = -score32(fake_out).mean()
    return LossTerms(fake, {"fake": fake})


@LOSSES.register("wgan")
@dataclass
class WGAN(AdversarialLoss):
    """WGAN with weight clipping (Arjovsky, Chintala, Bottou, ICML 2017, Algorithm 1).

    L_D = E[D(x̃)] − E[D(x)], L_G = −E[D(x̃)].  Constants: c = 0.01 (all critic weights clamped to [−c, c]
    after every critic step), RMSProp lr 5e-5 for both nets (the paper warns that momentum optimisers such as
    Adam destabilise it; StudioGAN's Adam default is the known mistake), n_critic = 5.
    ``critic_warmup``: the authors' *code* (not the algorithm box) runs 100 critic iterations for the first 25
    generator iterations and on every 500th; off by default, on to reproduce the released code.
    """
    d_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    g_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    n_critic: int = 5
    clip_weights: float | None = 0.01
    critic_warmup: bool = False
    warmup_iters: int = 100

    def __post_init__(self) -> None:
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.clip_weights is not None and not self.clip_weights > 0:
            raise ValueError(f"clip_weights must be > 0 or None, got {self.clip_weights}")

    def critic_repeats(self, step: int) -> int:
        if self.critic_warmup and (step < 25 or step % 500 == 0):
            return int(self.warmup_iters)
        return int(self.n_critic)

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        return _wasserstein_terms(real_out, fake_out)

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        return _wasserstein_g(fake_out)


@LOSSES.register("wgan_gp")
@dataclass
class WGANGP(WGAN):
    """WGAN-GP (Gulrajani et al., NeurIPS 2017, Algorithm 1): WGAN loss + λ·E(‖∇D(x̂)‖₂ − 1)².

    λ = 10, n_critic = 5, Adam(1e-4, β = (0, 0.9)) for both nets, no weight clipping, **no BatchNorm in the
    critic** (``critic_norm = "none"``: use layer/instance/group norm).  The penalty is the registered
    ``gradient_penalty`` regularizer (per-sample ε, per-sample flattened norms).
    """
    d_optimizer: ClassVar[OptimizerSpec] = GP_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = GP_ADAM
    critic_norm: ClassVar[str] = "none"
    penalty: ClassVar[str] = "gradient_penalty"
    clip_weights: float | None = None
    gp_weight: float = 10.0

    @property
    def default_regularizers(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return ((self.penalty, {"weight": self.gp_weight}),)


@LOSSES.register("wgan_lp")
@dataclass
class WGANLP(WGANGP):
    """WGAN-LP (Petzka, Fischer, Lukovnicov, ICLR 2018): one-sided λ·E[max(0, ‖∇D(x̂)‖₂ − 1)²].

    Same sampling (real–fake lines), λ = 10 and optimiser as WGAN-GP (the paper compares the two under
    the GP paper's settings); registered penalty ``lipschitz_penalty``.
    """
    penalty: ClassVar[str] = "lipschitz_penalty"


@LOSSES.register("wgan_div")
@dataclass
class WGANDiv(WGAN):
    """WGAN-div (Wu et al., ECCV 2018): L_D = E D(x̃) − E D(x) + k·E‖∇D(x̂)‖^p, k = 2, p = 6.

    No "−1" target and no square on the penalty (``wgan_div_penalty``).  x̂: ``sampling = "real_fake"``
    (the gradient at real and fake points, the authors' code and PyTorch-GAN) or ``"interpolate"``.
    Optimiser: Adam(2e-4, β = (0.5, 0.999)), n_critic = 5 (as PyTorch-GAN's port; the paper's DCGAN/ResNet
    settings are not restated here — see docs/losses.md).  Critic without BatchNorm.
    """
    d_optimizer: ClassVar[OptimizerSpec] = DIV_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = DIV_ADAM
    critic_norm: ClassVar[str] = "none"
    clip_weights: float | None = None
    k: float = 2.0
    p: float = 6.0
    sampling: str = "real_fake"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampling not in ("real_fake", "interpolate"):
            raise ValueError(f"wgan_div sampling must be 'real_fake' or 'interpolate', got {self.sampling!r}")

    @property
    def default_regularizers(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return (("wgan_div_penalty", {"k": self.k, "p": self.p, "sampling": self.sampling}),)


@LOSSES.register("hinge")
@dataclass
class HingeGAN(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017 "Geometric GAN"; Tran et al. 2017; Miyato et al. 2018 SNGAN):
    L_D = E[max(0, 1 − D(x))] + E[max(0, 1 + D(x̃))], L_G = −E[D(x̃)].

    Defaults: SNGAN's ResNet/hinge setting Adam(2e-4, β = (0, 0.9)), n_critic = 5 (SAGAN/BigGAN use TTUR and
    fewer critic steps: set them in the preset).  Usually paired with ``spectral_norm: true`` on D.
    """
    d_optimizer: ClassVar[OptimizerSpec] = SNGAN_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = SNGAN_ADAM
    n_critic: int = 5
    margin: float = 1.0

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real = torch.relu(self.margin - score32(real_out)).mean()
        fake = torch.relu(self.margin + score32(fake_out)).mean()
        return LossTerms(real + fake, {"real": real, "fake": fake})

    def decision_threshold(self) -> float | None:
        return 0.0                      # the middle of the margin band [-m, m]

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        return _wasserstein_g(fake_out)


# --------------------------------------------------------------------------------------------------
# McGAN (Mroueh, Sercu, Goel, ICML 2017)
# --------------------------------------------------------------------------------------------------
def dual_norm(x: torch.Tensor, q: float, eps: float = 1e-12) -> torch.Tensor:
    """‖x‖_q of a vector, smooth at 0 for finite q (eps inside the root)."""
    if q == float("inf"):
        return x.abs().max()
    if q == 2.0:
        return torch.sqrt(x.pow(2).sum() + eps)
    return (x.abs().pow(q).sum() + eps) ** (1.0 / q)


@LOSSES.register("mcgan_mean")
@dataclass
class McGANMean(AdversarialLoss):
    """McGAN mean matching, IPM_{μ,q}(P, Q) = max_ω ‖μ_ω(P) − μ_ω(Q)‖_q with μ_ω = E Φ_ω(x).

    The critic's maximisation over v in the ℓ_p unit ball (1/p + 1/q = 1) is solved in closed form (the dual
    norm of the mean difference), so the critic is the feature map Φ_ω alone (``CriticOutput.features``,
    (B, m)), weight-clipped to c = 0.01 as in WGAN.  L_D = −‖μ_P − μ_Q‖_q; L_G = ‖μ_P − μ_Q‖_q (needs the
    real features in the G step).  q = 2 is the paper's ℓ2 mean matching; q = ∞ corresponds to p = 1.
    Optimiser: RMSProp 5e-5, n_critic 5 (the WGAN settings the paper builds on; not restated in the paper).
    """
    critic_output: ClassVar[str] = "features"
    needs_real_in_g: ClassVar[bool] = True
    d_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    g_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    q: float = 2.0
    n_critic: int = 5
    clip_weights: float | None = 0.01

    def __post_init__(self) -> None:
        if not self.q >= 1.0:
            raise ValueError(f"McGAN q must be >= 1 (or inf), got {self.q}")

    def mean_difference(self, real_out: Any, fake_out: Any) -> torch.Tensor:
        fr, ff = features32(real_out, "mcgan_mean"), features32(fake_out, "mcgan_mean")
        if fr.shape[1] != ff.shape[1]:
            raise ValueError(f"mcgan_mean: real and fake feature sizes differ ({fr.shape[1]} vs {ff.shape[1]})")
        return fr.mean(dim=0) - ff.mean(dim=0)

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        ipm = dual_norm(self.mean_difference(real_out, fake_out), self.q)
        return LossTerms(-ipm, {"ipm_mean": ipm.detach()})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        ipm = dual_norm(self.mean_difference(require_real(real_out, "mcgan_mean"), fake_out), self.q)
        return LossTerms(ipm, {"ipm_mean": ipm})


@LOSSES.register("mcgan_cov")
@dataclass
class McGANCov(WGAN):
    """McGAN covariance matching: IPM_Σ = sum of the top-k singular values of Σ_ω(P) − Σ_ω(Q).

    The critic ends in :class:`gan_models.regularizers.stiefel.McGANCovHead` (features Φ (B, m) →
    f = ⟨UᵀΦ, VᵀΦ⟩, U, V ∈ R^{m×k} with orthonormal columns), so IPM_Σ = E_P f − E_Q f and the losses are the
    WGAN ones on f: L_D = E_Q f − E_P f, L_G = −E_Q f.  After each critic step ``after_critic_step`` clips the
    feature network (c = 0.01; the head is exempt) and QR-retracts U and V onto the Stiefel manifold.
    k is a property of the head (the paper uses k up to the feature size; choose it in the network config).
    """
    d_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP
    g_optimizer: ClassVar[OptimizerSpec] = WGAN_RMSPROP

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        t = _wasserstein_terms(real_out, fake_out)
        parts = dict(t.parts)
        parts["ipm_cov"] = parts.pop("wdist")
        return LossTerms(t.total, parts)


# --------------------------------------------------------------------------------------------------
# Fisher GAN (Mroueh & Sercu, NeurIPS 2017)
# --------------------------------------------------------------------------------------------------
@LOSSES.register("fisher")
@dataclass
class FisherGAN(AdversarialLoss):
    """Fisher GAN with the augmented-Lagrangian critic objective (paper eq. (9), official code).

    L_F = E_P f − E_Q f + λ(1 − Ω̂) − (ρ/2)(1 − Ω̂)²,  Ω̂ = ½(E_P f² + E_Q f²).
    The critic minimises L_D = −L_F (gradient ascent on L_F); after each critic step
    ``after_critic_step`` → ``after_d_step`` updates λ ← λ − ρ(1 − Ω̂) by hand (λ is never in an
    optimiser; see :class:`gan_models.regularizers.fisher.FisherConstraint`).  L_G = −E_Q f.
    Constants: ρ = 1e-6 (code default), λ₀ = 0, Adam(2e-4, β1 0.5), n_critic = 2 (the README's CIFAR-10 /
    LSUN runs).  Logged: ``ipm`` (E_P f − E_Q f), ``omega``, ``ipm_ratio`` = ipm/√Ω̂, ``lambda``.
    λ is part of :meth:`state_dict` (checkpoint it through the system's ``extra_state``).
    """
    d_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    rho: float = 1e-6
    n_critic: int = 2

    def __post_init__(self) -> None:
        from gan_models.regularizers.fisher import FisherConstraint
        self.constraint = FisherConstraint(self.rho)

    @property
    def lam(self) -> float:
        return float(self.constraint.lam)

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        fr, ff = score32(real_out), score32(fake_out)
        ipm = fr.mean() - ff.mean()
        omega = 0.5 * (fr.pow(2).mean() + ff.pow(2).mean())
        gap = 1.0 - omega
        lam = self.constraint.value(gap)
        objective = ipm + lam * gap - 0.5 * self.rho * gap.pow(2)
        d = omega.detach()
        return LossTerms(-objective, {
            "ipm": ipm.detach(), "omega": d, "ipm_ratio": ipm.detach() / torch.sqrt(d.clamp_min(1e-12)),
            "lambda": lam.detach(), "omega_count": torch.ones((), device=d.device)})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        return _wasserstein_g(fake_out)

    def after_d_step(self, terms: LossTerms) -> None:
        if "omega" not in terms.parts:
            raise KeyError("fisher.after_d_step needs the critic step's terms (with 'omega') from d_loss")
        # terms summed over gradient-accumulation micro-batches carry the count of summed omegas
        count = float(terms.parts.get("omega_count", torch.ones(())))
        self.constraint.update(terms.parts["omega"] / count)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.constraint.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.constraint.load_state_dict(state)

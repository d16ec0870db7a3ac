"""f-divergence GAN losses: vanilla/non-saturating GAN, the f-GAN variational family, LSGAN and EBGAN.

All losses take raw critic outputs (logits, or the f-GAN variational function V before its output
activation) and return a :class:`LossTerms` to **minimise**.  Sigmoids and output activations live in here,
computed with softplus / log-sigmoid identities (never sigmoid + BCE: unstable, and
``F.binary_cross_entropy`` is refused inside ``torch.autocast``).  Reductions run in float32.

Conventions (Nowozin, Cseke, Tomioka, "f-GAN", NeurIPS 2016; P = data, Q = model):
D_f(P‖Q) = ∫ q f(p/q) dx ≥ sup_T E_P[T(x)] − E_Q[f*(T(x))], with T = g_f(V) and equality at
T*(x) = f'(p(x)/q(x)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gan_models.losses._common import score32
from gan_models.losses.base import AdversarialLoss, LossTerms, OptimizerSpec, as_critic_output
from gan_models.registry import LOSSES

LOG2 = math.log(2.0)
DCGAN_ADAM = OptimizerSpec("adam", 2e-4, (0.5, 0.999))


# --------------------------------------------------------------------------------------------------
# Vanilla (saturating) and non-saturating GAN (Goodfellow et al., NeurIPS 2014)
# --------------------------------------------------------------------------------------------------
@dataclass
class _LogisticGAN(AdversarialLoss):
    """L_D = E softplus(−D(x)) + E softplus(D(x̃)) = BCE-with-logits(real→1, fake→0)."""
    d_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM   # DCGAN (Radford et al. 2016): Adam 2e-4, β1 0.5
    g_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    n_critic: int = 1

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real = F.softplus(-score32(real_out)).mean()
        fake = F.softplus(score32(fake_out)).mean()
        return LossTerms(real + fake, {"real": real, "fake": fake})

    def decision_threshold(self) -> float | None:
        return 0.0                      # σ(D) = ½


@LOSSES.register("vanilla")
@dataclass
class VanillaGAN(_LogisticGAN):
    """Minimax (saturating) GAN: L_G = E log(1 − σ(D(x̃))) = −E softplus(D(x̃)).

    Goodfellow et al. 2014, eq. (1).  Its gradient vanishes when D confidently rejects fakes (σ(D) → 0);
    that is the paper's own remark and the reason for ``nonsaturating``.  Kept for the record / ablations.
    """

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        fake = -F.softplus(score32(fake_out)).mean()
        return LossTerms(fake, {"fake": fake})


@LOSSES.register("nonsaturating")
@dataclass
class NonSaturatingGAN(_LogisticGAN):
    """Non-saturating GAN ("−log D trick", Goodfellow et al. 2014 Sec. 3): L_G = E softplus(−D(x̃))."""

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        fake = F.softplus(-score32(fake_out)).mean()
        return LossTerms(fake, {"fake": fake})


# --------------------------------------------------------------------------------------------------
# f-GAN (Nowozin et al. 2016, Table 2 / Table 6)
# --------------------------------------------------------------------------------------------------
@dataclass
class FGANLoss(AdversarialLoss):
    """Variational divergence minimisation with output activation g_f and Fenchel conjugate f*.

    F(θ, ω) = E_P[g_f(V(x))] − E_Q[f*(g_f(V(x̃)))]  (the lower bound on D_f(P‖Q));
    L_D = −F.  L_G (``generator_objective``):

    * ``"alternative"`` (default; the paper's Sec. 3.2 "in practice" update that it used in its
      experiments, analogous to the −log D trick): L_G = −E_Q[g_f(V(x̃))];
    * ``"saddle"``: the saddle-point objective, L_G = F restricted to its θ-dependent part
      = −E_Q[f*(g_f(V(x̃)))].

    Subclasses give f, f', g_f, f*∘g_f (in a numerically stable closed form) and g_f⁻¹ (for tests and for
    building the optimal critic V* = g_f⁻¹(f'(p/q))).  Nowozin et al. used Adam(2e-4, β1 0.5) (DCGAN).
    """
    d_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    divergence: ClassVar[str] = ""
    n_critic: int = 1
    generator_objective: str = "alternative"

    def __post_init__(self) -> None:
        if self.generator_objective not in ("alternative", "saddle"):
            raise ValueError(f"{type(self).__name__}: generator_objective must be 'alternative' or 'saddle', "
                             f"got {self.generator_objective!r}")

    # -- the divergence --
    def f(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def f_prime(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- the variational function --
    def activation(self, v: torch.Tensor) -> torch.Tensor:
        """g_f: R → dom f*."""
        raise NotImplementedError

    def conjugate(self, t: torch.Tensor) -> torch.Tensor:
        """f*(t) on dom f*."""
        raise NotImplementedError

    def conjugate_of_activation(self, v: torch.Tensor) -> torch.Tensor:
        """f*(g_f(v)) in a stable closed form (defaults to the composition)."""
        return self.conjugate(self.activation(v))

    def inverse_activation(self, t: torch.Tensor) -> torch.Tensor:
        """g_f⁻¹(t), for t inside the open range of g_f."""
        raise NotImplementedError

    def decision_threshold(self) -> float | None:
        """V = g_f⁻¹(f'(1)): the optimal critic's value where p = q."""
        return float(self.inverse_activation(self.f_prime(torch.tensor(1.0, dtype=torch.float64))))

    def lower_bound(self, real_out: Any, fake_out: Any) -> torch.Tensor:
        """F = E_P[g_f(V(x))] − E_Q[f*(g_f(V(x̃)))] ≤ D_f(P‖Q)."""
        return (self.activation(score32(real_out)).mean()
                - self.conjugate_of_activation(score32(fake_out)).mean())

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real = -self.activation(score32(real_out)).mean()
        fake = self.conjugate_of_activation(score32(fake_out)).mean()
        total = real + fake
        return LossTerms(total, {"real": real, "fake": fake, "divergence_bound": -total.detach()})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        v = score32(fake_out)
        if self.generator_objective == "alternative":
            fake = -self.activation(v).mean()
        else:
            fake = -self.conjugate_of_activation(v).mean()
        return LossTerms(fake, {"fake": fake})


@LOSSES.register("fgan_kl")
@dataclass
class FGANKL(FGANLoss):
    """KL(P‖Q): f(u) = u log u, g_f(v) = v, f*(t) = exp(t − 1)."""
    divergence: ClassVar[str] = "KL(P||Q)"

    def f(self, u):
        return u * torch.log(u)

    def f_prime(self, u):
        return 1.0 + torch.log(u)

    def activation(self, v):
        return v

    def conjugate(self, t):
        return torch.exp(t - 1.0)

    def inverse_activation(self, t):
        return t


@LOSSES.register("fgan_reverse_kl")
@dataclass
class FGANReverseKL(FGANLoss):
    """Reverse KL, KL(Q‖P): f(u) = −log u, g_f(v) = −exp(−v), f*(t) = −1 − log(−t) (t < 0).

    f*(g_f(v)) = v − 1.
    """
    divergence: ClassVar[str] = "KL(Q||P)"

    def f(self, u):
        return -torch.log(u)

    def f_prime(self, u):
        return -1.0 / u

    def activation(self, v):
        return -torch.exp(-v)

    def conjugate(self, t):
        return -1.0 - torch.log(-t)

    def conjugate_of_activation(self, v):
        return v - 1.0

    def inverse_activation(self, t):
        return -torch.log(-t)


@LOSSES.register("fgan_pearson")
@dataclass
class FGANPearson(FGANLoss):
    """Pearson χ²: f(u) = (u − 1)², g_f(v) = v, f*(t) = t²/4 + t."""
    divergence: ClassVar[str] = "Pearson chi2 = int (p-q)^2/q"

    def f(self, u):
        return (u - 1.0) ** 2

    def f_prime(self, u):
        return 2.0 * (u - 1.0)

    def activation(self, v):
        return v

    def conjugate(self, t):
        return 0.25 * t * t + t

    def inverse_activation(self, t):
        return t


@LOSSES.register("fgan_hellinger")
@dataclass
class FGANHellinger(FGANLoss):
    """Squared Hellinger in Nowozin's convention ∫(√p − √q)² (= 2·(1 − BC), twice the "1 − BC" one):
    f(u) = (√u − 1)², g_f(v) = 1 − exp(−v), f*(t) = t/(1 − t) (t < 1); f*(g_f(v)) = exp(v) − 1.
    """
    divergence: ClassVar[str] = "squared Hellinger int (sqrt p - sqrt q)^2"

    def f(self, u):
        return (torch.sqrt(u) - 1.0) ** 2

    def f_prime(self, u):
        return 1.0 - 1.0 / torch.sqrt(u)

    def activation(self, v):
        return -torch.expm1(-v)

    def conjugate(self, t):
        return t / (1.0 - t)

    def conjugate_of_activation(self, v):
        return torch.expm1(v)

    def inverse_activation(self, t):
        return -torch.log1p(-t)


@LOSSES.register("fgan_js")
@dataclass
class FGANJensenShannon(FGANLoss):
    """Jensen–Shannon, f(u) = u log u − (u + 1) log((u + 1)/2), g_f(v) = log 2 − log(1 + e^{−v}),
    f*(t) = −log(2 − e^t) (t < log 2); f*(g_f(v)) = softplus(v) − log 2.

    With this f (Nowozin's Table 2 row), ∫ q f(p/q) = KL(P‖M) + KL(Q‖M) = **2·JS(P, Q)** with M = (P + Q)/2
    and JS the usual ½KL + ½KL (range [0, log 2]); the bound estimates 2·JS.
    """
    divergence: ClassVar[str] = "2*JS(P,Q) = KL(P||M) + KL(Q||M)"

    def f(self, u):
        return u * torch.log(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0)

    def f_prime(self, u):
        return torch.log(2.0 * u / (u + 1.0))

    def activation(self, v):
        return LOG2 - F.softplus(-v)

    def conjugate(self, t):
        return -torch.log(2.0 - torch.exp(t))

    def conjugate_of_activation(self, v):
        return F.softplus(v) - LOG2

    def inverse_activation(self, t):
        return torch.logit(torch.exp(t) / 2.0)


@LOSSES.register("fgan_tv")
@dataclass
class FGANTotalVariation(FGANLoss):
    """Total variation ½∫|p − q|: f(u) = ½|u − 1|, g_f(v) = ½ tanh(v), f*(t) = t on |t| ≤ ½.

    The optimal critic T* = ½ sign(p − q) lies on the boundary of dom f*, so V* = ±∞; the bound is reached
    only in the limit (``inverse_activation`` clamps |t| to ½ − 1e-12 in float64).
    """
    divergence: ClassVar[str] = "total variation 1/2 int |p-q|"

    def f(self, u):
        return 0.5 * torch.abs(u - 1.0)

    def f_prime(self, u):
        return 0.5 * torch.sign(u - 1.0)

    def activation(self, v):
        return 0.5 * torch.tanh(v)

    def conjugate(self, t):
        if torch.any(t.abs() > 0.5 + 1e-6):
            raise ValueError("total-variation conjugate is defined for |t| <= 1/2 only")
        return t

    def conjugate_of_activation(self, v):
        return 0.5 * torch.tanh(v)

    def inverse_activation(self, t):
        lim = 0.5 - (1e-12 if t.dtype == torch.float64 else 1e-6)
        return torch.atanh(2.0 * t.clamp(-lim, lim))


# --------------------------------------------------------------------------------------------------
# LSGAN (Mao et al., ICCV 2017)
# --------------------------------------------------------------------------------------------------
LSGAN_CODINGS: dict[str, tuple[float, float, float]] = {"pearson": (-1.0, 1.0, 0.0), "01": (0.0, 1.0, 1.0)}


@LOSSES.register("lsgan")
@dataclass
class LSGAN(AdversarialLoss):
    """Least-squares GAN: L_D = ½E[(D(x) − b)²] + ½E[(D(x̃) − a)²], L_G = ½E[(D(x̃) − c)²].

    a = fake label, b = real label, c = the value G wants D to give fakes.  ``coding``: ``"pearson"`` sets
    (a, b, c) = (−1, 1, 0) (b − c = 1, b − a = 2: minimising L_G minimises Pearson χ²(P_d + P_g ‖ 2P_g),
    paper eq. (8)); ``"01"`` sets (0, 1, 1) (paper eq. (9), used in its experiments and by CycleGAN).
    Explicit a / b / c override the coding's values.  D must have a **linear** output (no sigmoid).  The ½
    factors are the paper's (PyTorch-GAN's ``MSELoss`` drops them: a 2× learning-rate change).
    Paper optimiser: Adam lr 2e-4, β1 0.5 (scene experiments, Sec. 4.1).
    """
    d_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    coding: str = "01"
    a: float | None = None
    b: float | None = None
    c: float | None = None
    n_critic: int = 1

    def __post_init__(self) -> None:
        if self.coding not in LSGAN_CODINGS:
            raise ValueError(f"lsgan coding must be one of {sorted(LSGAN_CODINGS)}, got {self.coding!r}")
        a, b, c = LSGAN_CODINGS[self.coding]
        self.a = a if self.a is None else float(self.a)
        self.b = b if self.b is None else float(self.b)
        self.c = c if self.c is None else float(self.c)
        if self.a == self.b:
            raise ValueError(f"lsgan needs distinct real/fake labels, got a = b = {self.a}")

    def decision_threshold(self) -> float | None:
        return 0.5 * (self.a + self.b)  # halfway between the fake and the real label

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real = 0.5 * (score32(real_out) - self.b).pow(2).mean()
        fake = 0.5 * (score32(fake_out) - self.a).pow(2).mean()
        return LossTerms(real + fake, {"real": real, "fake": fake})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        fake = 0.5 * (score32(fake_out) - self.c).pow(2).mean()
        return LossTerms(fake, {"fake": fake})


# --------------------------------------------------------------------------------------------------
# EBGAN (Zhao, Mathieu, LeCun, ICLR 2017)
# --------------------------------------------------------------------------------------------------
def reconstruction_energy(out: Any, kind: str = "l2", eps: float = 1e-12) -> torch.Tensor:
    """Per-sample energy (B,) of an auto-encoder critic, on the scale the loss's margin is set for.

    From ``recon`` and ``input`` whenever the critic returns them (every zoo auto-encoder critic does), so the
    energy is always the loss's own ``kind`` whatever the critic's monitoring ``score`` is:
    ``"l2"`` = ‖Dec(Enc(x)) − x‖₂ per sample (the paper's D(x), with eps inside the sqrt; the margins of the
    paper are on this scale) or ``"mse"`` = per-pixel mean squared error.  Only a critic that returns a bare
    energy (``CriticOutput.score`` without recon / input) is taken as is.  The target is the critic's input
    **as given** (never detached: in the G step the fake must get gradients through both the reconstruction
    and the target).
    """
    if kind not in ("l2", "mse"):
        raise ValueError(f"EBGAN energy must be 'l2' or 'mse', got {kind!r}")
    o = as_critic_output(out)
    if o.recon is None or o.input is None:
        if o.score is None:
            raise ValueError("EBGAN needs the critic's reconstruction and input (or a bare energy score)")
        s = o.score
        return (s.reshape(s.shape[0], -1).mean(dim=1) if s.dim() > 1 else s).float()
    r = (o.recon.reshape(o.recon.shape[0], -1) - o.input.reshape(o.input.shape[0], -1)).float()
    if r.shape[1] != o.input[0].numel():
        raise ValueError(f"EBGAN reconstruction has {r.shape[1]} values per sample, input has "
                         f"{o.input[0].numel()}")
    if kind == "l2":
        return torch.sqrt(r.pow(2).sum(dim=1) + eps)
    return r.pow(2).mean(dim=1)


@LOSSES.register("ebgan")
@dataclass
class EBGAN(AdversarialLoss):
    """Energy-based GAN with an auto-encoder critic, energy D(x) = ‖Dec(Enc(x)) − x‖.

    L_D = E_x[D(x)] + E_x̃[max(0, m − D(x̃))]  (hinge **per sample**, then averaged);
    L_G = E_x̃[D(x̃)] + λ_PT · f_PT(Enc(x̃))  (pull-away term on the fake batch's embedding, "EBGAN-PT").

    Constants: λ_PT = ``pt_weight`` = 0.1 (paper; PyTorch-GAN, torchgan); set 0 for plain EBGAN.  The margin m
    must match the energy's scale: the paper's values (MNIST 10, CelebA/LSUN-64 20, ImageNet-128 40,
    ImageNet/LSUN-256 80, as transcribed by torchgan) grow like √(#pixels), i.e. with the per-sample L2 norm
    ``energy = "l2"`` used here by default; with ``energy = "mse"`` (per-pixel mean) use a margin of the
    order of the per-pixel error (e.g. 0.1–1 for [−1, 1] images).  The default m = 10 is the MNIST value.
    Optimiser: Adam(2e-4, β1 0.5) (DCGAN-style; the paper grid-searched its learning rates).
    Critic output: ``CriticOutput(recon=Dec(Enc(x)), input=x, embedding=Enc(x))``; the energy is computed here
    from ``recon`` and ``input`` with ``energy`` (the critic's own ``score`` is for monitoring only, so a
    critic that reports a per-pixel mean can no longer put the hinge on another scale than the margin's:
    with the preset's m = 20 and a per-pixel MSE of ~0.3 the hinge never cut off).  A critic returning only a
    ``score`` is read as the energy.
    """
    critic_output: ClassVar[str] = "energy"
    real_is_high: ClassVar[bool] = False        # low energy = real
    d_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = DCGAN_ADAM
    margin: float = 10.0
    pt_weight: float = 0.1
    energy: str = "l2"
    n_critic: int = 1

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise ValueError(f"EBGAN margin must be > 0, got {self.margin}")
        if self.pt_weight < 0:
            raise ValueError(f"EBGAN pt_weight must be >= 0, got {self.pt_weight}")
        if self.energy not in ("l2", "mse"):
            raise ValueError(f"EBGAN energy must be 'l2' or 'mse', got {self.energy!r}")

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real = reconstruction_energy(real_out, self.energy).mean()
        fake = torch.relu(self.margin - reconstruction_energy(fake_out, self.energy)).mean()
        return LossTerms(real + fake, {"real": real, "fake": fake})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        from gan_models.regularizers.pull_away import pull_away_term
        fake = reconstruction_energy(fake_out, self.energy).mean()
        parts = {"fake": fake}
        total = fake
        if self.pt_weight > 0:
            emb = as_critic_output(fake_out).embedding
            if emb is None:
                raise ValueError("EBGAN-PT needs CriticOutput.embedding (the encoder code of the fakes); "
                                 "set pt_weight=0 for plain EBGAN")
            pt = pull_away_term(emb)
            parts["pull_away"] = pt
            total = total + self.pt_weight * pt
        return LossTerms(total, parts)

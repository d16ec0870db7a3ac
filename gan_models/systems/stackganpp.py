"""StackGAN++ (Zhang, Xu, Li, Zhang, Wang, Huang, Metaxas, "StackGAN++: Realistic Image Synthesis with Stacked
Generative Adversarial Networks", TPAMI 2018).

A **tree** of generators sharing one trunk (``tree`` network: s_i = G_i(h_i), h_i = F_i(h_{i−1}, c)) and one critic
per scale, all trained jointly (phases ``[D_0, ..., D_{n−1}, G]``):

* **Joint conditional and unconditional critics** (paper eq. (8)): each critic D_i has an unconditional logit
  (is this a real image of the scale?) and a conditional one (does it match c?); here a projection critic
  (Miyato & Koyama 2018) gives both from one pass: unconditional ψ(φ(x)), conditional ψ(φ(x)) + ⟨e(y), φ(x)⟩.
  L_{D_i} = L(x_i, s_i) on the unconditional logits + L(x_i, s_i) on the conditional ones (``uncond_weight``
  1; unconditional generation keeps only the first); L_G = Σ_i of the corresponding generator losses.
  ``matching_aware: true`` adds the authors' code's mismatched pairs to the conditional term
  (½·L(x, s) + ½·L(x, x with a wrong label), as this zoo's StackGAN); the paper's eq. (8) has none.
* **Conditioning augmentation** with λ_KL = 1 on one CA shared by all stages (the authors' ``G_NET`` has one
  ``CA_NET``), its KL reduced as :func:`~gan_models.systems.stackgan.gaussian_kl` (authors' code: mean).
* **Colour consistency** (paper eq. (9), for unconditional generation): for every pair of consecutive scales,
  L_C = (1/n) Σ_j λ1‖μ_j^i − μ_j^{i−1}‖² + λ2‖Σ_j^i − Σ_j^{i−1}‖²_F with μ, Σ the mean and covariance of the
  pixels' channel vectors of image j (the authors' ``compute_mean_covariance``: Σ = (1/N) Σ_k (x_k − μ)(x_k − μ)ᵀ),
  **λ1 = 1, λ2 = 5** ([?] GAN_NOTES §5.14: as recalled from the paper, not re-read), weighted by
  ``color_weight`` (the paper's α; default 1 [?]) and added to the generator loss; the coarser image is detached
  as in the authors' code (``fake_imgs[-2].detach()``), whose ``nn.MSELoss`` averages over the C and C² entries
  instead of summing them (a factor C and C² on λ1, λ2, stated).
  ``color_weight: 0`` turns it off (the paper uses it for the unconditional tasks).

Real images of scale i are the batch downsampled by area averaging.  Compatibility: score losses (``mcgan_cov``
excluded: the projection head is the critic's own).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.networks.base import Critic
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (build_loss, build_net, critic_phase, critic_terms, generator_terms,
                                            load_loss_state, loss_state, optimizer_spec, require_keys, sample_latent)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer, unwrap
from gan_models.systems.stackgan import ConditioningAugmentation, mismatched_labels

EXCLUDED = {"mcgan_cov": "it needs critics ending in McGAN's Stiefel covariance head"}


def mean_covariance(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the mean channel vector μ (B, C) and the channel covariance over the pixels Σ (B, C, C)."""
    x = img.float().flatten(2)                                  # (B, C, N)
    mu = x.mean(dim=2)
    centred = x - mu[:, :, None]
    return mu, centred @ centred.transpose(1, 2) / x.shape[2]


def colour_consistency(fine: torch.Tensor, coarse: torch.Tensor, lambda_mean: float = 1.0,
                       lambda_cov: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(λ1·mean_j ‖μ_j(fine) − μ_j(coarse)‖², λ2·mean_j ‖Σ_j(fine) − Σ_j(coarse)‖²_F); ``coarse`` is detached."""
    mu_f, cov_f = mean_covariance(fine)
    mu_c, cov_c = mean_covariance(coarse.detach())
    return (lambda_mean * (mu_f - mu_c).pow(2).sum(dim=1).mean(),
            lambda_cov * (cov_f - cov_c).pow(2).flatten(1).sum(dim=1).mean())


@dataclass
class StackGANPPConfig:
    loss: Any = "nonsaturating"
    data_shape: list[int] = field(default_factory=lambda: [3, 64, 64])
    n_stages: int = 3
    n_classes: int = 0
    embed_dim: int = 128
    cond_dim: int = 128
    latent_dim: int = 100
    latent_prior: Literal["normal", "uniform"] = "normal"
    kl_weight: float = 1.0
    kl_reduction: Literal["mean", "sum"] = "mean"
    uncond_weight: float = 1.0
    matching_aware: bool = False
    color_weight: float = 1.0
    color_mean: float = 1.0
    color_cov: float = 5.0
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "tree", "width": 32})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


@SYSTEMS.register("stackganpp")
class StackGANPP(GANSystem):
    name = "stackganpp"
    batch_keys = ("x",)
    excluded = EXCLUDED
    config_cls = StackGANPPConfig

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(StackGANPPConfig, params, where=self.name)
        self.check_loss(cfg.loss)
        if len(cfg.data_shape) != 3:
            raise ValueError(f"stackganpp works on images (C, H, W), got data_shape {cfg.data_shape}")
        for k in ("kl_weight", "uncond_weight", "color_weight", "color_mean", "color_cov"):
            if getattr(cfg, k) < 0:
                raise ValueError(f"stackganpp: {k} must be >= 0, got {getattr(cfg, k)}")
        c, h, w = cfg.data_shape
        if h % 2 ** (cfg.n_stages - 1) or w % 2 ** (cfg.n_stages - 1):
            raise ValueError(f"stackganpp: {cfg.n_stages} stages need H, W divisible by {2 ** (cfg.n_stages - 1)}")
        self.conditional = cfg.n_classes > 0
        if self.conditional and cfg.n_classes < 2:
            raise ValueError("stackganpp: n_classes must be 0 (unconditional) or >= 2")
        cond = cfg.cond_dim if self.conditional else 0
        self.sizes = [[h // 2 ** (cfg.n_stages - 1 - i), w // 2 ** (cfg.n_stages - 1 - i)] for i in range(cfg.n_stages)]
        if self.conditional:
            self.aux["embed"] = nn.Embedding(cfg.n_classes, cfg.embed_dim)
            self.aux["ca"] = ConditioningAugmentation(cfg.embed_dim, cfg.cond_dim, cfg.kl_reduction)
        self.generators["tree"] = build_net(GENERATORS, cfg.generator, defaults={
            "latent_dim": cfg.latent_dim, "out_channels": c, "size": [h, w], "n_stages": cfg.n_stages,
            "cond_dim": cond})
        self.losses = {str(i): build_loss(cfg.loss) for i in range(cfg.n_stages)}
        for i, size in enumerate(self.sizes):
            critic = build_net(DISCRIMINATORS, cfg.discriminator, defaults={
                "in_channels": c, "size": size, "in_shape": [c, *size], "n_classes": cfg.n_classes},
                critic_loss=self.losses[str(i)])
            if not isinstance(critic, Critic) or (self.conditional and critic.projection is None):
                raise ValueError(f"stackganpp needs score Critics with a projection term for the conditional logit "
                                 f"(dcgan, sagan, mlp), got {cfg.discriminator.get('name')!r}")
            self.discriminators[str(i)] = critic

    # ---- generation
    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.conditional:
            return None
        require_keys(batch, ("x", "y"), self.name)
        return batch["y"]

    def _generate_all(self, n: int, device: torch.device, y: torch.Tensor | None
                      ) -> tuple[list[torch.Tensor], torch.Tensor]:
        z = sample_latent(n, self.cfg.latent_dim, device, self.cfg.latent_prior)
        if y is None:
            return self.generators["tree"](z), z.new_zeros(())
        c, kl = self.aux["ca"](self.aux["embed"](y))
        return self.generators["tree"](z, c), kl

    def generate(self, n: int, device: torch.device | None = None, y: torch.Tensor | None = None,
                 **cond: Any) -> torch.Tensor:
        """Samples at the finest scale (labels ``y`` required when conditional)."""
        if cond:
            raise ValueError(f"stackganpp takes only labels y, got {sorted(cond)}")
        if self.conditional and y is None:
            raise ValueError(f"stackganpp was built with {self.cfg.n_classes} classes: pass labels y")
        device = device or next(self.parameters()).device
        return self._generate_all(n, device, y)[0][-1]

    def _reals(self, batch: Batch) -> list[torch.Tensor]:
        require_keys(batch, self.batch_keys, self.name)
        x = batch["x"]
        if list(x.shape[1:]) != list(self.cfg.data_shape):
            raise ValueError(f"stackganpp was built for {self.cfg.data_shape}, got a batch of shape {list(x.shape)}")
        return [x if s == list(x.shape[2:]) else F.interpolate(x, size=s, mode="area") for s in self.sizes]

    # ---- critics
    def _logits(self, i: int, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unconditional logit, conditional logit or None) of critic i, from one pass."""
        d = self.discriminators[str(i)]
        out, _, phi = d.forward_features(x, y)
        if y is None:
            return out, None
        uncond = unwrap(d).head(phi)
        return (uncond.squeeze(1) if uncond.dim() == 2 else uncond), out

    def _critic_fn(self, i: int):
        d = self.discriminators[str(i)]
        return (lambda x, y=None: d(x, y)) if self.conditional else (lambda x: d(x))

    def _d_compute(self, i: int):
        def compute(batch: Batch, step: int) -> LossTerms:
            real = self._reals(batch)[i]
            y = self._labels(batch)
            with torch.no_grad():
                fake = self._generate_all(real.shape[0], real.device, y)[0][i]
            loss = self.losses[str(i)]
            ru, rc = self._logits(i, real, y)
            fu, fc = self._logits(i, fake.detach(), y)
            if not self.conditional:
                return critic_terms(loss, self._critic_fn(i), real, fake, real_out=ru, fake_out=fu)
            wrong = mismatched_labels(y, self.cfg.n_classes) if self.cfg.matching_aware else None

            def d_loss(real_out, fake_out):
                terms = loss.d_loss(ru, fu).scaled(self.cfg.uncond_weight, "uncond/")
                cond = loss.d_loss(real_out, fake_out)
                if wrong is not None:
                    mismatch = loss.d_loss(real_out, self._logits(i, real, wrong)[1])
                    cond = cond.scaled(0.5) + mismatch.scaled(0.5, "mismatch/")
                return terms + cond           # unprefixed: a loss's post-step state (Fisher's Ω) reads it
            return critic_terms(loss, self._critic_fn(i), real, fake, y=y, real_out=rc, fake_out=fc, d_loss=d_loss)
        return compute

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        reals = self._reals(batch)
        y = self._labels(batch)
        fakes, kl = self._generate_all(reals[0].shape[0], reals[0].device, y)
        terms = LossTerms(reals[0].new_zeros(()))
        for i, (fake, real) in enumerate(zip(fakes, reals)):
            loss, critic = self.losses[str(i)], self._critic_fn(i)
            fu, fc = self._logits(i, fake, y)
            ru, rc = self._logits(i, real, y) if loss.needs_real_in_g else (None, None)
            uncond = generator_terms(loss, critic, fake, real, fake_out=fu, real_out=ru)
            weight = self.cfg.uncond_weight if self.conditional else 1.0
            terms = terms + uncond.scaled(weight, f"stage{i}/uncond/")
            if self.conditional:
                terms = terms + generator_terms(loss, critic, fake, real, y=y, fake_out=fc,
                                                real_out=rc).scaled(1.0, f"stage{i}/cond/")
            if i > 0 and self.cfg.color_weight > 0:
                mean_term, cov_term = colour_consistency(fake, fakes[i - 1], self.cfg.color_mean, self.cfg.color_cov)
                terms = terms + LossTerms(self.cfg.color_weight * (mean_term + cov_term),
                                          {f"stage{i}/color_mean": mean_term.detach(),
                                           f"stage{i}/color_cov": cov_term.detach()})
        if self.conditional:
            terms = terms + LossTerms(self.cfg.kl_weight * kl, {"kl": kl.detach()})
        return terms

    # ---- optimisers, phases, state
    def configure_optimizers(self):
        g_params = list(self.generators.parameters()) + list(self.aux.parameters())
        first = self.losses["0"]
        opts = {"g": make_optimizer(g_params, optimizer_spec(self.cfg.g_optimizer, first.g_optimizer))}
        for k, loss in self.losses.items():
            opts[f"d_{k}"] = make_optimizer(self.discriminators[k].parameters(),
                                            optimizer_spec(self.cfg.d_optimizer, loss.d_optimizer))
        return opts

    def phases(self) -> list[Phase]:
        out = [critic_phase(f"D_{i}", f"d_{i}", self._d_compute(i), self.losses[str(i)], self.discriminators[str(i)])
               for i in range(self.cfg.n_stages)]
        return out + [Phase("G", "g", self._g_compute)]

    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state["loss"])

"""StackGAN (Zhang, Xu, Li, Zhang, Wang, Huang, Metaxas, "StackGAN: Text to Photo-realistic Image Synthesis with
Stacked Generative Adversarial Networks", ICCV 2017).

A two-stage cascade: stage-I G makes a low-resolution image from (z, c); stage-II G refines the (upsampled)
stage-I image, conditioned on c again, to the full resolution; one critic per stage.

* **Conditioning augmentation** (Sec. 3.1): the condition embedding φ goes through a fully connected layer
  to (μ, log σ²); c = μ + σ ⊙ ε, ε ~ N(0, I); the generator loss adds λ·KL(N(μ, σ²) ‖ N(0, I)) with
  **λ = 1**.  The KL is **averaged over the batch and the latent dimensions** as in the authors' code
  (hanzhanggit/StackGAN-Pytorch ``miscc/utils.py`` ``KL_loss``: ``torch.mean(KLD_element).mul_(-0.5)``, i.e.
  the paper's per-sample KL divided by c's size, 128); ``kl_reduction: sum`` gives the paper's per-sample
  sum.  Each stage has its own CA (as in the paper).  Here φ is a learned label embedding (``n_classes`` > 0;
  the paper's φ is a fixed char-CNN-RNN text embedding); ``n_classes = 0`` trains the unconditional cascade
  (no CA, no KL).
* **Matching-aware critic** (Sec. 3.2 after Reed et al. 2016): the critic also sees real images with
  mismatched conditions as fakes; as in the authors' code (``errD_real + 0.5·(errD_wrong + errD_fake)``)
  the critic loss is ½·L_D(real, fake) + ½·L_D(real, mismatched), i.e. for separable losses
  real + ½ fake + ½ wrong.  Critics are projection critics over the labels (Miyato & Koyama 2018) instead
  of the paper's "compress φ and tile it over the 4×4 map" (label conditioning, not text).
* Stage II G: ``resnet_translator`` with ``cond_dim`` = c's size on the bilinearly upsampled stage-I image
  (paper: encoder → concatenate c → residual blocks → upsampling; here the translator downsamples the
  upsampled image instead of starting from the small one).  Stage-I output is detached before stage II.
* The paper trains stage I first (600 epochs) and then stage II with stage I fixed; ``train_stages``
  selects the stages a run updates (``[1]``, ``[2]`` or both at once, the default).  Phases
  ``[D_1, D_2, G]`` restricted to ``train_stages``.

Compatibility: score losses (``mcgan_cov`` excluded).  Constants: z 100, c 128 (paper), λ_KL = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (build_loss, build_net, critic_phase, critic_terms, generator_terms,
                                            load_loss_state, loss_state, optimizer_spec, require_keys, sample_latent)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer

EXCLUDED = {"mcgan_cov": "it needs critics ending in McGAN's Stiefel covariance head"}


def mismatched_labels(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """A wrong class for every sample (uniform over the other classes): the matching-aware critic's "real image,
    mismatched condition" pairs (Reed et al. 2016; StackGAN Sec. 3.2)."""
    return (y + torch.randint(1, n_classes, y.shape, device=y.device)) % n_classes


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)): ``"mean"`` over all elements (the authors' code, StackGAN-Pytorch / StackGAN-v2
    ``KL_loss``: ``torch.mean(KLD_element).mul_(-0.5)``) or ``"sum"`` over the latent dimensions and mean over the
    batch (the paper's formula, the KL of each sample's distribution)."""
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    if reduction == "mean":
        return kl.mean()
    if reduction == "sum":
        return kl.sum(dim=1).mean()
    raise ValueError(f"KL reduction must be 'mean' or 'sum', got {reduction!r}")


class ConditioningAugmentation(nn.Module):
    """φ → FC → (μ, log σ²); ``forward`` returns (c = μ + σ·ε, KL(N(μ, σ²) ‖ N(0, I))) with the KL reduced by
    :func:`gaussian_kl` (``kl_reduction``)."""

    def __init__(self, embed_dim: int, cond_dim: int, kl_reduction: str = "mean"):
        super().__init__()
        gaussian_kl(torch.zeros(1, 1), torch.zeros(1, 1), kl_reduction)            # validates the name
        self.cond_dim, self.kl_reduction = cond_dim, kl_reduction
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = F.relu(self.fc(phi)).chunk(2, dim=1)        # the authors' code: FC → ReLU → split
        c = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return c, gaussian_kl(mu, logvar, self.kl_reduction)


@dataclass
class StackGANConfig:
    loss: Any = "nonsaturating"
    data_shape: list[int] = field(default_factory=lambda: [1, 64, 64])
    upscale: int = 4                         # stage-II resolution / stage-I resolution (paper 256/64)
    n_classes: int = 0
    embed_dim: int = 128
    cond_dim: int = 128
    latent_dim: int = 100
    latent_prior: Literal["normal", "uniform"] = "normal"
    kl_weight: float = 1.0
    kl_reduction: Literal["mean", "sum"] = "mean"
    matching_aware: bool = True
    train_stages: list[int] = field(default_factory=lambda: [1, 2])
    stage1_generator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    stage1_discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    stage2_generator: dict[str, Any] = field(default_factory=lambda: {
        "name": "resnet_translator", "width": 32, "n_down": 2, "n_blocks": 4, "norm": "batch"})
    stage2_discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


@SYSTEMS.register("stackgan")
class StackGAN(GANSystem):
    name = "stackgan"
    batch_keys = ("x",)
    excluded = EXCLUDED
    config_cls = StackGANConfig

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(StackGANConfig, params, where=self.name)
        self.check_loss(cfg.loss)
        if len(cfg.data_shape) != 3:
            raise ValueError(f"stackgan works on images (C, H, W), got data_shape {cfg.data_shape}")
        if not set(cfg.train_stages) <= {1, 2} or not cfg.train_stages:
            raise ValueError(f"stackgan: train_stages must be a non-empty subset of [1, 2], got {cfg.train_stages}")
        c, h, w = cfg.data_shape
        if cfg.upscale < 2 or h % cfg.upscale or w % cfg.upscale:
            raise ValueError(f"stackgan: upscale {cfg.upscale} must be >= 2 and divide H, W = {h}, {w}")
        self.conditional = cfg.n_classes > 0
        self.low_size = [h // cfg.upscale, w // cfg.upscale]
        self.losses = {"1": build_loss(cfg.loss), "2": build_loss(cfg.loss)}
        cond = cfg.cond_dim if self.conditional else 0
        if self.conditional:
            self.aux["embed"] = nn.Embedding(cfg.n_classes, cfg.embed_dim)
            self.aux["ca1"] = ConditioningAugmentation(cfg.embed_dim, cfg.cond_dim, cfg.kl_reduction)
            self.aux["ca2"] = ConditioningAugmentation(cfg.embed_dim, cfg.cond_dim, cfg.kl_reduction)
        self.generators["1"] = build_net(GENERATORS, cfg.stage1_generator, defaults={
            "latent_dim": cfg.latent_dim + cond, "out_channels": c, "size": self.low_size,
            "out_shape": [c, *self.low_size]})
        self.generators["2"] = build_net(GENERATORS, cfg.stage2_generator, defaults={
            "in_channels": c, "out_channels": c, "cond_dim": cond})
        for k, size in (("1", self.low_size), ("2", [h, w])):
            spec = cfg.stage1_discriminator if k == "1" else cfg.stage2_discriminator
            self.discriminators[k] = build_net(DISCRIMINATORS, spec, defaults={
                "in_channels": c, "size": size, "in_shape": [c, *size], "n_classes": cfg.n_classes},
                critic_loss=self.losses[k])

    # ---- generation ----
    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.conditional:
            return None
        require_keys(batch, ("x", "y"), self.name)
        return batch["y"]

    def _stage1(self, z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if y is None:
            return self.generators["1"](z), z.new_zeros(())
        c, kl = self.aux["ca1"](self.aux["embed"](y))
        return self.generators["1"](torch.cat([z, c], dim=1)), kl

    def _stage2(self, low: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        up = F.interpolate(low.detach(), scale_factor=self.cfg.upscale, mode="bilinear", align_corners=False)
        if y is None:
            return self.generators["2"](up), low.new_zeros(())
        c, kl = self.aux["ca2"](self.aux["embed"](y))
        return self.generators["2"](up, c), kl

    def generate(self, n: int, device: torch.device | None = None, y: torch.Tensor | None = None,
                 **cond: Any) -> torch.Tensor:
        """Full-resolution samples (labels ``y`` required when the model is conditional)."""
        if cond:
            raise ValueError(f"stackgan takes only labels y, got {sorted(cond)}")
        if self.conditional and y is None:
            raise ValueError(f"stackgan was built with {self.cfg.n_classes} classes: pass labels y")
        device = device or next(self.parameters()).device
        z = sample_latent(n, self.cfg.latent_dim, device, self.cfg.latent_prior)
        low, _ = self._stage1(z, y)
        return self._stage2(low, y)[0]

    # ---- training ----
    def _real(self, batch: Batch) -> dict[str, torch.Tensor]:
        require_keys(batch, self.batch_keys, self.name)
        x = batch["x"]
        if list(x.shape[1:]) != list(self.cfg.data_shape):
            raise ValueError(f"stackgan was built for {self.cfg.data_shape}, got a batch of shape {list(x.shape)}")
        return {"1": F.interpolate(x, size=self.low_size, mode="area"), "2": x}

    def configure_optimizers(self):
        stages = [str(s) for s in self.cfg.train_stages]
        spec_g = optimizer_spec(self.cfg.g_optimizer, self.losses[stages[0]].g_optimizer)
        g_params = [p for s in stages for p in self.generators[s].parameters()]
        if self.conditional:
            g_params += list(self.aux["embed"].parameters())
            g_params += [p for s in stages for p in self.aux[f"ca{s}"].parameters()]
        opts = {"g": make_optimizer(g_params, spec_g)}
        for s in stages:
            opts[f"d_{s}"] = make_optimizer(self.discriminators[s].parameters(),
                                            optimizer_spec(self.cfg.d_optimizer, self.losses[s].d_optimizer))
        return opts

    def _critic(self, s: str):
        d = self.discriminators[s]
        return (lambda x, y=None: d(x, y)) if self.conditional else (lambda x: d(x))

    def _d_compute(self, s: str):
        def compute(batch: Batch, step: int) -> LossTerms:
            real = self._real(batch)[s]
            y = self._labels(batch)
            with torch.no_grad():
                z = sample_latent(real.shape[0], self.cfg.latent_dim, real.device, self.cfg.latent_prior)
                low, _ = self._stage1(z, y)
                fake = low if s == "1" else self._stage2(low, y)[0]
            loss, critic = self.losses[s], self._critic(s)
            d_loss = None
            if self.conditional and self.cfg.matching_aware:
                wrong = mismatched_labels(y, self.cfg.n_classes)

                def d_loss(real_out, fake_out):
                    return (loss.d_loss(real_out, fake_out).scaled(0.5)
                            + loss.d_loss(real_out, critic(real, y=wrong)).scaled(0.5, "mismatch/"))
            return critic_terms(loss, critic, real, fake, y=y, d_loss=d_loss)
        return compute

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        real = self._real(batch)
        y = self._labels(batch)
        z = sample_latent(real["2"].shape[0], self.cfg.latent_dim, real["2"].device, self.cfg.latent_prior)
        low, kl1 = self._stage1(z, y)
        terms = LossTerms(z.new_zeros(()))
        stages = set(self.cfg.train_stages)
        if 1 in stages:
            terms = terms + generator_terms(self.losses["1"], self._critic("1"), low, real["1"], y=y).scaled(
                1.0, "stage1/")
            if self.conditional:
                terms = terms + LossTerms(self.cfg.kl_weight * kl1, {"stage1/kl": kl1})
        if 2 in stages:
            high, kl2 = self._stage2(low, y)
            terms = terms + generator_terms(self.losses["2"], self._critic("2"), high, real["2"], y=y).scaled(
                1.0, "stage2/")
            if self.conditional:
                terms = terms + LossTerms(self.cfg.kl_weight * kl2, {"stage2/kl": kl2})
        return terms

    def phases(self) -> list[Phase]:
        out = [critic_phase(f"D_{s}", f"d_{s}", self._d_compute(str(s)), self.losses[str(s)],
                            self.discriminators[str(s)]) for s in sorted(self.cfg.train_stages)]
        return out + [Phase("G", "g", self._g_compute)]

    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state["loss"])

"""LAPGAN (Denton, Chintala, Szlam, Fergus, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", NeurIPS 2015).

Laplacian pyramid of the image: I_0 = x, I_{k+1} = d(I_k); low-pass l_k = u(I_{k+1}); band-pass
h_k = I_k − l_k, so I_k = l_k + h_k exactly (up to float rounding) for any d, u.  d blurs with the 5-tap
binomial kernel [1, 4, 6, 4, 1]/16 and decimates by 2; u inserts zeros and blurs with 4× that kernel
(Burt & Adelson 1983), reflect padding.

One GAN per level, **trained independently** on the real pyramid (paper Sec. 3.2): the coarsest level
(K−1) is an unconditional GAN on I_{K−1}; level k < K−1 is a conditional GAN whose generator makes the
residual h̃_k = G_k(z_k, l_k) from noise presented as an extra input plane (the paper's CIFAR/LSUN models)
and whose critic sees the residual with l_k as extra channels: D_k([h_k, l_k]) vs D_k([h̃_k, l_k]).
Sampling runs coarse to fine: Ĩ_{K−1} = G_{K−1}(z), Ĩ_k = u(Ĩ_{k+1}) + G_k(z_k, u(Ĩ_{k+1})).
Phases ``[D_{K-1}, G_{K-1}, ..., D_0, G_0]``, each level with its own loss object and optimisers.
Compatibility: score losses (``mcgan_cov`` excluded: it needs a Stiefel head).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (build_loss, build_net, critic_phase, critic_terms, generator_terms,
                                            load_loss_state, loss_state, optimizer_spec, require_keys, sample_latent)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer

EXCLUDED = {"mcgan_cov": "it needs critics ending in McGAN's Stiefel covariance head"}
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    k1 = _BINOMIAL.to(x.device, x.dtype) * gain
    kernel = torch.outer(k1, k1)[None, None].expand(x.shape[1], 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kernel, groups=x.shape[1])


def downsample(x: torch.Tensor) -> torch.Tensor:
    """d(x): binomial blur then keep every second row and column ((B, C, H, W) → (B, C, H/2, W/2))."""
    if x.shape[2] % 2 or x.shape[3] % 2:
        raise ValueError(f"the Laplacian pyramid needs even H, W at every level, got {tuple(x.shape[2:])}")
    return _blur(x)[:, :, ::2, ::2]


def upsample(x: torch.Tensor) -> torch.Tensor:
    """u(x): zero insertion then binomial blur with gain 2 per axis ((B, C, h, w) → (B, C, 2h, 2w))."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=2.0)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(band-pass h_0..h_{K-2}, Gaussian images I_0..I_{K-1}) of ``x`` for ``levels`` = K levels."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    gauss = [x]
    for _ in range(levels - 1):
        gauss.append(downsample(gauss[-1]))
    bands = [gauss[k] - upsample(gauss[k + 1]) for k in range(levels - 1)]
    return bands, gauss


def reconstruct(bands: list[torch.Tensor], coarsest: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`: I_k = u(I_{k+1}) + h_k from the coarsest image up."""
    img = coarsest
    for h in reversed(bands):
        img = upsample(img) + h
    return img


@dataclass
class LAPGANConfig:
    loss: Any = "nonsaturating"
    data_shape: list[int] = field(default_factory=lambda: [1, 32, 32])
    levels: int = 3
    latent_dim: int = 100
    latent_prior: Literal["normal", "uniform"] = "uniform"      # the paper's noise is uniform
    coarse_generator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    coarse_discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    level_generator: dict[str, Any] = field(default_factory=lambda: {
        "name": "resnet_translator", "width": 64, "n_down": 0, "n_blocks": 2, "norm": "batch", "out_act": "none"})
    level_discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan", "width": 64})
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


@SYSTEMS.register("lapgan")
class LAPGAN(GANSystem):
    name = "lapgan"
    batch_keys = ("x",)
    excluded = EXCLUDED
    config_cls = LAPGANConfig

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(LAPGANConfig, params, where=self.name)
        self.check_loss(cfg.loss)
        if len(cfg.data_shape) != 3:
            raise ValueError(f"lapgan works on images (C, H, W), got data_shape {cfg.data_shape}")
        if cfg.levels < 2:
            raise ValueError(f"lapgan needs >= 2 pyramid levels, got {cfg.levels}")
        c, h, w = cfg.data_shape
        if h % 2 ** (cfg.levels - 1) or w % 2 ** (cfg.levels - 1):
            raise ValueError(f"lapgan: {cfg.levels} levels need H, W divisible by {2 ** (cfg.levels - 1)}, "
                             f"got {h}x{w}")
        self.channels = c
        self.losses = {str(k): build_loss(cfg.loss) for k in range(cfg.levels)}
        top = cfg.levels - 1
        sizes = [[h // 2 ** k, w // 2 ** k] for k in range(cfg.levels)]
        self.generators[str(top)] = build_net(GENERATORS, cfg.coarse_generator, defaults={
            "latent_dim": cfg.latent_dim, "out_channels": c, "size": sizes[top], "out_shape": [c, *sizes[top]]})
        self.discriminators[str(top)] = build_net(DISCRIMINATORS, cfg.coarse_discriminator, defaults={
            "in_channels": c, "size": sizes[top], "in_shape": [c, *sizes[top]]}, critic_loss=self.losses[str(top)])
        for k in range(top):
            self.generators[str(k)] = build_net(GENERATORS, cfg.level_generator,
                                                defaults={"in_channels": c + 1, "out_channels": c})
            self.discriminators[str(k)] = build_net(DISCRIMINATORS, cfg.level_discriminator, defaults={
                "in_channels": 2 * c, "size": sizes[k], "in_shape": [2 * c, *sizes[k]]},
                critic_loss=self.losses[str(k)])

    @property
    def levels(self) -> int:
        return self.cfg.levels

    def _noise_plane(self, like: torch.Tensor) -> torch.Tensor:
        z = sample_latent(like.shape[0], like.shape[2] * like.shape[3], like.device, self.cfg.latent_prior)
        return z.reshape(like.shape[0], 1, *like.shape[2:])

    def residual(self, k: int, low: torch.Tensor) -> torch.Tensor:
        """h̃_k = G_k(z_k, l_k) with the noise as an extra input plane."""
        return self.generators[str(k)](torch.cat([low, self._noise_plane(low)], dim=1))

    def generate(self, n: int, device: torch.device | None = None, **cond: Any) -> torch.Tensor:
        """Coarse-to-fine sampling through every level."""
        if cond:
            raise ValueError(f"lapgan is unconditional, got {sorted(cond)}")
        device = device or next(self.parameters()).device
        top = self.levels - 1
        img = self.generators[str(top)](sample_latent(n, self.cfg.latent_dim, device, self.cfg.latent_prior))
        for k in reversed(range(top)):
            low = upsample(img)
            img = low + self.residual(k, low)
        return img

    # ---- training ----
    def configure_optimizers(self):
        opts = {}
        for k, loss in self.losses.items():
            opts[f"g_{k}"] = make_optimizer(self.generators[k].parameters(),
                                            optimizer_spec(self.cfg.g_optimizer, loss.g_optimizer))
            opts[f"d_{k}"] = make_optimizer(self.discriminators[k].parameters(),
                                            optimizer_spec(self.cfg.d_optimizer, loss.d_optimizer))
        return opts

    def _level_data(self, batch: Batch, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(target at level k, low-pass condition l_k or None for the coarsest level) from the real batch."""
        require_keys(batch, self.batch_keys, self.name)
        x = batch["x"]
        if list(x.shape[1:]) != list(self.cfg.data_shape):
            raise ValueError(f"lapgan was built for {self.cfg.data_shape}, got a batch of shape {list(x.shape)}")
        bands, gauss = laplacian_pyramid(x, self.levels)
        if k == self.levels - 1:
            return gauss[k], None
        return bands[k], upsample(gauss[k + 1])

    def _fake(self, k: int, real: torch.Tensor, low: torch.Tensor | None) -> torch.Tensor:
        if low is None:
            z = sample_latent(real.shape[0], self.cfg.latent_dim, real.device, self.cfg.latent_prior)
            return self.generators[str(k)](z)
        return torch.cat([self.residual(k, low), low], dim=1)

    def _d_compute(self, k: int):
        def compute(batch: Batch, step: int) -> LossTerms:
            target, low = self._level_data(batch, k)
            real = target if low is None else torch.cat([target, low], dim=1)
            with torch.no_grad():
                fake = self._fake(k, target, low)
            return critic_terms(self.losses[str(k)], self.discriminators[str(k)], real, fake)
        return compute

    def _g_compute(self, k: int):
        def compute(batch: Batch, step: int) -> LossTerms:
            target, low = self._level_data(batch, k)
            real = target if low is None else torch.cat([target, low], dim=1)
            return generator_terms(self.losses[str(k)], self.discriminators[str(k)], self._fake(k, target, low), real)
        return compute

    def phases(self) -> list[Phase]:
        out = []
        for k in reversed(range(self.levels)):
            key = str(k)
            out.append(critic_phase(f"D_{k}", f"d_{k}", self._d_compute(k), self.losses[key],
                                    self.discriminators[key]))
            out.append(Phase(f"G_{k}", f"g_{k}", self._g_compute(k)))
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state["loss"])

"""SAGAN generator and critic (Zhang, Goodfellow, Metaxas & Odena, ICML 2019) on SNGAN ResNet blocks.

Paper rules kept: spectral norm on **both** G and D (every conv, linear and the projection embedding);
self-attention with γ initialised to 0 and f/g projections at C/8 (:class:`SelfAttention`); BatchNorm in G
only, none in D (the critic takes no ``norm`` argument, so it suits the GP family as is).  Hinge loss and
TTUR (G 1e-4, D 4e-4, β = (0, 0.9)) are in the ``sagan`` preset.  The attention position is configurable
(``attention_at``, 1-based stage index; StudioGAN's CIFAR choice is G block 2 and D block 1, the defaults
here).  The paper's ImageNet model is class-conditional with conditional BN in G; here G is unconditional
(systems concatenate labels to z) and D is a projection critic when ``n_classes > 0``.  The D feature φ is
ReLU + global sum pooling (Miyato et al. 2018).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.attention import SelfAttention
from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.blocks.residual import ResBlockDown, ResBlockUp
from gan_models.networks.base import Critic, Size, base_grid, size_pair, stage_widths
from gan_models.registry import DISCRIMINATORS, GENERATORS


@GENERATORS.register("sagan")
class SAGANGenerator(nn.Module):
    def __init__(self, latent_dim: int = 128, out_channels: int = 1, size: Size = 32, width: int = 64, *,
                 max_width: int = 512, attention_at: int | None = 2, sn: bool = True, norm: str = "batch",
                 out_act: str | None = "tanh"):
        super().__init__()
        h0, w0, n = base_grid(size)
        if attention_at is not None and not 1 <= attention_at <= n:
            raise ValueError(f"attention_at must be in 1..{n} (the generator has {n} blocks), got {attention_at}")
        self.latent_dim, self.out_channels, self.size = latent_dim, out_channels, size_pair(size)
        widths = stage_widths(width, n + 1, max_width)[::-1]     # n+1 widths: base ... output stage
        self.base = (widths[0], h0, w0)
        self.project = spectral_norm(nn.Linear(latent_dim, widths[0] * h0 * w0), sn)
        blocks: list[nn.Module] = []
        for i in range(n):
            blocks.append(ResBlockUp(widths[i], widths[i + 1], norm=norm, sn=sn))
            if attention_at == i + 1:
                blocks.append(SelfAttention(widths[i + 1], sn=sn))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(make_norm(norm, widths[-1]), make_activation("relu"),
                                 spectral_norm(nn.Conv2d(widths[-1], out_channels, 3, 1, 1), sn),
                                 make_activation(out_act))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"generator expects z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        c, h0, w0 = self.base
        return self.out(self.blocks(self.project(z).view(-1, c, h0, w0)))


@DISCRIMINATORS.register("sagan")
class SAGANDiscriminator(Critic):
    def __init__(self, in_channels: int = 1, size: Size = 32, width: int = 64, *, max_width: int = 512,
                 attention_at: int | None = 1, sn: bool = True, n_classes: int = 0):
        _, _, n = base_grid(size)
        if attention_at is not None and not 1 <= attention_at <= n:
            raise ValueError(f"attention_at must be in 1..{n} (the critic has {n} blocks), got {attention_at}")
        widths = stage_widths(width, n, max_width)
        super().__init__(widths[-1], n_classes=n_classes, sn=sn)
        self.in_channels, self.n_down = in_channels, n
        blocks: list[nn.Module] = []
        for i in range(n):
            blocks.append(ResBlockDown(in_channels if i == 0 else widths[i - 1], widths[i], sn=sn,
                                       preactivation=i > 0))
            if attention_at == i + 1:
                blocks.append(SelfAttention(widths[i], sn=sn))
        blocks.append(ResBlockDown(widths[-1], widths[-1], sn=sn, downsample=False))
        self.blocks = nn.Sequential(*blocks)
        self.act = make_activation("relu")

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        stride = 2 ** self.n_down
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % stride or x.shape[3] % stride:
            raise ValueError(f"critic expects (B, {self.in_channels}, H, W) with H, W divisible by {stride}, "
                             f"got {tuple(x.shape)}")
        return self.blocks(x)

    def embed(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(h).sum(dim=(2, 3))

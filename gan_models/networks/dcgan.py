"""DCGAN generator and discriminator (Radford, Metz & Chintala, ICLR 2016), at any power-of-2-style size.

Paper rules kept: weights ~ N(0, 0.02); BatchNorm in G and D except the G output layer and the D input
layer; ReLU in G, LeakyReLU(0.2) in D; tanh output; strided (transposed) 4x4 convolutions, no pooling; the
first G layer is a matrix multiplication reshaped to a (C, 4, 4) tensor.  Channel schedule: the 64x64 model
of the paper (width 64: 512→256→128→64 in G, 64→128→256→512 in D), generalised to ``n`` stages for
``size = base * 2**n`` (:func:`base_grid`).  The D's final 4x4 valid convolution is written as a linear
layer on the (C, h0, w0) grid, reached by adaptive average pooling that is the identity at the design size,
so the critic also accepts other sizes divisible by ``2**n``.
Options beyond the paper: ``sn`` (spectral norm on every layer), ``attention_at`` (SAGAN self-attention after
stage k, 1-based), a critic ``norm`` other than batch (GP family), ``n_classes`` (projection critic).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.attention import SelfAttention
from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.networks.base import Critic, Size, base_grid, dcgan_init_, size_pair, stage_widths
from gan_models.registry import DISCRIMINATORS, GENERATORS


def _check_attention(attention_at: int | None, n: int) -> None:
    if attention_at is not None and not 1 <= attention_at <= n:
        raise ValueError(f"attention_at must be in 1..{n} (the network has {n} stages), got {attention_at}")


def conv_trunk(in_channels: int, widths: list[int], *, norm: str | None, sn: bool,
               attention_at: int | None = None) -> nn.Sequential:
    """DCGAN critic trunk: one 4x4 stride-2 conv per entry of ``widths``, LeakyReLU 0.2, no norm on the input
    layer (also the encoder of VAE-GAN / BiGAN / the auto-encoder critics)."""
    layers: list[nn.Module] = []
    for i, w in enumerate(widths):
        layers.append(ConvNormAct(in_channels if i == 0 else widths[i - 1], w, 4, 2, 1, sn=sn,
                                  norm=None if i == 0 else norm, act="lrelu"))
        if attention_at == i + 1:
            layers.append(SelfAttention(w, sn=sn))
    return nn.Sequential(*layers)


@GENERATORS.register("dcgan")
class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, out_channels: int = 1, size: Size = 64, width: int = 64, *,
                 max_width: int = 512, norm: str = "batch", sn: bool = False, attention_at: int | None = None,
                 out_act: str | None = "tanh", init: bool = True):
        super().__init__()
        h0, w0, n = base_grid(size)
        _check_attention(attention_at, n - 1)                    # not after the output layer
        self.latent_dim, self.out_channels, self.size = latent_dim, out_channels, size_pair(size)
        widths = stage_widths(width, n, max_width)[::-1]          # e.g. 512, 256, 128, 64
        self.base = (widths[0], h0, w0)
        self.project = spectral_norm(nn.Linear(latent_dim, widths[0] * h0 * w0, bias=norm in (None, "none")), sn)
        self.project_norm = make_norm(norm, widths[0])
        self.project_act = make_activation("relu")
        layers: list[nn.Module] = []
        for i in range(n):
            last = i == n - 1
            out_ch = out_channels if last else widths[i + 1]
            layers.append(ConvNormAct(widths[i], out_ch, 4, 2, 1, transposed=True, sn=sn,
                                      norm=None if last else norm, act=out_act if last else "relu",
                                      bias=True if last else None))
            if attention_at == i + 1 and not last:
                layers.append(SelfAttention(out_ch, sn=sn))
        self.up = nn.Sequential(*layers)
        if init:
            dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"generator expects z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        c, h0, w0 = self.base
        h = self.project_act(self.project_norm(self.project(z).view(-1, c, h0, w0)))
        return self.up(h)


@DISCRIMINATORS.register("dcgan")
class DCGANDiscriminator(Critic):
    def __init__(self, in_channels: int = 1, size: Size = 64, width: int = 64, *, max_width: int = 512,
                 norm: str = "batch", sn: bool = False, attention_at: int | None = None, n_classes: int = 0,
                 init: bool = True):
        h0, w0, n = base_grid(size)
        _check_attention(attention_at, n)
        widths = stage_widths(width, n, max_width)
        super().__init__(widths[-1] * h0 * w0, n_classes=n_classes, sn=sn)
        self.in_channels, self.n_down, self.grid = in_channels, n, (h0, w0)
        self.down = conv_trunk(in_channels, widths, norm=norm, sn=sn, attention_at=attention_at)
        self.pool = nn.AdaptiveAvgPool2d((h0, w0))
        if init:
            dcgan_init_(self)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        stride = 2 ** self.n_down
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % stride or x.shape[3] % stride:
            raise ValueError(f"critic expects (B, {self.in_channels}, H, W) with H, W divisible by {stride}, "
                             f"got {tuple(x.shape)}")
        return self.down(x)

    def embed(self, h: torch.Tensor) -> torch.Tensor:
        return self.pool(h).flatten(1)

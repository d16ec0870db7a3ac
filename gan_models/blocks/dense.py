"""Dense blocks: DenseNet's concatenating block, and ESRGAN's residual dense block and RRDB
(Wang et al., ECCV-W 2018: no BatchNorm, LeakyReLU 0.2, residual scaling β = 0.2)."""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import spectral_norm
from gan_models.registry import BLOCKS


@BLOCKS.register("dense")
class DenseBlock(nn.Module):
    """DenseNet block (Huang et al. 2017): layer i sees the concatenation of the input and all earlier
    outputs; returns that concatenation, ``out_channels = in_ch + n_layers * growth``."""

    def __init__(self, in_ch: int, growth: int = 32, n_layers: int = 4, *, norm: str | None = "batch",
                 act: str | None = "relu", sn: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(
            ConvNormAct(in_ch + i * growth, growth, 3, norm=norm, act=act, sn=sn) for i in range(n_layers))
        self.out_channels = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1)))
        return torch.cat(feats, dim=1)


@BLOCKS.register("residual_dense")
class ResidualDenseBlock(nn.Module):
    """ESRGAN residual dense block: ``n_layers`` 3x3 convs densely connected (LReLU 0.2 after all but the
    last, no normalisation), the last mapping back to ``channels``; output ``x + beta * out``."""

    def __init__(self, channels: int, growth: int = 32, n_layers: int = 5, *, beta: float = 0.2, sn: bool = False):
        super().__init__()
        if n_layers < 2:
            raise ValueError(f"a residual dense block needs >= 2 layers, got {n_layers}")
        self.beta = beta
        self.dense = nn.ModuleList(
            ConvNormAct(channels + i * growth, growth, 3, norm="none", act="lrelu", sn=sn)
            for i in range(n_layers - 1))
        self.fuse = spectral_norm(nn.Conv2d(channels + (n_layers - 1) * growth, channels, 3, 1, 1), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.dense:
            feats.append(layer(torch.cat(feats, dim=1)))
        return x + self.beta * self.fuse(torch.cat(feats, dim=1))


@BLOCKS.register("rrdb")
class RRDB(nn.Module):
    """Residual-in-residual dense block: ``n_blocks`` RDBs in sequence, output ``x + beta * rdbs(x)``."""

    def __init__(self, channels: int, growth: int = 32, n_blocks: int = 3, *, beta: float = 0.2, sn: bool = False):
        super().__init__()
        self.beta = beta
        self.blocks = nn.Sequential(*(ResidualDenseBlock(channels, growth, beta=beta, sn=sn)
                                      for _ in range(n_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.beta * self.blocks(x)

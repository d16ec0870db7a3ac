"""Residual blocks: the plain ResNet block and the SNGAN/SAGAN up/down blocks (Miyato et al. 2018, App. B;
Zhang et al. 2019)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.registry import BLOCKS


@BLOCKS.register("residual")
class ResidualBlock(nn.Module):
    """x + norm(conv(act(norm(conv(x))))) with 3x3 convs at constant width (He et al. 2016; the
    CycleGAN/pix2pix generator block when ``norm="instance", padding_mode="reflect"``)."""

    def __init__(self, channels: int, *, norm: str | None = "batch", act: str | None = "relu", sn: bool = False,
                 padding_mode: str = "zeros"):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, norm=norm, act=act, sn=sn, padding_mode=padding_mode),
            ConvNormAct(channels, channels, 3, norm=norm, act=None, sn=sn, padding_mode=padding_mode))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@BLOCKS.register("res_block_up")
class ResBlockUp(nn.Module):
    """SNGAN/SAGAN generator block: norm-act-up(×2 nearest)-conv3-norm-act-conv3, shortcut up-conv1x1."""

    def __init__(self, in_ch: int, out_ch: int, *, norm: str | None = "batch", act: str | None = "relu",
                 sn: bool = False):
        super().__init__()
        self.norm1, self.act1 = make_norm(norm, in_ch), make_activation(act)
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, 1, 1), sn)
        self.norm2, self.act2 = make_norm(norm, out_ch), make_activation(act)
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, 1, 1), sn)
        self.shortcut = spectral_norm(nn.Conv2d(in_ch, out_ch, 1), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(self.act1(self.norm1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(self.act2(self.norm2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


@BLOCKS.register("res_block_down")
class ResBlockDown(nn.Module):
    """SNGAN/SAGAN critic block (no normalisation: SN only): [act]-conv3-act-conv3-avgpool, shortcut
    conv1x1-avgpool.  ``preactivation=False`` is the network's first block (no activation on the image, and
    the shortcut pools before its 1x1 conv, as in Miyato et al.'s ``OptimizedBlock``)."""

    def __init__(self, in_ch: int, out_ch: int, *, act: str | None = "relu", sn: bool = False,
                 downsample: bool = True, preactivation: bool = True):
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.act0 = make_activation(act) if preactivation else nn.Identity()
        self.conv1 = spectral_norm(nn.Conv2d(in_ch, out_ch, 3, 1, 1), sn)
        self.act1 = make_activation(act)
        self.conv2 = spectral_norm(nn.Conv2d(out_ch, out_ch, 3, 1, 1), sn)
        self.shortcut = (spectral_norm(nn.Conv2d(in_ch, out_ch, 1), sn)
                         if (in_ch != out_ch or downsample) else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.act1(self.conv1(self.act0(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.preactivation:
            s = self.shortcut(x)
            s = F.avg_pool2d(s, 2) if self.downsample else s
        else:
            s = self.shortcut(F.avg_pool2d(x, 2) if self.downsample else x)
        return h + s

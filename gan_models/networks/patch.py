"""PatchGAN discriminator (Isola et al., CVPR 2017 "pix2pix", App. 6.1.2; used by CycleGAN and the fusion models).

``n_layers = 3`` is the 70x70 PatchGAN: C64-C128-C256-C512 with 4x4 convs (stride 2, 2, 2, 1), no norm on
the first layer, LeakyReLU 0.2, then a 4x4 stride-1 conv to one channel: every output pixel sees a 70x70
input patch.  Returns the raw (B, 1, h, w) map (losses average per sample).  ``norm``: instance (CycleGAN),
batch (pix2pix), or none/layer/group (GP family, with SN).  Fully convolutional: any H, W with
``H / 2**n_layers >= 3`` (the two stride-1 convs each remove one pixel).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import spectral_norm
from gan_models.networks.base import dcgan_init_
from gan_models.registry import DISCRIMINATORS


def receptive_field(n_layers: int) -> int:
    """Receptive field of one output pixel: 70 for n_layers = 3, 34 for 2, 142 for 4."""
    rf = 1
    for stride in [1, 1] + [2] * n_layers:       # walk back from the output: two stride-1 convs, n stride-2
        rf = (rf - 1) * stride + 4
    return rf


@DISCRIMINATORS.register("patch")
class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 1, width: int = 64, n_layers: int = 3, *, norm: str = "instance",
                 sn: bool = False, max_width: int = 512, init: bool = True):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_channels, self.n_layers = in_channels, n_layers
        chans = [min(width * 2 ** i, max_width) for i in range(n_layers + 1)]
        layers: list[nn.Module] = [ConvNormAct(in_channels, chans[0], 4, 2, 1, norm=None, act="lrelu", sn=sn)]
        for i in range(1, n_layers):
            layers.append(ConvNormAct(chans[i - 1], chans[i], 4, 2, 1, norm=norm, act="lrelu", sn=sn))
        layers.append(ConvNormAct(chans[n_layers - 1], chans[n_layers], 4, 1, 1, norm=norm, act="lrelu", sn=sn))
        layers.append(spectral_norm(nn.Conv2d(chans[n_layers], 1, 4, 1, 1), sn))
        self.net = nn.Sequential(*layers)
        self.receptive_field = receptive_field(n_layers)
        if init:
            dcgan_init_(self)       # pix2pix / CycleGAN init_type 'normal', gain 0.02

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is not None:
            raise ValueError("PatchDiscriminator is unconditional; concatenate conditions to the input channels")
        stride = 2 ** (self.n_layers - 1) * 2
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"patch critic expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[2], x.shape[3]) // stride < 3:
            raise ValueError(f"patch critic with n_layers={self.n_layers} needs H, W >= {3 * stride}, "
                             f"got {tuple(x.shape[2:])}")
        return self.net(x)

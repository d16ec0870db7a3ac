"""U-Net fusion generators: a plain U-Net (TA-cGAN) and the full-scale-skip U-Net3+ of GAN-FM.

Both early-fuse [A, B, extra], encode with ``depth`` stride-2 stages (channels w, 2w, 4w, ...), and decode
back to full resolution.  With ``full_scale=True`` every decoder stage receives **all** encoder scales and all
coarser decoder outputs, each resized to the stage's resolution (max-pool down / bilinear up) and projected
to ``w`` channels, then concatenated and fused by a 3x3 conv: the full-scale skip connections of U-Net3+
(Huang et al., ICASSP 2020) that GAN-FM adopts (Zhang, Xu, Xiao, Guo, Ma, IEEE TCI 7, 2021) "to transmit
shallow high-contrast features to the deep level".  ``full_scale=False`` is the classic U-Net (concatenate
the same-scale encoder map only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.networks.fusion_base import FusionGenerator
from gan_models.registry import GENERATORS


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if x.shape[-2:] == size:
        return x
    if x.shape[-1] > size[1]:
        return F.adaptive_max_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__(ConvNormAct(cin, cout, 3, norm=norm, act="lrelu", padding_mode="reflect"),
                         ConvNormAct(cout, cout, 3, norm=norm, act="lrelu", padding_mode="reflect"))


@GENERATORS.register("fusion_unet")
class FusionUNet(FusionGenerator):
    """U-Net / U-Net3+ fusion generator (see the module docstring).

    GAN-FM's published generator has 5 scales with 64..1024 channels (U-Net3+); default here: depth 3,
    w = 8 (``ganfm``: 5) (CPU), sigmoid output (GAN-FM's output activation is not stated in the abstract; tanh/2 + 0.5 is
    available with ``out_act="tanh"``).
    """

    def __init__(self, width: int = 8, depth: int = 3, full_scale: bool = False, extra_channels: int = 0,
                 out_act: str = "sigmoid", norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth, self.full_scale = depth, full_scale
        self.stride = 2 ** depth
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.enc = nn.ModuleList([_DoubleConv(2 + extra_channels, chans[0], norm)]
                                 + [_DoubleConv(chans[i - 1], chans[i], norm) for i in range(1, depth + 1)])
        self.dec = nn.ModuleList()
        self.proj = nn.ModuleList()
        cat = (depth + 1) * width           # U-Net3+: every decoder stage sees depth + 1 maps of w channels
        for level in range(depth - 1, -1, -1):           # decoder stages from coarse to fine
            if full_scale:
                srcs = [chans[i] for i in range(level + 1)] + [chans[depth]] + [cat] * (depth - 1 - level)
                self.proj.append(nn.ModuleList(ConvNormAct(c, width, 3, norm=norm, act="lrelu") for c in srcs))
                self.dec.append(ConvNormAct(cat, cat, 3, norm=norm, act="lrelu"))
            else:
                self.dec.append(_DoubleConv(chans[level + 1] + chans[level], chans[level], norm))
        self.out = nn.Conv2d(cat if full_scale else chans[0], 1, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        x = self.inputs(a, b, extra)
        feats = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        if not self.full_scale:
            h = feats[-1]
            for stage, level in zip(self.dec, range(self.depth - 1, -1, -1)):
                h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
                h = stage(torch.cat([h, feats[level]], dim=1))
            return self.output(self.out(h))
        decoded = {self.depth: feats[-1]}
        for stage, projs, level in zip(self.dec, self.proj, range(self.depth - 1, -1, -1)):
            size = feats[level].shape[-2:]
            srcs = [feats[i] for i in range(level + 1)] + [decoded[lv] for lv in range(self.depth, level, -1)]
            h = torch.cat([p(_resize(s, size)) for p, s in zip(projs, srcs)], dim=1)
            decoded[level] = stage(h)
        return self.output(self.out(decoded[0]))


@GENERATORS.register("ganfm")
class GANFMGenerator(FusionUNet):
    """GAN-FM generator: :class:`FusionUNet` with full-scale skip connections (U-Net3+)."""

    def __init__(self, width: int = 5, depth: int = 3, extra_channels: int = 0, out_act: str = "sigmoid",
                 norm: str = "batch"):
        super().__init__(width=width, depth=depth, full_scale=True, extra_channels=extra_channels,
                         out_act=out_act, norm=norm)

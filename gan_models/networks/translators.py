"""Image-to-image generators ("translators") for the cycle systems, LAPGAN levels and StackGAN stage II.

* ``resnet_translator``: Johnson et al. 2016 / CycleGAN (Zhu et al. 2017, App. 7.2): c7s1-w, d2w, d4w,
  ``n_blocks`` residual blocks (9 for 256x256, 6 for 128x128), u2w, uw, c7s1-out; reflection padding,
  InstanceNorm, ReLU, tanh output; transposed 3x3 stride-2 convs with output padding 1.  ``cond_dim > 0``
  tiles a conditioning vector over the bottleneck and merges it with a 3x3 conv → norm → ReLU before the
  residual blocks (StackGAN stage-II G, Zhang et al. 2017 Sec. 3.3: "concatenated ... along the channel
  dimension ... fed into several residual blocks").
* ``unet_translator``: the pix2pix U-Net (Isola et al. 2017, App. 6.1.1) used by DualGAN: 4x4 stride-2 convs
  C64-C128-C256-C512-C512..., LeakyReLU 0.2 encoder, ReLU decoder with skip connections, dropout 0.5 in the
  three innermost decoder layers, BatchNorm (none on the first encoder layer), tanh output.
* ``encoder_decoder_translator``: DiscoGAN's G (Kim et al. 2017, Sec. 4): the same 4x4 conv encoder /
  deconv decoder without skips or dropout.

All are fully convolutional: H and W must be divisible by ``2**n_down``.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.blocks.residual import ResidualBlock
from gan_models.networks.base import dcgan_init_
from gan_models.registry import GENERATORS


def _check_divisible(x: torch.Tensor, in_channels: int, factor: int, what: str) -> None:
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{what} expects (B, {in_channels}, H, W), got {tuple(x.shape)}")
    if x.shape[2] % factor or x.shape[3] % factor:
        raise ValueError(f"{what} needs H and W divisible by {factor}, got {tuple(x.shape[2:])}")


@GENERATORS.register("resnet_translator")
class ResNetTranslator(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 64, n_blocks: int = 9, *,
                 n_down: int = 2, norm: str = "instance", sn: bool = False, out_act: str = "tanh",
                 cond_dim: int = 0, init: bool = True):
        super().__init__()
        if n_blocks < 0 or n_down < 0:
            raise ValueError(f"n_blocks and n_down must be >= 0, got {n_blocks}, {n_down}")
        self.in_channels, self.out_channels, self.cond_dim, self.n_down = in_channels, out_channels, cond_dim, n_down
        layers: list[nn.Module] = [ConvNormAct(in_channels, width, 7, norm=norm, act="relu", sn=sn,
                                               padding_mode="reflect")]
        ch = width
        for _ in range(n_down):
            layers.append(ConvNormAct(ch, ch * 2, 3, 2, 1, norm=norm, act="relu", sn=sn))
            ch *= 2
        self.down = nn.Sequential(*layers)
        self.joint = (ConvNormAct(ch + cond_dim, ch, 3, norm=norm, act="relu", sn=sn) if cond_dim > 0 else None)
        self.blocks = nn.Sequential(*[ResidualBlock(ch, norm=norm, act="relu", sn=sn, padding_mode="reflect")
                                      for _ in range(n_blocks)])
        up: list[nn.Module] = []
        for _ in range(n_down):
            up += [spectral_norm(nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1,
                                                    bias=norm in (None, "none")), sn),
                   make_norm(norm, ch // 2), make_activation("relu")]
            ch //= 2
        up += [nn.ReflectionPad2d(3), spectral_norm(nn.Conv2d(ch, out_channels, 7), sn), make_activation(out_act)]
        self.up = nn.Sequential(*up)
        if init:
            dcgan_init_(self)         # CycleGAN init_type 'normal', gain 0.02

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        _check_divisible(x, self.in_channels, 2 ** self.n_down, "resnet_translator")
        h = self.down(x)
        if self.joint is not None:
            if c is None or c.dim() != 2 or c.shape[1] != self.cond_dim:
                raise ValueError(f"resnet_translator with cond_dim={self.cond_dim} needs c of shape (B, "
                                 f"{self.cond_dim}), got {None if c is None else tuple(c.shape)}")
            h = self.joint(torch.cat([h, c[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1))
        elif c is not None:
            raise ValueError("resnet_translator was built without cond_dim but got a condition c")
        return self.up(self.blocks(h))


class _EncoderDecoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int, n_down: int, *, skip: bool,
                 dropout: float, norm: str, sn: bool, out_act: str, max_width: int, init: bool):
        super().__init__()
        if n_down < 1:
            raise ValueError(f"n_down must be >= 1, got {n_down}")
        self.in_channels, self.out_channels, self.n_down, self.skip = in_channels, out_channels, n_down, skip
        chans = [min(width * 2 ** i, max_width) for i in range(n_down)]
        self.encoder = nn.ModuleList()
        prev = in_channels
        for i, ch in enumerate(chans):
            # pix2pix: no norm on the outermost and the innermost encoder layers
            layer_norm = None if i == 0 or (skip and i == n_down - 1) else norm
            self.encoder.append(ConvNormAct(prev, ch, 4, 2, 1, norm=layer_norm, act="lrelu", sn=sn))
            prev = ch
        self.decoder = nn.ModuleList()
        for j, i in enumerate(reversed(range(n_down - 1))):
            in_ch = prev if j == 0 or not skip else prev * 2
            block: list[nn.Module] = [ConvNormAct(in_ch, chans[i], 4, 2, 1, norm=norm, act="relu", sn=sn,
                                                  transposed=True)]
            if dropout > 0 and j < 3:
                block.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*block))
            prev = chans[i]
        in_ch = prev * 2 if skip and n_down > 1 else prev
        self.out = nn.Sequential(spectral_norm(nn.ConvTranspose2d(in_ch, out_channels, 4, 2, 1), sn),
                                 make_activation(out_act))
        if init:
            dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_divisible(x, self.in_channels, 2 ** self.n_down, type(self).__name__)
        skips = []
        h = x
        for enc in self.encoder:
            h = enc(h)
            skips.append(h)
        skips.pop()                                   # the innermost code is h itself
        for dec in self.decoder:
            h = dec(h)
            if self.skip:
                h = torch.cat([h, skips.pop()], dim=1)
        return self.out(h)


@GENERATORS.register("unet_translator")
class UNetTranslator(_EncoderDecoder):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 64, n_down: int = 8, *,
                 norm: str = "batch", sn: bool = False, dropout: float = 0.5, out_act: str = "tanh",
                 max_width: int = 512, init: bool = True):
        super().__init__(in_channels, out_channels, width, n_down, skip=True, dropout=dropout, norm=norm, sn=sn,
                         out_act=out_act, max_width=max_width, init=init)


@GENERATORS.register("encoder_decoder_translator")
class EncoderDecoderTranslator(_EncoderDecoder):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 64, n_down: int = 4, *,
                 norm: str = "batch", sn: bool = False, out_act: str = "tanh", max_width: int = 512,
                 init: bool = True):
        super().__init__(in_channels, out_channels, width, n_down, skip=False, dropout=0.0, norm=norm, sn=sn,
                         out_act=out_act, max_width=max_width, init=init)

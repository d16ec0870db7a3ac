"""×2 up- and down-sampling units by mode."""
from __future__ import annotations

from torch import nn

from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.registry import BLOCKS

UP_MODES = ("nearest", "bilinear", "transposed", "pixelshuffle")
DOWN_MODES = ("stride", "avgpool", "maxpool")


@BLOCKS.register("upsample")
class Upsample(nn.Sequential):
    """Doubles H, W: ``nearest``/``bilinear`` interpolation + 3x3 conv (avoids checkerboards, Odena et al.
    2016), ``transposed`` 4x4 stride-2 transposed conv (DCGAN), ``pixelshuffle`` 3x3 conv to 4C + PixelShuffle(2)
    (Shi et al. 2016)."""

    def __init__(self, in_ch: int, out_ch: int, *, mode: str = "nearest", norm: str | None = "batch",
                 act: str | None = "relu", sn: bool = False):
        if mode in ("nearest", "bilinear"):
            extra = {"align_corners": False} if mode == "bilinear" else {}
            layers = [nn.Upsample(scale_factor=2, mode=mode, **extra),
                      ConvNormAct(in_ch, out_ch, 3, norm=norm, act=act, sn=sn)]
        elif mode == "transposed":
            layers = [ConvNormAct(in_ch, out_ch, 4, 2, 1, norm=norm, act=act, sn=sn, transposed=True)]
        elif mode == "pixelshuffle":
            layers = [spectral_norm(nn.Conv2d(in_ch, out_ch * 4, 3, 1, 1), sn), nn.PixelShuffle(2),
                      make_norm(norm, out_ch), make_activation(act)]
        else:
            raise KeyError(f"unknown upsample mode {mode!r}; known: {list(UP_MODES)}")
        super().__init__(*layers)


@BLOCKS.register("downsample")
class Downsample(nn.Sequential):
    """Halves H, W: ``stride`` (4x4 stride-2 conv, DCGAN/PatchGAN), ``avgpool``/``maxpool`` (3x3 conv then
    2x2 pooling)."""

    def __init__(self, in_ch: int, out_ch: int, *, mode: str = "stride", norm: str | None = "batch",
                 act: str | None = "lrelu", sn: bool = False):
        if mode == "stride":
            layers = [ConvNormAct(in_ch, out_ch, 4, 2, 1, norm=norm, act=act, sn=sn)]
        elif mode == "avgpool":
            layers = [ConvNormAct(in_ch, out_ch, 3, norm=norm, act=act, sn=sn), nn.AvgPool2d(2)]
        elif mode == "maxpool":
            layers = [ConvNormAct(in_ch, out_ch, 3, norm=norm, act=act, sn=sn), nn.MaxPool2d(2)]
        else:
            raise KeyError(f"unknown downsample mode {mode!r}; known: {list(DOWN_MODES)}")
        super().__init__(*layers)

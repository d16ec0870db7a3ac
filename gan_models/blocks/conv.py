"""Conv → norm → activation and linear → norm → activation units (the bricks of every network)."""
from __future__ import annotations

from torch import nn

from gan_models.blocks.norm_act import make_activation, make_norm, spectral_norm
from gan_models.registry import BLOCKS


def same_padding(kernel: int, stride: int) -> int:
    """"Same" padding for odd kernels (output = input / stride); ``(k - stride) // 2`` for even kernels
    (the DCGAN/PatchGAN 4x4 stride-2 convolution: padding 1, exact halving)."""
    return (kernel - 1) // 2 if kernel % 2 == 1 else max((kernel - stride) // 2, 0)


@BLOCKS.register("conv_norm_act")
class ConvNormAct(nn.Sequential):
    """conv (or transposed conv) → norm → activation.

    ``bias=None`` drops the conv bias when a norm with its own shift follows (batch/instance/group/layer).
    A transposed conv with ``kernel=4, stride=2, padding=1`` doubles H and W exactly.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int | None = None,
                 *, norm: str | None = "batch", act: str | None = "relu", sn: bool = False,
                 bias: bool | None = None, transposed: bool = False, padding_mode: str = "zeros"):
        pad = same_padding(kernel, stride) if padding is None else padding
        use_bias = (norm in (None, "none")) if bias is None else bias
        if transposed:
            conv = nn.ConvTranspose2d(in_ch, out_ch, kernel, stride, pad, bias=use_bias)
        else:
            conv = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=use_bias, padding_mode=padding_mode)
        super().__init__(spectral_norm(conv, sn), make_norm(norm, out_ch), make_activation(act))
        self.in_channels, self.out_channels = in_ch, out_ch


@BLOCKS.register("linear_norm_act")
class LinearNormAct(nn.Sequential):
    """linear → norm (vector variant) → activation."""

    def __init__(self, in_f: int, out_f: int, *, norm: str | None = "none", act: str | None = "relu",
                 sn: bool = False, bias: bool | None = None):
        use_bias = (norm in (None, "none")) if bias is None else bias
        super().__init__(spectral_norm(nn.Linear(in_f, out_f, bias=use_bias), sn), make_norm(norm, out_f, dims=1),
                         make_activation(act))
        self.in_features, self.out_features = in_f, out_f

"""What every fusion generator shares: the ``(a, b, extra) -> F`` contract, input checks and the output map.

Contract (DESIGN §3): a fusion generator takes ``a`` (MRI, (N, 1, H, W)) and ``b`` (CT/PET/SPECT luma,
(N, 1, H, W), or (N, 1, H/r, W/r) for generators with ``native_lowres_b``) in [0, 1], plus an optional
``extra`` (N, C_extra, H, W) of conditioning channels (tissue one-hot maps, masks, a cascade's earlier output),
and returns the fused image F (N, 1, H, W) **in [0, 1]**.  H and W must be divisible by ``stride``.

Output maps (``out_act``): ``"sigmoid"`` (σ(x)) or ``"tanh"`` ((tanh(x) + 1) / 2, the DDcGAN/MEF-GAN
authors' ``tanh(x)/2 + 0.5``).  Each generator states its default in its docstring.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def unit_interval(x: torch.Tensor, out_act: str) -> torch.Tensor:
    """Map raw outputs to [0, 1]: ``sigmoid`` or ``tanh`` ((tanh + 1) / 2)."""
    if out_act == "sigmoid":
        return torch.sigmoid(x)
    if out_act == "tanh":
        return 0.5 * (torch.tanh(x) + 1.0)
    raise KeyError(f"unknown output activation {out_act!r}; use 'sigmoid' or 'tanh'")


class FusionGenerator(nn.Module):
    """Base class: input checks, ``stride``, ``extra_channels`` and the output activation."""

    #: H and W must be divisible by this
    stride: int = 1
    #: whether ``forward`` accepts B at a lower resolution than A (DDcGAN's multi-resolution fusion)
    native_lowres_b: bool = False

    def __init__(self, extra_channels: int = 0, out_act: str = "sigmoid"):
        super().__init__()
        if extra_channels < 0:
            raise ValueError(f"extra_channels must be >= 0, got {extra_channels}")
        unit_interval(torch.zeros(1), out_act)            # validates the name
        self.extra_channels = int(extra_channels)
        self.out_act = out_act

    def check_inputs(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None) -> None:
        name = type(self).__name__
        if a.dim() != 4 or a.shape[1] != 1:
            raise ValueError(f"{name}: A must be (N, 1, H, W), got {tuple(a.shape)}")
        if b.dim() != 4 or b.shape[1] != 1 or b.shape[0] != a.shape[0]:
            raise ValueError(f"{name}: B must be (N, 1, H, W) with A's batch size, got {tuple(b.shape)} "
                             f"for A {tuple(a.shape)} (a colour B is fused through gan_models.fusion_colour)")
        h, w = a.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"{name}: H and W must be divisible by {self.stride}, got {h}x{w}")
        if b.shape[-2:] != a.shape[-2:] and not self.native_lowres_b:
            raise ValueError(f"{name}: B is {tuple(b.shape[-2:])} but A is {(h, w)}; this generator needs B at "
                             f"A's resolution (the system upsamples a low-resolution B for it)")
        if self.extra_channels:
            if extra is None or extra.dim() != 4 or extra.shape[1] != self.extra_channels \
                    or extra.shape[-2:] != a.shape[-2:]:
                got = None if extra is None else tuple(extra.shape)
                raise ValueError(f"{name}: expects extra conditioning (N, {self.extra_channels}, {h}, {w}), "
                                 f"got {got}")
        elif extra is not None:
            raise ValueError(f"{name} was built with extra_channels=0 but got extra {tuple(extra.shape)}")

    def output(self, x: torch.Tensor) -> torch.Tensor:
        return unit_interval(x, self.out_act)

    def inputs(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Channel concatenation [A, B, extra] (early-fusion generators)."""
        return torch.cat([a, b] + ([extra] if extra is not None else []), dim=1)


def bilinear_upsample_kernel(scale: int) -> torch.Tensor:
    """(2s, 2s) kernel with which ``ConvTranspose2d(stride=s, padding=s//2)`` is bilinear upsampling by s."""
    k = 2 * scale
    centre = (k - 1) / 2.0
    og = torch.arange(k, dtype=torch.float32)
    filt = 1.0 - (og - centre).abs() / scale
    return filt[:, None] * filt[None, :]


class LearnedUpsample(nn.Module):
    """Transposed conv upsampling by an integer power of two, initialised to bilinear interpolation
    (DDcGAN's ``deconv_ir``: a learned stride-r deconvolution of the low-resolution source)."""

    def __init__(self, channels: int, scale: int):
        super().__init__()
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"upsampling scale must be a power of two >= 2, got {scale}")
        self.scale = scale
        self.up = nn.ConvTranspose2d(channels, channels, 2 * scale, stride=scale, padding=scale // 2,
                                     groups=channels, bias=False)
        with torch.no_grad():
            self.up.weight.copy_(bilinear_upsample_kernel(scale).expand_as(self.up.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


def round_channels(x: float) -> int:
    return max(1, int(math.floor(x + 0.5)))

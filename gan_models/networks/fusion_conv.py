"""Single-stream fusion generators: FusionGAN's 5-layer CNN, DDcGAN's dense encoder-decoder, the ESRGAN RRDB
generator, the self-attention generators (SAGAN-style, MEF-GAN).  All early-fuse [A, B, extra] by channel
concatenation and keep full resolution except where attention runs on a pooled grid.

Default widths are small so that CPU training is practical; each class documents the paper's widths.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.blocks.attention import SelfAttention
from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.dense import RRDB, DenseBlock
from gan_models.networks.fusion_base import FusionGenerator, LearnedUpsample, round_channels
from gan_models.registry import GENERATORS


@GENERATORS.register("fusiongan")
class FusionGANGenerator(FusionGenerator):
    """FusionGAN generator (Ma, Yu, Liang, Li, Jiang, Information Fusion 48, 2019, Fig. 3).

    Five convolutions on [A, B]: 5x5 (8w) → 5x5 (4w) → 3x3 (2w) → 3x3 (w) → 1x1 (1), BatchNorm + LeakyReLU 0.2
    after the first four, tanh output (mapped to [0, 1]).  Paper: w = 32 (256-128-64-32-1), stride 1, VALID
    padding on 132-px patches cropped to 120 px; here "same" reflect padding keeps F at the input size
    (our choice, so F aligns with A and B for every content term).  Default w = 4 (CPU).
    """

    def __init__(self, width: int = 4, extra_channels: int = 0, out_act: str = "tanh", norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        cin = 2 + extra_channels
        chans = [8 * width, 4 * width, 2 * width, width]
        kernels = [5, 5, 3, 3]
        layers: list[nn.Module] = []
        for c, k in zip(chans, kernels):
            layers.append(ConvNormAct(cin, c, k, norm=norm, act="lrelu", padding_mode="reflect"))
            cin = c
        layers.append(nn.Conv2d(cin, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        return self.output(self.net(self.inputs(a, b, extra)))


@GENERATORS.register("ddcgan")
class DDcGANGenerator(FusionGenerator):
    """DDcGAN generator (Ma, Xu, Jiang, Mei, Zhang, IEEE TIP 29, 2020; code hanna-xu/DDcGAN).

    * Multi-resolution input: with ``b_scale = r > 1``, B arrives at (H/r, W/r) and is upsampled by a learned
      stride-r transposed convolution (the authors' ``deconv_ir``, r = 4 for PET-MRI); here it is initialised
      to bilinear interpolation (our choice; the authors initialise randomly).  A passes a learned 3x3 conv
      (``deconv_vis``, stride 1).  A B already at A's size bypasses the upsampler.
    * Encoder: conv 3x3 → w, then a 4-layer dense block of growth w (DenseFuse; output 5w channels).
    * Decoder: 5w → 5w → 8w/3 → 4w/3 → 2w/3 → 1 3x3 convs, BatchNorm + ReLU except on the first and the
      last, tanh/2 + 0.5 output.  Paper: w = 48 (240-240-128-64-32-1).  Default w = 5 (CPU).
    """

    native_lowres_b = True

    def __init__(self, width: int = 5, b_scale: int = 1, extra_channels: int = 0, out_act: str = "tanh",
                 norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        self.b_scale = int(b_scale)
        self.b_up = LearnedUpsample(1, self.b_scale) if self.b_scale > 1 else None
        self.a_conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")
        with torch.no_grad():                     # start as the identity, as a learned stride-1 "deconv"
            self.a_conv.weight.zero_()
            self.a_conv.weight[0, 0, 1, 1] = 1.0
            self.a_conv.bias.zero_()
        w = width
        self.encoder = nn.Sequential(
            ConvNormAct(2 + extra_channels, w, 3, norm=norm, act="relu", padding_mode="reflect"),
            DenseBlock(w, growth=w, n_layers=4, norm=norm, act="relu"))
        dec = [5 * w, 5 * w, round_channels(8 * w / 3), round_channels(4 * w / 3), round_channels(2 * w / 3)]
        layers: list[nn.Module] = []
        for i in range(len(dec) - 1):
            layers.append(ConvNormAct(dec[i], dec[i + 1], 3, norm=None if i == 0 else norm, act="relu",
                                      padding_mode="reflect"))
        layers.append(nn.Conv2d(dec[-1], 1, 3, padding=1, padding_mode="reflect"))
        self.decoder = nn.Sequential(*layers)

    def check_inputs(self, a, b, extra):
        super().check_inputs(a, b, extra)
        if b.shape[-2:] != a.shape[-2:]:
            h, w = a.shape[-2:]
            if self.b_up is None or b.shape[-2:] != (h // self.b_scale, w // self.b_scale) \
                    or h % self.b_scale or w % self.b_scale:
                raise ValueError(f"DDcGANGenerator(b_scale={self.b_scale}): B must be {h}x{w} or "
                                 f"{h // max(self.b_scale, 1)}x{w // max(self.b_scale, 1)}, got "
                                 f"{tuple(b.shape[-2:])}")

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        if b.shape[-2:] != a.shape[-2:]:
            b = self.b_up(b)
        return self.output(self.decoder(self.encoder(self.inputs(self.a_conv(a), b, extra))))


@GENERATORS.register("rrdb_fusion")
class RRDBFusionGenerator(FusionGenerator):
    """ESRGAN generator for fusion (Wang et al., ECCV-W 2018, "ESRGAN"), without the upsampling tail.

    conv 3x3 [A, B] → nf; ``n_blocks`` RRDBs (3 residual dense blocks each, growth ``growth``, residual
    scaling β = 0.2, **no BatchNorm**); conv 3x3; global residual; conv 3x3 + LReLU; conv 3x3 → 1; sigmoid.
    Paper (super-resolution): nf = 64, 23 RRDBs, growth 32.  Defaults: nf = 8, 1 RRDB, growth 4 (CPU).
    """

    def __init__(self, width: int = 8, n_blocks: int = 1, growth: int = 4, beta: float = 0.2,
                 extra_channels: int = 0, out_act: str = "sigmoid"):
        super().__init__(extra_channels, out_act)
        self.first = nn.Conv2d(2 + extra_channels, width, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(width, growth, beta=beta) for _ in range(n_blocks)))
        self.body_conv = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Sequential(ConvNormAct(width, width, 3, norm=None, act="lrelu"), nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        h = self.first(self.inputs(a, b, extra))
        h = h + self.body_conv(self.body(h))
        return self.output(self.tail(h))


class PooledSelfAttention(nn.Module):
    """SAGAN self-attention run on a grid pooled by ``pool`` (attention is O((HW)²): at 256² it would need
    2³² weights per image), its residual output upsampled back bilinearly.  γ starts at 0 (identity)."""

    def __init__(self, channels: int, pool: int):
        super().__init__()
        self.pool = pool
        self.attn = SelfAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool == 1:
            return self.attn(x)
        small = F.avg_pool2d(x, self.pool)
        delta = self.attn(small) - small                    # = γ · v(o), the attention's residual
        return x + F.interpolate(delta, size=x.shape[-2:], mode="bilinear", align_corners=False)


@GENERATORS.register("sagan_fusion")
class SAGANFusionGenerator(FusionGenerator):
    """Fusion generator with SAGAN self-attention (Zhang, Goodfellow, Metaxas, Odena, ICML 2019).

    conv [A, B] → w; two stride-2 conv stages (2w, 4w) with BatchNorm + ReLU; self-attention at 1/4 resolution
    on a further 2x pooled grid (1/8 of the input: 32² positions for 256² images); a residual block; two
    nearest-upsample + conv stages with skips from the encoder; conv → 1, sigmoid.  Spectral norm in G as in
    SAGAN (``sn=True``).  Layout chosen by us (the review names only "self-attention in G and D").
    """

    stride = 8

    def __init__(self, width: int = 12, extra_channels: int = 0, out_act: str = "sigmoid", sn: bool = True,
                 norm: str = "batch", attention_pool: int = 2):
        super().__init__(extra_channels, out_act)
        w = width
        self.inc = ConvNormAct(2 + extra_channels, w, 3, norm=norm, act="relu", sn=sn)
        self.down1 = ConvNormAct(w, 2 * w, 4, 2, 1, norm=norm, act="relu", sn=sn)
        self.down2 = ConvNormAct(2 * w, 4 * w, 4, 2, 1, norm=norm, act="relu", sn=sn)
        self.attn = PooledSelfAttention(4 * w, attention_pool)
        self.mid = ConvNormAct(4 * w, 4 * w, 3, norm=norm, act="relu", sn=sn)
        self.up1 = ConvNormAct(4 * w + 2 * w, 2 * w, 3, norm=norm, act="relu", sn=sn)
        self.up2 = ConvNormAct(2 * w + w, w, 3, norm=norm, act="relu", sn=sn)
        self.out = nn.Conv2d(w, 1, 3, padding=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        h0 = self.inc(self.inputs(a, b, extra))
        h1 = self.down1(h0)
        h2 = self.mid(self.attn(self.down2(h1)))
        u1 = self.up1(torch.cat([F.interpolate(h2, scale_factor=2.0, mode="nearest"), h1], dim=1))
        u2 = self.up2(torch.cat([F.interpolate(u1, scale_factor=2.0, mode="nearest"), h0], dim=1))
        return self.output(self.out(u2))


@GENERATORS.register("mefgan")
class MEFGANGenerator(FusionGenerator):
    """MEF-GAN generator (Xu, Ma, Zhang, IEEE TIP 29, 2020; code hanna-xu/MEF-GAN).

    Two branches on [A, B] merged by concatenation: a **self-attention block** (strided convs to 1/8
    resolution, SAGAN self-attention, transposed-conv back up: long-range dependencies) and a **local detail
    block** (full-resolution dense convolutions); then 3x3 convs to one channel, tanh/2 + 0.5.  The authors'
    layer counts were not all published; chosen: 3 stride-2 convs each way, a 4-layer dense block of growth w.
    Paper widths are of order 64 (RGB); default w = 7 (CPU).
    """

    stride = 8

    def __init__(self, width: int = 7, extra_channels: int = 0, out_act: str = "tanh", norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        w, cin = width, 2 + extra_channels
        self.attn_down = nn.Sequential(
            ConvNormAct(cin, w, 4, 2, 1, norm=None, act="lrelu"),
            ConvNormAct(w, 2 * w, 4, 2, 1, norm=norm, act="lrelu"),
            ConvNormAct(2 * w, 4 * w, 4, 2, 1, norm=norm, act="lrelu"))
        self.attn = SelfAttention(4 * w)
        self.attn_up = nn.Sequential(
            ConvNormAct(4 * w, 2 * w, 4, 2, 1, norm=norm, act="relu", transposed=True),
            ConvNormAct(2 * w, w, 4, 2, 1, norm=norm, act="relu", transposed=True),
            ConvNormAct(w, w, 4, 2, 1, norm=None, act="relu", transposed=True))
        self.detail = nn.Sequential(ConvNormAct(cin, w, 3, norm=norm, act="relu"),
                                    DenseBlock(w, growth=w, n_layers=4, norm=norm))
        self.merge = nn.Sequential(ConvNormAct(6 * w, 2 * w, 3, norm=norm, act="relu"),
                                   ConvNormAct(2 * w, w, 3, norm=norm, act="relu"),
                                   nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        x = self.inputs(a, b, extra)
        glob = self.attn_up(self.attn(self.attn_down(x)))
        return self.output(self.merge(torch.cat([glob, self.detail(x)], dim=1)))

"""Two-stream fusion generators: one feature stream per source, merged in feature space.

* ``dsagan``    dual-stream multi-scale conv + attention (DSAGAN);
* ``mmfgan``    residual attention + detail-texture block (MMFGAN);
* ``fusegan``   Siamese (shared-weight) encoder (FuseGAN);
* ``mganfuse``  two independent encoders with multi-grained attention (MgAN-Fuse);
* ``dense_lmax`` dense encoder, L_max-norm fusion rule, decoder (the review's Ref. 62).

``extra`` conditioning channels (when a system passes any) join the A stream.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_models.blocks.attention import CBAM, SpatialAttention
from gan_models.blocks.conv import ConvNormAct
from gan_models.blocks.dense import DenseBlock
from gan_models.blocks.residual import ResidualBlock
from gan_models.losses.content import gradient_magnitude
from gan_models.networks.fusion_base import FusionGenerator
from gan_models.registry import GENERATORS


class MultiScaleConv(nn.Module):
    """Parallel 3x3, 5x5 and 7x7 convolutions concatenated (an Inception-style multi-scale unit)."""

    def __init__(self, cin: int, cout_each: int, norm: str):
        super().__init__()
        self.branches = nn.ModuleList(ConvNormAct(cin, cout_each, k, norm=norm, act="lrelu", padding_mode="reflect")
                                      for k in (3, 5, 7))
        self.out_channels = 3 * cout_each

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([br(x) for br in self.branches], dim=1)


@GENERATORS.register("dsagan")
class DSAGANGenerator(FusionGenerator):
    """DSAGAN generator (Fu, Li, Du, Xu, "DSAGAN: A generative adversarial network based on dual-stream
    attention mechanism for anatomical and functional image fusion", Information Sciences 576, 2021).

    Per source: two multi-scale conv units (3x3 / 5x5 / 7x7 in parallel, ``w`` channels each) followed by
    CBAM channel + spatial attention; the two attended streams are concatenated and decoded by 3x3 convs to
    one channel (sigmoid).  Published channel counts were not available to us; default w = 4 (CPU).
    """

    def __init__(self, width: int = 4, extra_channels: int = 0, out_act: str = "sigmoid", norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        w = width

        def stream(cin: int) -> nn.Sequential:
            m1 = MultiScaleConv(cin, w, norm)
            m2 = MultiScaleConv(m1.out_channels, w, norm)
            return nn.Sequential(m1, m2, CBAM(m2.out_channels, reduction=4))

        self.stream_a, self.stream_b = stream(1 + extra_channels), stream(1)
        self.decoder = nn.Sequential(ConvNormAct(6 * w, 2 * w, 3, norm=norm, act="lrelu"),
                                     ConvNormAct(2 * w, w, 3, norm=norm, act="lrelu"), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        fa = self.stream_a(a if extra is None else torch.cat([a, extra], dim=1))
        return self.output(self.decoder(torch.cat([fa, self.stream_b(b)], dim=1)))


class ResidualAttentionBlock(nn.Module):
    """Residual block whose residual is re-weighted by CBAM: x + CBAM(conv-norm-act-conv-norm(x) − x)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.res = ResidualBlock(channels, norm=norm, act="lrelu")
        self.attn = CBAM(channels, reduction=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.res(x) - x)


@GENERATORS.register("mmfgan")
class MMFGANGenerator(FusionGenerator):
    """MMFGAN generator (the review's §3.3: residual attention, detail-texture block, dual discriminators).

    * main path: conv [A, B] → w, ``n_blocks`` residual attention blocks (residual block + CBAM);
    * detail-texture block: the Sobel magnitudes |∇A|, |∇B| through two 3x3 convs, added to the main features
      (a texture prior that lets the decoder copy fine structure);
    * decoder: 3x3 conv → w, conv → 1, sigmoid.
    Block counts and widths are our choice (not available to us); default w = 12, 2 blocks.
    """

    def __init__(self, width: int = 12, n_blocks: int = 2, extra_channels: int = 0, out_act: str = "sigmoid",
                 norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        w = width
        self.head = ConvNormAct(2 + extra_channels, w, 3, norm=norm, act="lrelu", padding_mode="reflect")
        self.body = nn.Sequential(*(ResidualAttentionBlock(w, norm) for _ in range(n_blocks)))
        self.detail = nn.Sequential(ConvNormAct(2, w, 3, norm=norm, act="lrelu"),
                                    ConvNormAct(w, w, 3, norm=norm, act="lrelu"))
        self.decoder = nn.Sequential(ConvNormAct(w, w, 3, norm=norm, act="lrelu"), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        h = self.body(self.head(self.inputs(a, b, extra)))
        texture = self.detail(torch.cat([gradient_magnitude(a), gradient_magnitude(b)], dim=1))
        return self.output(self.decoder(h + texture))


class _Encoder(nn.Module):
    """conv → w, then stride-2 stages to w·2^i; returns the feature map of every scale (fine to coarse)."""

    def __init__(self, cin: int, width: int, depth: int, norm: str):
        super().__init__()
        self.stages = nn.ModuleList([ConvNormAct(cin, width, 3, norm=norm, act="lrelu", padding_mode="reflect")]
                                    + [ConvNormAct(width * 2 ** (i - 1), width * 2 ** i, 4, 2, 1, norm=norm,
                                                   act="lrelu") for i in range(1, depth + 1)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        return feats


class _Decoder(nn.Module):
    """Coarse-to-fine decoder: at scale i, upsample ×2, concatenate ``skips[i]`` and conv to w·2^i."""

    def __init__(self, width: int, depth: int, skip_channels: list[int], norm: str):
        super().__init__()
        self.depth = depth
        self.stages = nn.ModuleList()
        cin = skip_channels[depth]
        for i in range(depth - 1, -1, -1):
            out = width * 2 ** i
            self.stages.append(ConvNormAct(cin + skip_channels[i], out, 3, norm=norm, act="lrelu"))
            cin = out
        self.out = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        h = skips[self.depth]
        for stage, i in zip(self.stages, range(self.depth - 1, -1, -1)):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = stage(torch.cat([h, skips[i]], dim=1))
        return self.out(h)


@GENERATORS.register("fusegan")
class FuseGANGenerator(FusionGenerator):
    """FuseGAN generator (Guo, Nie, Cao, Zhou, Mei, He, "FuseGAN: Learning to fuse multi-focus image via
    conditional generative adversarial network", IEEE TMM 21, 2019): a **Siamese** encoder — one set of
    weights applied to A and to B — whose per-scale features are concatenated and decoded with skips.

    FuseGAN decodes a focus decision map for multi-focus fusion; for multimodal fusion we decode the fused
    intensity directly (sigmoid).  Depth 2, default w = 8 (the paper's encoder is a ResNet-style stack with
    64..256 channels).  ``extra`` channels, when given, are added to both inputs' first layer as a shared
    condition.
    """

    def __init__(self, width: int = 8, depth: int = 2, extra_channels: int = 0, out_act: str = "sigmoid",
                 norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        self.stride = 2 ** depth
        self.encoder = _Encoder(1 + extra_channels, width, depth, norm)       # shared: the Siamese branch
        self.decoder = _Decoder(width, depth, [2 * width * 2 ** i for i in range(depth + 1)], norm)

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        xa, xb = (a, b) if extra is None else (torch.cat([a, extra], 1), torch.cat([b, extra], 1))
        feats = self.encoder(torch.cat([xa, xb]))          # one pass over [A; B]: shared weights AND shared
        n = a.shape[0]                                     # BatchNorm statistics (two passes would normalise
        return self.output(self.decoder([torch.cat([f[:n], f[n:]], dim=1) for f in feats]))   # A and B apart)


@GENERATORS.register("mganfuse")
class MgANFuseGenerator(FusionGenerator):
    """MgAN-Fuse generator (Li, Huo, Li, Wang, Sui, Liu, "Multigrained attention network for infrared and
    visible image fusion", IEEE TIM 70, 2021).

    Two **independent** encoders (one per modality).  At every encoder scale a spatial-attention module
    produces an attention map per source; the attended features and the attention maps of both sources
    (the "multi-grained attention maps") are concatenated to the decoder features of the same scale.
    Depth 2, default w = 8 (the paper's widths were not available to us).
    """

    def __init__(self, width: int = 8, depth: int = 2, extra_channels: int = 0, out_act: str = "sigmoid",
                 norm: str = "batch"):
        super().__init__(extra_channels, out_act)
        self.stride = 2 ** depth
        self.enc_a = _Encoder(1 + extra_channels, width, depth, norm)
        self.enc_b = _Encoder(1, width, depth, norm)
        self.att_a = nn.ModuleList(SpatialAttention() for _ in range(depth + 1))
        self.att_b = nn.ModuleList(SpatialAttention() for _ in range(depth + 1))
        self.decoder = _Decoder(width, depth, [2 * width * 2 ** i + 2 for i in range(depth + 1)], norm)

    @staticmethod
    def _attend(att: SpatialAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(attended features σ(m) ⊙ x, the attention map σ(m)) of a CBAM spatial-attention module."""
        m = torch.sigmoid(att.conv(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)))
        return x * m, m

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        fa = self.enc_a(a if extra is None else torch.cat([a, extra], dim=1))
        fb = self.enc_b(b)
        skips = []
        for i in range(len(fa)):
            ya, ma = self._attend(self.att_a[i], fa[i])
            yb, mb = self._attend(self.att_b[i], fb[i])
            skips.append(torch.cat([ya, yb, ma, mb], dim=1))
        return self.output(self.decoder(skips))


def lmax_fuse(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """L_max-norm fusion rule: per pixel, keep the feature vector of the source whose channel-wise L∞ norm
    (activity max_c |φ_c|) is larger (ties go to A).  Differentiable in the features; the selection is a hard
    choice, as in the rule's definition."""
    act_a = fa.abs().amax(dim=1, keepdim=True)
    act_b = fb.abs().amax(dim=1, keepdim=True)
    return torch.where(act_a >= act_b, fa, fb)


@GENERATORS.register("dense_lmax")
class DenseLmaxGenerator(FusionGenerator):
    """Dense-block encoder / L_max fusion rule / decoder (the review's Ref. 62, a DenseFuse-style network).

    A shared encoder (conv → w, 3-layer dense block of growth w: 4w channels, DenseFuse layout) maps A and
    B to features; :func:`lmax_fuse` merges them per pixel; a 4-conv decoder (4w → 4w → 2w → w → 1, ReLU,
    sigmoid) reconstructs F.  DenseFuse uses w = 16 (64 channels); default here w = 6.  Trained end to end
    adversarially (the fusion rule is applied during training as well as at test time).
    """

    def __init__(self, width: int = 6, extra_channels: int = 0, out_act: str = "sigmoid", norm: str = "none"):
        super().__init__(extra_channels, out_act)
        w = width
        self.encoder = nn.Sequential(ConvNormAct(1 + extra_channels, w, 3, norm=norm, act="relu",
                                                 padding_mode="reflect"),
                                     DenseBlock(w, growth=w, n_layers=3, norm=norm, act="relu"))
        self.decoder = nn.Sequential(ConvNormAct(4 * w, 4 * w, 3, norm=norm, act="relu"),
                                     ConvNormAct(4 * w, 2 * w, 3, norm=norm, act="relu"),
                                     ConvNormAct(2 * w, w, 3, norm=norm, act="relu"), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        xa, xb = (a, b) if extra is None else (torch.cat([a, extra], 1), torch.cat([b, extra], 1))
        f = self.encoder(torch.cat([xa, xb]))              # one pass: shared weights and normalisation statistics
        n = a.shape[0]
        return self.output(self.decoder(lmax_fuse(f[:n], f[n:])))

"""Attention blocks: SAGAN self-attention (Zhang et al., ICML 2019) and CBAM channel / spatial attention
(Woo et al., ECCV 2018)."""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.norm_act import spectral_norm
from gan_models.registry import BLOCKS


@BLOCKS.register("self_attention")
class SelfAttention(nn.Module):
    """SAGAN self-attention, paper Sec. 3: f, g, h are 1x1 convs to C̄ = C/``reduction`` channels (k = 8),
    s_ij = f(x_i)ᵀ g(x_j), β_j = softmax_i(s_ij), o_j = v(Σ_i β_ji h(x_i)) with v a 1x1 conv back to C,
    and y = γ·o + x with γ a learned scalar **initialised to 0** (the block is the identity at init).
    The authors' TF code additionally max-pools keys/values and uses C/2 for h (a memory saving that the
    paper does not describe); this follows the paper.  1x1 convs are spectrally normalised when ``sn``."""

    def __init__(self, channels: int, *, reduction: int = 8, sn: bool = False):
        super().__init__()
        inner = max(channels // reduction, 1)
        self.f = spectral_norm(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.g = spectral_norm(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.h = spectral_norm(nn.Conv2d(channels, inner, 1, bias=False), sn)
        self.v = spectral_norm(nn.Conv2d(inner, channels, 1, bias=False), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """β: (B, N, N) with β[b, j, i] the weight of location i for output location j (rows sum to 1)."""
        f = self.f(x).flatten(2)                     # (B, C̄, N)
        g = self.g(x).flatten(2)
        s = torch.bmm(g.transpose(1, 2), f)          # s[b, j, i] = g(x_j)·f(x_i)
        return torch.softmax(s, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        beta = self.attention_map(x)
        h = self.h(x).flatten(2)                     # (B, C̄, N)
        o = torch.bmm(h, beta.transpose(1, 2)).view(b, -1, hgt, wid)
        return x + self.gamma * self.v(o)


@BLOCKS.register("channel_attention")
class ChannelAttention(nn.Module):
    """CBAM channel attention: σ(MLP(avgpool(x)) + MLP(maxpool(x))) ⊙ x, shared MLP C → C/r → C."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(a)


@BLOCKS.register("spatial_attention")
class SpatialAttention(nn.Module):
    """CBAM spatial attention: σ(conv7x7([mean_c(x), max_c(x)])) ⊙ x."""

    def __init__(self, kernel: int = 7):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"spatial attention kernel must be odd, got {kernel}")
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv(torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1))
        return x * torch.sigmoid(a)


@BLOCKS.register("cbam")
class CBAM(nn.Sequential):
    """Channel attention then spatial attention (the CBAM order)."""

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7):
        super().__init__(ChannelAttention(channels, reduction), SpatialAttention(kernel))

"""Learned merge of two feature maps."""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.norm_act import spectral_norm
from gan_models.registry import BLOCKS


@BLOCKS.register("gate_merge")
class GateMerge(nn.Module):
    """Gated sum ``g ⊙ a + (1 − g) ⊙ b`` with a per-pixel, per-channel gate g = σ(conv([a, b])).

    The gate conv is zero-initialised, so at init g = 0.5 everywhere (the plain average of the two maps).
    """

    def __init__(self, channels: int, *, kernel: int = 3, sn: bool = False):
        super().__init__()
        conv = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
        self.gate = spectral_norm(conv, sn)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape:
            raise ValueError(f"gate merge needs maps of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        g = torch.sigmoid(self.gate(torch.cat([a, b], dim=1)))
        return g * a + (1.0 - g) * b

"""DiffAugment (Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020), policy ``color,translation,cutout``.

The three policies of the authors' ``DiffAugment_pytorch.py`` (mit-han-lab/data-efficient-gans), one random draw
per sample and per call, every op differentiable in the image:

* ``color``: brightness x + (u − ½), u ~ U[0, 1); saturation (x − x̄_c)·2u + x̄_c around the per-pixel channel
  mean; contrast (x − x̄)·(u + ½) + x̄ around the per-sample mean (for images in [−1, 1]; see
  ``value_range``);
* ``translation``: an integer shift by up to 1/8 of the side (``translation_ratio``) in each direction, uniform
  over [−H/8, H/8], the vacated pixels filled with zeros;
* ``cutout``: a zero square of half the side (``cutout_ratio``) at a uniformly random position (clipped at the
  border; the centre may lie anywhere in the image, as the reference code's offsets).

Registered as ``diffaugment``; see :mod:`gan_models.augment.base` for how it reaches every critic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_models.augment.base import CriticAugment
from gan_models.config import ConfigError
from gan_models.registry import AUGMENTATIONS

POLICIES = ("color", "translation", "cutout")


def _u(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_u(x) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_u(x) * 2.0) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_u(x) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each sample by (dy, dx), |dy| <= H·ratio, |dx| <= W·ratio (integers), zero fill."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio), int(w * ratio)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy          # output row i reads input row i + dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    shifted = x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)   # (N, C, H, W), differentiable
    return shifted * inside.to(x.dtype)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a (H·ratio) × (W·ratio) square centred at a uniformly random pixel of each sample."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio), int(w * ratio)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


@AUGMENTATIONS.register("diffaugment")
@dataclass
class DiffAugment(CriticAugment):
    policy: str = "color,translation,cutout"
    translation_ratio: float = 0.125
    cutout_ratio: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ops = [p.strip() for p in self.policy.split(",") if p.strip()]
        unknown = sorted(set(self.ops) - set(POLICIES))
        if unknown or not self.ops:
            raise ConfigError(f"augment (diffaugment).policy: unknown or empty policy {self.policy!r}; "
                              f"choose from {list(POLICIES)}")
        if not 0 < self.translation_ratio < 0.5 or not 0 < self.cutout_ratio < 1:
            raise ConfigError("augment (diffaugment): translation_ratio must be in (0, 0.5) and cutout_ratio "
                              f"in (0, 1), got {self.translation_ratio}, {self.cutout_ratio}")

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:                          # in the policy's order, as the reference
            if op == "color":
                x = self.colour_part(x)
            elif op == "translation":
                x = rand_translation(x, self.translation_ratio)
            else:
                x = rand_cutout(x, self.cutout_ratio)
        return x

    def colour(self, x: torch.Tensor) -> torch.Tensor:
        return rand_contrast(rand_saturation(rand_brightness(x)))



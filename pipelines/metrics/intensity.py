"""Single-image statistics of the fused image: EN, SD, SF, AG (FUSION_METRICS.md §3, CDDFuse Evaluator)."""
from __future__ import annotations

import math

import torch

from pipelines.metrics.batch import Triplet
from pipelines.metrics.information import level_histograms, sum_xlogx
from pipelines.metrics.moments import F_, pixel_moments
from pipelines.metrics.registry import metric


@metric("EN", unit="bits", reference="Shannon entropy of the 256-bin grey histogram of F, log2")
def entropy(batch: Triplet):
    levels = batch.levels[:, 2]                                  # F, clipped and rounded to 0..255
    P = levels.shape[1]
    hist = level_histograms(levels)
    # -sum p log2 p with p = c / P  ==  log2 P - sum c ln c / (P ln 2)
    return {"EN": math.log2(P) - sum_xlogx(hist, 1, P) / (P * math.log(2.0))}


@metric("SD", reference="population standard deviation of F (ddof=0), 0-255 scale")
def standard_deviation(batch: Triplet):
    return {"SD": torch.sqrt(pixel_moments(batch).var(F_))}


def _f_differences(batch: Triplet) -> tuple[torch.Tensor, torch.Tensor]:
    """First differences of F along x (N, H, W-1) and y (N, H-1, W), in the batch's exact work dtype."""
    def compute():
        F = batch.work[:, 2]
        return F[:, :, 1:] - F[:, :, :-1], F[:, 1:, :] - F[:, :-1, :]
    return batch.shared("f_differences", compute)


@metric("SF", reference="sqrt(mean row diff^2 + mean column diff^2) of F")
def spatial_frequency(batch: Triplet):
    dx, dy = _f_differences(batch)
    rf = (dx * dx).sum(dim=(1, 2), dtype=torch.float64) / dx[0].numel()
    cf = (dy * dy).sum(dim=(1, 2), dtype=torch.float64) / dy[0].numel()
    return {"SF": torch.sqrt(rf + cf)}


def _central(d: torch.Tensor, dim: int) -> torch.Tensor:
    """np.gradient along ``dim`` from first differences: one-sided at the borders, central inside."""
    n = d.shape[dim]
    inner = (d.narrow(dim, 0, n - 1) + d.narrow(dim, 1, n - 1)) * 0.5
    return torch.cat([d.narrow(dim, 0, 1), inner, d.narrow(dim, n - 1, 1)], dim=dim)


@metric("AG", reference="mean over all pixels of sqrt((gx^2+gy^2)/2), np.gradient differences")
def average_gradient(batch: Triplet):
    dx, dy = _f_differences(batch)
    gx, gy = _central(dx, 2), _central(dy, 1)
    mag = torch.sqrt(torch.addcmul(gx * gx, gy, gy).mul_(0.5))
    return {"AG": mag.sum(dim=(1, 2), dtype=torch.float64) / mag[0].numel()}

"""Whole-image pixel moments shared by SD, SCD, CC, MSE and PSNR (computed once per batch).

The rows [F, A, B, F-B, F-A] are centred on their means and multiplied as one batched Gram matrix, so every
variance, covariance and correlation these metrics need is one entry.  The difference images are formed
explicitly, as the reference does, so F identical to a source gives an exactly zero row and SCD's 0/0 = NaN
is reproduced without relying on cancellation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pipelines.metrics.batch import Triplet

F_, A_, B_, F_MINUS_B, F_MINUS_A = range(5)


@dataclass(frozen=True)
class PixelMoments:
    mean: torch.Tensor      # (N, 5) means of [F, A, B, F-B, F-A]
    gram: torch.Tensor      # (N, 5, 5) sums of products of the centred rows
    pixels: int

    def var(self, i: int) -> torch.Tensor:
        """Population variance of row i."""
        return self.gram[:, i, i] / self.pixels

    def corr(self, i: int, j: int) -> torch.Tensor:
        """Pearson correlation of rows i and j (NaN when either is constant)."""
        return self.gram[:, i, j] / torch.sqrt(self.gram[:, i, i] * self.gram[:, j, j])

    def mean_square(self, i: int) -> torch.Tensor:
        """mean(row_i^2) = variance + mean^2."""
        return self.var(i) + self.mean[:, i] * self.mean[:, i]


def pixel_moments(batch: Triplet) -> PixelMoments:
    def compute() -> PixelMoments:
        F, A, B = batch.F, batch.A, batch.B
        rows = torch.stack([F, A, B, F - B, F - A], dim=1).flatten(2)      # (N, 5, P)
        mean = rows.mean(dim=2, keepdim=True)
        rows -= mean
        gram = torch.bmm(rows, rows.transpose(1, 2))
        return PixelMoments(mean=mean.squeeze(2), gram=gram, pixels=rows.shape[2])
    return batch.shared("pixel_moments", compute)

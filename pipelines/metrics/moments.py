"""Whole-image pixel moments shared by SD, SCD, CC, MSE and PSNR (computed once per batch).

Every variance, covariance and correlation these metrics need is one entry of the centred Gram matrix of the
rows [F, A, B, F-B, F-A].  On integer images (the reference's PNG values) it is computed exactly from the 3x3
Gram matrix of [A, B, F] and their sums; otherwise the rows are formed explicitly, centred and multiplied (so
F identical to a source gives an exactly zero row and SCD's 0/0 = NaN is reproduced in both cases).
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


#: rows [F, A, B, F-B, F-A] as combinations of the stacked images [A, B, F]
_ROWS_OF_STACK = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 1.0), (-1.0, 0.0, 1.0))


def pixel_moments(batch: Triplet) -> PixelMoments:
    def compute() -> PixelMoments:
        return _integer_moments(batch) if batch.integral else _centred_moments(batch)
    return batch.shared("pixel_moments", compute)


def _integer_moments(batch: Triplet) -> PixelMoments:
    """Integer images (0..255): every sum is an exact integer in float64 - sum(x) <= 1.7e7, sum(xy) <= 4.3e9,
    P sum(xy) - sum(x) sum(y) <= 2.8e14 and the row combinations <= 1.2e15, all below 2^53 - so the centred
    Gram matrix (times P) of [F, A, B, F-B, F-A] is formed EXACTLY from one 3x3 Gram matrix of [A, B, F] and
    their sums, with a single rounding at the final division.  F equal to a source gives an exact 0 variance
    of the difference row (SCD's NaN), as in the reference."""
    X = batch.stacked.flatten(2)                                        # (N, 3, P): A, B, F
    P = X.shape[2]
    S = X.sum(dim=2)                                                    # exact (integer partial sums)
    G = torch.bmm(X, X.transpose(1, 2))                                 # exact
    C = G * P - S.unsqueeze(2) * S.unsqueeze(1)                         # P^2 x centred covariances, exact
    L = torch.tensor(_ROWS_OF_STACK, dtype=X.dtype, device=X.device)
    gram = (L @ C @ L.T) / P                                            # sums of centred products
    return PixelMoments(mean=(S @ L.T) / P, gram=gram, pixels=P)


def _centred_moments(batch: Triplet) -> PixelMoments:
    F, A, B = batch.F, batch.A, batch.B
    rows = torch.stack([F, A, B, F - B, F - A], dim=1).flatten(2)      # (N, 5, P)
    mean = rows.mean(dim=2, keepdim=True)
    rows -= mean
    gram = torch.bmm(rows, rows.transpose(1, 2))
    return PixelMoments(mean=mean.squeeze(2), gram=gram, pixels=rows.shape[2])

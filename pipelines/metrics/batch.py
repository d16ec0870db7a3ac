"""One scored batch: the fused images and both sources as tensors on one device, plus the intermediates
that several metric families share (computed at most once per batch, on first use).

Every registered family is ``fn(batch: Triplet, **options) -> {column: (N,) tensor}``; the tensors stay on
the batch's device and :func:`pipelines.metrics.scoring.score_batch` moves only these final per-image values
to the CPU.
"""
from __future__ import annotations

from functools import cached_property
from typing import Callable

import torch

from pipelines.metrics.arrays import as_batch, check_same_shape


class Triplet:
    """F, A, B as float64 (N, H, W) tensors on one device (reference scale: 0-255)."""

    def __init__(self, F, A, B):
        self.F, _ = as_batch(F)
        self.A, _ = as_batch(A)
        self.B, _ = as_batch(B)
        check_same_shape(self.F, self.A, self.B)
        self._memo: dict[str, object] = {}

    @property
    def device(self) -> torch.device:
        return self.F.device

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.F.shape)

    @cached_property
    def stacked(self) -> torch.Tensor:
        """(N, 3, H, W) float64: [A, B, F]."""
        return torch.stack([self.A, self.B, self.F], dim=1)

    @cached_property
    def _rounded(self) -> torch.Tensor:
        return torch.round(self.stacked).clamp_(0.0, 255.0)

    @cached_property
    def integral(self) -> bool:
        """True when every image holds integers in 0..255 (the reference's PNG values): then the float32
        paths (Sobel, window sums) are exact and are used; otherwise those metrics run in float64."""
        return bool(torch.equal(self._rounded, self.stacked))

    @cached_property
    def levels(self) -> torch.Tensor:
        """(N, 3, H*W) int64 grey levels of [A, B, F]: clipped to 0..255, rounded half to even."""
        return self._rounded.to(torch.int64).flatten(2)

    @cached_property
    def work(self) -> torch.Tensor:
        """(N, 3, H, W) [A, B, F] in the cheapest dtype that is exact for them (float32 if integral)."""
        return self.stacked.to(torch.float32) if self.integral else self.stacked

    def shared(self, key: str, compute: Callable[[], object]):
        """Memoise an intermediate used by several families (e.g. the pixel moments of F, A, B)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

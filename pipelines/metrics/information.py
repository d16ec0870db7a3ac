"""Mutual information MI = MI(F, A) + MI(F, B) in nats, as ``sklearn.metrics.mutual_info_score`` on the
integer grey levels (FUSION_METRICS.md §3): every distinct level is a label, i.e. a 256x256 joint histogram
with empty bins ignored.  Both joint histograms of every image come from one ``bincount`` on combined
indices; MI = (sum c ln c - sum c_F ln c_F - sum c_S ln c_S) / P + ln P."""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from pipelines.metrics import kernels
from pipelines.metrics.batch import Triplet
from pipelines.metrics.registry import metric


def level_histograms(levels: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """(K, P) int64 levels in [0, bins) -> (K, bins) int64 counts, one ``bincount`` for all rows."""
    K = levels.shape[0]
    offset = torch.arange(K, device=levels.device).mul_(bins).unsqueeze(1)
    return torch.bincount((levels + offset).flatten(), minlength=K * bins).view(K, bins)


@lru_cache(maxsize=8)
def _log_table(total: int, device: str) -> torch.Tensor:
    """ln(0..total) as float64 on ``device``, with ln(0) := 0 (it only ever multiplies a zero count)."""
    return torch.log(torch.arange(total + 1, dtype=torch.float64, device=device).clamp_(min=1.0))


def sum_xlogx(counts: torch.Tensor, dims, total: int) -> torch.Tensor:
    """sum of c * ln(c) over ``dims`` for int64 counts c <= ``total`` (0 ln 0 = 0), in float64, by table
    lookup (cheaper than evaluating the logarithm of every bin)."""
    return (counts.to(torch.float64) * torch.take(_log_table(total, str(counts.device)), counts)).sum(dim=dims)


def mutual_information(x_levels: torch.Tensor, y_levels: torch.Tensor) -> torch.Tensor:
    """Per-row MI (nats) between (K, P) int64 level arrays in 0..255 -> (K,) float64."""
    K, P = x_levels.shape
    joint = level_histograms(x_levels * 256 + y_levels, 65536).view(K, 256, 256)
    s = (sum_xlogx(joint, (1, 2), P) - sum_xlogx(joint.sum(dim=2), 1, P)
         - sum_xlogx(joint.sum(dim=1), 1, P))
    return (s / P + math.log(P)).clamp_(min=0.0)          # sklearn clips tiny negative round-off to 0


@metric("MI", parts=("MI_A", "MI_B"), unit="nats",
        reference="sklearn mutual_info_score(F, A) + mutual_info_score(F, B); nats (x1/ln2 for bits)")
def mi(batch: Triplet):
    lv = batch.levels                                        # (N, 3, P): A, B, F
    if kernels.applies(lv.device):                           # fused CPU kernel (pipelines.metrics.kernels)
        both = torch.from_numpy(kernels.mutual_information(lv.numpy()))
        return {"MI": both[:, 0] + both[:, 1], "MI_A": both[:, 0], "MI_B": both[:, 1]}
    N, _, P = lv.shape
    f = lv[:, 2:3].expand(N, 2, P).reshape(2 * N, P)
    both = mutual_information(f, lv[:, 0:2].reshape(2 * N, P)).view(N, 2)
    return {"MI": both[:, 0] + both[:, 1], "MI_A": both[:, 0], "MI_B": both[:, 1]}

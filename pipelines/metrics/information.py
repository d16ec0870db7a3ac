"""Mutual information MI = MI(F, A) + MI(F, B) in nats, as ``sklearn.metrics.mutual_info_score`` on the
integer grey levels (FUSION_METRICS.md §3): every distinct level is a label, i.e. a 256x256 joint histogram
with empty bins ignored.  Computed from ``bincount`` joint histograms and a table of log(count)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipelines.metrics.arrays import to_uint8_levels
from pipelines.metrics.registry import metric


@lru_cache(maxsize=8)
def _log_table(total: int) -> np.ndarray:
    t = np.log(np.maximum(np.arange(total + 1, dtype=np.float64), 1.0))   # log(0) := 0 (times a zero count)
    t.setflags(write=False)
    return t


def mutual_information(x_levels: np.ndarray, y_levels: np.ndarray) -> np.ndarray:
    """Per-image MI (nats) between two (N, P) uint8 level arrays."""
    n, total = x_levels.shape
    idx = (x_levels.astype(np.int64) << 8) | y_levels
    idx += (np.arange(n, dtype=np.int64) << 16)[:, None]
    joint = np.bincount(idx.ravel(), minlength=n << 16).reshape(n, 256, 256)
    cx = joint.sum(axis=2)
    cy = joint.sum(axis=1)
    L = _log_table(total)
    # MI = sum c/T * log(c*T/(cx*cy)) = (1/T) sum c*(log c - log cx - log cy) + log T
    s = (joint * L[joint]).sum(axis=(1, 2)) - (cx * L[cx]).sum(axis=1) - (cy * L[cy]).sum(axis=1)
    mi = s / total + np.log(total)
    return np.clip(mi, 0.0, None)          # sklearn clips tiny negative round-off to 0


@metric("MI", parts=("MI_A", "MI_B"), unit="nats",
        reference="sklearn mutual_info_score(F, A) + mutual_info_score(F, B); nats (x1/ln2 for bits)")
def mi(F, A, B):
    n = F.shape[0]
    f, a, b = (to_uint8_levels(x).reshape(n, -1) for x in (F, A, B))
    mi_a = mutual_information(f, a)
    mi_b = mutual_information(f, b)
    return {"MI": mi_a + mi_b, "MI_A": mi_a, "MI_B": mi_b}

"""Correlation metrics: SCD (Aslantas & Bendes 2015, sum of correlations of differences) and CC.

Both use the Pearson correlation over all pixels.  SCD = corr(A, F-B) + corr(B, F-A) is NaN when F equals a
source (F-B constant gives 0/0); the reference does not guard it and neither do we: the NaN is returned per
image and :func:`pipelines.metrics.scoring.aggregate` counts it explicitly (``SCD_nan_count``).
"""
from __future__ import annotations

import numpy as np

from pipelines.metrics.registry import metric


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation of (N, H, W) arrays (NaN when either image is constant)."""
    xm = x - x.mean(axis=(1, 2), keepdims=True)
    ym = y - y.mean(axis=(1, 2), keepdims=True)
    num = np.einsum("nij,nij->n", xm, ym)
    den = np.sqrt(np.einsum("nij,nij->n", xm, xm) * np.einsum("nij,nij->n", ym, ym))
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


@metric("SCD", parts=("SCD_A", "SCD_B"),
        reference="corr(F-B, A) + corr(F-A, B), Pearson; NaN when F equals a source")
def scd(F, A, B):
    sa = pearson(A, F - B)
    sb = pearson(B, F - A)
    return {"SCD": sa + sb, "SCD_A": sa, "SCD_B": sb}


@metric("CC", parts=("CC_A", "CC_B"), reference="(corr(A, F) + corr(B, F)) / 2, Pearson")
def cc(F, A, B):
    ca = pearson(A, F)
    cb = pearson(B, F)
    return {"CC": (ca + cb) / 2, "CC_A": ca, "CC_B": cb}

"""Single-image statistics of the fused image: EN, SD, SF, AG (FUSION_METRICS.md §3, CDDFuse Evaluator)."""
from __future__ import annotations

import numpy as np

from pipelines.metrics.arrays import to_uint8_levels
from pipelines.metrics.registry import metric


@metric("EN", unit="bits", reference="Shannon entropy of the 256-bin grey histogram of F, log2")
def entropy(F: np.ndarray, A: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
    n, h, w = F.shape
    levels = to_uint8_levels(F).reshape(n, -1).astype(np.int64) + 256 * np.arange(n)[:, None]
    p = np.bincount(levels.ravel(), minlength=256 * n).reshape(n, 256) / (h * w)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return {"EN": -terms.sum(axis=1)}


@metric("SD", reference="population standard deviation of F (ddof=0), 0-255 scale")
def standard_deviation(F, A, B):
    return {"SD": F.std(axis=(1, 2))}


@metric("SF", reference="sqrt(mean row diff^2 + mean column diff^2) of F")
def spatial_frequency(F, A, B):
    rf = np.mean(np.square(np.diff(F, axis=2)), axis=(1, 2))
    cf = np.mean(np.square(np.diff(F, axis=1)), axis=(1, 2))
    return {"SF": np.sqrt(rf + cf)}


@metric("AG", reference="mean over all pixels of sqrt((gx^2+gy^2)/2), np.gradient differences")
def average_gradient(F, A, B):
    gy, gx = np.gradient(F, axis=(1, 2))
    return {"AG": np.mean(np.sqrt((gx * gx + gy * gy) * 0.5), axis=(1, 2))}

"""PCA-weighted average fusion (V. P. S. Naidu & J. R. Raol, "Pixel-level image fusion using wavelets and
principal component analysis", Defence Science Journal 58(3), 2008): the weights are the components of the
principal eigenvector of the 2x2 covariance of the two images, normalised to sum 1."""
from __future__ import annotations

import numpy as np

from pipelines.baselines.registry import register


def pca_weights(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    cov = np.cov(np.stack([a.ravel(), b.ravel()]))
    vals, vecs = np.linalg.eigh(cov)
    v = np.abs(vecs[:, np.argmax(vals)])
    s = v.sum()
    if not np.isfinite(s) or s == 0 or vals.max() <= 0:      # both images constant: no preference
        return 0.5, 0.5
    return float(v[0] / s), float(v[1] / s)


@register("pca")
def pca(a, b):
    wa, wb = pca_weights(a, b)
    return wa * a + wb * b

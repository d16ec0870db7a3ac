"""SSIM as the reference evaluator computes it: ``skimage.metrics.structural_similarity(F, X)`` with all
scikit-image 0.19 defaults (7x7 uniform window, sample covariance N/(N-1), K1=0.01, K2=0.03, mean over the
image without a 3-pixel border), summed over the two sources.

``data_range`` defaults to 2 - what skimage <= 0.19 silently used for float input and what the CDDFuse /
DDFM / EMMA numbers contain (C1 = 4e-4, C2 = 3.6e-3 on 0-255 data, i.e. almost no stabilisation).  FILM's
copy uses 255; pass ``data_range=255`` for that variant and label it.

The window sums are computed exactly from integer cumulative sums and the variances as
(49*sum(x^2) - sum(x)^2) / (49*48), so on integer 0-255 images there is no cancellation error at all.
"""
from __future__ import annotations

import numpy as np

from pipelines.metrics.filters import box_sum_valid
from pipelines.metrics.registry import metric

WIN = 7
K1, K2 = 0.01, 0.03


def ssim_pairs(F: np.ndarray, sources: list[np.ndarray], data_range: float = 2.0) -> list[np.ndarray]:
    """Mean SSIM(F, X) per image for each X in ``sources`` (sharing F's window sums)."""
    k = len(sources)
    stack = np.concatenate([F, *sources, F * F, *(x * x for x in sources), *(F * x for x in sources)])
    n = F.shape[0]
    sums = box_sum_valid(stack, WIN).reshape(2 + 3 * k, n, -1)   # [F, X.., F^2, X^2.., F*X..]
    sf, sxs = sums[0], sums[1:1 + k]
    sff, sxxs = sums[1 + k], sums[2 + k:2 + 2 * k]
    sfxs = sums[2 + 2 * k:]
    NP = WIN * WIN
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    inv_mean2 = 1.0 / (NP * NP)
    inv_cov = 1.0 / (NP * (NP - 1))
    vf = (NP * sff - sf * sf)
    out = []
    for j in range(k):
        sx, sxx, sfx = sxs[j], sxxs[j], sfxs[j]
        a1 = 2.0 * sf * sx * inv_mean2 + c1
        a2 = 2.0 * (NP * sfx - sf * sx) * inv_cov + c2
        b1 = (sf * sf + sx * sx) * inv_mean2 + c1
        b2 = (vf + NP * sxx - sx * sx) * inv_cov + c2
        out.append(((a1 * a2) / (b1 * b2)).mean(axis=1))
    return out


@metric("SSIM", parts=("SSIM_A", "SSIM_B"),
        reference="skimage structural_similarity(F,A)+(F,B), 0.19 defaults, data_range=2 (option: 255)")
def ssim(F, A, B, data_range: float = 2.0):
    sa, sb = ssim_pairs(F, [A, B], data_range)
    return {"SSIM": sa + sb, "SSIM_A": sa, "SSIM_B": sb}

"""Guided-filtering fusion, GFF (S. Li, X. Kang & J. Hu, "Image fusion with guided filtering", IEEE TIP
22(7), 2013), with the paper's parameters:

1. two-scale decomposition: base = 31x31 mean filter, detail = image - base;
2. saliency S = |Laplacian(I)| smoothed by an 11x11 Gaussian (r_g = 5, sigma_g = 5);
3. binary weight maps P_n = 1 where S_n is the pixel-wise maximum (ties -> the first source);
4. base weights W^B = GuidedFilter(P_n, guide I_n, r1 = 45, eps1 = 0.3), detail weights
   W^D = GuidedFilter(P_n, I_n, r2 = 7, eps2 = 1e-6), each normalised to sum 1 per pixel;
5. F = sum W^B base_n + sum W^D detail_n.

The guided filter is He, Sun & Tang (ECCV 2010) with box means normalised at the borders.  Intensities are
in [0, 1] as in the authors' code.  Where both weights vanish the pixel falls back to equal weights.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve, gaussian_filter, uniform_filter

from pipelines.baselines.registry import register

R_BASE_MEAN = 15          # 31x31 average filter
R_G, SIGMA_G = 5, 5.0
R1, EPS1 = 45, 0.3
R2, EPS2 = 7, 1e-6
_LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window clipped to the image (He et al.'s boxfilter / N)."""
    size = 2 * r + 1
    num = uniform_filter(x, size=size, mode="constant")
    den = uniform_filter(np.ones_like(x), size=size, mode="constant")
    return num / den


def guided_filter(p: np.ndarray, guide: np.ndarray, r: int, eps: float) -> np.ndarray:
    mi = box_mean(guide, r)
    mp = box_mean(p, r)
    cov = box_mean(guide * p, r) - mi * mp
    var = box_mean(guide * guide, r) - mi * mi
    a = cov / (var + eps)
    b = mp - a * mi
    return box_mean(a, r) * guide + box_mean(b, r)


def _normalised(ws: list[np.ndarray]) -> list[np.ndarray]:
    total = sum(ws)
    ok = np.abs(total) > 1e-12
    return [np.where(ok, w / np.where(ok, total, 1.0), 1.0 / len(ws)) for w in ws]


@register("guided")
def guided(a, b):
    imgs = [a, b]
    bases = [uniform_filter(x, size=2 * R_BASE_MEAN + 1, mode="reflect") for x in imgs]
    details = [x - bx for x, bx in zip(imgs, bases)]
    sal = [gaussian_filter(np.abs(convolve(x, _LAPLACIAN, mode="reflect")), SIGMA_G, truncate=R_G / SIGMA_G,
                           mode="reflect") for x in imgs]
    p_a = (sal[0] >= sal[1]).astype(np.float64)
    masks = [p_a, 1.0 - p_a]
    wb = _normalised([guided_filter(m, x, R1, EPS1) for m, x in zip(masks, imgs)])
    wd = _normalised([guided_filter(m, x, R2, EPS2) for m, x in zip(masks, imgs)])
    return sum(w * bx for w, bx in zip(wb, bases)) + sum(w * d for w, d in zip(wd, details))

"""VIF as the reference evaluator names it (``VIFF`` in CDDFuse's code): the pixel-domain multiscale VIF of
Sheikh & Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006 (``vifp_mscale``), with F as
the distorted image, summed over the sources: VIF = vifp(A, F) + vifp(B, F).  It is NOT Han et al.'s VIFF
(Information Fusion 2013).

Constants (FUSION_METRICS.md §3): sigma_n^2 = 2 (assumes the 0-255 scale), eps = 1e-10, scales s = 1..4
with Gaussian windows N = 2^(5-s)+1 (17, 9, 5, 3), sigma = N/5; for s > 1 both images are filtered with the
scale's window ('valid') and subsampled [::2, ::2]; local moments with 'valid' filtering; the fix-ups of
the MATLAB/Python code in their order; a NaN ratio gives 1.0.

Speed: F's filtered moments are shared by both sources, all filtering is batched into one separable,
BLAS-backed call per scale (:func:`pipelines.metrics.filters.filter_valid`), and the subsampled filter
outputs are computed directly (step 2) instead of filtering everything and dropping 3/4.
"""
from __future__ import annotations

import numpy as np

from pipelines.metrics import ufuncs
from pipelines.metrics.filters import filter_valid, gaussian_1d
from pipelines.metrics.registry import metric

SIGMA_NSQ = 2.0
EPS = 1e-10
SCALES = 4


def _window(scale: int) -> np.ndarray:
    n = 2 ** (4 - scale + 1) + 1
    return gaussian_1d(n, n / 5.0)


def _scale_terms(mu_r, mu_d, rr, dd, rd):
    """(num, den) sums per image at one scale for reference r and distorted d (arrays (N, h, w))."""
    s1 = rr - mu_r * mu_r
    s2 = dd - mu_d * mu_d
    s12 = rd - mu_r * mu_d
    np.maximum(s1, 0.0, out=s1)
    np.maximum(s2, 0.0, out=s2)
    g = s12 / (s1 + EPS)
    sv = s2 - g * s12
    m1 = s1 < EPS
    g[m1] = 0.0
    sv[m1] = s2[m1]
    s1[m1] = 0.0
    m2 = s2 < EPS
    g[m2] = 0.0
    sv[m2] = 0.0
    neg = g < 0
    sv[neg] = s2[neg]
    g[neg] = 0.0
    np.maximum(sv, EPS, out=sv)
    num = ufuncs.log10(1.0 + g * g * s1 / (sv + SIGMA_NSQ)).sum(axis=(1, 2))
    den = ufuncs.log10(1.0 + s1 / SIGMA_NSQ).sum(axis=(1, 2))
    return num, den


def vifp_mscale(refs: list[np.ndarray], dist: np.ndarray) -> list[np.ndarray]:
    """vifp_mscale(ref, dist) per image for every ref in ``refs`` (all (N, H, W)), sharing dist's work."""
    k = len(refs)
    n = dist.shape[0]
    num = [np.zeros(n) for _ in range(k)]
    den = [np.zeros(n) for _ in range(k)]
    imgs = [*refs, dist]
    for scale in range(1, SCALES + 1):
        g = _window(scale)
        if scale > 1:
            down = filter_valid(np.concatenate(imgs), g, step=2)
            imgs = list(down.reshape(k + 1, n, *down.shape[1:]))
        d = imgs[-1]
        stack = np.concatenate([*imgs, *(x * x for x in imgs), *(r * d for r in imgs[:-1])])
        filt = filter_valid(stack, g).reshape(3 * k + 2, n, *((s - g.size + 1) for s in d.shape[1:]))
        mus, sq, cross = filt[:k + 1], filt[k + 1:2 * k + 2], filt[2 * k + 2:]
        for j in range(k):
            a, b = _scale_terms(mus[j], mus[k], sq[j], sq[k], cross[j])
            num[j] += a
            den[j] += b
    out = []
    for j in range(k):
        with np.errstate(invalid="ignore", divide="ignore"):
            v = num[j] / den[j]
        out.append(np.where(np.isnan(v), 1.0, v))
    return out


@metric("VIF", parts=("VIF_A", "VIF_B"),
        reference="vifp_mscale(A,F) + vifp_mscale(B,F), Sheikh & Bovik 2006 pixel-domain multiscale VIF")
def vif(F, A, B):
    va, vb = vifp_mscale([A, B], F)
    return {"VIF": va + vb, "VIF_A": va, "VIF_B": vb}

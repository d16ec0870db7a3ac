"""Laplacian-pyramid fusion (P. J. Burt & E. H. Adelson, "The Laplacian pyramid as a compact image code",
IEEE Trans. Commun. 31(4), 1983; fusion rule of Burt & Kolczynski 1993 in its simplest form): detail levels
take the coefficient of larger magnitude (ties -> A), the top (low-pass) level is averaged.

Kernel: the 5-tap binomial [1, 4, 6, 4, 1]/16 with mirror boundaries; ``levels`` = 4 by default.
Reconstruction is exact by construction (L_k = G_k - expand(G_k+1)), so fusing an image with itself
returns it.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from pipelines.baselines.registry import register

_K = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
LEVELS = 4


def _blur(x: np.ndarray) -> np.ndarray:
    return correlate1d(correlate1d(x, _K, axis=0, mode="mirror"), _K, axis=1, mode="mirror")


def _expand(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    up = np.zeros(shape)
    up[::2, ::2] = x
    return 4.0 * _blur(up)


def build(x: np.ndarray, levels: int = LEVELS) -> list[np.ndarray]:
    """[L_0, ..., L_{levels-1}, G_levels] (levels stop early when the image gets smaller than 2x2)."""
    out, g = [], x
    for _ in range(levels):
        if min(g.shape) < 4:
            break
        nxt = _blur(g)[::2, ::2]
        out.append(g - _expand(nxt, g.shape))
        g = nxt
    out.append(g)
    return out


def reconstruct(pyr: list[np.ndarray]) -> np.ndarray:
    g = pyr[-1]
    for lap in reversed(pyr[:-1]):
        g = lap + _expand(g, lap.shape)
    return g


@register("laplacian")
def laplacian(a, b, levels: int = LEVELS):
    pa, pb = build(a, levels), build(b, levels)
    fused = [np.where(np.abs(la) >= np.abs(lb), la, lb) for la, lb in zip(pa[:-1], pb[:-1])]
    fused.append((pa[-1] + pb[-1]) * 0.5)
    return reconstruct(fused)

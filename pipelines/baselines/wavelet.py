"""DWT fusion with PyWavelets (H. Li, B. S. Manjunath & S. K. Mitra, "Multisensor image fusion using the
wavelet transform", Graphical Models and Image Processing 57(3), 1995, with the common simple rules):
approximation coefficients averaged, detail coefficients by maximum magnitude (ties -> A).

Choices (not fixed by the paper): wavelet 'db2', 3 levels, 'periodization' mode (exact reconstruction for
even sizes); the output is cropped to the input size.
"""
from __future__ import annotations

import numpy as np
import pywt

from pipelines.baselines.registry import register

WAVELET, LEVELS, MODE = "db2", 3, "periodization"


def _pick(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) >= np.abs(y), x, y)


@register("dwt")
def dwt(a, b):
    level = min(LEVELS, pywt.dwtn_max_level(a.shape, WAVELET))
    ca = pywt.wavedec2(a, WAVELET, mode=MODE, level=level)
    cb = pywt.wavedec2(b, WAVELET, mode=MODE, level=level)
    fused = [(ca[0] + cb[0]) * 0.5]
    for da, db in zip(ca[1:], cb[1:]):
        fused.append(tuple(_pick(x, y) for x, y in zip(da, db)))
    out = pywt.waverec2(fused, WAVELET, mode=MODE)
    return out[: a.shape[0], : a.shape[1]]

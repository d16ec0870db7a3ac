"""Feature mutual information, Haghighat & Razian's fast-FMI (``analysis_fmi.m``; M. Haghighat, A.
Aghagolzadeh, H. Seyedarabi, Computers & Electrical Engineering 37(5), 2011; "Fast-FMI", AICT 2014), for the
three features the MATLAB toolbox reports: FMI_pixel ('none'), FMI_dct ('dct') and FMI_w ('wavelet').

Per 3x3 window (interior windows, column-major order as MATLAB's ``x(:)``), for each source S and F: 1 if
the two windows are identical; otherwise each window is min-max normalised (a flat window -> ones), turned
into a PDF and CDF; the joint PDF is the Nelsen/Frechet construction weighted by the PDFs' Pearson
correlation c (upper bound for c >= 0, lower bound for c < 0); nfmi = 2 MI / (H_S + H_F) in bits.  The
result is the mean over windows of (fmi_AF + fmi_BF) / 2; the parts FMI_*_A, FMI_*_B are the means of
fmi_AF and fmi_BF.  Every loop of the original is replaced by array operations over all windows at once.

Features: 'dct' is MATLAB's ``dct2`` (orthonormal 2-D DCT-II, ``scipy.fft.dctn(norm='ortho')``).  'wavelet'
is one level of ``dwt2(x, 'dmey')`` arranged [cA cH; cV cD] and re-ranged to [0, 1]; DEVIATION: PyWavelets'
'dmey' filter has 62 taps whereas MATLAB's has 102, so FMI_w is not bit-identical to the toolbox (FMI_pixel
and FMI_dct follow it exactly).  Slow compared with the other metrics (~81 joint-PDF cells per window),
so it is not part of the default fast set.
"""
from __future__ import annotations

import numpy as np
import pywt
import scipy.fft
import torch

from pipelines.metrics.batch import Triplet
from pipelines.metrics.registry import metric

_CHUNK = 16384


def _windows(X: np.ndarray) -> np.ndarray:
    """(H, W) -> (P, 9) interior 3x3 windows, column-major within the window."""
    v = np.lib.stride_tricks.sliding_window_view(X, (3, 3))          # (H-2, W-2, 3, 3)
    return v.transpose(0, 1, 3, 2).reshape(-1, 9)


def _normalise(w: np.ndarray) -> np.ndarray:
    mx = w.max(axis=1, keepdims=True)
    mn = w.min(axis=1, keepdims=True)
    flat = mx == mn
    out = (w - mn) / np.where(flat, 1.0, mx - mn)
    out[flat[:, 0]] = 1.0
    return out


class _Side:
    """Per-window PDF statistics of one image's windows."""

    def __init__(self, w: np.ndarray):
        n = _normalise(w)
        self.pdf = n / n.sum(axis=1, keepdims=True)
        self.cdf = np.cumsum(self.pdf, axis=1)
        i = np.arange(1, 10, dtype=np.float64)
        e1 = self.pdf @ i
        e2 = self.pdf @ (i * i)
        self.sd = np.sqrt(e2 - e1 * e1)
        self.centred = self.pdf - self.pdf.mean(axis=1, keepdims=True)
        self.ss = np.einsum("pi,pi->p", self.centred, self.centred)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.entropy = -np.where(self.pdf != 0, self.pdf * np.log2(np.where(self.pdf != 0, self.pdf, 1.0)),
                                     0.0).sum(axis=1)


def _nfmi(s: _Side, f: _Side, identical: np.ndarray) -> np.ndarray:
    """Normalised FMI per window between a source side ``s`` and the fused side ``f``."""
    dot = np.einsum("pi,pi->p", s.centred, f.centred)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(dot == 0, 0.0, dot / np.sqrt(s.ss * f.ss))
    fc = f.cdf[:, :, None]                        # index i (rows) is F, j (columns) is S, as in the original
    sc = s.cdf[:, None, :]
    prod = fc * sc
    upper = c >= 0
    bound = np.where(upper[:, None, None], np.minimum(fc, sc), np.maximum(fc + sc - 1.0, 0.0))
    cov = (bound - prod).sum(axis=(1, 2))
    degenerate = (s.sd == 0) | (f.sd == 0) | (upper & (c == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(degenerate, 0.0, c / (cov / (f.sd * s.sd)))
    padded = np.zeros((bound.shape[0], 10, 10))
    padded[:, 1:, 1:] = bound
    jb = padded[:, 1:, 1:] - padded[:, :-1, 1:] - padded[:, 1:, :-1] + padded[:, :-1, :-1]
    w = weight[:, None, None]
    jpdf = w * jb + (1.0 - w) * (f.pdf[:, :, None] * s.pdf[:, None, :])
    nz = jpdf != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        joint = -np.where(nz, jpdf * np.log2(np.abs(np.where(nz, jpdf, 1.0))), 0.0).sum(axis=(1, 2))
    mi = s.entropy + f.entropy - joint
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mi == 0, 0.0, 2.0 * mi / (s.entropy + f.entropy))
    return np.where(identical, 1.0, out)


def fmi_image(fF: np.ndarray, fA: np.ndarray, fB: np.ndarray) -> tuple[float, float]:
    """(mean fmi_AF, mean fmi_BF) over the interior 3x3 windows of three (H, W) feature images."""
    wF, wA, wB = _windows(fF), _windows(fA), _windows(fB)
    tot_a = tot_b = 0.0
    for p0 in range(0, wF.shape[0], _CHUNK):
        sl = slice(p0, p0 + _CHUNK)
        f = _Side(wF[sl])
        for w_src, which in ((wA[sl], "a"), (wB[sl], "b")):
            identical = (w_src == wF[sl]).all(axis=1)
            v = _nfmi(_Side(w_src), f, identical).sum()
            if which == "a":
                tot_a += v
            else:
                tot_b += v
    n = wF.shape[0]
    return tot_a / n, tot_b / n


def _rerange(x: np.ndarray) -> np.ndarray:
    mx, mn = x.max(), x.min()
    return np.ones_like(x) if mx == mn else (x - mn) / (mx - mn)


def _feature_dct(x: np.ndarray) -> np.ndarray:
    return scipy.fft.dctn(x, type=2, norm="ortho")


def _feature_wavelet(x: np.ndarray) -> np.ndarray:
    cA, (cH, cV, cD) = pywt.dwt2(x, "dmey", mode="symmetric")
    return _rerange(np.block([[cA, cH], [cV, cD]]))


FEATURES = {"pixel": lambda x: x, "dct": _feature_dct, "w": _feature_wavelet}


def fmi(F, A, B, feature: str) -> tuple[np.ndarray, np.ndarray]:
    extract = FEATURES[feature]
    out_a, out_b = [], []
    for f, a, b in zip(F, A, B):
        ra, rb = fmi_image(extract(f), extract(a), extract(b))
        out_a.append(ra)
        out_b.append(rb)
    return np.asarray(out_a), np.asarray(out_b)


def _register(feature: str) -> None:
    name = f"FMI_{feature}"

    def family(batch: Triplet):
        # FMI stays in numpy (an opt-in extra, ~1-3 s per pair): the images go to the CPU here
        F, A, B = (x.cpu().numpy() for x in (batch.F, batch.A, batch.B))
        fa, fb = (torch.from_numpy(v).to(batch.device) for v in fmi(F, A, B, feature))
        return {name: (fa + fb) / 2, f"{name}_A": fa, f"{name}_B": fb}

    family.__name__ = f"fmi_{feature}"
    metric(name, parts=(f"{name}_A", f"{name}_B"), core=False, slow=True,
           reference=f"Haghighat fast-FMI, feature {feature!r}, 3x3 windows")(family)


for _feat in FEATURES:
    _register(_feat)

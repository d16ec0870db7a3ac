"""A straightforward, per-image numpy/scipy/sklearn/skimage implementation of the fusion metrics, written
literally from /work/shared/FUSION_METRICS.md §3 (the CDDFuse ``utils/Evaluator.py`` conventions).

It is deliberately naive (2-D ``scipy.signal.convolve2d``, ``sklearn.metrics.mutual_info_score``,
``skimage.metrics.structural_similarity`` with ``data_range=2``) and exists only to cross-check the fast
implementation in :mod:`pipelines.metrics` and as the baseline of ``benchmarks/metrics.py``.
Inputs: 2-D float arrays on the 0-255 scale, integer valued (as the reference reads them).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import convolve2d
from skimage.metrics import structural_similarity
from sklearn.metrics import mutual_info_score


def EN(F, A, B):
    hist = np.bincount(np.round(F).astype(np.uint8).ravel(), minlength=256)
    p = hist / F.size
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))


def SD(F, A, B):
    return float(np.std(F))


def SF(F, A, B):
    return float(np.sqrt(np.mean((F[:, 1:] - F[:, :-1]) ** 2) + np.mean((F[1:, :] - F[:-1, :]) ** 2)))


def AG(F, A, B):
    gy, gx = np.gradient(F)
    return float(np.mean(np.sqrt((gx ** 2 + gy ** 2) / 2)))


def MI(F, A, B):
    return float(mutual_info_score(F.ravel(), A.ravel()) + mutual_info_score(F.ravel(), B.ravel()))


def _corr(x, y):
    x = x - x.mean()
    y = y - y.mean()
    return np.sum(x * y) / np.sqrt(np.sum(x ** 2) * np.sum(y ** 2))


def SCD(F, A, B):
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(_corr(A, F - B) + _corr(B, F - A))


def CC(F, A, B):
    return float((_corr(A, F) + _corr(B, F)) / 2)


def MSE(F, A, B):
    return float((np.mean((A - F) ** 2) + np.mean((B - F) ** 2)) / 2)


def PSNR(F, A, B):
    return float(10 * np.log10(np.max(F) ** 2 / MSE(F, A, B)))


def SSIM(F, A, B, data_range=2.0):
    return float(structural_similarity(F, A, data_range=data_range)
                 + structural_similarity(F, B, data_range=data_range))


def _fspecial_gaussian(n, sigma):
    m = (n - 1) / 2.0
    y, x = np.ogrid[-m:m + 1, -m:m + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    s = h.sum()
    if s != 0:
        h /= s
    return h


def vifp_mscale(ref, dist):
    sigma_nsq = 2
    eps = 1e-10
    num = 0.0
    den = 0.0
    for scale in range(1, 5):
        N = 2 ** (4 - scale + 1) + 1
        win = _fspecial_gaussian(N, N / 5)
        if scale > 1:
            ref = convolve2d(ref, win, mode="valid")[::2, ::2]
            dist = convolve2d(dist, win, mode="valid")[::2, ::2]
        mu1 = convolve2d(ref, win, mode="valid")
        mu2 = convolve2d(dist, win, mode="valid")
        sigma1_sq = convolve2d(ref * ref, win, mode="valid") - mu1 * mu1
        sigma2_sq = convolve2d(dist * dist, win, mode="valid") - mu2 * mu2
        sigma12 = convolve2d(ref * dist, win, mode="valid") - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + eps)
        sv_sq = sigma2_sq - g * sigma12
        m = sigma1_sq < eps
        g[m] = 0
        sv_sq[m] = sigma2_sq[m]
        sigma1_sq[m] = 0
        m = sigma2_sq < eps
        g[m] = 0
        sv_sq[m] = 0
        m = g < 0
        sv_sq[m] = sigma2_sq[m]
        g[m] = 0
        sv_sq[sv_sq <= eps] = eps
        num += np.sum(np.log10(1.0 + (g ** 2.0) * sigma1_sq / (sv_sq + sigma_nsq)))
        den += np.sum(np.log10(1.0 + sigma1_sq / sigma_nsq))
    vifp = num / den
    return 1.0 if np.isnan(vifp) else float(vifp)


def VIF(F, A, B):
    return vifp_mscale(A, F) + vifp_mscale(B, F)


def _qabf_arrays(img):
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    sx = convolve2d(img, h3, mode="same")
    sy = convolve2d(img, h1, mode="same")
    g = np.sqrt(sx * sx + sy * sy)
    a = np.zeros_like(img)
    a[sx == 0] = math.pi / 2
    a[sx != 0] = np.arctan(sy[sx != 0] / sx[sx != 0])
    return g, a


def _qabf_q(aA, gA, aF, gF):
    G = np.zeros_like(aA)
    G[gA > gF] = gF[gA > gF] / gA[gA > gF]
    G[gA == gF] = gF[gA == gF]
    G[gA < gF] = gA[gA < gF] / gF[gA < gF]
    Aaf = 1 - np.abs(aA - aF) / (math.pi / 2)
    Qg = 0.9994 / (1 + np.exp(-15 * (G - 0.5)))
    Qa = 0.9879 / (1 + np.exp(-22 * (Aaf - 0.8)))
    return Qg * Qa


def Qabf(F, A, B):
    gA, aA = _qabf_arrays(A)
    gB, aB = _qabf_arrays(B)
    gF, aF = _qabf_arrays(F)
    QAF = _qabf_q(aA, gA, aF, gF)
    QBF = _qabf_q(aB, gB, aF, gF)
    return float(np.sum(QAF * gA + QBF * gB) / np.sum(gA + gB))


def _sobel_fn(x):
    """Shreyamsha Kumar's sobel_fn: correlation with /8 Sobel templates on a mirror-extended image."""
    vtemp = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    htemp = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8
    xe = np.pad(x, 1, mode="reflect")
    p, q = x.shape
    gv = np.zeros_like(x)
    gh = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            gv += xe[i:i + p, j:j + q] * vtemp[i, j]
            gh += xe[i:i + p, j:j + q] * htemp[i, j]
    return gv, gh


def Nabf(F, A, B):
    """Literal translation of analysis_nabf.m (modified N_abf, Shreyamsha Kumar), called as (F, A, B)."""
    Td, wt_min, Lg, Nrg, kg, sg, Nra, ka, sa = 2, 0.001, 1.5, 0.9999, 19, 0.5, 0.9995, 22, 0.5
    gvA, ghA = _sobel_fn(A)
    gvB, ghB = _sobel_fn(B)
    gvF, ghF = _sobel_fn(F)
    gA, gB, gF = np.hypot(ghA, gvA), np.hypot(ghB, gvB), np.hypot(ghF, gvF)
    p, q = F.shape
    gAF = np.zeros((p, q)); gBF = np.zeros((p, q))
    aA = np.zeros((p, q)); aB = np.zeros((p, q)); aF = np.zeros((p, q))
    for ii in range(p):
        for jj in range(q):
            for g_s, out in ((gA, gAF), (gB, gBF)):
                if g_s[ii, jj] == 0 or gF[ii, jj] == 0:
                    out[ii, jj] = 0
                elif g_s[ii, jj] > gF[ii, jj]:
                    out[ii, jj] = gF[ii, jj] / g_s[ii, jj]
                else:
                    out[ii, jj] = g_s[ii, jj] / gF[ii, jj]
            for gv, gh, out in ((gvA, ghA, aA), (gvB, ghB, aB), (gvF, ghF, aF)):
                if gv[ii, jj] == 0 and gh[ii, jj] == 0:
                    out[ii, jj] = 0
                elif gh[ii, jj] == 0:
                    out[ii, jj] = math.copysign(math.pi / 2, gv[ii, jj])
                else:
                    out[ii, jj] = math.atan(gv[ii, jj] / gh[ii, jj])
    aAF = np.abs(np.abs(aA - aF) - np.pi / 2) * 2 / np.pi
    aBF = np.abs(np.abs(aB - aF) - np.pi / 2) * 2 / np.pi
    QAF = np.sqrt(Nrg / (1 + np.exp(-kg * (gAF - sg))) * Nra / (1 + np.exp(-ka * (aAF - sa))))
    QBF = np.sqrt(Nrg / (1 + np.exp(-kg * (gBF - sg))) * Nra / (1 + np.exp(-ka * (aBF - sa))))
    wtA = np.where(gA >= Td, gA ** Lg, wt_min)
    wtB = np.where(gB >= Td, gB ** Lg, wt_min)
    na = (gF > gA) & (gF > gB)
    return float(np.sum(na * ((1 - QAF) * wtA + (1 - QBF) * wtB)) / np.sum(wtA + wtB))


def _fmi_window(aSub, fSub):
    """One window of Haghighat's fast-FMI (analysis_fmi.m), written as loops like the original."""
    if np.array_equal(aSub, fSub):
        return 1.0
    def norm(x):
        mx, mn = x.max(), x.min()
        return np.ones_like(x) if mx == mn else (x - mn) / (mx - mn)
    aS, fS = norm(aSub), norm(fSub)
    aPdf = aS.ravel(order="F") / aS.sum()
    fPdf = fS.ravel(order="F") / fS.sum()
    l = aPdf.size
    aCdf = np.cumsum(aPdf)
    fCdf = np.cumsum(fPdf)
    aT, fT = aPdf - aPdf.mean(), fPdf - fPdf.mean()
    s = np.sum(aT * fT)
    c = 0.0 if s == 0 else s / np.sqrt(np.sum(aT * aT) * np.sum(fT * fT))
    i = np.arange(1, l + 1)
    aSd = np.sqrt(np.sum(i ** 2 * aPdf) - np.sum(i * aPdf) ** 2)
    fSd = np.sqrt(np.sum(i ** 2 * fPdf) - np.sum(i * fPdf) ** 2)
    fC = np.concatenate([[0.0], fCdf])[:, None]
    aC = np.concatenate([[0.0], aCdf])[None, :]
    if c >= 0:
        bound = np.minimum(fC, aC)
        bound[0, :] = 0; bound[:, 0] = 0
        if c == 0 or aSd == 0 or fSd == 0:
            w = 0.0
        else:
            w = c / ((np.sum(np.minimum(fCdf[:, None], aCdf[None, :]) - fCdf[:, None] * aCdf[None, :]))
                     / (fSd * aSd))
    else:
        bound = np.maximum(fC + aC - 1, 0)
        bound[0, :] = 0; bound[:, 0] = 0
        if aSd == 0 or fSd == 0:
            w = 0.0
        else:
            w = c / ((np.sum(np.maximum(fCdf[:, None] + aCdf[None, :] - 1, 0) - fCdf[:, None] * aCdf[None, :]))
                     / (fSd * aSd))
    jb = bound[1:, 1:] - bound[:-1, 1:] - bound[1:, :-1] + bound[:-1, :-1]
    jpdf = w * jb + (1 - w) * fPdf[:, None] * aPdf[None, :]
    nz = jpdf[jpdf != 0]
    joint = np.sum(-nz * np.log2(np.abs(nz)))
    ea = -np.sum(aPdf[aPdf != 0] * np.log2(aPdf[aPdf != 0]))
    ef = -np.sum(fPdf[fPdf != 0] * np.log2(fPdf[fPdf != 0]))
    mi = ea + ef - joint
    return 0.0 if mi == 0 else 2 * mi / (ea + ef)


def FMI(F, A, B, stride=1):
    """Mean over 3x3 interior windows of (fmi_AF + fmi_BF)/2 on raw pixels ('none' feature)."""
    m, n = F.shape
    vals = []
    for p in range(1, m - 1, stride):
        for q in range(1, n - 1, stride):
            f = F[p - 1:p + 2, q - 1:q + 2]
            vals.append((_fmi_window(A[p - 1:p + 2, q - 1:q + 2], f)
                         + _fmi_window(B[p - 1:p + 2, q - 1:q + 2], f)) / 2)
    return float(np.mean(vals))


METRICS = {"EN": EN, "SD": SD, "SF": SF, "AG": AG, "MI": MI, "SCD": SCD, "VIF": VIF, "Qabf": Qabf,
           "SSIM": SSIM, "CC": CC, "PSNR": PSNR, "MSE": MSE}


def score_all(F, A, B) -> dict:
    return {k: fn(F, A, B) for k, fn in METRICS.items()}

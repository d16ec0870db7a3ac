"""Edge-based metrics: Qabf (Xydeas & Petrovic, "Objective image fusion performance measure",
Electronics Letters 36(4), 2000) as the reference evaluator computes it, and the modified fusion-artefact
measure Nabf (B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel
significance using discrete cosine harmonic wavelet transform", SIViP 2013) as in ``analysis_nabf.m``.

Qabf (FUSION_METRICS.md §3): 3x3 Sobel with zero padding ('same'), g = sqrt(sx^2+sy^2), alpha =
arctan(sy/sx) with alpha = pi/2 where sx = 0; G = g_F/g_A if g_A > g_F, g_A/g_F if g_A < g_F and, the quirk
kept from the originals, G = g_F when g_A == g_F; Q = 0.9994/(1+e^{-15(G-0.5)}) * 0.9879/(1+e^{-22(A-0.8)})
with A = 1 - |alpha_A - alpha_F|/(pi/2); Qabf = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B).

Nabf is called as (F, A, B) on the 0-255 scale - NOT the argument order of the 2023 MATLAB toolbox, which
passes (A, B, F); see FUSION_METRICS.md §4.  Lower is better.  Its Sobel templates are divided by 8 and the
image is mirror-extended (``per_extn_im_fn``), and its weights are g^1.5 where g >= 2, else 0.001.
"""
from __future__ import annotations

import numpy as np

from pipelines.metrics import ufuncs
from pipelines.metrics.registry import metric

HALF_PI = np.pi / 2


def _sobel(X: np.ndarray, pad_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx, d/dy) of (N, H, W) with the 3x3 Sobel pair [1,2,1] x [-1,0,1], as correlations.

    Exact on integer data (the results are integers), so comparisons like g_A == g_F match the reference
    bit for bit.
    """
    P = np.pad(X, ((0, 0), (1, 1), (1, 1)), mode=pad_mode)
    smooth_v = P[:, :-2] + 2.0 * P[:, 1:-1] + P[:, 2:]          # [1,2,1] down the rows
    gx = smooth_v[:, :, 2:] - smooth_v[:, :, :-2]                # [-1,0,1] along the columns
    smooth_h = P[:, :, :-2] + 2.0 * P[:, :, 1:-1] + P[:, :, 2:]
    gy = smooth_h[:, :-2] - smooth_h[:, 2:]                      # [1,0,-1] down the rows
    return gx, gy


def _qabf_edges(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = _sobel(X, "constant")
    g = np.sqrt(sx * sx + sy * sy)
    zero = sx == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = ufuncs.arctan_f32(sy / np.where(zero, 1.0, sx))   # float32 as in the reference
    alpha[zero] = HALF_PI
    return g, alpha


def _qabf_preservation(gS, aS, gF, aF):
    hi = np.maximum(gS, gF)
    lo = np.minimum(gS, gF)
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.where(gS == gF, gF, lo / np.where(hi > 0, hi, 1.0))
    Aa = 1.0 - np.abs(aS - aF) / HALF_PI
    return (0.9994 / (1.0 + ufuncs.exp_f32(-15.0 * (G - 0.5)))) * (0.9879 / (1.0 + ufuncs.exp_f32(-22.0 * (Aa - 0.8))))


@metric("Qabf", reference="Xydeas & Petrovic 2000, CDDFuse Evaluator.Qabf (incl. the g_A == g_F quirk)")
def qabf(F, A, B):
    gA, aA = _qabf_edges(A)
    gB, aB = _qabf_edges(B)
    gF, aF = _qabf_edges(F)
    qa = _qabf_preservation(gA, aA, gF, aF)
    qb = _qabf_preservation(gB, aB, gF, aF)
    num = np.einsum("nij,nij->n", qa, gA) + np.einsum("nij,nij->n", qb, gB)
    return {"Qabf": num / (gA.sum(axis=(1, 2)) + gB.sum(axis=(1, 2)))}


def _nabf_edges(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gv, gh = _sobel(X, "reflect")     # sobel_fn: vtemp = d/dx, htemp = d/dy, both / 8; mirror extension
    gv = gv / 8.0 + 0.0               # + 0.0 turns -0.0 into +0.0, as MATLAB's sums produce
    gh = gh / -8.0 + 0.0              # htemp = [-1 -2 -1; 0 0 0; 1 2 1]/8 is our gy with the sign flipped
    g = np.sqrt(gh * gh + gv * gv)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = ufuncs.arctan_f32(gv / gh)    # gh == 0, gv != 0 -> atan(+-inf) = +-pi/2 as in MATLAB
    alpha[(gv == 0) & (gh == 0)] = 0.0
    return g, alpha


def _nabf_q(gS, aS, gF, aF):
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.where((gS == 0) | (gF == 0), 0.0,
                     np.minimum(gS, gF) / np.where(gS == 0, 1.0, np.maximum(gS, gF)))
    Aa = np.abs(np.abs(aS - aF) - HALF_PI) * (2.0 / np.pi)
    qg = 0.9999 / (1.0 + ufuncs.exp(-19.0 * (G - 0.5)))
    qa = 0.9995 / (1.0 + ufuncs.exp(-22.0 * (Aa - 0.5)))
    return np.sqrt(qg * qa)


@metric("Nabf", better="lower", core=False,
        reference="modified Nabf, Shreyamsha Kumar (analysis_nabf.m), called as (F, A, B) on 0-255")
def nabf(F, A, B):
    gA, aA = _nabf_edges(A)
    gB, aB = _nabf_edges(B)
    gF, aF = _nabf_edges(F)
    qa = _nabf_q(gA, aA, gF, aF)
    qb = _nabf_q(gB, aB, gF, aF)
    wa = np.where(gA >= 2.0, gA * np.sqrt(gA), 0.001)
    wb = np.where(gB >= 2.0, gB * np.sqrt(gB), 0.001)
    artefact = (gF > gA) & (gF > gB)
    num = np.where(artefact, (1.0 - qa) * wa + (1.0 - qb) * wb, 0.0).sum(axis=(1, 2))
    return {"Nabf": num / (wa + wb).sum(axis=(1, 2))}

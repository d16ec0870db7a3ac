"""Edge-based metrics: Qabf (Xydeas & Petrovic, "Objective image fusion performance measure",
Electronics Letters 36(4), 2000) as the reference evaluator computes it, and the modified fusion-artefact
measure Nabf (B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel
significance using discrete cosine harmonic wavelet transform", SIViP 2013) as in ``analysis_nabf.m``.

Qabf (FUSION_METRICS.md §3): 3x3 Sobel with zero padding ('same'), g = sqrt(sx^2+sy^2), alpha =
arctan(sy/sx) with alpha = pi/2 where sx = 0; G = g_F/g_A if g_A > g_F, g_A/g_F if g_A < g_F and, the quirk
kept from the originals, G = g_F when g_A == g_F; Q = 0.9994/(1+e^{-15(G-0.5)}) * 0.9879/(1+e^{-22(A-0.8)})
with A = 1 - |alpha_A - alpha_F|/(pi/2); Qabf = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B).  CDDFuse computes
it on float32 images, and so do we for integer-valued images (the Sobel responses and g_A == g_F are then
exact); other inputs are computed in float64 with the arctan still in float32 as in the reference.

Nabf is called as (F, A, B) on the 0-255 scale - NOT the argument order of the 2023 MATLAB toolbox, which
passes (A, B, F); see FUSION_METRICS.md §4.  Lower is better.  Its Sobel templates are divided by 8 and the
image is mirror-extended (``per_extn_im_fn``), and its weights are g^1.5 where g >= 2, else 0.001.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf

from pipelines.metrics import kernels
from pipelines.metrics.batch import Triplet
from pipelines.metrics.registry import metric

HALF_PI = math.pi / 2


def sobel(X: torch.Tensor, pad_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(d/dx, d/dy) of (N, C, H, W) with the 3x3 Sobel pair [1,2,1] x [-1,0,1], as correlations, 'same'
    size with ``pad_mode`` ('constant' = zero, 'reflect' = mirror without the edge).

    Plain shifted additions, so on integer data the responses are exact integers in any float dtype and on
    any device (comparisons like g_A == g_F match the reference bit for bit).
    """
    P = nnf.pad(X, (1, 1, 1, 1), mode=pad_mode)
    smooth_v = P[:, :, :-2] + P[:, :, 2:] + 2.0 * P[:, :, 1:-1]         # [1,2,1] down the rows
    gx = smooth_v[..., 2:] - smooth_v[..., :-2]                        # [-1,0,1] along the columns
    smooth_h = P[..., :-2] + P[..., 2:] + 2.0 * P[..., 1:-1]
    gy = smooth_h[:, :, :-2] - smooth_h[:, :, 2:]                      # [1,0,-1] down the rows
    return gx, gy


def _atan_f32(x: torch.Tensor) -> torch.Tensor:
    """arctan evaluated in float32, as numpy does on the reference's float32 arrays."""
    return torch.atan(x.to(torch.float32)).to(x.dtype)


@metric("Qabf", reference="Xydeas & Petrovic 2000, CDDFuse Evaluator.Qabf (incl. the g_A == g_F quirk)")
def qabf(batch: Triplet):
    if kernels.applies(batch.device) and batch.integral:      # fused CPU kernel (pipelines.metrics.kernels)
        return {"Qabf": torch.from_numpy(kernels.qabf(batch.work.numpy()))}
    sx, sy = sobel(batch.work, "constant")                             # (N, 3, H, W): A, B, F
    g = torch.sqrt(torch.addcmul(sx * sx, sy, sy))
    alpha = torch.where(sx == 0, HALF_PI, _atan_f32(sy / sx))
    gS, gF = g[:, 0:2], g[:, 2:3]
    G = torch.where(gS == gF, gF, torch.minimum(gS, gF).div_(torch.maximum(gS, gF)))
    # Q_g * Q_a = 0.9994 * 0.9879 / ((1 + e^{-15 (G - 0.5)}) (1 + e^{-22 (A - 0.8)})), 22 (A - 0.8) written as
    # 22 (0.2 - |d alpha| / (pi/2))
    qg = G.mul_(-15.0).add_(7.5).exp_().add_(1.0)
    qa = (alpha[:, 0:2] - alpha[:, 2:3]).abs_().mul_(22.0 / HALF_PI).sub_(22.0 * 0.2).exp_().add_(1.0)
    q = qg.mul_(qa).reciprocal_().mul_(0.9994 * 0.9879)
    num = q.mul_(gS).sum(dim=(1, 2, 3), dtype=torch.float64)             # float64 accumulation
    return {"Qabf": num / gS.sum(dim=(1, 2, 3), dtype=torch.float64)}


def _nabf_edges(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(g^2, g, alpha) of sobel_fn: vtemp = d/dx, htemp = d/dy, both / 8, on the mirror-extended image.

    On integer images gv, gh are multiples of 1/8 and g^2 a multiple of 1/64 below 2^15: exact in float32,
    so comparisons are made on g^2 (sqrt could merge two neighbouring values)."""
    gv, gh = sobel(X, "reflect")
    gv = gv / 8.0 + 0.0               # + 0.0 turns -0.0 into +0.0, as MATLAB's sums produce
    gh = gh / -8.0 + 0.0              # htemp = [-1 -2 -1; 0 0 0; 1 2 1]/8 is our gy with the sign flipped
    g2 = torch.addcmul(gh * gh, gv, gv)
    alpha = _atan_f32(gv / gh)        # gh == 0, gv != 0 -> atan(+-inf) = +-pi/2 as in MATLAB
    alpha = torch.where((gv == 0) & (gh == 0), 0.0, alpha)
    return g2, torch.sqrt(g2), alpha


@metric("Nabf", better="lower", core=False,
        reference="modified Nabf, Shreyamsha Kumar (analysis_nabf.m), called as (F, A, B) on 0-255")
def nabf(batch: Triplet):
    g2, g, alpha = _nabf_edges(batch.work)                             # (N, 3, H, W): A, B, F
    gS, gF = g[:, 0:2], g[:, 2:3]
    g2S, g2F = g2[:, 0:2], g2[:, 2:3]
    G = torch.where((g2S == 0) | (g2F == 0), 0.0, torch.minimum(gS, gF).div_(torch.maximum(gS, gF)))
    Aa = (alpha[:, 0:2] - alpha[:, 2:3]).abs_().sub_(HALF_PI).abs_().mul_(2.0 / math.pi)
    # 1 - Q with Q = sqrt(c / ((1 + e1)(1 + e2))), c = 0.9999 * 0.9995: Q is close to 1, so 1 - Q is formed
    # without cancellation as ((1 - c) + e1 + e2 + e1 e2) / (xy (1 + Q)), xy = (1 + e1)(1 + e2)
    e1 = G.sub_(0.5).mul_(-19.0).exp_()
    e2 = Aa.sub_(0.5).mul_(-22.0).exp_()
    c = 0.9999 * 0.9995
    xy = (e1 + 1.0).mul_(e2 + 1.0)
    one_minus_q = (e1 * e2).add_(e1).add_(e2).add_(1.0 - c).div_(torch.div(c, xy).sqrt_().add_(1.0).mul_(xy))
    w = torch.where(g2S >= 4.0, gS * torch.sqrt(gS), 0.001)            # g >= Td = 2
    artefact = (g2F > g2S[:, 0:1]) & (g2F > g2S[:, 1:2])               # (N, 1, H, W)
    num = torch.where(artefact, one_minus_q.mul_(w), 0.0).sum(dim=(1, 2, 3), dtype=torch.float64)
    return {"Nabf": num / w.sum(dim=(1, 2, 3), dtype=torch.float64)}

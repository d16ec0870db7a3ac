"""SSIM as the reference evaluator computes it: ``skimage.metrics.structural_similarity(F, X)`` with all
scikit-image 0.19 defaults (7x7 uniform window, sample covariance N/(N-1), K1=0.01, K2=0.03, mean over the
image without a 3-pixel border), summed over the two sources.

``data_range`` defaults to 2 - what skimage <= 0.19 silently used for float input and what the CDDFuse /
DDFM / EMMA numbers contain (C1 = 4e-4, C2 = 3.6e-3 on 0-255 data, i.e. almost no stabilisation).  FILM's
copy uses 255; pass ``data_range=255`` for that variant and label it.

Precision: the 7x7 window sums of x, x^2 and F*x are exact (integers below 2^24, summed in float32 by
shifted additions when the images are integer-valued, else in float64), and the variances are formed as
(49 sum(x^2) - sum(x)^2) / (49*48) in float64 from those exact sums, so on 0-255 integer images there is no
cancellation error even with the tiny C1/C2 of data_range=2.
"""
from __future__ import annotations

import torch

from pipelines.metrics import kernels
from pipelines.metrics.batch import Triplet
from pipelines.metrics.filters import box_sum_valid
from pipelines.metrics.registry import metric

WIN = 7
K1, K2 = 0.01, 0.03


def _constants(data_range: float) -> tuple[float, float]:
    """C1, C2 scaled by 49^2 and 49*48 (see ssim_pairs_torch)."""
    NP = WIN * WIN
    return (K1 * data_range) ** 2 * (NP * NP), (K2 * data_range) ** 2 * (NP * (NP - 1))


def ssim_pairs(batch: Triplet, data_range: float = 2.0) -> torch.Tensor:
    """Mean SSIM(F, A) and SSIM(F, B) per image -> (N, 2) float64, sharing F's window sums.  On the CPU the
    fused numba kernel (:mod:`pipelines.metrics.kernels`) computes it; GPUs use :func:`ssim_pairs_torch`."""
    if kernels.applies(batch.device):
        x = batch.work.numpy()                       # float32 exactly when the images are 0..255 integers
        return torch.from_numpy(kernels.ssim_pairs(x[:, 0], x[:, 1], x[:, 2], *_constants(data_range)))
    return ssim_pairs_torch(batch, data_range)


def ssim_pairs_torch(batch: Triplet, data_range: float = 2.0) -> torch.Tensor:
    """The batched torch path of :func:`ssim_pairs` (any device)."""
    x = batch.work                                                   # (N, 3, H, W): A, B, F
    N = x.shape[0]
    maps = torch.empty(N, 8, *x.shape[2:], dtype=x.dtype, device=x.device)
    maps[:, 0:3] = x
    torch.mul(x, x, out=maps[:, 3:6])
    torch.mul(x[:, 0:2], x[:, 2:3], out=maps[:, 6:8])
    s = box_sum_valid(maps, WIN).to(torch.float64)                  # exact window sums
    sx, sf, sxx, sff, sfx = s[:, 0:2], s[:, 2:3], s[:, 3:5], s[:, 5:6], s[:, 6:8]
    # skimage: ((2 mu_f mu_x + C1)(2 cov + C2)) / ((mu_f^2 + mu_x^2 + C1)(var_f + var_x + C2)) with window
    # means s/49 and sample (co)variances (49 s_ab - s_a s_b) / (49*48); multiplying the first factors by 49^2
    # and the second by 49*48 leaves the ratio unchanged and keeps every difference an exact integer.
    NP = WIN * WIN
    c1, c2 = _constants(data_range)
    sfsx = sf * sx
    sq = torch.addcmul(sx * sx, sf, sf)                              # s_f^2 + s_x^2
    num = (sfsx * 2.0).add_(c1).mul_(torch.add(sfx * (2.0 * NP), sfsx, alpha=-2.0).add_(c2))
    den = (torch.add(sff, sxx).mul_(NP).sub_(sq).add_(c2)).mul_(sq.add_(c1))
    return num.div_(den).mean(dim=(2, 3))


@metric("SSIM", parts=("SSIM_A", "SSIM_B"),
        reference="skimage structural_similarity(F,A)+(F,B), 0.19 defaults, data_range=2 (option: 255)")
def ssim(batch: Triplet, data_range: float = 2.0):
    s = ssim_pairs(batch, data_range)
    return {"SSIM": s[:, 0] + s[:, 1], "SSIM_A": s[:, 0], "SSIM_B": s[:, 1]}

"""VIF as the reference evaluator names it (``VIFF`` in CDDFuse's code): the pixel-domain multiscale VIF of
Sheikh & Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006 (``vifp_mscale``), with F as
the distorted image, summed over the sources: VIF = vifp(A, F) + vifp(B, F).  It is NOT Han et al.'s VIFF
(Information Fusion 2013).

Constants (FUSION_METRICS.md §3): sigma_n^2 = 2 (assumes the 0-255 scale), eps = 1e-10, scales s = 1..4
with Gaussian windows N = 2^(5-s)+1 (17, 9, 5, 3), sigma = N/5; for s > 1 both images are filtered with the
scale's window ('valid') and subsampled [::2, ::2]; local moments with 'valid' filtering; the fix-ups of
the MATLAB/Python code in their order; a NaN ratio gives 1.0.

Precision: float64 throughout.  float32 filtering was measured and rejected: sigma^2 = E[x^2] - mu^2 and
sv^2 = sigma_F^2 - g sigma_AF cancel catastrophically (errors ~1e-3 against sigma_n^2 = 2), which moved VIF
by up to 4e-5 relative on real Harvard pairs (tolerance 1e-5).

Speed (torch path, used on GPUs; the CPU uses the fused numba kernel of
:mod:`pipelines.metrics.kernels`, kept equal to this path by tests): the eight filtered maps of a scale (mu of A, B, F; A^2, B^2, F^2, AF, BF) of every image in the batch
go through ONE blocked separable matrix-product filter (:class:`pipelines.metrics.filters.BlockedSeparable`)
and stay in its blocked pixel order (VIF only sums over pixels; positions past the valid output are 0 and
contribute exactly 0); the subsampling filters compute only every 2nd output; F's moments are shared by both
sources; the fix-ups are folded into one mask: a pixel contributes to the numerator only where
sigma_A^2 >= eps, sigma_F^2 >= eps and g > 0, which is exactly where the reference's fix-ups leave g != 0;
and the sums of logarithms are taken as logarithms of products of 16 factors (:func:`sum_log`).
"""
from __future__ import annotations

import numpy as np
import torch

from pipelines.metrics import kernels
from pipelines.metrics.batch import Triplet
from pipelines.metrics.filters import BlockedSeparable, gaussian_1d
from pipelines.metrics.registry import metric

# sigma_n^2, eps and the log group size are shared with the CPU kernel (defined there: numba freezes them)
SIGMA_NSQ, EPS = kernels.SIGMA_NSQ, kernels.EPS
SCALES = 4


def _window(scale: int):
    n = 2 ** (4 - scale + 1) + 1
    return gaussian_1d(n, n / 5.0)


LOG_GROUP = kernels.LOG_GROUP   # factors multiplied before one logarithm (see sum_log)
MAX_GROUP_FACTOR = 2.0 ** 60


def sum_log(t: torch.Tensor) -> torch.Tensor:
    """sum(log(t)) over all but the first two dims, for t >= 1, as sums of logs of products of LOG_GROUP
    factors: 16x fewer logarithms.  Every VIF factor is 1 + x with x <= 127.5^2 / 2 on the 0-255 scale
    (variances of values in [0, 255] are <= 127.5^2 and sigma_v^2 + sigma_n^2 >= 2), so a product stays below
    2^209 (no overflow) and its rounding error, about 16 ulp, is 4e-15 absolute per logarithm.  Out-of-range
    inputs (factors above 2^60, e.g. images far outside 0-255) fall back to one logarithm per factor."""
    flat = t.flatten(2)
    if flat.shape[-1] < LOG_GROUP or bool(flat.amax() > MAX_GROUP_FACTOR):
        return flat.log().sum(dim=-1)
    pad = (-flat.shape[-1]) % LOG_GROUP
    if pad:
        flat = torch.cat([flat, flat.new_ones(*flat.shape[:2], pad)], dim=-1)
    g = flat.unflatten(-1, (LOG_GROUP, -1))                  # 16 slabs; multiply slab by slab
    while g.shape[-2] > 1:
        h = g.shape[-2] // 2
        g = g[..., :h, :] * g[..., h:, :]
    return g.log().sum(dim=(-2, -1))


def _scale_terms(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(num, den) per image and source, (N, 2), in natural-log units, from the filtered maps f (N, 8, ...)."""
    mu, sq, cross = f[:, 0:3], f[:, 3:6], f[:, 6:8]
    var = torch.addcmul(sq, mu, mu, value=-1.0).clamp_(min=0.0)           # sigma^2 of A, B, F, clipped at 0
    s1, s2 = var[:, 0:2], var[:, 2:3]
    s12 = torch.addcmul(cross, mu[:, 0:2], mu[:, 2:3], value=-1.0)
    g = torch.div(s12, s1 + EPS).clamp_(min=0.0)                           # g < 0 -> 0 (and sv -> s2)
    sv = torch.addcmul(s2, g, s12, value=-1.0).clamp_(min=EPS).add_(SIGMA_NSQ)
    arg = g.mul_(g).mul_(s1).div_(sv)
    keep = torch.minimum(s1, s2) >= EPS                                     # the sigma < eps fix-ups zero g
    num = sum_log(arg.masked_fill_(~keep, 0.0).add_(1.0))
    # where sigma_A^2 < eps the reference zeroes it: log(1 + s1/2) < 5e-11 there, below float64 resolution
    den = sum_log(s1.mul(1.0 / SIGMA_NSQ).add_(1.0))
    return num, den


def _blocked(imgs: torch.Tensor, channels: int, n: int, step: int) -> BlockedSeparable:
    N, _, h, w = imgs.shape
    return BlockedSeparable(N, channels, h, w, n, step, imgs.dtype, imgs.device)


def _fill_moment_maps(imgs: torch.Tensor):
    """fill for BlockedSeparable.write: [A, B, F] (N, 3, h, w) -> [A, B, F, A^2, B^2, F^2, AF, BF]."""
    def fill(dest: torch.Tensor, rows_of) -> None:
        x = rows_of(imgs)
        dest[:, 0:3].copy_(x)
        torch.mul(x, x, out=dest[:, 3:6])
        torch.mul(x[:, 0:2], x[:, 2:3], out=dest[:, 6:8])
    return fill


def _small_filter(X: torch.Tensor, g: np.ndarray, step: int) -> torch.Tensor:
    """scipy's ``convolve2d(x, outer(g, g), 'valid')[::step, ::step]`` when the image is smaller than the
    window in both directions (the coarse scales of inputs under 41x41): scipy then swaps the inputs, i.e.
    the window is correlated with the flipped image."""
    h, w = X.shape[-2:]
    taps = torch.tensor(g, dtype=X.dtype, device=X.device)
    rows = taps.unfold(0, h, 1)[::step]                              # rows[i, a] = g[i*step + a]
    cols = taps.unfold(0, w, 1)[::step]
    return rows @ X.flip(-2, -1) @ cols.T


def _moment_maps(imgs: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    h, w = imgs.shape[-2:]
    n = len(g)
    if h >= n and w >= n:
        sb = _blocked(imgs, 8, n, 1)
        sb.write(_fill_moment_maps(imgs))
        return sb.filter(g)
    _check_small(h, w, n)
    maps = torch.cat([imgs, imgs * imgs, imgs[:, 0:2] * imgs[:, 2:3]], dim=1)
    return _small_filter(maps, g, 1)


def _subsample(imgs: torch.Tensor, g: np.ndarray) -> torch.Tensor:
    h, w = imgs.shape[-2:]
    n = len(g)
    if h >= n and w >= n:
        sb = _blocked(imgs, 3, n, 2)
        sb.write_images(imgs)
        return sb.natural(sb.filter(g))
    _check_small(h, w, n)
    return _small_filter(imgs, g, 2)


def _check_small(h: int, w: int, n: int) -> None:
    if not (h < n and w < n):
        raise ValueError(f"VIF: a {h}x{w} image and the {n}x{n} window of its scale do not fit inside each "
                         "other (scipy's convolve2d 'valid', which the reference uses, fails here too)")


WINDOWS = tuple(_window(s) for s in range(1, SCALES + 1))


def vifp_mscale(batch: Triplet) -> torch.Tensor:
    """vifp_mscale(A, F) and vifp_mscale(B, F) per image -> (N, 2) float64 on the batch's device.

    On the CPU, images whose every scale fits its window go through the fused numba kernel
    (:mod:`pipelines.metrics.kernels`); GPUs and smaller images use :func:`vifp_mscale_torch`."""
    if kernels.applies(batch.device) and kernels.fits(batch.shape[1], batch.shape[2], WINDOWS):
        return torch.from_numpy(kernels.vifp_mscale(batch.A.numpy(), batch.B.numpy(), batch.F.numpy(),
                                                        WINDOWS))
    return vifp_mscale_torch(batch)


def vifp_mscale_torch(batch: Triplet) -> torch.Tensor:
    """The torch path of :func:`vifp_mscale` (batched; any device, any size the reference accepts)."""
    N = batch.shape[0]
    dev = batch.device
    num = torch.zeros(N, 2, dtype=torch.float64, device=dev)
    den = torch.zeros(N, 2, dtype=torch.float64, device=dev)
    imgs = batch.stacked                                            # (N, 3, h, w): A, B, F, float64
    for scale in range(1, SCALES + 1):
        g = _window(scale)
        if scale > 1:                                               # filter, then keep every 2nd pixel
            imgs = _subsample(imgs, g)
        a, b = _scale_terms(_moment_maps(imgs, g))
        num += a
        den += b
    v = num / den                                                   # the log10 factors cancel
    return torch.where(torch.isnan(v), 1.0, v)


@metric("VIF", parts=("VIF_A", "VIF_B"),
        reference="vifp_mscale(A,F) + vifp_mscale(B,F), Sheikh & Bovik 2006 pixel-domain multiscale VIF")
def vif(batch: Triplet):
    v = vifp_mscale(batch)
    return {"VIF": v[:, 0] + v[:, 1], "VIF_A": v[:, 0], "VIF_B": v[:, 1]}

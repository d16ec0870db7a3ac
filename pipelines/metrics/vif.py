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

Speed: the eight filtered maps of a scale (mu of A, B, F; A^2, B^2, F^2, AF, BF) of every image in the batch
go through ONE separable banded matrix-product filter (:class:`pipelines.metrics.filters.SeparableBuffer`),
the subsampling filters compute only every 2nd output, F's moments are shared by both sources, and the
fix-ups are folded into one mask: a pixel contributes to the numerator only where sigma_A^2 >= eps,
sigma_F^2 >= eps and g > 0, which is exactly where the reference's fix-ups leave g != 0.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from pipelines.metrics.batch import Triplet
from pipelines.metrics.filters import SeparableBuffer, gaussian_1d
from pipelines.metrics.registry import metric

SIGMA_NSQ = 2.0
EPS = 1e-10
SCALES = 4


def _window(scale: int):
    n = 2 ** (4 - scale + 1) + 1
    return gaussian_1d(n, n / 5.0)


def _scale_terms(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(num, den) per image and source, (N, 2), in natural-log units, from the filtered maps f (N, 8, h, w)."""
    mu, sq, cross = f[:, 0:3], f[:, 3:6], f[:, 6:8]
    var = torch.addcmul(sq, mu, mu, value=-1.0).clamp_(min=0.0)           # sigma^2 of A, B, F, clipped at 0
    s1, s2 = var[:, 0:2], var[:, 2:3]
    s12 = torch.addcmul(cross, mu[:, 0:2], mu[:, 2:3], value=-1.0)
    g = torch.div(s12, s1 + EPS).clamp_(min=0.0)                           # g < 0 -> 0 (and sv -> s2)
    sv = torch.addcmul(s2, g, s12, value=-1.0).clamp_(min=EPS).add_(SIGMA_NSQ)
    arg = (g * g).mul_(s1).div_(sv)
    keep = torch.minimum(s1, s2) >= EPS                                     # the sigma < eps fix-ups zero g
    num = torch.where(keep, arg, 0.0).add_(1.0).log_().sum(dim=(-2, -1))
    # where sigma_A^2 < eps the reference zeroes it: log(1 + s1/2) < 5e-11 there, below float64 resolution
    den = (s1 * (1.0 / SIGMA_NSQ)).add_(1.0).log_().sum(dim=(-2, -1))
    return num, den


def _copy_into(src: torch.Tensor, target: torch.Tensor) -> None:
    target.copy_(src)


def _fill_moment_maps(imgs: torch.Tensor, maps: torch.Tensor) -> None:
    """(N, 3, h, w) [ref A, ref B, dist F] -> maps (N, 8, h, w): [A, B, F, A^2, B^2, F^2, AF, BF]."""
    maps[:, 0:3].copy_(imgs)
    torch.mul(imgs, imgs, out=maps[:, 3:6])
    torch.mul(imgs[:, 0:2], imgs[:, 2:3], out=maps[:, 6:8])


def _filter(shape: tuple, fill: Callable[[torch.Tensor], None], g, step: int, dtype, device) -> torch.Tensor:
    """scipy ``convolve2d(x, outer(g, g), 'valid')[::step, ::step]`` of every (h, w) image x of an
    (N, C, h, w) stack that ``fill(target)`` writes into the given (N, C, h, w) tensor.

    The usual case writes straight into a :class:`SeparableBuffer` (result transposed - VIF only sums over
    pixels, and every map of a scale gets the same orientation).  Images smaller than the window in both
    directions - the coarse scales of inputs under 41x41 - get scipy's behaviour for that case: the inputs
    are swapped, i.e. the window is correlated with the flipped image.
    """
    N, C, h, w = shape
    n = len(g)
    if h >= n and w >= n:
        sb = SeparableBuffer(N * C, h, w, n, step, dtype, device)
        fill(sb.images.view(N, C, h, w))
        out = sb.filter(g)
        return out.view(N, C, *out.shape[-2:])
    if h < n and w < n:
        X = torch.empty(shape, dtype=dtype, device=device)
        fill(X)
        taps = torch.tensor(g, dtype=dtype, device=device)
        rows = taps.unfold(0, h, 1)[::step]                              # rows[i, a] = g[i*step + a]
        cols = taps.unfold(0, w, 1)[::step]
        return rows @ X.flip(-2, -1) @ cols.T
    raise ValueError(f"VIF: a {h}x{w} image and the {n}x{n} window of its scale do not fit inside each other "
                     "(scipy's convolve2d 'valid', which the reference uses, fails here too)")


def vifp_mscale(batch: Triplet) -> torch.Tensor:
    """vifp_mscale(A, F) and vifp_mscale(B, F) per image -> (N, 2) float64 on the batch's device."""
    N, H, W = batch.shape
    dev = batch.device
    num = torch.zeros(N, 2, dtype=torch.float64, device=dev)
    den = torch.zeros(N, 2, dtype=torch.float64, device=dev)
    imgs = batch.stacked                                            # (N, 3, h, w): A, B, F
    for scale in range(1, SCALES + 1):
        g = _window(scale)
        h, w = imgs.shape[-2:]
        if scale > 1:                                               # filter, then keep every 2nd pixel
            imgs = _filter((N, 3, h, w), partial(_copy_into, imgs), g, 2, torch.float64, dev)
            h, w = imgs.shape[-2:]
        f = _filter((N, 8, h, w), partial(_fill_moment_maps, imgs), g, 1, torch.float64, dev)
        a, b = _scale_terms(f)
        num += a
        den += b
    v = num / den                                                   # the log10 factors cancel
    return torch.where(torch.isnan(v), 1.0, v)


@metric("VIF", parts=("VIF_A", "VIF_B"),
        reference="vifp_mscale(A,F) + vifp_mscale(B,F), Sheikh & Bovik 2006 pixel-domain multiscale VIF")
def vif(batch: Triplet):
    v = vifp_mscale(batch)
    return {"VIF": v[:, 0] + v[:, 1], "VIF_A": v[:, 0], "VIF_B": v[:, 1]}

"""Fast exact linear filters for the metrics ('valid' mode, batched, torch, any device).

* :func:`gaussian_1d` - the separable factor of MATLAB's ``fspecial('gaussian', N, sigma)`` used by VIF.
* :class:`BlockedSeparable` / :func:`filter_valid` - separable 'valid' correlation with an optional output
  step (VIF's filter-then-``[::2, ::2]``) as a few large matrix products in the input's dtype (float64 for
  VIF), so the BLAS of the device does the work:

  - the image rows are stored *blocked*: row ``r = j*R + i`` (R = block * step rows per block) lives at
    ``buf[m, i, j]``, so the pass along H is, for each of the k block offsets a window spans, ONE plain
    ``(block x R) @ (R x everything-else)`` product - the shape a BLAS runs fastest (2-3x the batched
    band products of small blocks that a row-major layout needs);
  - the pass along W reads overlapping windows of the pass-1 rows in place (``as_strided``, no copy) as
    one batched band product;
  - one image at a time, both passes back to back, so the working set stays in the L2 cache;
  - the result keeps the blocked order, ``(N, C, wb, b, b, hb)``; callers that only combine pixels and sum
    them (VIF) use it as is, with every position past the valid output exactly 0; :meth:`natural` gives
    the ordinary (N, C, h_out, w_out) images.
* :func:`box_sum_valid` - k x k window sums by shifted additions: exact for integer-valued data in any float
  dtype as long as the sums stay below 2^24 (float32) / 2^53 (float64), on any device (no library
  convolution algorithm - Winograd, FFT, TF32 - can change the result).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch

BLOCK = 16   # outputs per block: fastest float64 choice on the development machine (AVX-512 MKL), 256^2 images


@lru_cache(maxsize=None)
def gaussian_1d(n: int, sigma: float) -> np.ndarray:
    """1-D factor g with outer(g, g) == fspecial('gaussian', n, sigma) (normalised to sum 1).

    fspecial zeroes values below eps*max; for the VIF windows (N = 17, 9, 5, 3 with sigma = N/5) no value is
    that small, so the 2-D window is exactly separable.  That is checked here rather than assumed.
    """
    m = (n - 1) / 2.0
    x = np.arange(n) - m
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    two_d = np.outer(g, g)
    if (two_d < np.finfo(np.float64).eps * two_d.max()).any():
        raise ValueError(f"gaussian window n={n}, sigma={sigma} is truncated by fspecial; not separable")
    g = g / g.sum()
    g.setflags(write=False)
    return g



@lru_cache(maxsize=64)
def _band_cached(taps: tuple, b: int, step: int, width: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    n = len(taps)
    band = torch.zeros(b, width, dtype=torch.float64)
    g = torch.tensor(taps, dtype=torch.float64)
    for j in range(b):
        band[j, j * step:j * step + n] = g
    return band.to(device=device, dtype=dtype)


def _band(taps: np.ndarray, b: int, step: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(b, width) matrix with row j holding the taps at columns j*step .. j*step+n-1, zeros elsewhere."""
    return _band_cached(tuple(float(v) for v in taps), b, step, width, dtype, str(device))


class BlockedSeparable:
    """An (N, C) stack of H x W images laid out for a separable n-tap 'valid' filter with output ``step``.

    Write the images with :meth:`write`, then :meth:`filter` (any taps of length n, several times if
    needed).  Storage ``buf`` is (N*C, R, Jh, Wp): row ``j*R + i`` of image m is ``buf[m, i, j, :W]``,
    R = b * step; rows past H and columns past W are zero (they only feed outputs that are cut away, but
    they must be finite: 0 * nan = nan inside a matrix product).  Each image is filtered on its own (both
    passes back to back), so its working set - about 1.5 MB for a 256 x 256 float64 image - stays in the
    core's L2 cache; filtering all images of a scale in one product was 15-20% slower here.
    """

    def __init__(self, N: int, C: int, H: int, W: int, n: int, step: int, dtype: torch.dtype,
                 device: torch.device, b: int = BLOCK):
        if H < n or W < n:
            raise ValueError(f"{H}x{W} images are smaller than the {n}x{n} filter window")
        self.N, self.C, self.H, self.W, self.n, self.step, self.b = N, C, H, W, n, step, b
        self.R = R = b * step                                   # input rows (columns) per output block
        self.span = (b - 1) * step + n                          # input rows one block of outputs reads
        self.k = -(-self.span // R)                             # input blocks one output block touches
        self.h_out, self.w_out = (H - n) // step + 1, (W - n) // step + 1
        self.hb, self.wb = -(-self.h_out // b), -(-self.w_out // b)
        self.Jh = max(self.hb + self.k - 1, -(-H // R))
        self.Wp = max(W, (self.wb - 1) * R + self.span)
        self.buf = torch.empty(N * C, R, self.Jh, self.Wp, dtype=dtype, device=device)
        jf, rem = divmod(H, R)
        if jf < self.Jh:
            self.buf[:, rem:, jf] = 0
            self.buf[:, :, jf + 1:] = 0
        if self.Wp > W:
            self.buf[..., W:] = 0

    def write(self, fill: Callable[[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]], None]) -> None:
        """``fill(dest, rows_of)`` is called once per row region: ``dest`` is an (N, C, j, r, W) view of the
        storage for j blocks of r image rows, and ``rows_of(t)`` returns the same rows of any (..., H, W)
        tensor ``t`` viewed as (..., j, r, W).  ``fill`` must write every element of ``dest``."""
        N, C, H, W, R = self.N, self.C, self.H, self.W, self.R
        jf, rem = divmod(H, R)
        if jf:
            dest = self.buf[:, :, :jf, :W].transpose(1, 2).unflatten(0, (N, C))
            fill(dest, lambda t: t[..., :jf * R, :].unflatten(-2, (jf, R)))
        if rem:
            dest = self.buf[:, :rem, jf, :W].unflatten(0, (N, C)).unsqueeze(2)
            fill(dest, lambda t: t[..., jf * R:, :].unflatten(-2, (1, rem)))

    def write_images(self, X: torch.Tensor) -> None:
        """Copy an (N, C, H, W) tensor into the storage."""
        self.write(lambda dest, rows_of: dest.copy_(rows_of(X)))

    def filter(self, taps: np.ndarray, per_image: bool | None = None) -> torch.Tensor:
        """Separable valid correlation of every image with outer(taps, taps), every ``step``-th output.

        Returns (N, C, wb, b, b, hb), blocked: ``out[.., jw, iw, ih, jh]`` is output pixel (row jh*b + ih,
        column jw*b + iw); positions past (h_out, w_out) are exactly 0.  ``per_image`` (default: on the CPU)
        filters image by image (cache-friendly); otherwise every product is batched over all images (on a
        GPU a loop over images would launch thousands of small kernels per batch).
        """
        if len(taps) != self.n:
            raise ValueError(f"storage laid out for {self.n} taps, got {len(taps)}")
        buf, b, R, k, hb, wb, Wp, span = self.buf, self.b, self.R, self.k, self.hb, self.wb, self.Wp, self.span
        M = self.N * self.C
        band = _band(taps, b, self.step, k * R, buf.dtype, buf.device)
        parts = [band[:, q * R:(q + 1) * R].contiguous() for q in range(k)]
        out = torch.empty(M, wb, b, b * hb, dtype=buf.dtype, device=buf.device)
        if per_image is None:
            per_image = buf.device.type == "cpu"
        if not per_image:
            self._filter_all(parts, band[:, :span], out)
        else:
            band2 = band[:, :span].expand(wb, b, span)
            store = torch.empty(b * hb * Wp, dtype=buf.dtype, device=buf.device)
            out1 = store.view(b, hb * Wp)
            # pass 2 reads windows of the b*hb pass-1 rows (row stride Wp) starting at column jw*R
            cols = store.as_strided((wb, span, b * hb), (R, 1, Wp))
            for m in range(M):
                x = buf[m].view(R, self.Jh * Wp)
                # pass 1 (along H): out1[o, (jh, w)] = sum_q band[o, qR:(q+1)R] @ x[:, jh + q, w] - plain GEMMs
                torch.mm(parts[0], x[:, :hb * Wp], out=out1)
                for q in range(1, k):
                    out1.addmm_(parts[q], x[:, q * Wp:(q + hb) * Wp])
                torch.bmm(band2, cols, out=out[m])
        out = out.view(M, wb, b, b, hb)
        o0 = self.h_out - (hb - 1) * b                          # valid rows in the last row block
        if o0 < b:
            out[:, :, :, o0:, hb - 1] = 0
        c0 = self.w_out - (wb - 1) * b                          # valid columns in the last column block
        if c0 < b:
            out[:, wb - 1, c0:] = 0
        return out.view(self.N, self.C, wb, b, b, hb)

    def _filter_all(self, parts: list[torch.Tensor], band: torch.Tensor, out: torch.Tensor) -> None:
        """Both passes batched over the N*C images: k + wb batched products in all."""
        buf, b, R, hb, wb, Wp, span = self.buf, self.b, self.R, self.hb, self.wb, self.Wp, self.span
        M = buf.shape[0]
        x = buf.view(M, R, self.Jh * Wp)
        out1 = torch.bmm(parts[0].expand(M, b, R), x[:, :, :hb * Wp])
        for q in range(1, len(parts)):
            out1.baddbmm_(parts[q].expand(M, b, R), x[:, :, q * Wp:(q + hb) * Wp])
        flat = out1.view(M, b * hb * Wp)
        for jw in range(wb):                       # windows of the pass-1 rows starting at column jw*R
            cols = flat.as_strided((M, span, b * hb), (b * hb * Wp, 1, Wp), flat.storage_offset() + jw * R)
            out[:, jw] = torch.bmm(band.expand(M, b, span), cols)

    def natural(self, out: torch.Tensor) -> torch.Tensor:
        """A :meth:`filter` result as ordinary (N, C, h_out, w_out) images (a copy)."""
        N, C, wb, b, _, hb = out.shape
        img = out.permute(0, 1, 5, 4, 2, 3).reshape(N, C, hb * b, wb * b)
        return img[..., :self.h_out, :self.w_out]


def filter_valid(X: torch.Tensor, g: np.ndarray, step: int = 1) -> torch.Tensor:
    """Separable 'valid' correlation of each (H, W) image in ``X`` (M, H, W) with ``outer(g, g)``.

    Equals ``scipy.signal.convolve2d(x, outer(g, g), 'valid')[::step, ::step]`` for a symmetric ``g``;
    computed in ``X``'s dtype on ``X``'s device.
    """
    M, H, W = X.shape
    sb = BlockedSeparable(M, 1, H, W, len(g), step, X.dtype, X.device)
    sb.write_images(X.unsqueeze(1))
    return sb.natural(sb.filter(g))[:, 0]


def box_sum_valid(X: torch.Tensor, k: int) -> torch.Tensor:
    """Sums over every k x k window fully inside each image of ``X`` (..., H, W) -> (..., H-k+1, W-k+1).

    Shifted in-place additions in ``X``'s dtype: on integer-valued data every partial sum is an integer, so
    the result is exact (below 2^24 in float32, 2^53 in float64) whatever the device.
    """
    if k < 2:
        raise ValueError(f"box window must be at least 2, got {k}")
    def along(Y: torch.Tensor, dim: int) -> torch.Tensor:
        L = Y.shape[dim] - k + 1
        acc = Y.narrow(dim, 0, L) + Y.narrow(dim, 1, L)
        for i in range(2, k):
            acc.add_(Y.narrow(dim, i, L))
        return acc
    return along(along(X, X.ndim - 1), X.ndim - 2)

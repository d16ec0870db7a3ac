"""Fast exact linear filters for the metrics ('valid' mode, batched, torch, any device).

* :func:`gaussian_1d` - the separable factor of MATLAB's ``fspecial('gaussian', N, sigma)`` used by VIF.
* :class:`SeparableBuffer` / :func:`filter_valid` - separable 'valid' correlation with an optional output
  step (VIF's filter-then-``[::2, ::2]``) as two batched banded matrix products (``torch.bmm``) in float64:
  the image rows are cut into overlapping windows with ``Tensor.unfold`` (a view, no copy) and each window
  block is multiplied by a small band matrix holding the taps, so the BLAS of the device does the work and
  no transpose is ever materialised.  The result comes out transposed (W, H); callers that only sum over
  pixels (VIF) use it as is, :func:`filter_valid` returns the natural-orientation view.
* :func:`box_sum_valid` - k x k window sums by shifted additions: exact for integer-valued data in any float
  dtype as long as the sums stay below 2^24 (float32) / 2^53 (float64), on any device (no library
  convolution algorithm - Winograd, FFT, TF32 - can change the result).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

BLOCK = 16   # outputs per band block: fastest float64 choice on the development machine (AVX2 MKL) for 256^2


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
def _band_cached(taps: tuple, b: int, step: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    n = len(taps)
    span = (b - 1) * step + n
    band = torch.zeros(b, span, dtype=torch.float64)
    g = torch.tensor(taps, dtype=torch.float64)
    for j in range(b):
        band[j, j * step:j * step + n] = g
    return band.to(device=device, dtype=dtype)


def _band(taps: np.ndarray, b: int, step: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(b, span) matrix with row j holding the taps at columns j*step .. j*step+n-1."""
    return _band_cached(tuple(float(v) for v in taps), b, step, dtype, str(device))


def _geometry(length: int, n: int, step: int, b: int) -> tuple[int, int, int]:
    """(valid outputs, blocks, window span) of a 'valid' pass of n taps with output step ``step``."""
    out = (length - n) // step + 1
    return out, -(-out // b), (b - 1) * step + n


class SeparableBuffer:
    """Storage for M images of H x W laid out for two banded passes of an n-tap filter with output step.

    Layout (Hp, M, S): image m is ``buf[:H, m, :W]`` (write through :attr:`images`), rows padded to Hp and
    columns to S = (blocks along W) * BLOCK * step with zeros, so that both passes read uniform overlapping
    windows.  Padding only feeds outputs that are cut away; it must be finite (0 * nan = nan in a product).
    """

    def __init__(self, M: int, H: int, W: int, n: int, step: int, dtype: torch.dtype, device: torch.device,
                 b: int = BLOCK):
        if H < n or W < n:
            raise ValueError(f"{H}x{W} images are smaller than the {n}x{n} filter window")
        self.M, self.H, self.W, self.n, self.step, self.b = M, H, W, n, step, b
        self.h_out, self.h_blocks, span = _geometry(H, n, step, b)
        self.w_out, w_blocks, _ = _geometry(W, n, step, b)
        self.w_blocks = max(w_blocks, -(-W // (b * step)))
        hp = max(H, (self.h_blocks - 1) * b * step + span)
        s = self.w_blocks * b * step
        self.buf = torch.empty(hp, M, s, dtype=dtype, device=device)
        if hp > H:
            self.buf[H:] = 0
        if s > W:
            self.buf[:, :, W:] = 0

    @property
    def images(self) -> torch.Tensor:
        """(M, H, W) writable view of the images."""
        return self.buf[:self.H, :, :self.W].permute(1, 0, 2)

    def filter(self, taps: np.ndarray) -> torch.Tensor:
        """Separable valid correlation of every image with outer(taps, taps), every ``step``-th output.

        Returns (M, W_out, H_out): TRANSPOSED orientation (a strided view; ``.transpose(1, 2)`` for (H, W)).
        """
        if len(taps) != self.n:
            raise ValueError(f"buffer laid out for {self.n} taps, got {len(taps)}")
        buf, b, step, n = self.buf, self.b, self.step, self.n
        hp, M, S = buf.shape
        span = (b - 1) * step + n
        band = _band(taps, b, step, buf.dtype, buf.device)
        # pass 1 (along H): windows of rows; every block is band (b, span) @ rows (span, M*S)
        rows = buf.view(hp, M * S).unfold(0, span, b * step)[:self.h_blocks].permute(0, 2, 1)
        R = self.h_blocks * b
        extra = span - b * step                          # pass 2 reads this far past the last row
        store = torch.empty(R * M * S + extra, dtype=buf.dtype, device=buf.device)
        store[R * M * S:] = 0
        torch.bmm(band.expand(self.h_blocks, b, span), rows, out=store[:R * M * S].view(self.h_blocks, b, M * S))
        # pass 2 (along W): windows along each image row, read transposed (span, R) straight from storage
        cols = store.as_strided((M * self.w_blocks, span, R), (b * step, 1, M * S))
        out = torch.bmm(band.expand(M * self.w_blocks, b, span), cols)
        return out.view(M, self.w_blocks * b, R)[:, :self.w_out, :self.h_out]


def filter_valid(X: torch.Tensor, g: np.ndarray, step: int = 1) -> torch.Tensor:
    """Separable 'valid' correlation of each (H, W) image in ``X`` (M, H, W) with ``outer(g, g)``.

    Equals ``scipy.signal.convolve2d(x, outer(g, g), 'valid')[::step, ::step]`` for a symmetric ``g``;
    computed in ``X``'s dtype on ``X``'s device.
    """
    M, H, W = X.shape
    sb = SeparableBuffer(M, H, W, len(g), step, X.dtype, X.device)
    sb.images.copy_(X)
    return sb.filter(g).transpose(1, 2)


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

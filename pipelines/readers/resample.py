"""Resampling a slice to ``size x size`` while keeping its physical aspect ratio.

The slice's field of view (``H*dy`` by ``W*dx`` mm) is padded symmetrically with background (0; neutral 0.5
for chroma) to a square of side ``L = max(H*dy, W*dx)`` centred on the original FOV, and sampled on an
``size x size`` grid of pixel ``L / size`` (pixel centres at ``(v + 0.5) L / size``, as PIL/scikit-image
place them).  Downsampling is anti-aliased with a Gaussian of sigma ``(s - 1) / 2`` input pixels per axis
(``s`` = output/input pixel ratio, scikit-image's rule); interpolation is bilinear.

:meth:`SquareResample.point` maps a point of the original slice frame (mm from the centre of pixel (0, 0),
x = column, y = row) to the output frame (mm from the centre of output pixel (0, 0)): a pure shift, because
the scaling keeps mm as mm.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class SquareResample:
    height: int
    width: int
    spacing: tuple[float, float]         # (dy, dx) mm of the input
    size: int

    @property
    def side_mm(self) -> float:
        return max(self.height * self.spacing[0], self.width * self.spacing[1])

    @property
    def out_spacing(self) -> float:
        return self.side_mm / self.size

    def _offset(self, n: int, d: float) -> float:
        """Output-frame mm of input pixel 0's centre along one axis."""
        centre_in = (n - 1) * d / 2.0                   # input FOV centre, input frame
        centre_out = (self.size - 1) * self.out_spacing / 2.0
        return centre_out - centre_in

    def point(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        return (x_mm + self._offset(self.width, self.spacing[1]), y_mm + self._offset(self.height, self.spacing[0]))

    def _axis_matrix(self, n: int, d: float) -> sparse.csr_matrix:
        return _resample_matrix(n, d, self.size, self.out_spacing, self._offset(n, d))

    def __call__(self, img: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Separable: ``out = My @ (img - fill) @ Mx.T + fill`` with per-axis matrices that combine the
        Gaussian anti-alias filter (zero outside the FOV), bilinear interpolation and the padding."""
        img = np.asarray(img, np.float32)
        if img.shape != (self.height, self.width):
            raise ValueError(f"expected a {self.height}x{self.width} image, got {img.shape}")
        my = self._axis_matrix(self.height, self.spacing[0])
        mx = self._axis_matrix(self.width, self.spacing[1])
        # sparse products: single-threaded and independent of the BLAS thread pool (which can be very slow
        # on an oversubscribed machine)
        tmp = my @ (img - np.float32(fill))                     # (size, W)
        out = (mx @ tmp.T).T                                     # (size, size)
        out = (np.asarray(out) + np.float32(fill)).astype(np.float32)
        # the weights are non-negative and sum to <= 1 (the rest is fill), so the exact result lies within the
        # input's range; clip away float32 round-off (e.g. 1.0000001 on a [0, 1] image)
        lo, hi = min(float(img.min()), fill), max(float(img.max()), fill)
        return np.clip(out, lo, hi, out=out)


@functools.lru_cache(maxsize=64)
def _resample_matrix(n: int, d: float, size: int, step: float, offset: float) -> sparse.csr_matrix:
    """(size, n) matrix: Gaussian anti-alias (sigma = (step/d - 1)/2 input pixels, truncated at 4 sigma like
    scipy) then linear interpolation at the output pixel centres; output pixels outside the input FOV
    (beyond half a pixel from the first/last centre) get 0, those within half a pixel take the edge value."""
    r = (np.arange(size) * step - offset) / d           # output centres in input pixel units
    lin = np.zeros((size, n), np.float64)
    inside = (r >= -0.5) & (r <= n - 0.5)
    rc = np.clip(r, 0.0, n - 1.0)
    i0 = np.floor(rc).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    w = rc - i0
    rows = np.nonzero(inside)[0]
    np.add.at(lin, (rows, i0[rows]), 1.0 - w[rows])
    np.add.at(lin, (rows, i1[rows]), w[rows])
    sigma = max(0.0, (step / d - 1.0) / 2.0)
    if sigma > 0:
        radius = int(4.0 * sigma + 0.5)
        x = np.arange(-radius, radius + 1)
        k = np.exp(-0.5 * (x / sigma) ** 2)
        k /= k.sum()
        g = np.zeros((n, n), np.float64)
        for off, val in zip(x, k):
            idx = np.arange(max(0, -off), min(n, n - off))
            g[idx, idx + off] = val
        lin = lin @ g
    lin[np.abs(lin) < 1e-7] = 0.0
    return sparse.csr_matrix(lin.astype(np.float32))

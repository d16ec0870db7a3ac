"""Similarity of two intensity images on the same grid: normalised mutual information and normalised
cross-correlation.  Pure numpy functions of arrays in [0, 1] (2-D slices or 3-D volumes).

* NMI is Studholme's overlap-invariant form, ``NMI = (H(A) + H(B)) / H(A, B)`` (Studholme, Hill & Hawkes,
  "An overlap invariant entropy measure of 3D medical image alignment", Pattern Recognition 32(1), 1999).
  It is 1 for independent images and 2 for images that determine each other; entropies come from a joint
  histogram of ``bins`` x ``bins`` equal bins over [0, 1] (values outside are clipped into the end bins).
* NCC is the Pearson correlation of the intensities (zero-mean, unit-variance cross-correlation), in [-1, 1];
  0 when either image is constant.

Both accept an optional boolean ``mask`` (same shape) restricting the pixels that count.  :func:`blurred` is
the Gaussian pre-filter of the registration's accept/reject NMI (:mod:`pipelines.registration.align`).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def blurred(img: np.ndarray, sigma_vox) -> np.ndarray:
    """``img`` convolved with a Gaussian of ``sigma_vox`` voxels (one number, or one per axis; edges reflected);
    all-zero sigmas return the image as float64, unchanged."""
    sigma = np.broadcast_to(np.asarray(sigma_vox, dtype=np.float64), (np.ndim(img),))
    if (sigma < 0).any():
        raise ValueError(f"sigma_vox must be >= 0, got {sigma_vox}")
    img = np.asarray(img, dtype=np.float64)
    return ndi.gaussian_filter(img, tuple(sigma), mode="reflect") if sigma.any() else img


def _pixels(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images have different shapes {a.shape} and {b.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != a.shape:
            raise ValueError(f"mask shape {mask.shape} differs from image shape {a.shape}")
        return a[mask], b[mask]
    return a.ravel(), b.ravel()


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def joint_histogram(a: np.ndarray, b: np.ndarray, bins: int = 64, mask: np.ndarray | None = None) -> np.ndarray:
    """Joint probability table (bins x bins) of two images with intensities in [0, 1]."""
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    x, y = _pixels(a, b, mask)
    if x.size == 0:
        raise ValueError("no pixels to compare (empty image or mask)")
    ix = np.clip((x * bins).astype(np.int64), 0, bins - 1)
    iy = np.clip((y * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)
    return counts / counts.sum()


def nmi(a: np.ndarray, b: np.ndarray, bins: int = 64, mask: np.ndarray | None = None) -> float:
    """Studholme NMI ``(H(A) + H(B)) / H(A, B)`` in [1, 2]; 1.0 when both images are constant."""
    p = joint_histogram(a, b, bins, mask)
    h_ab = _entropy(p.ravel())
    if h_ab == 0.0:
        return 1.0
    return (_entropy(p.sum(axis=1)) + _entropy(p.sum(axis=0))) / h_ab


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation of the two images' intensities; 0.0 if either is constant."""
    x, y = _pixels(a, b, mask)
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    if denom == 0.0:
        return 0.0
    return float((x * y).sum() / denom)

"""Array conventions shared by all metrics: batching and the reference's 0-255 integer scale.

FUSION_METRICS.md §2/§5: every image (sources and fused) is scored as a single-channel float array holding
integers 0..255 (the reference reads PNGs with ``cv2.imread`` -> float32 -> BGR2GRAY -> ``np.round``).
Models and baselines work on [0, 1] floats; :func:`fused_to_255` and :func:`source_to_255` make the
conversion explicit, including the optional per-image min-max stretch of the fused image that CDDFuse's
``test_MIF.py`` applies before saving (``stretch=True`` reproduces CDDFuse-style numbers).
"""
from __future__ import annotations

import numpy as np


def as_batch(x) -> tuple[np.ndarray, bool]:
    """(H, W) or (N, H, W) array-like (numpy or torch) -> (float64 (N, H, W) array, was_single)."""
    if hasattr(x, "detach"):                       # torch tensor (any device)
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        return arr[None], True
    if arr.ndim != 3:
        raise ValueError(f"expected an (H, W) or (N, H, W) image array, got shape {arr.shape}")
    return arr, False


def check_same_shape(F: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    if not (F.shape == A.shape == B.shape):
        raise ValueError(f"fused/source shapes differ: F {F.shape}, A {A.shape}, B {B.shape}")
    if F.shape[-1] < 8 or F.shape[-2] < 8:
        raise ValueError(f"images of {F.shape[-2]}x{F.shape[-1]} are too small to score (need at least 8x8;"
                         " VIF needs 32x32)")


def to_uint8_levels(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and round half to even -> uint8 grey levels (what EN and MI count)."""
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def quantize_255(x: np.ndarray) -> np.ndarray:
    """Float on 0-255 -> float64 integers 0..255 (the PNG round trip: clip, round half to even)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64)), 0.0, 255.0)


def source_to_255(x01) -> np.ndarray:
    """A source image in [0, 1] -> reference scale (integers 0..255)."""
    arr, single = as_batch(x01)
    out = quantize_255(arr * 255.0)
    return out[0] if single else out


def fused_to_255(f01, stretch: bool = True) -> np.ndarray:
    """A fused image in [0, 1] (H, W) or (N, H, W) -> reference scale.

    ``stretch=True``: per-image min-max stretch to [0, 1] first, as CDDFuse's ``test_MIF.py`` does before
    saving (so the result spans 0..255); a constant image becomes all zeros.  ``stretch=False``: ``x*255``.
    Either way the result is rounded half to even and clipped, as the PNG round trip does.
    """
    arr, single = as_batch(f01)
    if stretch:
        lo = arr.min(axis=(1, 2), keepdims=True)
        hi = arr.max(axis=(1, 2), keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        arr = (arr - lo) / span
    out = quantize_255(arr * 255.0)
    return out[0] if single else out

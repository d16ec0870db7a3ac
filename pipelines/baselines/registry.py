"""The classical-baseline registry.  A baseline is a pure function ``fuse(a, b) -> fused`` on float arrays in
[0, 1], (H, W) or batched (N, H, W); ``a`` is the MRI (structural) image and ``b`` the functional image's luma.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

import numpy as np

from gan_models.registry import Registry

Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]

BASELINES: Registry = Registry("baseline")


def batched(per_image: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Fuser:
    """Lift an (H, W) x (H, W) -> (H, W) function to (H, W) or (N, H, W) inputs, checked and clipped."""
    @wraps(per_image)
    def fuse(a, b):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"source shapes differ: a {a.shape}, b {b.shape}")
        if a.ndim == 2:
            return np.clip(per_image(a, b), 0.0, 1.0)
        if a.ndim != 3:
            raise ValueError(f"expected (H, W) or (N, H, W) images, got {a.shape}")
        return np.clip(np.stack([per_image(x, y) for x, y in zip(a, b)]) if len(a) else a.copy(), 0.0, 1.0)
    return fuse


def register(name: str):
    def deco(per_image):
        fuser = batched(per_image)
        BASELINES.register(name)(fuser)
        return fuser
    return deco

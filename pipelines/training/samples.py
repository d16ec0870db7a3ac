"""Sample grids of fused images for the tracking UI: one row per pair, columns A | B | fused (8-bit PNG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def sample_grid(a: np.ndarray, b: np.ndarray, fused: np.ndarray, gap: int = 2) -> np.ndarray:
    """(N, H, W) arrays in [0, 1] -> (N*(H+gap)-gap, 3*(W+gap)-gap) uint8 grid."""
    if not (a.shape == b.shape == fused.shape) or a.ndim != 3:
        raise ValueError(f"expected three (N, H, W) arrays of one shape, got {a.shape}, {b.shape}, {fused.shape}")
    n, h, w = a.shape
    grid = np.full((n * (h + gap) - gap, 3 * (w + gap) - gap), 255, np.uint8)
    for i in range(n):
        for j, img in enumerate((a[i], b[i], fused[i])):
            y, x = i * (h + gap), j * (w + gap)
            grid[y:y + h, x:x + w] = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return grid


def save_sample_grid(path: str | Path, a: np.ndarray, b: np.ndarray, fused: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample_grid(a, b, fused)).save(path)
    return path

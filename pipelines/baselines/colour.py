"""Pseudo-colour B (PET/SPECT): fuse the luma, put B's chroma back (BT.601, pipelines.imaging.color).

The fused luma is what the metrics score (the reference converts colour to this same Y); the RGB
recombination is for viewing (figures, written PNGs).
"""
from __future__ import annotations

import numpy as np

from pipelines.baselines.registry import Fuser
from pipelines.imaging.color import rgb_to_ycbcr, ycbcr_to_rgb


def fuse_colour(fuser: Fuser, a: np.ndarray, b_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` grey (.., H, W) and ``b_rgb`` (.., H, W, 3) in [0, 1] -> (fused luma, fused RGB)."""
    y, cb, cr = rgb_to_ycbcr(b_rgb)
    fused_y = np.asarray(fuser(a, y), dtype=np.float64)
    return fused_y, recolour(fused_y, cb, cr)


def recolour(fused_y: np.ndarray, cb: np.ndarray | None, cr: np.ndarray | None) -> np.ndarray:
    """Fused luma + B's Cb/Cr -> RGB in [0, 1]; grey B (no chroma) gives the luma unchanged."""
    if cb is None or cr is None:
        return np.asarray(fused_y, dtype=np.float64)
    return ycbcr_to_rgb(fused_y, cb, cr)

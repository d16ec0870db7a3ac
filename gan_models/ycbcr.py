"""BT.601 (full-range, JPEG) luma/chroma conversions (numpy only; torch tensors are handled without importing torch).

Shared by the zoo (``gan_models.fusion_colour``) and the pipeline (readers, baselines, inference): the pipeline
imports them from here through ``pipelines.imaging.color``.

Pseudo-colour PET/SPECT are fused on their luma Y and get their Cb/Cr back afterwards.  Y is exactly the
grey value the field's reference evaluator computes (``cv2.cvtColor(BGR2GRAY)`` on float: 0.299 R + 0.587 G +
0.114 B), so "fuse Y, put CbCr back" and "fuse grey" give the same Y.

All functions work on float arrays in [0, 1] (Y, Cb, Cr in [0, 1], chroma centred at 0.5), numpy or torch,
with the channel axis last for RGB.
"""
from __future__ import annotations

import numpy as np

_KR, _KG, _KB = 0.299, 0.587, 0.114


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _as_float(x):
    """float64 numpy array, or a floating torch tensor kept on its device (torch is never imported here)."""
    if _is_torch(x):
        return x if x.is_floating_point() else x.float()
    return np.asarray(x, dtype=np.float64)


def _stack_clip(r, g, b):
    if _is_torch(r):
        import torch
        return torch.stack([r, g, b], dim=-1).clamp(0.0, 1.0)
    return np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0)


def rgb_to_ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB in [0, 1] (..., 3) -> (Y, Cb, Cr), each (...) in [0, 1]."""
    rgb = _as_float(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB, got shape {rgb.shape}")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r + _KG * g + _KB * b
    cb = 0.5 + (b - y) / (2.0 * (1.0 - _KB))
    cr = 0.5 + (r - y) / (2.0 * (1.0 - _KR))
    return y, cb, cr


def ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """(Y, Cb, Cr) in [0, 1] -> RGB (..., 3) in [0, 1] (clipped)."""
    y = _as_float(y)
    cb = _as_float(cb) - 0.5
    cr = _as_float(cr) - 0.5
    r = y + 2.0 * (1.0 - _KR) * cr
    b = y + 2.0 * (1.0 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    return _stack_clip(r, g, b)


def is_pseudo_colour(rgb: np.ndarray, tol: float = 2.0 / 255.0) -> bool:
    """True when an RGB image carries colour (some pixel's channels differ by more than ``tol``)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        return False
    return bool((rgb.max(axis=-1) - rgb.min(axis=-1)).max() > tol)

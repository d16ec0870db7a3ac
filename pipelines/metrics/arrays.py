"""Array conventions shared by all metrics: the torch boundary, batching and the reference's 0-255 scale.

FUSION_METRICS.md §2/§5: every image (sources and fused) is scored as a single-channel float array holding
integers 0..255 (the reference reads PNGs with ``cv2.imread`` -> float32 -> BGR2GRAY -> ``np.round``).
Models and baselines work on [0, 1] floats; :func:`fused_to_255` and :func:`source_to_255` make the
conversion explicit, including the optional per-image min-max stretch of the fused image that CDDFuse's
``test_MIF.py`` applies before saving (``stretch=True`` reproduces CDDFuse-style numbers).

The metrics are computed with torch on the device of their inputs.  :func:`as_batch` is the only place
where inputs are converted: a numpy array (or anything array-like) becomes a CPU tensor (zero-copy when it
is already float64), a tensor stays on its device and is only cast to float64 and detached.
"""
from __future__ import annotations

import numpy as np
import torch


def as_batch(x) -> tuple[torch.Tensor, bool]:
    """(H, W) or (N, H, W) array-like or tensor -> (float64 (N, H, W) tensor on x's device, was_single)."""
    if isinstance(x, torch.Tensor):
        if x.device.type == "meta":
            raise ValueError("cannot score tensors on the 'meta' device: they carry no pixel values "
                             "(materialise them on 'cpu' or 'cuda' first)")
        t = x.detach().to(torch.float64)
    else:
        t = torch.from_numpy(np.asarray(x, dtype=np.float64))
    if t.ndim == 2:
        return t.unsqueeze(0), True
    if t.ndim != 3:
        raise ValueError(f"expected an (H, W) or (N, H, W) image array, got shape {tuple(t.shape)}")
    return t, False


def check_same_shape(F: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> None:
    if not (F.shape == A.shape == B.shape):
        raise ValueError(f"fused/source shapes differ: F {tuple(F.shape)}, A {tuple(A.shape)}, B {tuple(B.shape)}")
    if not (F.device == A.device == B.device):
        raise ValueError(f"fused/source tensors are on different devices: F {F.device}, A {A.device}, "
                         f"B {B.device}")
    if F.shape[-1] < 8 or F.shape[-2] < 8:
        raise ValueError(f"images of {F.shape[-2]}x{F.shape[-1]} are too small to score (need at least 8x8)")


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Clip to [0, 255] and round half to even -> int64 grey levels (what EN and MI count)."""
    return torch.round(x).clamp_(0, 255).to(torch.int64)


def _like_input(out: torch.Tensor, template, single: bool):
    out = out[0] if single else out
    return out if isinstance(template, torch.Tensor) else out.numpy()


def quantize_255(x):
    """Float on 0-255 -> float64 integers 0..255 (the PNG round trip: clip, round half to even).
    numpy in -> numpy out; tensor in -> tensor out (same device)."""
    t = x.detach().to(torch.float64) if isinstance(x, torch.Tensor) else torch.from_numpy(
        np.array(x, dtype=np.float64))
    out = torch.round(t).clamp_(0.0, 255.0)
    return out if isinstance(x, torch.Tensor) else out.numpy()


def source_to_255(x01):
    """A source image in [0, 1] ((H, W) or (N, H, W), numpy or torch) -> reference scale (integers 0..255)."""
    arr, single = as_batch(x01)
    return _like_input(quantize_255(arr * 255.0), x01, single)


def fused_to_255(f01, stretch: bool = True):
    """A fused image in [0, 1] (H, W) or (N, H, W) -> reference scale (numpy or torch, as given).

    ``stretch=True``: per-image min-max stretch to [0, 1] first, as CDDFuse's ``test_MIF.py`` does before
    saving (so the result spans 0..255); a constant image becomes all zeros.  ``stretch=False``: ``x*255``.
    Either way the result is rounded half to even and clipped, as the PNG round trip does.
    """
    arr, single = as_batch(f01)
    if stretch:
        lo = arr.amin(dim=(1, 2), keepdim=True)
        hi = arr.amax(dim=(1, 2), keepdim=True)
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        arr = (arr - lo) / span
    return _like_input(quantize_255(arr * 255.0), f01, single)

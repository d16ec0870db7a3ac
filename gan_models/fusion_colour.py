"""Colour handling of a pseudo-colour B (PET/SPECT): fuse its BT.601 luma, put its Cb/Cr back.

The conversions are :func:`gan_models.ycbcr.rgb_to_ycbcr` / :func:`~gan_models.ycbcr.ycbcr_to_rgb`
(the same BT.601 constants as the pair table and the metric reader; they accept torch tensors with the channel
axis last).  Here they are used channel-first on ``(N, 3, H, W)`` batches:

* :func:`split_luma_chroma` : RGB B -> (Y, Cb, Cr), each ``(N, 1, H, W)``;
* :func:`merge_luma_chroma` : (fused Y, Cb, Cr) -> RGB ``(N, 3, H, W)`` in [0, 1];
* :func:`fuse_colour` wraps any ``fuse(a, b) -> F`` so that it accepts a colour B.

Fusing Y and putting Cb/Cr back is the convention of the field (the authors of DDcGAN, MGMDcGAN and most
MRI-PET papers fuse the intensity channel and restore the chroma), and Y is exactly the grey value the
metric reader computes, so the grey metrics of the colour output equal those of the fused luma.
"""
from __future__ import annotations

from typing import Callable

import torch

from gan_models.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb

FuseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_rgb(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must be an RGB batch (N, 3, H, W), got {tuple(x.shape)}")


def split_luma_chroma(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RGB ``(N, 3, H, W)`` in [0, 1] -> (Y, Cb, Cr), each ``(N, 1, H, W)`` in [0, 1]."""
    _check_rgb(rgb, "B")
    y, cb, cr = rgb_to_ycbcr(rgb.permute(0, 2, 3, 1))
    return y.unsqueeze(1), cb.unsqueeze(1), cr.unsqueeze(1)


def merge_luma_chroma(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor) -> torch.Tensor:
    """(Y, Cb, Cr) ``(N, 1, H, W)`` -> RGB ``(N, 3, H, W)``, clipped to [0, 1]."""
    if not (y.shape == cb.shape == cr.shape) or y.dim() != 4 or y.shape[1] != 1:
        raise ValueError(f"Y, Cb, Cr must all be (N, 1, H, W) of one shape, got {tuple(y.shape)}, "
                         f"{tuple(cb.shape)}, {tuple(cr.shape)}")
    return ycbcr_to_rgb(y[:, 0], cb[:, 0], cr[:, 0]).permute(0, 3, 1, 2).contiguous()


def fuse_colour(fuse: FuseFn, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fuse grey ``a`` (N, 1, H, W) with ``b``: grey B -> grey F; RGB B (N, 3, H, W) -> RGB F.

    For an RGB B the luma is fused, ``F_Y = fuse(a, Y_B)``, and the chroma of B is put back.
    """
    if b.dim() == 4 and b.shape[1] == 1:
        return fuse(a, b)
    _check_rgb(b, "B")
    y, cb, cr = split_luma_chroma(b)
    return merge_luma_chroma(fuse(a, y), cb, cr)


def colour_fuser(fuse: FuseFn) -> FuseFn:
    """``fuse`` turned into a function that also accepts a pseudo-colour B."""
    def wrapped(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fuse_colour(fuse, a, b)
    wrapped.__doc__ = f"Colour-aware wrapper of {getattr(fuse, '__qualname__', fuse)!s}."
    return wrapped

"""Tissue-label maps computed from the MRI, the conditioning input of TA-cGAN (and MGMDcGAN's structure mask).

TA-cGAN (the review's §3.3) conditions the generator on a tissue map (grey matter / white matter / CSF) of the
MRI.  The authors segment with an external tool; inside a training data path we need a deterministic, pure,
fast function.  :func:`tissue_labels` uses multi-Otsu thresholding (Liao, Chen & Chung 2001; :func:`multiotsu`: the
algorithm of ``skimage.filters.threshold_multiotsu`` with 256 bins, in numpy so that the zoo needs no
scikit-image; it maximises the between-class variance in float64 where skimage uses float32, so on near-ties a
threshold can land one bin (1/256 of the range) away: tested against skimage) on the foreground voxels of each
image:

* label 0: background (A <= ``background``);
* labels 1..K: the K intensity classes of the foreground, darkest first.  On a T1 brain slice with K = 3 these
  are CSF (dark), grey matter, white matter (bright); on T2 the order reverses.  The labels are an intensity
  partition, not an anatomical segmentation, and that is what the network is conditioned on.

:func:`one_hot_labels` turns the map into K + 1 channels for concatenation.  :func:`dense_structure_mask` is the
brightest class (MGMDcGAN's "dense structure" of the MRI: the high-intensity tissue the second cGAN enhances).
All functions work per image on a ``(N, 1, H, W)`` tensor in [0, 1] and return tensors on the same device.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import torch


def multiotsu(values: np.ndarray, classes: int = 3, nbins: int = 256) -> np.ndarray:
    """Multi-Otsu thresholds of ``values`` (Liao et al. 2001) as ``skimage.filters.threshold_multiotsu`` computes
    them: the values are binned into ``nbins`` equal bins over [min, max]; the ``classes − 1`` thresholds are the
    centres of the last bin of each lower class, chosen to maximise the between-class variance Σ_k ω_k μ_k²
    (exhaustive search, the first maximum in lexicographic order as skimage's; float64 sums, skimage float32).
    Up to 4 classes."""
    k = classes - 1
    if not 1 <= k <= 3:
        raise ValueError(f"multiotsu supports 2 to 4 classes, got {classes}")
    hist, edges = np.histogram(np.asarray(values, dtype=np.float64).ravel(), bins=nbins)
    centres = (edges[:-1] + edges[1:]) / 2
    prob = hist.astype(np.float64) / hist.sum()
    nonzero = np.flatnonzero(prob)
    if nonzero.size < classes:
        raise ValueError(f"multiotsu: only {nonzero.size} distinct binned values for {classes} classes")
    if nonzero.size == classes:
        return centres[nonzero[:-1]]
    cum_p = np.concatenate([[0.0], np.cumsum(prob)])
    cum_s = np.concatenate([[0.0], np.cumsum(prob * np.arange(nbins))])
    cuts = np.array(list(combinations(range(nbins - 1), k)), dtype=np.intp)   # last bin of each lower class
    bounds = np.concatenate([np.full((len(cuts), 1), -1), cuts, np.full((len(cuts), 1), nbins - 1)], axis=1)
    p = cum_p[bounds[:, 1:] + 1] - cum_p[bounds[:, :-1] + 1]
    s = cum_s[bounds[:, 1:] + 1] - cum_s[bounds[:, :-1] + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(p > 0, s * s / p, 0.0).sum(axis=1)
    return centres[cuts[int(np.argmax(score))]]


def _labels_one(img: np.ndarray, classes: int, background: float) -> np.ndarray:
    fg = img > background
    out = np.zeros(img.shape, dtype=np.int64)
    vals = img[fg]
    # multi-Otsu needs at least `classes` distinct grey levels; otherwise fall back to equal-count quantiles
    if vals.size == 0:
        return out
    if np.unique(vals).size > classes:
        thr = multiotsu(vals, classes=classes, nbins=256)
    else:                                   # m <= classes grey levels: one class per level
        thr = np.unique(vals)[1:]
    out[fg] = 1 + np.digitize(vals, thr)
    return out


def tissue_labels(a: torch.Tensor, classes: int = 3, background: float = 0.02) -> torch.Tensor:
    """Per-image label map ``(N, 1, H, W)`` int64 in {0 (background), 1..classes}, darkest class first."""
    if a.dim() != 4 or a.shape[1] != 1:
        raise ValueError(f"tissue_labels expects an MRI batch (N, 1, H, W), got {tuple(a.shape)}")
    if classes < 2:
        raise ValueError(f"tissue_labels needs at least 2 classes, got {classes}")
    x = a.detach().float().cpu().numpy()
    lab = np.stack([_labels_one(x[i, 0], classes, background) for i in range(x.shape[0])])[:, None]
    return torch.from_numpy(lab).to(a.device)


def one_hot_labels(labels: torch.Tensor, classes: int = 3) -> torch.Tensor:
    """``(N, 1, H, W)`` labels in {0..classes} -> ``(N, classes + 1, H, W)`` float one-hot."""
    oh = torch.nn.functional.one_hot(labels[:, 0].long(), num_classes=classes + 1)
    return oh.permute(0, 3, 1, 2).float()


def dense_structure_mask(a: torch.Tensor, classes: int = 3, background: float = 0.02) -> torch.Tensor:
    """Float mask ``(N, 1, H, W)``: 1 on the brightest foreground class of the MRI, else 0."""
    return (tissue_labels(a, classes, background) == classes).float()


def foreground_mask(a: torch.Tensor, background: float = 0.02) -> torch.Tensor:
    """Float mask of the imaged object (A above ``background``), the region-of-interest prior of Fp-roi-GAN."""
    return (a > background).float()

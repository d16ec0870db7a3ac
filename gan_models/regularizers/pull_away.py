"""EBGAN pull-away term (Zhao, Mathieu, LeCun, ICLR 2017, eq. (6)).

f_PT(S) = 1/(B(B−1)) Σ_{i≠j} (Ŝ_iᵀ Ŝ_j / ‖Ŝ_i‖‖Ŝ_j‖)²  for the (B, d) encoder embedding S of a fake batch:
rows are L2-normalised **per sample**, the cosine is **squared**, and only off-diagonal pairs are averaged.
Orthogonal embeddings give 0, identical (or collinear) ones give 1.  Public bugs this avoids: torchgan
normalises over the batch axis (``dim=0``), PyTorch-GAN forgets the square, znxlwm uses a global L1 norm.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pull_away_term(embedding: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean squared cosine similarity over the B(B−1) ordered off-diagonal pairs; needs B ≥ 2."""
    if embedding.dim() < 2:
        raise ValueError(f"pull-away term needs a (B, d) embedding, got shape {tuple(embedding.shape)}")
    s = embedding.reshape(embedding.shape[0], -1).float()
    b = s.shape[0]
    if b < 2:
        raise ValueError("pull-away term needs at least 2 samples in the batch")
    s = F.normalize(s, p=2, dim=1, eps=eps)
    cos2 = (s @ s.t()).pow(2)
    off_diag = cos2.sum() - cos2.diagonal().sum()
    return off_diag / (b * (b - 1))

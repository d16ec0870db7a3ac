"""McGAN covariance-matching head with U, V on the Stiefel manifold (Mroueh, Sercu, Goel, ICML 2017).

IPM_Σ = max_ω ‖[Σ_ω(P) − Σ_ω(Q)]_k‖_* (sum of the top-k singular values) with the **uncentred** feature
covariance Σ_ω(P) = E_P Φ_ω(x)Φ_ω(x)ᵀ; via the variational form of Ky Fan's k-norm,
‖[A]_k‖_* = max_{U,V ∈ O(m,k)} Tr(Uᵀ A V), the critic is f(x) = ⟨UᵀΦ(x), VᵀΦ(x)⟩ and
IPM_Σ = E_P f − E_Q f.  U, V (m×k, orthonormal columns) are parameters of this head, trained by the critic's
optimiser and **retracted** onto the Stiefel manifold by QR after every critic step (``retract_``, called by
``loss.after_critic_step``).  They are exempt from weight clipping (Φ is clipped, U/V are constrained by
orthonormality).
"""
from __future__ import annotations

import torch
from torch import nn


def qr_retract(w: torch.Tensor) -> torch.Tensor:
    """Q factor of w (m×k) with the sign convention diag(R) ≥ 0 (a continuous retraction)."""
    q, r = torch.linalg.qr(w)
    d = torch.sign(torch.diagonal(r))
    d = torch.where(d == 0, torch.ones_like(d), d)
    return q * d


class McGANCovHead(nn.Module):
    """Maps features Φ (B, m) to the covariance critic f = Σ_j (UᵀΦ)_j (VᵀΦ)_j, shape (B,)."""

    exempt_from_weight_clip = True

    def __init__(self, dim: int, k: int):
        super().__init__()
        if not 1 <= k <= dim:
            raise ValueError(f"McGAN covariance head needs 1 <= k <= dim, got k={k}, dim={dim}")
        self.dim, self.k = dim, k
        self.u = nn.Parameter(qr_retract(torch.randn(dim, k)))
        self.v = nn.Parameter(qr_retract(torch.randn(dim, k)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        phi = features.reshape(features.shape[0], -1)
        if phi.shape[1] != self.dim:
            raise ValueError(f"McGAN covariance head expects {self.dim} features, got {phi.shape[1]}")
        return ((phi @ self.u) * (phi @ self.v)).sum(dim=1)

    @torch.no_grad()
    def retract_(self) -> None:
        self.u.copy_(qr_retract(self.u.float()).to(self.u.dtype))
        self.v.copy_(qr_retract(self.v.float()).to(self.v.dtype))

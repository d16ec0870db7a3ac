"""Fisher GAN constraint state (Mroueh & Sercu, NeurIPS 2017, eq. (9); official code tomsercu/FisherGAN).

Ω̂ = ½(E_P f² + E_Q f²), constraint 1 − Ω̂ = 0, augmented Lagrangian
L_F = E_P f − E_Q f + λ(1 − Ω̂) − (ρ/2)(1 − Ω̂)².  The critic does gradient **ascent** on L_F (its loss is
−L_F); λ does a manual gradient **descent** step with learning rate ρ:
λ ← λ − ρ ∂L_F/∂λ = λ − ρ(1 − Ω̂)  (official: ``obj_D.backward(mone); alpha.data += rho * alpha.grad``).
So λ **grows when Ω̂ > 1** (the constraint is violated by a too-large critic, the penalty −λ(Ω̂ − 1) gets
stronger) and shrinks when Ω̂ < 1.  λ never enters an optimiser and is checkpointed (``state_dict``).
"""
from __future__ import annotations

import torch


class FisherConstraint:
    """Holds λ (float64 scalar tensor, starts at 0 as in the official code) and applies its update."""

    def __init__(self, rho: float = 1e-6, init: float = 0.0):
        if not rho > 0:
            raise ValueError(f"Fisher GAN rho must be > 0, got {rho}")
        self.rho = float(rho)
        self.lam = torch.tensor(float(init), dtype=torch.float64)

    def value(self, like: torch.Tensor) -> torch.Tensor:
        return self.lam.to(device=like.device, dtype=like.dtype)

    @torch.no_grad()
    def update(self, omega: torch.Tensor | float) -> float:
        omega = float(omega.detach() if isinstance(omega, torch.Tensor) else omega)
        self.lam -= self.rho * (1.0 - omega)
        return float(self.lam)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"fisher_lambda": self.lam.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != {"fisher_lambda"}:
            raise KeyError(f"Fisher constraint state needs exactly 'fisher_lambda', got {sorted(state)}")
        self.lam = state["fisher_lambda"].detach().to(torch.float64).cpu().clone()

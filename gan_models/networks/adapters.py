"""Adapters that give a score critic the output a feature-based loss reads, and McGAN's covariance head."""
from __future__ import annotations

import torch
from torch import nn

from gan_models.losses.base import CriticOutput
from gan_models.networks.base import Critic


class FeatureCritic(nn.Module):
    """Wraps a :class:`Critic` so that it returns ``CriticOutput(score, features=φ(x), embedding=φ(x), input=x)``
    (McGAN mean matching reads ``features``; the score head stays available for monitoring)."""

    def __init__(self, critic: Critic):
        super().__init__()
        if not isinstance(critic, Critic):
            raise TypeError(f"FeatureCritic needs a Critic (trunk + embed), got {type(critic).__name__}")
        self.critic = critic

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> CriticOutput:
        score, _, phi = self.critic.forward_features(x, y)
        return CriticOutput(score=score, features=phi, embedding=phi, input=x)


def with_mcgan_cov_head(critic: Critic, k: int | None = None) -> Critic:
    """Replace the critic's linear head by McGAN's covariance head f = ⟨UᵀΦ, VᵀΦ⟩ (U, V ∈ O(m, k)).

    k defaults to min(16, m) (the paper reports k as a hyper-parameter without one default value).
    """
    from gan_models.regularizers.stiefel import McGANCovHead
    if not isinstance(critic, Critic):
        raise TypeError(f"the McGAN covariance head needs a Critic (trunk + embed), got {type(critic).__name__}")
    if critic.projection is not None:
        raise ValueError("the McGAN covariance critic is unconditional (no projection term)")
    k = min(16, critic.feature_dim) if k is None else int(k)
    critic.head = McGANCovHead(critic.feature_dim, k)
    return critic

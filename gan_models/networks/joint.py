"""BiGAN / ALI joint critic D(x, z) (Donahue, Krähenbühl & Darrell, ICLR 2017; Dumoulin et al., ICLR 2017)."""
from __future__ import annotations

import torch
from torch import nn

from gan_models.blocks.conv import LinearNormAct
from gan_models.blocks.norm_act import spectral_norm
from gan_models.networks.base import Critic


class JointCritic(nn.Module):
    """D(x, z) = head(MLP([φ(x), MLP_z(z)])): φ from an image/vector :class:`Critic`'s trunk (its own
    head is unused), z through a 2-layer LeakyReLU(0.2) MLP, joint 1-hidden-layer MLP of ``hidden`` units to one
    logit (BiGAN's MNIST critic joins x and z features in an FC-1024 layer; ``hidden`` is configurable).

    :meth:`pack` / :meth:`unpack` flatten (x, z) into one (B, N + d) tensor, so gradient penalties interpolate
    in the joint space with the ordinary ``critic(points)`` call."""

    def __init__(self, x_critic: Critic, latent_dim: int, sample_shape: tuple[int, ...], hidden: int = 512,
                 sn: bool = False):
        super().__init__()
        if not isinstance(x_critic, Critic):
            raise TypeError(f"JointCritic needs a Critic for x (trunk + embed), got {type(x_critic).__name__}")
        if x_critic.projection is not None:
            raise ValueError("the BiGAN joint critic is unconditional")
        self.x_critic, self.latent_dim, self.sample_shape = x_critic, int(latent_dim), tuple(sample_shape)
        self.x_critic.head = None                    # replaced by the joint head
        self.z_net = nn.Sequential(LinearNormAct(latent_dim, hidden, norm="none", act="lrelu", sn=sn),
                                   LinearNormAct(hidden, hidden, norm="none", act="lrelu", sn=sn))
        self.joint = LinearNormAct(x_critic.feature_dim + hidden, hidden, norm="none", act="lrelu", sn=sn)
        self.out = spectral_norm(nn.Linear(hidden, 1), sn)

    def pack(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.flatten(1), z.flatten(1)], dim=1)

    def unpack(self, packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = packed.shape[1] - self.latent_dim
        return packed[:, :n].reshape(-1, *self.sample_shape), packed[:, n:]

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        phi = self.x_critic.embed(self.x_critic.trunk(x))
        h = self.joint(torch.cat([phi, self.z_net(z)], dim=1))
        return self.out(h).squeeze(1)

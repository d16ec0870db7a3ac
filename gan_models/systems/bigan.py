"""BiGAN / ALI (Donahue et al., ICLR 2017; Dumoulin et al., ICLR 2017)."""
from __future__ import annotations

from typing import Any, Mapping

import torch

from gan_models.losses.base import LossTerms
from gan_models.losses.f_divergence import FGANLoss
from gan_models.networks.autoencoder import make_encoder
from gan_models.networks.joint import JointCritic
from gan_models.critic_stats import report_generated
from gan_models.registry import SYSTEMS
from gan_models.systems.adversarial import critic_terms
from gan_models.systems.base import Batch
from gan_models.systems.single_pair import SinglePairSystem


@SYSTEMS.register("bigan")
class BiGAN(SinglePairSystem):
    """An encoder E: x → z is learned jointly with G: z → x against a joint critic D(x, z) that separates
    real pairs (x, E(x)) from fake pairs (G(z), z).

    D minimises ``loss.d_loss(D(x, E(x)), D(G(z), z))`` (+ the loss's regularizers, computed on packed
    (x, z) points so gradient penalties interpolate in the joint space).  G and E (one optimizer, as in the
    paper's joint update) minimise the same critic loss with the real/fake roles **swapped** (the inverted-label
    objective of the BiGAN and ALI code): for the logistic loss −log D(G(z), z) − log(1 − D(x, E(x))); for WGAN
    E D(x, E(x)) − E D(G(z), z); for the relativistic losses exactly their generator loss.
    Not compatible: the f-GAN bounds (asymmetric in P and Q), feature/energy/sample losses (the joint critic
    returns a score), ``fisher`` (the swapped objective would let G and E act on the critic's constraint terms)
    and ``mcgan_cov`` (needs the critic's own feature head).  Latent prior U(−1, 1) by default (the paper's).
    """
    name = "bigan"
    critic_outputs = ("score",)
    allows_no_discriminator = False
    excluded = {"fisher": "the swapped-role generator/encoder objective would act on Fisher GAN's constraint terms",
                "mcgan_cov": "the covariance head replaces the critic's head, which the joint critic does not use"}

    @classmethod
    def check_loss(cls, spec):
        loss = super().check_loss(spec)
        if isinstance(loss, FGANLoss):
            raise ValueError(f"system 'bigan' cannot use loss {type(loss).__name__}: the f-GAN variational bound is "
                             "asymmetric in P and Q, so the swapped-role generator/encoder objective would train "
                             "on the bound of a different divergence")
        return loss

    def __init__(self, loss="nonsaturating", *, encoder: Mapping[str, Any] | None = None, joint_hidden: int = 512,
                 latent_prior: str = "uniform", **kw: Any):
        self._joint_hidden = int(joint_hidden)
        super().__init__(loss, latent_prior=latent_prior, **kw)
        self.aux["E"] = make_encoder(self.data_shape, self.latent_dim, **dict(encoder or {}))

    def build_critic(self, spec: dict[str, Any]):
        sn = bool(spec.get("sn", False))
        x_critic = super().build_critic(spec)
        return JointCritic(x_critic, self.latent_dim, self.data_shape, hidden=self._joint_hidden, sn=sn)

    def g_parameters(self):
        return list(self.generators.parameters()) + list(self.aux["E"].parameters())

    def critic(self, packed: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        d = self.discriminators["D"]
        x, z = d.unpack(packed)
        return d(x, z)

    def pairs(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.discriminators["D"]
        z = self.noise(real.shape[0], real.device)
        return d.pack(real, self.aux["E"](real)), d.pack(self.generators["G"](z), z)

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        with torch.no_grad():
            real_pair, fake_pair = self.pairs(real)
        return critic_terms(self.loss, self.critic, real_pair, fake_pair, extra_regularizers=self.regularizers)

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        real_pair, fake_pair = self.pairs(real)
        report_generated(self.discriminators["D"].unpack(fake_pair)[0], real)
        return self.loss.d_loss(self.critic(fake_pair), self.critic(real_pair))

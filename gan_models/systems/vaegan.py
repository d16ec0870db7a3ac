"""VAE-GAN (Larsen, Sønderby, Larochelle & Winther, ICML 2016, "Autoencoding beyond pixels")."""
from __future__ import annotations

from typing import Any, Mapping

import torch

from gan_models.losses.base import LossTerms
from gan_models.networks.autoencoder import make_encoder
from gan_models.networks.base import Critic
from gan_models.registry import SYSTEMS
from gan_models.systems.adversarial import critic_phase, critic_terms, generator_terms, optimizer_spec
from gan_models.systems.base import Batch, Phase, make_optimizer
from gan_models.systems.single_pair import SinglePairSystem


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over latent dims, averaged over the batch (L_prior)."""
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())
    return kl.float().sum(dim=1).mean()


@SYSTEMS.register("vaegan")
class VAEGAN(SinglePairSystem):
    """Encoder E (variational), decoder = generator G, critic D; three phases ``[D, E, G]``:

    * L_prior = KL(q(z|x) ‖ N(0, I));
    * L_llike^{Dis_l} = ½‖Dis_l(x) − Dis_l(x̃)‖² per sample (Gaussian log-likelihood with identity
      covariance on D's layer-l features; l = the critic's last convolutional layer, as in the paper, whose
      Dis_l is the layer before the final dense layers), x̃ = G(E(x));
    * L_GAN on reconstructions x̃ and prior samples x_p = G(z_p): the adversarial loss is applied to both and
      averaged (½[d_loss(x, x̃) + d_loss(x, x_p)] for D; ½[g_loss(x̃) + g_loss(x_p)] for the decoder).
      **A stated deviation from the paper's weights**: its eq. (the L_GAN of Sec. 2.2 / Alg. 1)
      log D(x) + log(1 − D(x̃)) + log(1 − D(x_p)) weights the real term 1 and each kind of fake 1 (1:1:1); the
      average of two complete critic losses weights them 1 : ½ : ½ instead.  The average is used because it is
      defined for every registered loss, including those whose critic loss does not split into a real and a
      fake term (relativistic losses pair real and fake outputs; gradient penalties need one real/fake pair);
      for the logistic loss the difference is a factor 2 on the fake terms (the critic's optimum moves from
      p/(p + 2q) with the paper's weights to p/(p + q) per fake kind).

    Updates (paper Alg. 1): E ← L_prior + L_llike; G (decoder) ← γ·L_llike + L_GAN^G; D ← L_GAN^D.
    **L_GAN never reaches the encoder**: the decoder phase uses a detached code.  γ = 1e-6 by default
    (``gamma``; the paper does not print a value: this is the weight recalled from the authors' released
    code ``recon_vs_gan_weight``, unverified — with per-sample *summed* feature errors, as here, the adversarial
    term must not be swamped).  Any loss with a score critic whose trunk exposes features works.
    """
    name = "vaegan"
    critic_outputs = ("score",)
    allows_no_discriminator = False

    def __init__(self, loss="vanilla", *, gamma: float = 1e-6, encoder: Mapping[str, Any] | None = None,
                 e_optimizer: Mapping[str, Any] | None = None, **kw: Any):
        if gamma < 0:
            raise ValueError(f"vaegan gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self._e_opt_override = e_optimizer
        super().__init__(loss, **kw)
        if not isinstance(self.discriminators["D"], Critic):
            raise ValueError("vaegan needs a Critic whose trunk gives the Dis_l features (dcgan, sagan, mlp)")
        self.aux["E"] = make_encoder(self.data_shape, self.latent_dim, variational=True, **dict(encoder or {}))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = super().configure_optimizers()
        opts["E"] = make_optimizer(self.aux["E"].parameters(),
                                   optimizer_spec(self._e_opt_override or self._g_opt_override,
                                                  self.loss.g_optimizer))
        return opts

    def phases(self) -> list[Phase]:
        return [critic_phase("D", "D", self.d_step, self.loss, self.discriminators["D"]),
                Phase("E", "E", self.e_step),
                Phase("G", "G", self.g_step)]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.aux["E"](x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return z, mu, logvar

    def llike(self, real: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        d = self.discriminators["D"]
        with torch.no_grad():
            target = d.trunk(real)
        feat = d.trunk(recon)
        return 0.5 * (feat.float() - target.float()).pow(2).flatten(1).sum(dim=1).mean()

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        with torch.no_grad():
            recon = self.generators["G"](self.encode(real)[0])
            prior = self.generate(real.shape[0], real.device)
        real_out = self.critic(real)
        return sum((critic_terms(self.loss, self.critic, real, fake, real_out=real_out,
                                 extra_regularizers=self.regularizers).scaled(0.5)
                    for fake in (recon, prior)), LossTerms(real.new_zeros(())))

    def e_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        z, mu, logvar = self.encode(real)
        prior = gaussian_kl(mu, logvar)
        llike = self.llike(real, self.generators["G"](z))
        return LossTerms(prior + llike, {"prior_kl": prior.detach(), "llike": llike.detach()})

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        with torch.no_grad():
            z = self.encode(real)[0]                 # L_GAN must not reach the encoder
        recon = self.generators["G"](z)
        prior = self.generate(real.shape[0], real.device)
        real_out = self.critic(real) if self.loss.needs_real_in_g else None
        adv = generator_terms(self.loss, self.critic, recon, real, real_out=real_out).scaled(0.5, "recon/") \
            + generator_terms(self.loss, self.critic, prior, real, real_out=real_out).scaled(0.5, "prior/")
        llike = self.llike(real, recon)
        return adv + LossTerms(self.gamma * llike, {"llike": llike.detach()})

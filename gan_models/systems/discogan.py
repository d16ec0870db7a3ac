"""DiscoGAN (Kim, Cha, Kim, Lee, Kim, "Learning to Discover Cross-Domain Relations with Generative Adversarial
Networks", ICML 2017).

Two coupled GANs with a reconstruction loss in both directions: per direction
L_G_AB = L_GAN_B + L_CONST_A (paper eq. (3)-(5)), L_CONST a distance (MSE in the released code); the
paper publishes no weights.  Constants from the authors' PyTorch code (SKTBrain/DiscoGAN
``discogan/image_translation.py``, checked):

* per direction ``(gan·0.1 + fm·0.9)·(1 − rate) + recon·rate`` with ``recon`` = MSE, ``fm`` = feature
  matching Σ (E φ(real) − E φ(fake))² on the critic's features (here the critic's feature vector φ;
  the code sums over its intermediate layers), ``rate`` = 0.01 for the first 10 000 iterations
  (``gan_curriculum``, "strong GAN loss at the beginning") then 0.5;
* BCE GAN loss (``nonsaturating``); the code's critic loss 0.5·(real + fake) differs from the logistic
  critic loss by a constant factor only, to which Adam is invariant;
* Adam(2e-4, β = (0.5, 0.999)) for both (the code also uses weight decay 1e-5, not applied here);
* one critic update for every two generator updates (``update_interval = 3``): phases ``[D_A, D_B, G, G]``
  (``g_repeats: 2``).

``fm_weight`` needs a critic with ``forward_features`` (mlp, dcgan, sagan); set it to 0 for patch critics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gan_models.losses.base import LossTerms
from gan_models.networks.base import Critic
from gan_models.registry import SYSTEMS
from gan_models.systems.adversarial import generator_terms
from gan_models.systems.base import unwrap
from gan_models.systems.cycle import CycleConfig, CycleSystem


@dataclass
class DiscoGANConfig(CycleConfig):
    loss: Any = "nonsaturating"
    lambda_a: float = 1.0
    lambda_b: float = 1.0
    recon: str = "l2"
    g_repeats: int = 2
    fm_weight: float = 0.9
    starting_rate: float = 0.01
    default_rate: float = 0.5
    gan_curriculum: int = 10000
    g_optimizer: dict[str, Any] | None = field(default_factory=lambda: {"name": "adam", "lr": 2e-4,
                                                                        "betas": [0.5, 0.999]})
    d_optimizer: dict[str, Any] | None = field(default_factory=lambda: {"name": "adam", "lr": 2e-4,
                                                                        "betas": [0.5, 0.999]})


@SYSTEMS.register("discogan")
class DiscoGAN(CycleSystem):
    name = "discogan"
    config_cls = DiscoGANConfig
    order = "d_first"

    def validate(self) -> None:
        super().validate()
        cfg = self.cfg
        if cfg.recon not in ("l1", "l2"):
            raise ValueError(f"discogan: recon must be 'l1' or 'l2', got {cfg.recon!r}")
        for k in ("fm_weight", "starting_rate", "default_rate"):
            if not 0.0 <= getattr(cfg, k) <= 1.0:
                raise ValueError(f"discogan: {k} must be in [0, 1], got {getattr(cfg, k)}")

    def rate(self, step: int) -> float:
        return self.cfg.starting_rate if step < self.cfg.gan_curriculum else self.cfg.default_rate

    def reconstruction_weight(self, step: int) -> tuple[float, float]:
        r = self.rate(step)
        return (1.0 - r) * self.cfg.gan_weight, r

    def generator_adversarial(self, domain: str, fake: torch.Tensor, real: torch.Tensor, step: int) -> LossTerms:
        w_fm = self.cfg.fm_weight
        if w_fm == 0:
            return super().generator_adversarial(domain, fake, real, step)
        critic = self.discriminators[domain]
        if not isinstance(unwrap(critic), Critic):
            raise ValueError("discogan: feature matching (fm_weight > 0) needs a critic with forward_features "
                             "(mlp, dcgan, sagan); set fm_weight: 0 for other critics")
        fake_logit, _, phi_fake = critic.forward_features(fake)
        with torch.no_grad():
            _, _, phi_real = critic.forward_features(real)
        fm = (phi_real.float().mean(0) - phi_fake.float().mean(0)).pow(2).mean()
        gan = generator_terms(self.losses[domain], critic, fake, real, fake_out=fake_logit)
        return gan.scaled(1.0 - w_fm) + LossTerms(w_fm * fm, {"fm": fm})

"""Relativistic GAN losses (Jolicoeur-Martineau, "The relativistic discriminator", ICLR 2019).

C is the raw critic (logit).  All three generator losses use **both** the fake and the real critic output
(``needs_real_in_g = True``: the system passes a real batch through D in the G step); PyTorch-GAN's
``relativistic_gan.py`` overwrites this with the standard loss (issue #52) and its ESRGAN drops the real term.
Swapping the roles — ``d_loss(real_out=fake, fake_out=real)`` — gives exactly ``g_loss(fake, real)``
(tested).  Paper defaults: Adam(2e-4, β = (0.5, 0.999)), n_D = 1.

For patch maps, the batch average E_x C(x) is taken over the batch dimension per location (it reduces to the
paper's scalar for (B,) scores); RSGAN pairs real and fake samples by index, so it needs equal batch sizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gan_models.losses._common import require_real, same_batch, score32
from gan_models.losses.base import AdversarialLoss, LossTerms, OptimizerSpec
from gan_models.registry import LOSSES

RELATIVISTIC_ADAM = OptimizerSpec("adam", 2e-4, (0.5, 0.999))


@dataclass
class _Relativistic(AdversarialLoss):
    needs_real_in_g: ClassVar[bool] = True
    d_optimizer: ClassVar[OptimizerSpec] = RELATIVISTIC_ADAM
    g_optimizer: ClassVar[OptimizerSpec] = RELATIVISTIC_ADAM
    n_critic: int = 1

    def _pair(self, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss pushing ``pos`` up relative to ``neg``, loss pushing ``neg`` down relative to ``pos``)."""
        raise NotImplementedError

    def d_loss(self, real_out: Any, fake_out: Any, **ctx: Any) -> LossTerms:
        real, fake = self._pair(score32(real_out), score32(fake_out))
        return LossTerms(real + fake, {"real": real, "fake": fake})

    def g_loss(self, fake_out: Any, real_out: Any = None, **ctx: Any) -> LossTerms:
        real_out = require_real(real_out, type(self).__name__)
        fake, real = self._pair(score32(fake_out), score32(real_out))
        return LossTerms(real + fake, {"real": real, "fake": fake})


@LOSSES.register("rsgan")
@dataclass
class RSGAN(_Relativistic):
    """Relativistic standard GAN: L_D = −E log σ(C(x) − C(x̃)) = E softplus(C(x̃) − C(x)),
    L_G = E softplus(C(x) − C(x̃)).  Real and fake samples are paired by index.

    ``parts`` split the single term equally for logging only ("real" holds it, "fake" is 0).
    """

    def _pair(self, pos, neg):
        same_batch(pos, neg, "rsgan")
        term = F.softplus(neg - pos).mean()
        return term, torch.zeros_like(term)


@LOSSES.register("ragan")
@dataclass
class RaGAN(_Relativistic):
    """Relativistic average standard GAN (RaSGAN):
    L_D = −E_x log σ(C(x) − E C(x̃)) − E_x̃ log(1 − σ(C(x̃) − E C(x)))
        = E softplus(−(C(x) − E C(x̃))) + E softplus(C(x̃) − E C(x));
    L_G is the same with real and fake swapped (two terms).
    """

    def _pair(self, pos, neg):
        pos_rel = pos - neg.mean(dim=0, keepdim=True)
        neg_rel = neg - pos.mean(dim=0, keepdim=True)
        return F.softplus(-pos_rel).mean(), F.softplus(neg_rel).mean()


@LOSSES.register("ralsgan")
@dataclass
class RaLSGAN(_Relativistic):
    """Relativistic average LSGAN:
    L_D = E[(C(x) − E C(x̃) − 1)²] + E[(C(x̃) − E C(x) + 1)²]; L_G the same with the ±1 swapped
    (= with real and fake swapped).  No ½ factors (the paper's eq. for RaLSGAN).
    """

    def _pair(self, pos, neg):
        pos_rel = pos - neg.mean(dim=0, keepdim=True)
        neg_rel = neg - pos.mean(dim=0, keepdim=True)
        return (pos_rel - 1.0).pow(2).mean(), (neg_rel + 1.0).pow(2).mean()

"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, NeurIPS 2016)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from gan_models.losses.base import LossTerms
from gan_models.networks.base import Critic
from gan_models.networks.heads import QHead
from gan_models.registry import SYSTEMS
from gan_models.regularizers.mutual_information import infogan_mutual_information
from gan_models.systems.adversarial import critic_terms, generator_terms
from gan_models.systems.base import Batch
from gan_models.systems.single_pair import SinglePairSystem


@SYSTEMS.register("infogan")
class InfoGAN(SinglePairSystem):
    """G(z, c) with categorical codes c_cat ~ Cat(K) (one-hot) and continuous codes c_cont ~ U(−1, 1)
    concatenated to the noise; a Q head on D's shared trunk predicts the codes (logits for categorical codes,
    unit-variance Gaussian means for continuous ones).

    L_I = λ_cat·CE + λ_cont·MSE (``infogan_mutual_information``; λ_cat = 1, λ_cont = 0.1).  The MI term
    updates **G and Q**: Q's parameters are in G's optimizer (StudioGAN's arrangement) and L_I is added to the
    G loss.  With ``mi_in_d=True`` (default, the authors' openai/InfoGAN code subtracts the MI estimate from the
    discriminator loss too) L_I on the detached fakes is also added to the D loss, so the shared trunk learns
    code-predictive features; Q's head is not stepped by D's optimizer.  Any loss with a score critic works.
    """
    name = "infogan"
    critic_outputs = ("score",)
    allows_no_discriminator = False

    def __init__(self, loss="nonsaturating", *, n_categorical: Sequence[int] = (10,), n_continuous: int = 2,
                 lambda_cat: float = 1.0, lambda_cont: float = 0.1, mi_in_d: bool = True, q_hidden: int = 128,
                 **kw: Any):
        self.n_categorical = tuple(int(k) for k in n_categorical)
        self.n_continuous = int(n_continuous)
        if any(k < 2 for k in self.n_categorical) or self.n_continuous < 0:
            raise ValueError(f"infogan codes: categorical sizes must be >= 2 and n_continuous >= 0, got "
                             f"{list(self.n_categorical)}, {self.n_continuous}")
        if not self.n_categorical and self.n_continuous == 0:
            raise ValueError("infogan needs at least one categorical or continuous code")
        self.lambda_cat, self.lambda_cont, self.mi_in_d = float(lambda_cat), float(lambda_cont), bool(mi_in_d)
        super().__init__(loss, **kw)
        d = self.discriminators["D"]
        if not isinstance(d, Critic):
            raise ValueError(f"infogan needs a Critic with a shared trunk (dcgan, sagan, mlp), got {type(d).__name__}")
        q_norm = "layer" if self.loss.critic_norm == "none" else "batch"
        self.aux["Q"] = QHead(d.feature_dim, self.n_categorical, self.n_continuous, hidden=q_hidden, norm=q_norm)

    def code_dim(self) -> int:
        return sum(self.n_categorical) + self.n_continuous

    def generator_latent_dim(self) -> int:
        return self.latent_dim + self.code_dim()

    def g_parameters(self):
        return list(self.generators.parameters()) + list(self.aux["Q"].parameters())

    def sample_codes(self, n: int, device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        cat = [torch.randint(0, k, (n,), device=device) for k in self.n_categorical]
        cont = (torch.rand(n, self.n_continuous, device=device) * 2 - 1) if self.n_continuous else None
        return cat, cont

    def generate(self, n: int, device: torch.device, codes=None, **cond: Any) -> torch.Tensor:
        cat, cont = codes if codes is not None else self.sample_codes(n, device)
        parts = [self.noise(n, device)] + [F.one_hot(c, k).float() for c, k in zip(cat, self.n_categorical)]
        if cont is not None:
            parts.append(cont)
        return self.generators["G"](torch.cat(parts, dim=1))

    def mutual_information(self, phi: torch.Tensor, codes) -> LossTerms:
        cat, cont = codes
        cat_logits, cont_mean = self.aux["Q"](phi)
        return infogan_mutual_information(cat_logits or None, cat or None, cont_mean, cont,
                                          lambda_cat=self.lambda_cat, lambda_cont=self.lambda_cont)

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        codes = self.sample_codes(real.shape[0], real.device)
        with torch.no_grad():
            fake = self.generate(real.shape[0], real.device, codes=codes)
        d = self.discriminators["D"]
        fake_logit, _, fake_phi = d.forward_features(fake)
        terms = critic_terms(self.loss, self.critic, real, fake, fake_out=fake_logit,
                             extra_regularizers=self.regularizers)
        if self.mi_in_d:
            terms = terms + self.mutual_information(fake_phi, codes)
        return terms

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        codes = self.sample_codes(real.shape[0], real.device)
        fake = self.generate(real.shape[0], real.device, codes=codes)
        fake_logit, _, fake_phi = self.discriminators["D"].forward_features(fake)
        return (generator_terms(self.loss, self.critic, fake, real, fake_out=fake_logit)
                + self.mutual_information(fake_phi, codes))

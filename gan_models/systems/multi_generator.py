"""What MAD-GAN and MGAN share: k generators with tied layers, one critic whose trunk also feeds a
k-way "which generator" classifier.

**Critic parametrisation.**  The critic φ-trunk has two linear heads: the critic's own score head
s(x) (real vs fake) and a classifier head c(x) ∈ R^k (which generator).  Together they are a (k+1)-way
classifier with logits l_real = s + logsumexp(c), l_i = c_i, i.e. p(real|x) = σ(s) and
p(G_i|x) = σ(−s)·softmax(c)_i — the reparametrisation is exact, so with the logistic loss the critic loss
``softplus(−s(x)) + softplus(s(x̃)) + CE(c(x̃), i)`` **equals** MAD-GAN's (k+1)-way cross-entropy
(tests check this), and it is also MGAN's ``d_bin + d_mul`` (official code, classifier trained with D).
With any other loss from ``LOSSES`` the score s is that loss's critic value and the classifier term is
kept as the auxiliary "which generator" objective (MAD-GAN's diversity-enforcing part of the (k+1)-way
D; MGAN's C).

**Fakes.**  A batch of B fakes is balanced over the generators (sample j comes from generator j mod k);
``same_input`` feeds every generator the same z (MGAN's code default ``same_input=True``).  The balanced
batch is made in one **joint pass** of the tied ensemble (``TiedEnsemble(z, None)``): private layers run per
generator on its chunk, shared layers once on the whole batch, so a shared BatchNorm normalises the mixture
batch, as in MGAN's code (``tf.concat`` of the per-generator input layers, then the shared layers); one
generator's samples (``index=i``, MAD-GAN's per-generator phases) still run that generator alone.

Compatibility: score losses only (``critic_output == "score"``; the classifier head reads the critic's
feature vector); ``mcgan_cov`` is excluded (it needs a critic ending in a Stiefel covariance head).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.networks.base import Critic
from gan_models.networks.heads import ClassHead
from gan_models.networks.shared import TiedEnsemble, execution_units
from gan_models.registry import DISCRIMINATORS, GENERATORS
from gan_models.systems.adversarial import (build_loss, build_net, critic_phase, critic_terms, generator_terms,
                                            load_loss_state, loss_state, optimizer_spec, require_keys, sample_latent,
                                            shape_defaults)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer

EXCLUDED = {"mcgan_cov": "it needs a critic ending in McGAN's Stiefel covariance head; this system's critic "
                         "has a linear score head plus a generator classifier"}


@dataclass
class MultiGeneratorConfig:
    loss: Any = "nonsaturating"
    n_generators: int = 4
    latent_dim: int = 2
    latent_prior: Literal["normal", "uniform"] = "normal"
    data_shape: list[int] = field(default_factory=lambda: [2])
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    #: weight layers tied across generators (MAD-GAN: the first n; MGAN: all but the first n); None = default
    shared_layers: int | None = None
    same_input: bool = False
    g_update: Literal["joint", "per_generator"] = "joint"
    classifier_weight: float = 1.0          # weight of CE(c(x̃), i) in the critic loss
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


class MultiGeneratorSystem(GANSystem):
    """Base of ``mad_gan`` and ``mgan``; subclasses choose the tied layers and the generator's class term."""

    name = "multi_generator"
    batch_keys = ("x",)
    config_cls = MultiGeneratorConfig
    excluded = EXCLUDED

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(self.config_cls, params, where=self.name)
        if cfg.n_generators < 2:
            raise ValueError(f"{self.name}: n_generators must be >= 2, got {cfg.n_generators}")
        self.check_loss(cfg.loss)
        self.loss = build_loss(cfg.loss)
        k = cfg.n_generators
        g_defaults = {"latent_dim": cfg.latent_dim, **shape_defaults(cfg.data_shape)}

        def make_g():
            return build_net(GENERATORS, cfg.generator, defaults=g_defaults)

        probe = make_g()
        units = execution_units(probe, torch.zeros(2, cfg.latent_dim))
        self.generators["g"] = TiedEnsemble(make_g, k, self.shared_units(units, cfg.shared_layers))
        critic = build_net(DISCRIMINATORS, cfg.discriminator, defaults=shape_defaults(cfg.data_shape),
                           critic_loss=self.loss)
        if not isinstance(critic, Critic):
            raise ValueError(f"{self.name}: the discriminator must be a score Critic with a feature vector "
                             f"(mlp, dcgan, sagan), got {cfg.discriminator.get('name')!r}")
        self.discriminators["d"] = critic
        self.aux["classifier"] = ClassHead(critic.feature_dim, k, sn=bool(cfg.discriminator.get("sn", False)))

    # ---- configuration hooks ----
    def shared_units(self, units, n: int | None) -> list[str]:
        raise NotImplementedError

    def generator_class_weight(self) -> float:
        """Weight of CE(c(G_i(z)), i) in the generator loss (MAD-GAN 0, MGAN β)."""
        raise NotImplementedError

    # ---- sampling ----
    @property
    def k(self) -> int:
        return self.cfg.n_generators

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def generate_with_sources(self, n: int, index: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples and the generator of each: balanced over generators, or all from ``index``."""
        g, dev, d = self.generators["g"], self._device(), self.cfg.latent_dim
        if index is not None:
            z = sample_latent(n, d, dev, self.cfg.latent_prior)
            return g(z, index), torch.full((n,), index, dtype=torch.long, device=dev)
        per = -(-n // self.k)
        if self.cfg.same_input:
            z = sample_latent(per, d, dev, self.cfg.latent_prior).repeat(self.k, 1)
        else:
            z = torch.cat([sample_latent(per, d, dev, self.cfg.latent_prior) for _ in range(self.k)])
        out = g(z, None)            # joint pass: shared layers (and their BatchNorm) see the whole mixture batch
        x = out.reshape(self.k, per, *out.shape[1:]).transpose(0, 1).reshape(per * self.k, *out.shape[1:])[:n]
        labels = torch.arange(self.k, device=dev).repeat(per)[:n]           # interleaved g0, g1, ...
        return x, labels

    def generate(self, n: int, device: torch.device | None = None, **cond: Any) -> torch.Tensor:
        """``n`` samples of the mixture (balanced over the generators); the zoo's common sampling call."""
        if cond:
            raise ValueError(f"{self.name} is unconditional, got {sorted(cond)}")
        return self.generate_with_sources(n)[0]

    # ---- training ----
    def configure_optimizers(self):
        spec_d = optimizer_spec(self.cfg.d_optimizer, self.loss.d_optimizer)
        spec_g = optimizer_spec(self.cfg.g_optimizer, self.loss.g_optimizer)
        d_params = list(self.discriminators["d"].parameters()) + list(self.aux["classifier"].parameters())
        return {"d": make_optimizer(d_params, spec_d), "g": make_optimizer(self.generators["g"].parameters(), spec_g)}

    def _d_compute(self, batch: Batch, step: int) -> LossTerms:
        require_keys(batch, self.batch_keys, self.name)
        real = batch["x"]
        with torch.no_grad():
            fake, labels = self.generate_with_sources(real.shape[0])
        critic = self.discriminators["d"]
        fake_logit, _, fake_phi = critic.forward_features(fake)
        terms = critic_terms(self.loss, critic, real, fake, fake_out=fake_logit)
        ce = F.cross_entropy(self.aux["classifier"](fake_phi).float(), labels)
        return terms + LossTerms(self.cfg.classifier_weight * ce, {"classifier_ce": ce})

    def _g_terms(self, fake: torch.Tensor, labels: torch.Tensor, real: torch.Tensor) -> LossTerms:
        critic = self.discriminators["d"]
        fake_logit, _, fake_phi = critic.forward_features(fake)
        terms = generator_terms(self.loss, critic, fake, real, fake_out=fake_logit)
        w = self.generator_class_weight()
        if w:
            ce = F.cross_entropy(self.aux["classifier"](fake_phi).float(), labels)
            terms = terms + LossTerms(w * ce, {"diversity_ce": ce})
        return terms

    def _g_joint(self, batch: Batch, step: int) -> LossTerms:
        real = batch["x"]
        fake, labels = self.generate_with_sources(real.shape[0])
        return self._g_terms(fake, labels, real)

    def _g_single(self, index: int):
        def compute(batch: Batch, step: int) -> LossTerms:
            real = batch["x"]
            fake, labels = self.generate_with_sources(real.shape[0], index=index)
            return self._g_terms(fake, labels, real)
        return compute

    def phases(self) -> list[Phase]:
        phases = [critic_phase("D", "d", self._d_compute, self.loss,
                               [self.discriminators["d"], self.aux["classifier"]])]
        if self.cfg.g_update == "joint":
            phases.append(Phase("G", "g", self._g_joint))
        else:
            phases += [Phase(f"G_{i}", "g", self._g_single(i)) for i in range(self.k)]
        return phases

    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state({"d": self.loss})}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state({"d": self.loss}, state.get("loss", {"d": {}}))

"""CoGAN (Liu & Tuzel, "Coupled Generative Adversarial Networks", NeurIPS 2016).

Two GANs, one per domain, learn the **joint** distribution of two domains from unpaired samples by weight
sharing: the generators share their first layers (the high-level semantics, decoded from the same z), the
critics share their last layers.  Both generators get the same z; the objective is the sum of the two
GANs' objectives.  Paper setting for digits (Table 1, not re-read [P]): G shares every layer but the last,
D every layer but the first — the defaults here (``shared_g_layers`` / ``shared_d_layers`` count weight
layers: the first n of G, the last n of D).

The coupled pairs are :class:`~gan_models.networks.shared.TiedEnsemble` modules (``generators["g"]`` and
``discriminators["d"]``, member 0 = domain a, 1 = domain b): the shared layers are the same module objects.
Phases ``[D (both critics, one optimiser: they share parameters), G (both generators)]``.  Each critic has
its own loss object (Fisher λ is per critic); the critic phase calls each loss's post-step hook with its
own terms.  Batches ``{"a": ..., "b": ...}`` of unpaired samples.
Compatibility: score losses (``mcgan_cov`` excluded).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.networks.shared import TiedEnsemble, execution_units, first_layers, last_layers
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (build_loss, build_net, critic_terms, generator_terms, load_loss_state,
                                            loss_state, optimizer_spec, require_keys, sample_latent, shape_defaults)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer

EXCLUDED = {"mcgan_cov": "it needs critics ending in McGAN's Stiefel covariance head"}
DOMAINS = ("a", "b")


@dataclass
class CoGANConfig:
    loss: Any = "nonsaturating"
    data_shape: list[int] = field(default_factory=lambda: [2])
    latent_dim: int = 2
    latent_prior: Literal["normal", "uniform"] = "normal"
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    shared_g_layers: int | None = None      # first n weight layers of G; None = all but the last
    shared_d_layers: int | None = None      # last n weight layers of D; None = all but the first
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


@SYSTEMS.register("cogan")
class CoGAN(GANSystem):
    name = "cogan"
    batch_keys = ("a", "b")
    excluded = EXCLUDED
    config_cls = CoGANConfig

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(CoGANConfig, params, where=self.name)
        self.check_loss(cfg.loss)
        self.losses = {d: build_loss(cfg.loss) for d in DOMAINS}
        shapes = shape_defaults(cfg.data_shape)

        def make_g():
            return build_net(GENERATORS, cfg.generator, defaults={"latent_dim": cfg.latent_dim, **shapes})

        def make_d():
            return build_net(DISCRIMINATORS, cfg.discriminator, defaults=shapes, critic_loss=self.losses["a"])

        g_units = execution_units(make_g(), torch.zeros(2, cfg.latent_dim))
        d_units = execution_units(make_d(), torch.zeros(2, *cfg.data_shape))
        n_g = sum(u.is_weight_layer for u in g_units)
        n_d = sum(u.is_weight_layer for u in d_units)
        self.generators["g"] = TiedEnsemble(make_g, 2, first_layers(
            g_units, n_g - 1 if cfg.shared_g_layers is None else cfg.shared_g_layers))
        self.discriminators["d"] = TiedEnsemble(make_d, 2, last_layers(
            d_units, n_d - 1 if cfg.shared_d_layers is None else cfg.shared_d_layers))
        self._last_terms: dict[str, LossTerms] = {}

    def critic(self, domain: str):
        d, i = self.discriminators["d"], DOMAINS.index(domain)
        return lambda x, **kw: d(x, i, **kw)

    def generate_pair(self, n: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """One z, both domains: samples of the learned joint distribution."""
        device = device or next(self.parameters()).device
        z = sample_latent(n, self.cfg.latent_dim, device, self.cfg.latent_prior)
        return {d: self.generators["g"](z, i) for i, d in enumerate(DOMAINS)}

    def generate(self, n: int, device: torch.device | None = None, domain: str = "a", **cond: Any) -> torch.Tensor:
        if cond or domain not in DOMAINS:
            raise ValueError(f"cogan.generate takes domain 'a' or 'b' only, got domain={domain!r} {sorted(cond)}")
        return self.generate_pair(n, device)[domain]

    def configure_optimizers(self):
        return {"d": make_optimizer(self.discriminators["d"].parameters(),
                                    optimizer_spec(self.cfg.d_optimizer, self.losses["a"].d_optimizer)),
                "g": make_optimizer(self.generators["g"].parameters(),
                                    optimizer_spec(self.cfg.g_optimizer, self.losses["a"].g_optimizer))}

    def _d_compute(self, batch: Batch, step: int) -> LossTerms:
        require_keys(batch, self.batch_keys, self.name)
        with torch.no_grad():
            fake = self.generate_pair(batch["a"].shape[0], batch["a"].device)
        terms = LossTerms(batch["a"].new_zeros(()))
        for d in DOMAINS:
            t = critic_terms(self.losses[d], self.critic(d), batch[d], fake[d])
            self._last_terms[d] = t
            terms = terms + t.scaled(1.0, f"{d}/")
        return terms

    def _after_d_step(self, terms: LossTerms) -> None:
        for i, d in enumerate(DOMAINS):
            self.losses[d].after_critic_step(self.discriminators["d"].members[i], self._last_terms[d])

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        require_keys(batch, self.batch_keys, self.name)
        fake = self.generate_pair(batch["a"].shape[0], batch["a"].device)
        terms = LossTerms(batch["a"].new_zeros(()))
        for d in DOMAINS:
            terms = terms + generator_terms(self.losses[d], self.critic(d), fake[d], batch[d]).scaled(1.0, f"{d}/")
        return terms

    def phases(self) -> list[Phase]:
        return [Phase("D", "d", self._d_compute, repeats=self.losses["a"].critic_repeats,
                      after_step=self._after_d_step),
                Phase("G", "g", self._g_compute)]

    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state["loss"])

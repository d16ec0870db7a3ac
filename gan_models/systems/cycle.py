"""What CycleGAN, DualGAN and DiscoGAN share: unpaired translation between domains A and B.

Two translators G_AB: A → B and G_BA: B → A, two critics D_A (real a vs G_BA(b)) and D_B (real b vs
G_AB(a)), a reconstruction ("cycle") loss in both directions.  Batches hold unpaired samples
``{"a": (B, *shape_a), "b": (B, *shape_b)}``.  Each critic has **its own loss object** (a loss with training
state, e.g. Fisher GAN's λ, is per critic) and its own optimiser; both generators share one optimiser.

Phase order is the subclass's: ``g_first`` = ``[G_AB+G_BA, D_A, D_B]`` (CycleGAN: the critics see the fakes
made in the G phase, before the G update, as the reference code does), ``d_first`` = ``[D_A, D_B, G]``
(DualGAN's Algorithm 1: n_critic critic steps, then one generator step).  Critic phases repeat on the
loss's schedule (``critic_repeats``) with its post-step hook (weight clipping for WGAN ...).

Compatibility: score losses (``critic_output == "score"``); ``mcgan_cov`` is excluded (its critic must end in
a Stiefel covariance head).  Works with vector data (``mlp`` translators/critics) and images.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gan_models.config import from_dict
from gan_models.losses.base import LossTerms
from gan_models.registry import DISCRIMINATORS, GENERATORS
from gan_models.systems.adversarial import (build_loss, build_net, critic_phase, critic_terms, generator_terms,
                                            load_loss_state, loss_state, optimizer_spec, require_keys, shape_defaults)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer, step_cache, unwrap
from gan_models.systems.image_pool import ImagePool

EXCLUDED = {"mcgan_cov": "it needs critics ending in McGAN's Stiefel covariance head"}
DOMAINS = ("a", "b")


@dataclass
class CycleConfig:
    loss: Any = "lsgan"
    shape_a: list[int] = field(default_factory=lambda: [2])
    shape_b: list[int] = field(default_factory=lambda: [2])
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "mlp"})
    lambda_a: float = 10.0                   # weight of the A → B → A reconstruction
    lambda_b: float = 10.0                   # weight of the B → A → B reconstruction
    recon: Literal["l1", "l2"] = "l1"
    gan_weight: float = 1.0                  # weight of each direction's adversarial generator loss
    pool_size: int = 0
    identity: float = 0.0                    # identity loss weight, as a fraction of lambda (CycleGAN 0.5)
    g_repeats: int = 1
    g_optimizer: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None


class CycleSystem(GANSystem):
    name = "cycle"
    batch_keys = ("a", "b")
    config_cls = CycleConfig
    excluded = EXCLUDED
    order: Literal["g_first", "d_first"] = "g_first"

    def __init__(self, **params: Any):
        super().__init__()
        self.cfg = cfg = from_dict(self.config_cls, params, where=self.name)
        self.check_loss(cfg.loss)
        self.validate()
        self.losses = {d: build_loss(cfg.loss) for d in DOMAINS}
        shapes = {"a": cfg.shape_a, "b": cfg.shape_b}
        for src, dst in (("a", "b"), ("b", "a")):
            defaults = self._translator_defaults(shapes[src], shapes[dst])
            self.generators[src + dst] = build_net(GENERATORS, cfg.generator, defaults=defaults)
        for d in DOMAINS:
            self.discriminators[d] = build_net(DISCRIMINATORS, cfg.discriminator, defaults=shape_defaults(shapes[d]),
                                               critic_loss=self.losses[d])
        self.pools = {d: ImagePool(cfg.pool_size) for d in DOMAINS}

    @staticmethod
    def _translator_defaults(src: list[int], dst: list[int]) -> dict[str, Any]:
        import math
        out: dict[str, Any] = {"latent_dim": math.prod(src), "out_shape": list(dst)}
        if len(src) == 3 and len(dst) == 3:
            out.update(in_channels=src[0], out_channels=dst[0])
        return out

    def validate(self) -> None:
        cfg = self.cfg
        for k in ("lambda_a", "lambda_b", "gan_weight", "identity"):
            if getattr(cfg, k) < 0:
                raise ValueError(f"{self.name}: {k} must be >= 0, got {getattr(cfg, k)}")
        if cfg.g_repeats < 1:
            raise ValueError(f"{self.name}: g_repeats must be >= 1, got {cfg.g_repeats}")
        if cfg.identity > 0 and list(cfg.shape_a) != list(cfg.shape_b):
            raise ValueError(f"{self.name}: the identity loss needs domains of the same shape, got "
                             f"{cfg.shape_a} and {cfg.shape_b}")

    # ---- translation ----
    def translate(self, x: torch.Tensor, direction: Literal["ab", "ba"]) -> torch.Tensor:
        if direction not in ("ab", "ba"):
            raise ValueError(f"direction must be 'ab' or 'ba', got {direction!r}")
        g = self.generators[direction]
        return g(x.flatten(1)) if hasattr(unwrap(g), "latent_dim") else g(x)   # vector nets take flat input

    def _recon(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = (x.float() - target.float())
        return d.abs().mean() if self.cfg.recon == "l1" else d.pow(2).mean()

    # ---- optimisers and phases ----
    def configure_optimizers(self):
        spec_g = optimizer_spec(self.cfg.g_optimizer, self.losses["a"].g_optimizer)
        opts = {"g": make_optimizer(list(self.generators["ab"].parameters()) +
                                    list(self.generators["ba"].parameters()), spec_g)}
        for d in DOMAINS:
            spec_d = optimizer_spec(self.cfg.d_optimizer, self.losses[d].d_optimizer)
            opts[f"d_{d}"] = make_optimizer(self.discriminators[d].parameters(), spec_d)
        return opts

    def _fakes(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Fakes of each domain for the critics: the G phase's (kept in the batch's step cache) or, critic-first,
        fresh ones (made once per step for both critics)."""
        cache = step_cache(batch, step)
        if "fakes" not in cache:
            with torch.no_grad():
                cache["fakes"] = {"a": self.translate(batch["b"], "ba"), "b": self.translate(batch["a"], "ab")}
        return cache["fakes"]

    def _d_compute(self, domain: str):
        def compute(batch: Batch, step: int) -> LossTerms:
            require_keys(batch, self.batch_keys, self.name)
            fake = self.pools[domain].query(self._fakes(batch, step)[domain])
            return critic_terms(self.losses[domain], self.discriminators[domain], batch[domain], fake)
        return compute

    def generator_adversarial(self, domain: str, fake: torch.Tensor, real: torch.Tensor, step: int) -> LossTerms:
        """The adversarial part of the generator loss for fakes of ``domain`` (subclasses may extend it)."""
        return generator_terms(self.losses[domain], self.discriminators[domain], fake, real)

    def reconstruction_weight(self, step: int) -> tuple[float, float]:
        """(weight of the adversarial terms, weight of the reconstruction terms) at ``step``."""
        return self.cfg.gan_weight, 1.0

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        require_keys(batch, self.batch_keys, self.name)
        cfg = self.cfg
        real = {"a": batch["a"], "b": batch["b"]}
        fake = {"b": self.translate(real["a"], "ab"), "a": self.translate(real["b"], "ba")}
        step_cache(batch, step)["fakes"] = {k: v.detach() for k, v in fake.items()}
        w_gan, w_rec = self.reconstruction_weight(step)
        terms = LossTerms(torch.zeros((), device=real["a"].device))
        for d in DOMAINS:
            terms = terms + self.generator_adversarial(d, fake[d], real[d], step).scaled(w_gan, f"gan_{d}/")
        rec_a = self._recon(self.translate(fake["b"], "ba"), real["a"])
        rec_b = self._recon(self.translate(fake["a"], "ab"), real["b"])
        terms = terms + LossTerms(w_rec * (cfg.lambda_a * rec_a + cfg.lambda_b * rec_b),
                                  {"recon_a": rec_a, "recon_b": rec_b})
        if cfg.identity > 0:
            idt_a = self._recon(self.translate(real["a"], "ba"), real["a"])
            idt_b = self._recon(self.translate(real["b"], "ab"), real["b"])
            terms = terms + LossTerms(cfg.identity * (cfg.lambda_a * idt_a + cfg.lambda_b * idt_b),
                                      {"identity_a": idt_a, "identity_b": idt_b})
        return terms

    def phases(self) -> list[Phase]:
        g = Phase("G", "g", self._g_compute, repeats=self.cfg.g_repeats)
        ds = [critic_phase(f"D_{d.upper()}", f"d_{d}", self._d_compute(d), self.losses[d], self.discriminators[d])
              for d in DOMAINS]
        return [g, *ds] if self.order == "g_first" else [*ds, g]

    # ---- training state ----
    def extra_state(self) -> dict[str, Any]:
        return {"loss": loss_state(self.losses), "pools": {d: p.state_dict() for d, p in self.pools.items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state["loss"])
        for d, p in self.pools.items():
            p.load_state_dict(state["pools"][d])

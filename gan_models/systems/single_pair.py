"""One generator, one critic: the base of ``sgsd``, ``cgan``, ``acgan``, ``ssgan``, ``infogan``, ``ebgan``.

:class:`SinglePairSystem` uses the loss object generically (docs/zoo.md §2):

* phases ``[D, G]``; D repeats ``loss.critic_repeats(step)`` times (n_critic, WGAN warm-up) and runs
  ``loss.after_critic_step`` after every critic step (weight clipping, McGAN's Stiefel retraction, Fisher λ);
* D loss = ``loss.d_loss`` on (real, detached fake) + the loss's default regularizers + the system's
  ``regularizers`` (``apply_regularizers``); G loss = ``loss.g_loss`` with the real batch through D when
  ``loss.needs_real_in_g``;
* the critic is built for what the loss reads (``critic_output``): a score critic, a feature critic
  (McGAN: the score critic's φ; MMD-GAN: the auto-encoder critic in feature mode), or EBGAN's auto-encoder
  energy critic; McGAN's covariance loss gets its Stiefel head; GP-family losses never get BatchNorm
  (``resolve_critic_norm``);
* losses without a discriminator (GMMN) give a G-only system;
* optimizers are the loss's paper defaults (``OptimizerSpec``) unless ``g_optimizer`` / ``d_optimizer`` override.

Training state outside the networks (the loss's ``state_dict``: Fisher λ) is saved by ``extra_state``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from gan_models.critic_stats import report_generated
from gan_models.losses.base import LossTerms
from gan_models.losses.ipm import McGANCov
from gan_models.networks.adapters import FeatureCritic, with_mcgan_cov_head
from gan_models.networks.critic_norm import resolve_critic_norm
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (LossSpec, _accepts, build_net, critic_phase, critic_terms,
                                            generator_terms, loss_name, optimizer_spec, require_keys, sample_latent)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer

#: the auto-encoder critic's ``energy_reduction`` that puts its score on the ebgan loss's energy scale
_ENERGY_REDUCTION = {"l2": "l2", "mse": "mean"}


def _shape(data_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in data_shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ValueError(f"data_shape must be (C, H, W) for images or (D,) for vectors, got {list(data_shape)}")
    return shape


class SinglePairSystem(GANSystem):
    """Base class; subclasses set ``name``, ``batch_keys`` and the compatibility attributes and override the
    hooks (``generator_input``, ``critic``, ``d_step``, ``g_step``)."""

    name = "sgsd"
    batch_keys: tuple[str, ...] = ("x",)
    #: critic outputs this system can build a critic for
    critic_outputs: tuple[str, ...] = ("score", "features", "energy")
    #: whether a loss without a discriminator (GMMN) is allowed (G-only system)
    allows_no_discriminator = True
    #: losses excluded by name, with the reason
    excluded: Mapping[str, str] = {}

    # ------------------------------------------------------------------ construction
    def __init__(self, loss: LossSpec = "nonsaturating", *, data_shape: Sequence[int] = (1, 64, 64),
                 latent_dim: int = 100, latent_prior: str = "normal", generator: Mapping[str, Any] | None = None,
                 discriminator: Mapping[str, Any] | None = None, g_optimizer: Mapping[str, Any] | None = None,
                 d_optimizer: Mapping[str, Any] | None = None,
                 regularizers: Sequence[Sequence[Any]] = ()):
        super().__init__()
        self.loss_name = loss_name(loss)
        self.loss = self.check_loss(loss)
        self.data_shape = _shape(data_shape)
        self.is_image = len(self.data_shape) == 3
        self.latent_dim, self.latent_prior = int(latent_dim), latent_prior
        sample_latent(1, 1, torch.device("cpu"), latent_prior)        # validates the prior name
        self.regularizers = [(str(r[0]), dict(r[1]) if len(r) > 1 else {}) for r in regularizers]
        self._g_opt_override, self._d_opt_override = g_optimizer, d_optimizer
        self.generators["G"] = self.build_generator(dict(generator or {}))
        if self.loss.uses_discriminator:
            self.discriminators["D"] = self.build_critic(dict(discriminator or {}))
        elif discriminator:
            raise ValueError(f"loss {self.loss_name!r} has no discriminator; remove the 'discriminator' config")

    # sizes every subclass may change
    def generator_latent_dim(self) -> int:
        """Width of G's input (noise plus whatever the system concatenates: labels, InfoGAN codes)."""
        return self.latent_dim

    def critic_in_channels(self) -> int:
        return self.data_shape[0]

    def critic_n_classes(self) -> int:
        return 0

    def build_generator(self, spec: dict[str, Any]) -> nn.Module:
        spec.setdefault("name", "dcgan" if self.is_image else "mlp")
        defaults = {"latent_dim": self.generator_latent_dim(), "out_shape": list(self.data_shape)}
        if self.is_image:
            defaults.update(out_channels=self.data_shape[0], size=list(self.data_shape[1:]))
        return build_net(GENERATORS, spec, defaults=defaults)

    def critic_defaults(self) -> dict[str, Any]:
        c = self.critic_in_channels()
        d: dict[str, Any] = {"n_classes": self.critic_n_classes()}
        if self.is_image:
            d.update(in_channels=c, size=list(self.data_shape[1:]))
        else:
            d.update(in_shape=[c])
        return d

    def build_critic(self, spec: dict[str, Any]) -> nn.Module:
        """The critic the loss reads: score / feature / energy critic (module docstring)."""
        out = self.loss.critic_output
        needs_ae = out == "energy" or (out == "features" and getattr(self.loss, "lambda_ae", 0) > 0)
        if needs_ae:
            spec.setdefault("name", "autoencoder" if self.is_image else "mlp_autoencoder")
            spec.setdefault("mode", "energy" if out == "energy" else "features")
            if out == "energy":                      # the critic's monitoring score on the loss's energy scale
                spec.setdefault("energy_reduction", _ENERGY_REDUCTION[self.loss.energy])
        else:
            spec.setdefault("name", "dcgan" if self.is_image else "mlp")
        if self.regularizers and _accepts(DISCRIMINATORS.get(spec["name"]), "norm"):
            # a per-sample penalty the preset adds (R1, GP on a non-GP loss) forbids BatchNorm like a GP loss
            spec["norm"] = resolve_critic_norm(self.loss, spec.get("norm"), sn=bool(spec.get("sn", False)),
                                               extra_regularizers=tuple(self.regularizers))
        mcgan_k = spec.pop("mcgan_k", None)
        critic = build_net(DISCRIMINATORS, spec, defaults=self.critic_defaults(), critic_loss=self.loss)
        if isinstance(self.loss, McGANCov):
            critic = with_mcgan_cov_head(critic, mcgan_k)
        elif mcgan_k is not None:
            raise ValueError("'mcgan_k' is a setting of the mcgan_cov loss's critic only")
        if out == "features" and not needs_ae:
            critic = FeatureCritic(critic)
        return critic

    # ------------------------------------------------------------------ optimizers & phases
    def d_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminators.parameters())

    def g_parameters(self) -> list[nn.Parameter]:
        return list(self.generators.parameters())

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"G": make_optimizer(self.g_parameters(), optimizer_spec(self._g_opt_override, self.loss.g_optimizer))}
        if self.loss.uses_discriminator:
            opts["D"] = make_optimizer(self.d_parameters(),
                                       optimizer_spec(self._d_opt_override, self.loss.d_optimizer))
        return opts

    def phases(self) -> list[Phase]:
        g = Phase("G", "G", self.g_step)
        if not self.loss.uses_discriminator:
            return [g]
        return [critic_phase("D", "D", self.d_step, self.loss, self.discriminators["D"]), g]

    # ------------------------------------------------------------------ hooks
    def real(self, batch: Batch) -> torch.Tensor:
        require_keys(batch, self.batch_keys, self.name)
        x = batch["x"]
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"system {self.name!r} was built for samples of shape {list(self.data_shape)}, "
                             f"got a batch of shape {list(x.shape)}")
        return x

    def noise(self, n: int, device: torch.device) -> torch.Tensor:
        return sample_latent(n, self.latent_dim, device, self.latent_prior)

    def generate(self, n: int, device: torch.device, **cond: Any) -> torch.Tensor:
        """G(z) for ``n`` fresh latents (subclasses add labels / codes to z)."""
        return self.generators["G"](self.noise(n, device))

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        d = self.discriminators["D"]
        return d(x) if y is None else d(x, y)

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        with torch.no_grad():
            fake = self.generate(real.shape[0], real.device)
        return critic_terms(self.loss, self.critic, real, fake, extra_regularizers=self.regularizers)

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        fake = self.generate(real.shape[0], real.device)
        if not self.loss.uses_discriminator:
            report_generated(fake, real)
            return self.loss.g_loss(fake, real)
        return generator_terms(self.loss, self.critic, fake, real)

    # ------------------------------------------------------------------ training state
    def extra_state(self) -> dict[str, Any]:
        state = super().extra_state()
        loss_state = self.loss.state_dict()
        if loss_state:
            state["loss"] = loss_state
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.loss.load_state_dict(state.pop("loss", {}))
        super().load_extra_state(state)


@SYSTEMS.register("sgsd")
class SGSD(SinglePairSystem):
    """Single generator, single discriminator (Goodfellow et al. 2014 topology) on images (C, H, W) or vectors
    (D,): every registered loss whose critic it can build (score, feature, energy critics; G-only for GMMN)."""
    name = "sgsd"

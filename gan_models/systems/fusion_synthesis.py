"""Systems of the review's MRI synthesis models (section 4.2): conditional multi-input synthesis and
CycleGAN with a region-of-interest prior.

* ``synthesis`` (:class:`SynthesisSystem`): a generator maps the images of ``inputs`` (batch keys, e.g.
  ``["t1", "t2"]``) to the images of ``targets`` (e.g. ``["flair"]``); one conditional PatchGAN critic per
  target judges (inputs ‖ target) pairs (pix2pix, Isola et al. 2017); the generator loss is
  Σ_t [adv_t + λ_L1 ‖G_t − y_t‖₁] (+ ``latent_weight`` × the modality-invariance term of the N-encoder model:
  the mean L1 distance between the per-input latent maps, Chartsias et al. 2018).  Used by ``mgmgan`` and
  ``nenc_mdec``.  Inference: :meth:`SynthesisSystem.synthesize`.
* ``cycle_roi`` (:class:`ROICycleGAN`): the zoo's CycleGAN (H4a's :class:`~gan_models.systems.cycle.CycleSystem`)
  with every cycle and identity L1 term a weighted mean with weights ``1 + roi_weight · M``, M the region of
  interest of the target image (its foreground above ``roi_threshold``): errors inside the anatomy count more
  than errors in the background.  Used by ``fproi_gan``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from gan_models.losses.base import AdversarialLoss, LossTerms
from gan_models.registry import DISCRIMINATORS, GENERATORS, SYSTEMS
from gan_models.systems.adversarial import (LossSpec, build_loss, build_net, critic_terms, generator_terms,
                                            load_loss_state, loss_name, loss_state, optimizer_spec, require_keys)
from gan_models.systems.base import Batch, GANSystem, Phase, make_optimizer, step_cache
from gan_models.systems.cyclegan import CycleGAN, CycleGANConfig
from gan_models.tissue_labels import foreground_mask


@SYSTEMS.register("synthesis")
class SynthesisSystem(GANSystem):
    name = "synthesis"
    critic_outputs: tuple[str, ...] = ("score",)

    def __init__(self, loss: LossSpec = "lsgan", *, inputs: list[str] = ("a",), targets: list[str] = ("b",),
                 generator: Mapping[str, Any] | None = None, discriminator: Mapping[str, Any] | None = None,
                 l1_weight: float = 100.0, latent_weight: float = 0.0, adv_weight: float = 1.0,
                 g_optimizer: Mapping[str, Any] | None = None, d_optimizer: Mapping[str, Any] | None = None,
                 d_steps: int | None = None):
        super().__init__()
        self.inputs, self.targets = list(inputs), list(targets)
        if not self.inputs or not self.targets:
            raise ValueError("a synthesis system needs at least one input and one target key")
        if set(self.inputs) & set(self.targets):
            raise ValueError(f"inputs and targets overlap: {sorted(set(self.inputs) & set(self.targets))}")
        self.batch_keys = tuple(self.inputs + self.targets)
        self.loss_name = loss_name(loss)
        type(self).check_loss(loss)
        self.l1_weight, self.latent_weight, self.adv_weight = float(l1_weight), float(latent_weight), float(adv_weight)
        spec = dict(generator or {"name": "mgm_synth"})
        self.generators["G"] = build_net(GENERATORS, spec, defaults={"n_inputs": len(self.inputs),
                                                                     "n_outputs": len(self.targets)})
        self.losses: dict[str, AdversarialLoss] = {}
        for t in self.targets:
            self.losses[t] = build_loss(loss)
            dspec = dict(discriminator or {"name": "patch", "n_layers": 2, "width": 16})
            dspec.setdefault("in_channels", len(self.inputs) + 1)
            self.discriminators[t] = build_net(DISCRIMINATORS, dspec, critic_loss=self.losses[t])
        self._g_opt, self._d_opt, self.d_steps = g_optimizer, d_optimizer, d_steps

    # ---- data
    def _inputs(self, batch: Batch) -> list[torch.Tensor]:
        require_keys(batch, self.batch_keys, self.name)
        return [batch[k] for k in self.inputs]

    @torch.no_grad()
    def synthesize(self, **images: torch.Tensor) -> dict[str, torch.Tensor]:
        """{target: image in [0, 1]} from the input images given by key (eval mode, no grad)."""
        missing = [k for k in self.inputs if k not in images]
        if missing:
            raise KeyError(f"synthesize needs inputs {self.inputs}, missing {missing}")
        g = self.generators["G"]
        was = g.training
        g.eval()
        try:
            outs = g([images[k] for k in self.inputs])
        finally:
            g.train(was)
        return dict(zip(self.targets, outs))

    def _pair(self, inputs: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs + [y], dim=1)

    # ---- phases
    def _fakes(self, batch: Batch, step: int) -> list[torch.Tensor]:
        """G's outputs without gradients, made once per step for all critic phases (kept in the batch)."""
        cache = step_cache(batch, step)
        if "outs" not in cache:
            with torch.no_grad():
                cache["outs"] = self.generators["G"](self._inputs(batch))
        return cache["outs"]

    def _d_compute(self, t: str):
        i = self.targets.index(t)

        def compute(batch: Batch, step: int) -> LossTerms:
            x = self._inputs(batch)
            return critic_terms(self.losses[t], self.discriminators[t], self._pair(x, batch[t]),
                                self._pair(x, self._fakes(batch, step)[i]))
        return compute

    def _g_compute(self, batch: Batch, step: int) -> LossTerms:
        x = self._inputs(batch)
        outs, latents = self.generators["G"](x, return_latents=True)
        total = LossTerms(outs[0].new_zeros(()))
        for t, y_hat in zip(self.targets, outs):
            y = batch[t]
            adv = generator_terms(self.losses[t], self.discriminators[t], self._pair(x, y_hat), self._pair(x, y))
            l1 = (y_hat - y).abs().mean()
            total = total + adv.scaled(self.adv_weight, f"adv_{t}/") + LossTerms(self.l1_weight * l1, {f"l1_{t}": l1})
        if self.latent_weight > 0 and len(latents) > 1:
            pairs = [(latents[i] - latents[j]).abs().mean() for i in range(len(latents))
                     for j in range(i + 1, len(latents))]
            inv = torch.stack(pairs).mean()
            total = total + LossTerms(self.latent_weight * inv, {"latent_invariance": inv})
        return total

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        first = self.losses[self.targets[0]]
        opts = {"G": make_optimizer(self.generators.parameters(), optimizer_spec(self._g_opt, first.g_optimizer))}
        for t, d in self.discriminators.items():
            opts[f"D_{t}"] = make_optimizer(d.parameters(), optimizer_spec(self._d_opt, self.losses[t].d_optimizer))
        return opts

    def phases(self) -> list[Phase]:
        out = []
        for t in self.targets:
            loss, critic = self.losses[t], self.discriminators[t]
            out.append(Phase(f"D_{t}", f"D_{t}", self._d_compute(t),
                             repeats=int(self.d_steps) if self.d_steps is not None else loss.critic_repeats,
                             after_step=lambda terms, loss=loss, critic=critic: loss.after_critic_step(critic, terms)))
        out.append(Phase("G", "G", self._g_compute))
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"losses": loss_state(self.losses)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_loss_state(self.losses, state.get("losses", {}))


@dataclass
class ROICycleGANConfig(CycleGANConfig):
    shape_a: list[int] = field(default_factory=lambda: [1, 256, 256])
    shape_b: list[int] = field(default_factory=lambda: [1, 256, 256])
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "resnet_translator"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "patch"})
    roi_weight: float = 4.0          # errors inside the ROI weigh 1 + roi_weight
    roi_threshold: float = 0.02      # foreground = intensity above this (when the batch has no roi_a / roi_b)


@SYSTEMS.register("cycle_roi")
class ROICycleGAN(CycleGAN):
    name = "cycle_roi"
    config_cls = ROICycleGANConfig

    def validate(self) -> None:
        super().validate()
        if self.cfg.roi_weight < 0:
            raise ValueError(f"{self.name}: roi_weight must be >= 0, got {self.cfg.roi_weight}")

    def roi_weights(self, target: torch.Tensor) -> torch.Tensor:
        """Per-pixel weights 1 + roi_weight · M(target), M the foreground of the target image."""
        return 1.0 + self.cfg.roi_weight * foreground_mask(target, self.cfg.roi_threshold)

    def _recon(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = (x.float() - target.float())
        err = d.abs() if self.cfg.recon == "l1" else d.pow(2)
        w = self.roi_weights(target.float())
        return (w * err).sum() / w.sum()

    @torch.no_grad()
    def synthesize(self, a: torch.Tensor) -> torch.Tensor:
        g = self.generators["ab"]
        was = g.training
        g.eval()
        try:
            return self.translate(a, "ab")
        finally:
            g.train(was)

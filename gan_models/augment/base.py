"""Critic-input augmentation for data-efficient GAN training, attached to every critic of a system.

An augmentation (``AUGMENTATIONS``: ``diffaugment``, ``ada``) is a differentiable map applied to **every input
of every critic call in training mode**: the real and the fake batch, in the critic and in the generator
phases, and the points of gradient penalties (the StyleGAN2-ADA arrangement: its R1 is taken through the
augmentation too).  That is DiffAugment's rule (Zhao et al., NeurIPS 2020: "apply the same differentiable
augmentation to both real and fake images for both generator and discriminator training") and ADA's
(Karras et al., NeurIPS 2020).  The system code does nothing: :func:`attach` puts the augmentation on the
top-level critic modules of ``system.discriminators``:

* a :class:`~gan_models.networks.base.Critic` applies it at the entry of ``forward`` and ``forward_features``
  (``Critic.transform_input``), so systems that read a critic's features (AC-GAN, InfoGAN, MAD-GAN/MGAN,
  DiscoGAN's feature matching) see the augmented batch too;
* any other critic module (PatchGAN, auto-encoder critics, BiGAN's joint critic, CoGAN's tied pair, the fusion
  critics) gets a forward pre-hook that transforms its first positional input.

Modules that read feature vectors, not images, are skipped (attribute ``augment_input = False``: AC-GAN's class
head, SGAN's K+1 head).  Eval mode turns the augmentation off.  Not augmented, by design: VAE-GAN's learned
similarity (D's trunk features of x and of its reconstruction are compared sample by sample, so independent
random transforms of the two would measure the augmentation), and the pipeline's validation/inference.

Common options (both augmentations): ``value_range`` (the data's [lo, hi], default [-1, 1]: the colour ops are
defined for [-1, 1] images and the input is mapped there and back), ``channels`` (colour ops act on the first
``channels`` channels only, e.g. 1 for a critic that sees an image plus one-hot label maps; default all).
Inputs must be image batches (N, C, H, W); other shapes raise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from gan_models.config import ConfigError, from_dict
from gan_models.registry import AUGMENTATIONS

TRANSFORM_ATTR = "input_transform"


@dataclass
class CriticAugment:
    """Base class: subclasses implement :meth:`geometric` and :meth:`colour` on (N, C, H, W) tensors (colour on
    values mapped to [-1, 1]); ADA also overrides :meth:`observe` and the state."""
    value_range: list[float] | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        lo, hi = self.value_range if self.value_range is not None else (-1.0, 1.0)
        if not hi > lo:
            raise ConfigError(f"augment.value_range must be [lo, hi] with hi > lo, got {self.value_range}")
        self._mid, self._half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        if self.channels is not None and self.channels < 1:
            raise ConfigError(f"augment.channels must be >= 1, got {self.channels}")

    # ---- the transform
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
            raise ValueError(f"{type(self).__name__}: critic inputs must be float image batches (N, C, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}; "
                             "augmentation is for image data")
        return self.apply(x)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The augmentation proper (default: the colour part, then the geometric part)."""
        return self.geometric(self.colour_part(x))

    def colour_part(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1] if self.channels is None else min(self.channels, x.shape[1])
        img = (x[:, :c] - self._mid) / self._half
        img = self.colour(img) * self._half + self._mid
        return img if c == x.shape[1] else torch.cat([img, x[:, c:]], dim=1)

    def colour(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def geometric(self, x: torch.Tensor) -> torch.Tensor:
        return x

    # ---- training state (ADA's p); defaults: stateless
    def observe(self, real_signs: list[float], batch_size: int) -> None:
        """Called once per generator step with E[sign(D(x_real) − t)] of each critic call of the step."""

    def logs(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise KeyError(f"{type(self).__name__} has no state, got {sorted(state)}")


def build_augment(spec: Mapping[str, Any]) -> CriticAugment:
    """An augmentation from ``{"name": ..., **options}`` (unknown names / keys raise, naming them)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"augment: expected a mapping with a 'name' (one of {AUGMENTATIONS.names()}), got {spec!r}")
    if spec["name"] not in AUGMENTATIONS:
        raise ConfigError(f"augment: unknown augmentation {spec['name']!r}; known: {AUGMENTATIONS.names()}")
    return from_dict(AUGMENTATIONS.get(spec["name"]), {k: v for k, v in spec.items() if k != "name"},
                     f"augment ({spec['name']})")


def _inner(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)                # DDP -> the wrapped module


def attach(discriminators: nn.ModuleDict, augment: CriticAugment) -> list[Any]:
    """Put ``augment`` on every top-level critic of ``discriminators``; returns what :func:`detach` needs."""
    from gan_models.networks.base import Critic
    handles: list[Any] = []
    for module in discriminators.values():
        m = _inner(module)
        if not getattr(m, "augment_input", True):
            continue
        if isinstance(m, Critic):
            setattr(m, TRANSFORM_ATTR, augment)
            handles.append(("attr", m))
        else:
            def hook(mod, args, aug=augment):
                if not mod.training or not args:
                    return None
                return (aug(args[0]),) + tuple(args[1:])
            handles.append(("hook", m.register_forward_pre_hook(hook)))
    return handles


def detach(handles: list[Any]) -> None:
    for kind, h in handles:
        if kind == "attr":
            setattr(h, TRANSFORM_ATTR, None)
        else:
            h.remove()

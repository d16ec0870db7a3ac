"""GAN systems: a topology owns its networks and optimisers and lists its ordered update phases.

A system never contains a training loop.  :class:`gan_models.training.trainer.Trainer` runs, for every batch,
each :class:`Phase` in order ``phase.repeats_at(step)`` times: zero the phase's optimizer, compute the phase's
:class:`LossTerms`, backward, step, then the phase's ``after_step`` hook (weight clipping, Fisher lambda,
image pools...).  Examples: one G/one D = ``[D, G]``; DDcGAN = ``[D_a, D_b, G]``; MAD-GAN = ``[D, G_1..G_k]``;
CycleGAN = ``[G_AB+G_BA, D_A, D_B]``.

Networks live in three ``nn.ModuleDict``s (``generators``, ``discriminators``, ``aux`` for encoders, Q heads,
classifiers) so the distributed wrapper can wrap each one (``wrap_networks``) and checkpoints see them all.
Training-state scalars (step counters, Fisher lambda, image pools) go through :meth:`extra_state` /
:meth:`load_extra_state` and are part of :meth:`checkpoint_state`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from gan_models.losses.base import LossTerms, OptimizerSpec
from gan_models.training.options import TrainingOptions

Batch = dict[str, torch.Tensor]


@dataclass
class Phase:
    """One ordered update step of a system."""
    name: str
    optimizer: str
    compute: Callable[[Batch, int], LossTerms]
    repeats: int | Callable[[int], int] = 1
    after_step: Callable[[LossTerms], None] | None = None
    # optional adaptive schedule: checked before every repeat after the first; True ends the phase early
    # (``repeats`` is then the maximum), e.g. DDcGAN's "train D while its loss > 1.7, at most 20 times"
    stop_early: Callable[[int], bool] | None = None

    def repeats_at(self, step: int) -> int:
        return self.repeats(step) if callable(self.repeats) else int(self.repeats)


def make_optimizer(params, spec: OptimizerSpec) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=spec.betas)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr)
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum)
    raise KeyError(f"unknown optimizer {spec.name!r}; known: adam, rmsprop, sgd")


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return getattr(module, "module", module)


#: the key under which :func:`step_cache` keeps per-step values inside a batch dict
STEP_CACHE_KEY = "_step_cache"


def step_cache(batch: Batch, step: int) -> dict[str, Any]:
    """A dict that lives as long as ``batch`` and belongs to generator step ``step``: outputs computed once per
    step and reused by later phases (fakes of the G phase for the critics, stage outputs for several critics).

    Kept **inside** the batch dict (the trainer makes a fresh dict per step and micro-batch), so it can never
    be confused with another batch: a cache keyed on ``id(batch)`` could hit a new batch that reuses a freed
    dict's address.  A batch reused for another step gets a fresh cache."""
    cache = batch.get(STEP_CACHE_KEY)
    if not isinstance(cache, dict) or cache.get("step") != step:
        cache = {"step": step}
        batch[STEP_CACHE_KEY] = cache      # type: ignore[assignment]
    return cache


class GANSystem(nn.Module):
    """Base class of every topology."""

    name = "system"
    #: what ``batch`` must contain, e.g. ("a", "b") for fusion, ("x",) for unconditional, ("x", "y") conditional
    batch_keys: tuple[str, ...] = ("x",)
    #: what this system's critics return (a loss needing another ``critic_output`` is refused)
    critic_outputs: tuple[str, ...] = ("score",)
    #: whether a loss without a discriminator (GMMN) is allowed (a G-only system)
    allows_no_discriminator: bool = False
    #: losses refused by name, with the reason
    excluded: Mapping[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self.generators = nn.ModuleDict()
        self.discriminators = nn.ModuleDict()
        self.aux = nn.ModuleDict()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long), persistent=True)
        self.training_options = TrainingOptions()
        self._steps_per_epoch: int | None = None        # the trainer's batches per epoch (setup)

    # ---- loss compatibility (one rule for every system: ``adversarial.checked_loss``) ----
    @classmethod
    def check_loss(cls, spec: Any):
        """The loss built from ``spec``; ``ValueError("system 'X' cannot use loss 'Y': <reason>")`` otherwise."""
        from gan_models.systems.adversarial import checked_loss
        return checked_loss(cls.name, spec, critic_outputs=cls.critic_outputs,
                            allows_no_discriminator=cls.allows_no_discriminator, excluded=cls.excluded)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The system's default parameters: its ``config_cls`` dataclass defaults, else its constructor's keyword
        defaults (presets merge dotted overrides into these, ``gan_models.presets.merge_overrides``)."""
        import dataclasses
        import inspect
        config = getattr(cls, "config_cls", None)
        if config is not None and dataclasses.is_dataclass(config):
            return {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                    for f in dataclasses.fields(config)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
        return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}

    @classmethod
    def compatible_losses(cls) -> list[str]:
        """Names of the registered losses this system accepts."""
        from gan_models import load_all
        from gan_models.systems.adversarial import compatible_losses
        load_all()
        return compatible_losses(cls)

    # ---- to implement ----
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    # ---- helpers ----
    def setup(self, steps_per_epoch: int | None = None) -> "GANSystem":
        """Create the optimizers and the learning-rate schedulers (call after moving to the device and after
        wrapping networks).  ``steps_per_epoch``: the training data's batches per epoch, which a schedule with
        ``steps_per_epoch: data`` needs (the trainer that owns the data knows it)."""
        self.optimizers = self.configure_optimizers()
        self._steps_per_epoch = steps_per_epoch
        self.training_options.make_schedulers(self.optimizers, steps_per_epoch)
        return self

    def configure_training(self, *, scheduler: Mapping[str, Any] | None = None,
                           augment: Mapping[str, Any] | None = None,
                           monitors: Mapping[str, Any] | None = None) -> "GANSystem":
        """The generic training options every system accepts (``gan_models.build`` / ``SYSTEMS.build`` take them
        as the preset keys ``scheduler``, ``augment``, ``monitors``): a learning-rate schedule stepped per
        generator step (:mod:`gan_models.training.schedules`), DiffAugment / ADA applied to every critic input
        (:mod:`gan_models.augment`) and the trainer's stability-monitor policy
        (:mod:`gan_models.training.monitors`).  Validated here; schedulers are created by :meth:`setup`.  Configure
        before creating the :class:`~gan_models.training.Trainer` (it reads the monitor policy once)."""
        self.training_options.detach_augment()
        self.training_options = TrainingOptions.parse(scheduler=scheduler, augment=augment, monitors=monitors)
        self.training_options.attach_augment(self.discriminators)
        if self.optimizers:
            self.training_options.make_schedulers(self.optimizers, self._steps_per_epoch)
        return self

    def wrap_networks(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Replace every network by ``wrap(network)`` (e.g. DDP via ``ray.train.torch.prepare_model``)."""
        for group in (self.generators, self.discriminators, self.aux):
            for k in list(group.keys()):
                if sum(p.numel() for p in group[k].parameters() if p.requires_grad) > 0:
                    group[k] = wrap(group[k])

    def extra_state(self) -> dict[str, Any]:
        """Training-state scalars and buffers outside the networks (override and call super)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state:
            raise KeyError(f"{type(self).__name__} has no extra state, got {sorted(state)}")

    def network_state(self) -> dict[str, Any]:
        return {group_name: {k: unwrap(m).state_dict() for k, m in group.items()}
                for group_name, group in (("generators", self.generators),
                                          ("discriminators", self.discriminators),
                                          ("aux", self.aux))}

    def load_network_state(self, state: dict[str, Any]) -> None:
        for group_name, group in (("generators", self.generators), ("discriminators", self.discriminators),
                                  ("aux", self.aux)):
            saved = state.get(group_name, {})
            missing = set(group.keys()) ^ set(saved.keys())
            if missing:
                raise KeyError(f"checkpoint {group_name} {sorted(saved)} do not match the system's {sorted(group)}")
            for k, m in group.items():
                unwrap(m).load_state_dict(saved[k])

    def checkpoint_state(self) -> dict[str, Any]:
        state = {
            "networks": self.network_state(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "step_count": int(self.step_count),
            "extra": self.extra_state(),
        }
        state.update(self.training_options.state_dict())
        return state

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.load_network_state(state["networks"])
        self._steps_per_epoch = self.training_options.resolve_from_checkpoint(state) or self._steps_per_epoch
        if set(state["optimizers"]) != set(self.optimizers):
            raise KeyError(f"checkpoint optimizers {sorted(state['optimizers'])} != {sorted(self.optimizers)}")
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.step_count.fill_(int(state["step_count"]))
        self.load_extra_state(state.get("extra", {}))
        self.training_options.load_state_dict(state)

"""The generic training options every system accepts: ``scheduler``, ``augment``, ``monitors``.

They are keys of a preset's ``params`` (or of ``gan_models.build(..., scheduler=...)``) that no system constructor
sees: ``SYSTEMS.build`` takes them out and calls ``GANSystem.configure_training``, so the fusion systems get them
exactly like the zoo's topologies, without code of their own.  What each does:

* ``scheduler`` (:mod:`gan_models.training.schedules`): one ``LambdaLR`` per optimizer, created by
  ``GANSystem.setup``, stepped by the trainer once per generator step, checkpointed with the system;
* ``augment`` (:mod:`gan_models.augment`): DiffAugment or ADA on every critic input; ADA's p is checkpointed;
* ``monitors`` (:mod:`gan_models.training.monitors`): the trainer's detector policy (the diagnostics
  themselves are always computed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from gan_models.config import ConfigError
from gan_models.training.schedules import Schedulers, ScheduleSpec, parse_scheduler

#: the keys ``SYSTEMS.build`` hands to ``configure_training`` instead of the system's constructor
OPTION_KEYS = ("scheduler", "augment", "monitors")


@dataclass
class TrainingOptions:
    scheduler: ScheduleSpec | None = None
    augment: Any = None                          # gan_models.augment.CriticAugment
    monitors: Any = None                         # gan_models.training.monitors.MonitorPolicy
    schedulers: Schedulers | None = None
    _handles: list[Any] = field(default_factory=list)
    _pending: Mapping[str, torch.optim.Optimizer] | None = None     # optimizers awaiting ``steps_per_epoch: data``

    @classmethod
    def parse(cls, *, scheduler: Mapping[str, Any] | None = None, augment: Mapping[str, Any] | None = None,
              monitors: Mapping[str, Any] | None = None) -> "TrainingOptions":
        out = cls()
        if scheduler is not None:
            out.scheduler = parse_scheduler(scheduler)
        if augment is not None:
            from gan_models.augment import build_augment
            out.augment = build_augment(augment)
        if monitors is not None:
            from gan_models.training.monitors import parse_monitors
            out.monitors = parse_monitors(monitors)
        return out

    # ---- augmentation
    def attach_augment(self, discriminators: nn.ModuleDict) -> None:
        if self.augment is None:
            return
        from gan_models.augment import attach
        if not len(discriminators):
            raise ConfigError("augment: this system has no critic to augment")
        self._handles = attach(discriminators, self.augment)

    def detach_augment(self) -> None:
        if self._handles:
            from gan_models.augment import detach
            detach(self._handles)
            self._handles = []

    # ---- schedules
    def make_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer],
                        steps_per_epoch: int | None = None) -> None:
        """One scheduler per optimizer; a ``steps_per_epoch: data`` schedule stays pending (no scheduler, training
        refuses to step) until the trainer gives the batches per epoch, here or from a checkpoint."""
        self.schedulers, self._pending = None, None
        if self.scheduler is None:
            return
        spec = self.scheduler.resolved(steps_per_epoch)
        if spec.steps_per_epoch is None:
            self._pending = optimizers
            return
        self.schedulers = Schedulers(spec, optimizers)

    def step(self) -> None:
        """After each generator step: the learning-rate schedules."""
        if self._pending is not None:
            self.scheduler.factor(0)             # raises: says how to give the batches per epoch
        if self.schedulers is not None:
            self.schedulers.step()

    def logs(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.schedulers is not None:
            out.update({f"lr/{k}": v for k, v in self.schedulers.last_lr().items()})
        if self.augment is not None:
            out.update(self.augment.logs())
        return out

    # ---- checkpoint
    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.schedulers is not None:
            out["schedulers"] = self.schedulers.state_dict()
        if self.augment is not None:
            out["augment"] = {"name": type(self.augment).__name__, "state": self.augment.state_dict()}
        return out

    def resolve_from_checkpoint(self, state: Mapping[str, Any]) -> int | None:
        """A pending ``steps_per_epoch: data`` schedule takes the epoch length the checkpoint trained with (call
        before the optimizers' state is loaded, so that the restored learning rates stand); returns it."""
        saved = (state.get("schedulers") or {}).get("steps_per_epoch")
        if self._pending is not None and saved is not None:
            self.make_schedulers(self._pending, saved)
            return saved
        return None

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from a system checkpoint state; a schedule / augmentation on one side only raises."""
        for key, mine in (("schedulers", self.schedulers), ("augment", self.augment)):
            if (key in state) != (mine is not None):
                raise KeyError(f"checkpoint {'has' if key in state else 'has no'} {key!r} state but the system is "
                               f"configured {'without' if mine is None else 'with'} it; resume with the same "
                               f"'scheduler' / 'augment' options")
        if self.schedulers is not None:
            self.schedulers.load_state_dict(state["schedulers"])
        if self.augment is not None:
            saved = state["augment"]
            if saved["name"] != type(self.augment).__name__:
                raise ValueError(f"checkpoint augmentation {saved['name']} != configured {type(self.augment).__name__}")
            self.augment.load_state_dict(saved["state"])

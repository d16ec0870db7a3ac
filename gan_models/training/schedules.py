"""Learning-rate schedules of the papers, as a generic ``scheduler`` key of every preset / system.

A schedule is a factor f(t) ≥ 0 on each optimizer's base learning rate (``torch.optim.lr_scheduler.LambdaLR``),
stepped once per **generator step** (one ``Trainer.train_step``), its state saved in checkpoints and restored
exactly.  ``t`` counts generator steps, or epochs when ``steps_per_epoch`` > 1 (t = step / steps_per_epoch;
``staircase: true`` takes the floor, i.e. the factor changes once per epoch as the reference codes that step
their scheduler per epoch).  ``steps_per_epoch: data`` means "the training set's batches per epoch": the trainer
that owns the data passes it to ``GANSystem.setup(steps_per_epoch=...)`` (the pipeline's train stage does: the
batches of its shard); until then the schedule is pending and a training step refuses to run.  Spec::

    scheduler: {name: linear_decay, start: 100, end: 200, steps_per_epoch: 500, staircase: true,
                optimizers: [g, d_a, d_b]}     # optimizers: default = all of the system's optimizers

Registered schedules (``SCHEDULES``):

* ``constant``: f = 1.
* ``linear_decay`` (``start``, ``end``, ``final`` = 0): 1 until ``start``, then linearly to ``final`` at ``end``,
  ``final`` after.  CycleGAN (Zhu et al. 2017, Sec. 7.1): constant lr for 100 epochs, then linear decay to 0
  over the next 100 → ``start: 100, end: 200`` in epochs (the reference code's ``lambda_rule`` is
  1 − max(0, e + 1 − 100)/101 per 0-based epoch e, i.e. the same line shifted by one epoch).  SNGAN (Miyato et
  al. 2018, the authors' chainer code ``LinearShift('alpha', (α, 0), (0, max_iter))``): linear decay to 0 over
  all iterations → ``start: 0, end: <total generator steps>``.
* ``exponential`` (``gamma``): f = γ^t.  DDcGAN (Ma et al. 2020, code hanna-xu/DDcGAN ``train.py``:
  ``tf.train.exponential_decay(2e-4, step, decay_steps=n_batches, decay_rate=0.9, staircase=False)``):
  ``gamma: 0.9, steps_per_epoch: data`` (the ``ddcgan`` preset).  (The released code passes the same TF global step to
  every optimizer's ``minimize``, so its step advances once per optimizer call, ≥ 3 per batch; the stated rate,
  0.9 per epoch, is what is implemented.)
* ``cosine`` (``start`` = 0, ``end``, ``final`` = 0): 1 until ``start``, then half a cosine down to ``final``
  at ``end`` (SGDR without restarts, Loshchilov & Hutter 2017).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from gan_models.config import ConfigError, from_dict
from gan_models.registry import Registry

SCHEDULES: Registry = Registry("learning-rate schedule")

#: keys every scheduler spec may carry besides its schedule's own constants
COMMON_KEYS = ("name", "optimizers", "steps_per_epoch", "staircase")
#: ``steps_per_epoch`` value meaning "the training data's batches per epoch, given by the trainer"
FROM_DATA = "data"


@SCHEDULES.register("constant")
@dataclass
class Constant:
    def __call__(self, t: float) -> float:
        return 1.0


def _check_window(start: float, end: float, final: float, name: str) -> None:
    if not end > start >= 0:
        raise ConfigError(f"scheduler {name}: needs 0 <= start < end, got start={start}, end={end}")
    if not 0.0 <= final <= 1.0:
        raise ConfigError(f"scheduler {name}: final factor must be in [0, 1], got {final}")


@SCHEDULES.register("linear_decay")
@dataclass
class LinearDecay:
    end: float
    start: float = 0.0
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_window(self.start, self.end, self.final, "linear_decay")

    def __call__(self, t: float) -> float:
        if t <= self.start:
            return 1.0
        if t >= self.end:
            return self.final
        return 1.0 - (1.0 - self.final) * (t - self.start) / (self.end - self.start)


@SCHEDULES.register("exponential")
@dataclass
class Exponential:
    gamma: float

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"scheduler exponential: gamma must be in (0, 1], got {self.gamma}")

    def __call__(self, t: float) -> float:
        return self.gamma ** t


@SCHEDULES.register("cosine")
@dataclass
class Cosine:
    end: float
    start: float = 0.0
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_window(self.start, self.end, self.final, "cosine")

    def __call__(self, t: float) -> float:
        if t <= self.start:
            return 1.0
        frac = min(1.0, (t - self.start) / (self.end - self.start))
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * frac))


@dataclass
class ScheduleSpec:
    """A parsed ``scheduler`` mapping: the schedule, its time unit and the optimizers it drives."""
    name: str
    schedule: Callable[[float], float]
    steps_per_epoch: int | None              # None: ``data``, not given yet (see :meth:`resolved`)
    staircase: bool
    optimizers: list[str] | None
    raw: dict[str, Any]

    def resolved(self, steps_per_epoch: int | None) -> "ScheduleSpec":
        """This spec with ``steps_per_epoch: data`` replaced by the trainer's batches per epoch (a no-op when the
        spec gives a number)."""
        if self.steps_per_epoch is not None or steps_per_epoch is None:
            return self
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
            raise ConfigError(f"scheduler.steps_per_epoch: data: the batches per epoch must be an integer >= 1, "
                              f"got {steps_per_epoch!r}")
        return ScheduleSpec(self.name, self.schedule, steps_per_epoch, self.staircase, self.optimizers, self.raw)

    def factor(self, step: int) -> float:
        """The learning-rate factor after ``step`` generator steps."""
        if self.steps_per_epoch is None:
            raise ConfigError("scheduler.steps_per_epoch: data: the number of batches per epoch was not given; "
                              "call system.setup(steps_per_epoch=<batches per epoch>) before training")
        t = step / self.steps_per_epoch
        return float(self.schedule(math.floor(t) if self.staircase else t))


def parse_scheduler(spec: Mapping[str, Any]) -> ScheduleSpec:
    """Validate a ``scheduler`` mapping (unknown keys / names raise, naming the key)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"scheduler: expected a mapping with a 'name' (one of {SCHEDULES.names()}), got {spec!r}")
    name = spec["name"]
    if name not in SCHEDULES:
        raise ConfigError(f"scheduler: unknown schedule {name!r}; known: {SCHEDULES.names()}")
    steps_per_epoch = spec.get("steps_per_epoch", 1)
    if steps_per_epoch == FROM_DATA:
        steps_per_epoch = None
    elif isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ConfigError(f"scheduler.steps_per_epoch: expected an integer >= 1 or {FROM_DATA!r} (the training "
                          f"data's batches per epoch), got {steps_per_epoch!r}")
    staircase = spec.get("staircase", False)
    if not isinstance(staircase, bool):
        raise ConfigError(f"scheduler.staircase: expected true/false, got {staircase!r}")
    optimizers = spec.get("optimizers")
    if optimizers is not None and (not isinstance(optimizers, (list, tuple))
                                   or not all(isinstance(o, str) for o in optimizers) or not optimizers):
        raise ConfigError(f"scheduler.optimizers: expected a non-empty list of optimizer names, got {optimizers!r}")
    constants = {k: v for k, v in spec.items() if k not in COMMON_KEYS}
    try:
        schedule = from_dict(SCHEDULES.get(name), constants, f"scheduler ({name})")
    except ConfigError as e:
        raise ConfigError(f"{e} (common keys: {list(COMMON_KEYS)})") from None
    return ScheduleSpec(name, schedule, steps_per_epoch, staircase, list(optimizers) if optimizers else None,
                        copy.deepcopy(dict(spec)))


class Schedulers:
    """One ``LambdaLR`` per scheduled optimizer of a set-up system; ``step()`` once per generator step."""

    def __init__(self, spec: ScheduleSpec, optimizers: Mapping[str, torch.optim.Optimizer]):
        names = spec.optimizers or sorted(optimizers)
        unknown = sorted(set(names) - set(optimizers))
        if unknown:
            raise ConfigError(f"scheduler.optimizers: unknown optimizer(s) {unknown}; the system has "
                              f"{sorted(optimizers)}")
        self.spec = spec
        # a plain function (not a callable object): LambdaLR then stores no lambda state, so the checkpoint
        # holds only numbers and loads with torch.load(weights_only=True)
        self.schedulers = {n: torch.optim.lr_scheduler.LambdaLR(optimizers[n], lambda s, f=spec.factor: f(s))
                           for n in names}

    def step(self) -> None:
        for s in self.schedulers.values():
            s.step()

    def last_lr(self) -> dict[str, float]:
        """The current learning rate of each scheduled optimizer (first parameter group)."""
        return {n: float(s.get_last_lr()[0]) for n, s in self.schedulers.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"spec": copy.deepcopy(self.spec.raw), "steps_per_epoch": self.spec.steps_per_epoch,
                "state": {n: s.state_dict() for n, s in self.schedulers.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("spec") != self.spec.raw:
            raise ValueError(f"checkpoint was trained with scheduler {state.get('spec')}, the system is configured "
                             f"with {self.spec.raw}; resume with the same scheduler")
        if set(state["state"]) != set(self.schedulers):
            raise KeyError(f"checkpoint schedules optimizers {sorted(state['state'])}, the system "
                           f"{sorted(self.schedulers)}")
        for n, s in self.schedulers.items():
            s.load_state_dict(state["state"][n])

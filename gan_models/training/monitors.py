"""Training-stability monitors: per-step diagnostics and a policy that detects failing runs.

**Diagnostics** (computed by the trainer at every step, cheaply, from what the critics and generators reported
to :mod:`gan_models.critic_stats` and from the gradients already in memory; returned in the step's logs, which
the pipeline's training loop logs to MLflow):

* ``monitor/<critic phase>/acc_real``, ``.../acc_fake``: the critic's accuracy on the real and on the fake
  batch (scores on the correct side of the loss's decision threshold; the midpoint of the batch means for
  critics without an absolute scale, e.g. WGAN);
* ``monitor/<phase>/grad_norm``: the L2 norm of the gradient of every phase's parameters (generator and each
  critic), measured before its optimizer step (last repeat);
* ``monitor/diversity``: the generator's output diversity, the mean pairwise distance of (up to 16) generated
  samples over that of the real samples of the same batch (≈ 1 for a healthy generator, → 0 when it collapses
  to a few outputs); ``monitor/fake_spread``: the fakes' mean pairwise distance itself;
* ``monitor/<phase>/oscillation``: the standard deviation of the phase's total loss over the last ``window``
  steps.

**Policy** (the generic ``monitors`` key of a preset; off when absent).  Detectors (``DETECTORS``) look at these
diagnostics after ``warmup`` steps; a detector whose condition holds for the **median over the last
``patience`` steps** (100) fires an **event** ``{step, kind, evidence, action}`` (``monitor/event/<kind>`` = 1 in
that step's logs; ``Trainer.events`` keeps the list and checkpoints it) and starts a fresh window:

* ``mode_collapse`` (``diversity_below`` 0.5): the fakes are much closer to each other than real samples are;
* ``vanishing_gradient`` (``below`` 0.01, ``absolute_below`` 1e-3): the generator's gradient norm is below that
  fraction of its median over the first ``reference_steps`` (25) steps after warm-up, or below the absolute
  floor (scale-dependent: set it for your networks, or ``null`` to use the relative test only);
* ``critic_overpowering`` (``accuracy_above`` 0.99): some critic classifies both the real and the fake batch
  (almost) perfectly.

The defaults were set on the ring benchmark (``benchmarks/stability_monitors.py``): healthy runs keep a
diversity of 0.86-1.1 and a G gradient norm of 0.14-86, the failing ones fall to 0.1-0.3 (f-GAN Pearson, TV) or
to gradient norms of 1e-4 relative (TV) and 2e-4-4e-3 absolute (WGAN at a 100× learning rate).

``action``: ``record`` (default: log and carry on), ``stop`` (raise :class:`TrainingStopped` carrying the event)
or ``rollback`` (restore the trainer's last good in-memory snapshot, taken every ``snapshot_every`` steps while
no detector's current window meets its condition, multiply every learning rate by ``rollback_lr_factor`` and
continue; after ``max_rollbacks`` rollbacks the next event stops).  Example::

    monitors: {action: rollback, mode_collapse: {}, vanishing_gradient: {patience: 100},
               critic_overpowering: {accuracy_above: 0.995}}
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from gan_models.config import ConfigError, from_dict
from gan_models.critic_stats import PhaseRecord, mean_pairwise_distance
from gan_models.registry import Registry

DETECTORS: Registry = Registry("stability detector")


class TrainingStopped(RuntimeError):
    """Raised by ``Trainer.train_step`` when a monitor with ``action: stop`` fires (or rollbacks ran out)."""

    def __init__(self, event: dict[str, Any]):
        super().__init__(f"training stopped at step {event['step']}: {event['kind']} ({event['evidence']})")
        self.event = event


@dataclass
class _Detector:
    """A detector reads a few numbers from each step's diagnostics (:meth:`values`); the monitor keeps the last
    ``patience`` steps of each and the detector fires when their **medians** meet its condition (a median over
    ``patience`` steps, not a run of consecutive steps: the diagnostics come from small batches and are noisy)."""
    patience: int = 100

    kind = ""

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ConfigError(f"monitors.{self.kind}.patience must be >= 1, got {self.patience}")

    def values(self, diag: Mapping[str, float], generator_phases: list[str],
               critic_phases: list[str]) -> dict[str, float] | None:
        raise NotImplementedError

    def violated(self, medians: Mapping[str, float]) -> bool:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


@DETECTORS.register("mode_collapse")
@dataclass
class ModeCollapse(_Detector):
    """The generator's outputs are much closer to each other than real samples are."""
    diversity_below: float = 0.5
    kind = "mode_collapse"

    def values(self, diag, generator_phases, critic_phases):
        d = diag.get("monitor/diversity")
        return None if d is None else {"diversity": d}

    def violated(self, medians):
        return medians["diversity"] < self.diversity_below


@DETECTORS.register("vanishing_gradient")
@dataclass
class VanishingGradient(_Detector):
    """The generator's gradient norm (the smallest over its phases) fell below ``below`` × its median over the
    first ``reference_steps`` steps after warm-up, or below the absolute floor ``absolute_below`` (a generator
    whose gradient was tiny from the start: a saturated or clipped critic gives it no signal)."""
    below: float = 0.01
    absolute_below: float | None = 1e-3
    reference_steps: int = 25

    kind = "vanishing_gradient"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.below < 1 or self.reference_steps < 1 or (self.absolute_below is not None
                                                                   and not self.absolute_below > 0):
            raise ConfigError(f"monitors.vanishing_gradient: needs 0 < below < 1, absolute_below > 0 (or null) and "
                              f"reference_steps >= 1, got {self.below}, {self.absolute_below}, {self.reference_steps}")
        self.reference: list[float] = []

    def values(self, diag, generator_phases, critic_phases):
        norms = [diag[f"monitor/{p}/grad_norm"] for p in generator_phases if f"monitor/{p}/grad_norm" in diag]
        if not norms:
            return None
        g = min(norms)
        if len(self.reference) < self.reference_steps:
            self.reference.append(g)
            return None
        base = statistics.median(self.reference)
        return {"g_grad_norm": g, "g_grad_ratio": g / base if base > 0 else math.inf}

    def violated(self, medians):
        return medians["g_grad_ratio"] < self.below or (
            self.absolute_below is not None and medians["g_grad_norm"] < self.absolute_below)

    def state_dict(self) -> dict[str, Any]:
        return {"reference": list(self.reference)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.reference = [float(x) for x in state.get("reference", [])]


@DETECTORS.register("critic_overpowering")
@dataclass
class CriticOverpowering(_Detector):
    """Some critic classifies both the real and the fake batch (almost) perfectly: the generator is losing."""
    accuracy_above: float = 0.99
    kind = "critic_overpowering"

    def values(self, diag, generator_phases, critic_phases):
        worst = [min(diag[f"monitor/{p}/acc_real"], diag[f"monitor/{p}/acc_fake"]) for p in critic_phases
                 if f"monitor/{p}/acc_real" in diag]
        return {"critic_accuracy": max(worst)} if worst else None

    def violated(self, medians):
        return medians["critic_accuracy"] > self.accuracy_above


GENERAL_KEYS = ("action", "window", "warmup", "snapshot_every", "max_rollbacks", "rollback_lr_factor")


@dataclass
class MonitorPolicy:
    action: Literal["record", "stop", "rollback"] = "record"
    window: int = 50
    warmup: int | None = None                 # steps before detectors look (default: window)
    snapshot_every: int = 50
    max_rollbacks: int = 3
    rollback_lr_factor: float = 0.5
    detectors: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.window < 2 or self.snapshot_every < 1 or self.max_rollbacks < 0:
            raise ConfigError(f"monitors: needs window >= 2, snapshot_every >= 1, max_rollbacks >= 0; got "
                              f"{self.window}, {self.snapshot_every}, {self.max_rollbacks}")
        if not 0 < self.rollback_lr_factor <= 1:
            raise ConfigError(f"monitors.rollback_lr_factor must be in (0, 1], got {self.rollback_lr_factor}")
        if self.warmup is None:
            self.warmup = self.window


def parse_monitors(spec: Mapping[str, Any]) -> MonitorPolicy:
    """``{action, window, ..., <detector name>: {options}}`` → a policy (unknown keys raise, naming them)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"monitors: expected a mapping, got {spec!r}")
    unknown = sorted(set(spec) - set(GENERAL_KEYS) - set(DETECTORS.names()))
    if unknown:
        raise ConfigError(f"monitors: unknown key(s) {unknown}; allowed: {list(GENERAL_KEYS)} and the detectors "
                          f"{DETECTORS.names()}")
    general = {k: v for k, v in spec.items() if k in GENERAL_KEYS}
    policy = from_dict(MonitorPolicy, general, "monitors")
    for name in DETECTORS.names():
        if name in spec and spec[name] is not None:
            policy.detectors[name] = from_dict(DETECTORS.get(name), dict(spec[name] or {}), f"monitors.{name}")
    if not policy.detectors:
        raise ConfigError(f"monitors: no detector enabled; add one or more of {DETECTORS.names()} (e.g. "
                          "'mode_collapse: {}')")
    return policy


class Monitor:
    """The diagnostics of each step and, with a policy, the detectors' windows and events."""

    def __init__(self, policy: MonitorPolicy | None = None, window: int = 50):
        self.policy = policy
        self.window = policy.window if policy is not None else int(window)
        self.history: dict[str, deque] = {}
        self.recent: dict[str, dict[str, deque]] = {}
        self.events: list[dict[str, Any]] = []
        self.steps_seen = 0

    # ---- diagnostics
    def diagnostics(self, records: Mapping[str, PhaseRecord], grad_norms: Mapping[str, float],
                    totals: Mapping[str, float]) -> tuple[dict[str, float], list[str], list[str]]:
        """(diagnostic values, generator phases, critic phases) of one step."""
        out: dict[str, float] = {}
        critic_phases = [p for p, r in records.items() if r.critic]
        generator_phases = [p for p, r in records.items() if r.fakes and not r.critic]
        for p in critic_phases:
            accs = [c.accuracy() for c in records[p].critic]
            out[f"monitor/{p}/acc_real"] = sum(a[0] for a in accs) / len(accs)
            out[f"monitor/{p}/acc_fake"] = sum(a[1] for a in accs) / len(accs)
        for p, g in grad_norms.items():
            out[f"monitor/{p}/grad_norm"] = float(g)
        ratios, spreads = [], []
        for p in generator_phases:
            r = records[p]
            for i, f in enumerate(r.fakes):
                spread = mean_pairwise_distance(f)
                spreads.append(spread)
                if i < len(r.reals):
                    ref = mean_pairwise_distance(r.reals[i])
                    if ref > 0:
                        ratios.append(spread / ref)
        if spreads:
            out["monitor/fake_spread"] = sum(spreads) / len(spreads)
        if ratios:
            out["monitor/diversity"] = sum(ratios) / len(ratios)
        for p, v in totals.items():
            h = self.history.setdefault(p, deque(maxlen=self.window))
            if math.isfinite(v):
                h.append(float(v))
            if len(h) >= 2:
                out[f"monitor/{p}/oscillation"] = statistics.pstdev(h)
        return out, generator_phases, critic_phases

    # ---- detection
    def check(self, step: int, diag: Mapping[str, float], generator_phases: list[str],
              critic_phases: list[str]) -> list[dict[str, Any]]:
        """Feed the detectors; the events that fire at ``step``."""
        self.steps_seen += 1
        if self.policy is None or self.steps_seen <= self.policy.warmup:
            return []
        fired = []
        for name, det in self.policy.detectors.items():
            vals = det.values(diag, generator_phases, critic_phases)
            if vals is None:
                continue
            window = self.recent.setdefault(name, {})
            for k, v in vals.items():
                window.setdefault(k, deque(maxlen=det.patience)).append(float(v))
            if min(len(w) for w in window.values()) < det.patience:
                continue
            medians = {k: statistics.median(w) for k, w in window.items()}
            if det.violated(medians):
                ev = {"step": int(step), "kind": name, "evidence": {k: float(f"{v:.6g}") for k, v in medians.items()},
                      "action": self.policy.action}
                self.events.append(ev)
                fired.append(ev)
                self.recent[name] = {}                 # a fresh window before the detector can fire again
        return fired

    def counting(self) -> bool:
        """Whether some detector's current window median already meets its condition (the state is not 'good')."""
        if self.policy is None:
            return False
        for name, det in self.policy.detectors.items():
            window = self.recent.get(name)
            if window and all(len(w) for w in window.values()):
                if det.violated({k: statistics.median(w) for k, w in window.items()}):
                    return True
        return False

    # ---- state
    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "recent": {n: {k: list(v) for k, v in w.items()} for n, w in self.recent.items()},
                "events": [dict(e) for e in self.events], "steps_seen": self.steps_seen,
                "detectors": {k: d.state_dict() for k, d in (self.policy.detectors.items() if self.policy else [])}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = {k: deque((float(x) for x in v), maxlen=self.window) for k, v in state["history"].items()}
        self.recent = {}
        for n, w in state["recent"].items():
            maxlen = self.policy.detectors[n].patience if self.policy and n in self.policy.detectors else None
            self.recent[n] = {k: deque((float(x) for x in v), maxlen=maxlen) for k, v in w.items()}
        self.events = [dict(e) for e in state["events"]]
        self.steps_seen = int(state["steps_seen"])
        if self.policy is not None:
            saved = state.get("detectors", {})
            for k, d in self.policy.detectors.items():
                d.load_state_dict(saved.get(k, {}))

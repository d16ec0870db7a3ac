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
diagnostics after ``warmup`` steps; a detector whose condition holds ``patience`` consecutive steps fires an
**event** ``{step, kind, evidence, action}`` (``monitor/event/<kind>`` = 1 in that step's logs;
``Trainer.events`` keeps the list and checkpoints it):

* ``mode_collapse`` (``diversity_below`` 0.05): the fakes are much closer to each other than real samples are;
* ``vanishing_gradient`` (``below`` 0.01): every generator phase's gradient norm is below that fraction of its
  median over the first ``reference_steps`` (25) steps after warm-up;
* ``critic_overpowering`` (``accuracy_above`` 0.99): some critic classifies both the real and the fake batch
  (almost) perfectly.

``action``: ``record`` (default: log and carry on), ``stop`` (raise :class:`TrainingStopped` carrying the event)
or ``rollback`` (restore the trainer's last good in-memory snapshot, taken every ``snapshot_every`` steps while
no detector is counting, multiply every learning rate by ``rollback_lr_factor`` and continue; after
``max_rollbacks`` rollbacks the next event stops).  Example::

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
    patience: int = 50

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ConfigError(f"monitors.{self.kind}.patience must be >= 1, got {self.patience}")

    kind = ""

    def check(self, diag: Mapping[str, float], generator_phases: list[str], critic_phases: list[str]
              ) -> tuple[bool, dict[str, float]]:
        """(condition holds this step, the evidence)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


@DETECTORS.register("mode_collapse")
@dataclass
class ModeCollapse(_Detector):
    diversity_below: float = 0.05
    kind = "mode_collapse"

    def check(self, diag, generator_phases, critic_phases):
        d = diag.get("monitor/diversity")
        if d is None:
            return False, {}
        return d < self.diversity_below, {"diversity": d}


@DETECTORS.register("vanishing_gradient")
@dataclass
class VanishingGradient(_Detector):
    below: float = 0.01
    reference_steps: int = 25

    kind = "vanishing_gradient"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.below < 1 or self.reference_steps < 1:
            raise ConfigError(f"monitors.vanishing_gradient: needs 0 < below < 1 and reference_steps >= 1, got "
                              f"{self.below}, {self.reference_steps}")
        self.seen: dict[str, list[float]] = {}

    def check(self, diag, generator_phases, critic_phases):
        ratios = {}
        for p in generator_phases:
            g = diag.get(f"monitor/{p}/grad_norm")
            if g is None:
                continue
            ref = self.seen.setdefault(p, [])
            if len(ref) < self.reference_steps:
                ref.append(g)
                return False, {}
            base = statistics.median(ref)
            ratios[p] = g / base if base > 0 else math.inf
        if not ratios:
            return False, {}
        return all(r < self.below for r in ratios.values()), {f"{p}_grad_ratio": r for p, r in ratios.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"seen": {k: list(v) for k, v in self.seen.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seen = {k: [float(x) for x in v] for k, v in state.get("seen", {}).items()}


@DETECTORS.register("critic_overpowering")
@dataclass
class CriticOverpowering(_Detector):
    accuracy_above: float = 0.99
    kind = "critic_overpowering"

    def check(self, diag, generator_phases, critic_phases):
        evidence = {}
        fired = False
        for p in critic_phases:
            r, f = diag.get(f"monitor/{p}/acc_real"), diag.get(f"monitor/{p}/acc_fake")
            if r is None or f is None:
                continue
            evidence.update({f"{p}_acc_real": r, f"{p}_acc_fake": f})
            fired = fired or min(r, f) > self.accuracy_above
        return fired, evidence


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
    """The diagnostics of each step and, with a policy, the detectors' streaks and events."""

    def __init__(self, policy: MonitorPolicy | None = None, window: int = 50):
        self.policy = policy
        self.window = policy.window if policy is not None else int(window)
        self.history: dict[str, deque] = {}
        self.streaks: dict[str, int] = {}
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
        """Update the detectors' streaks; the events that fire at ``step``."""
        self.steps_seen += 1
        if self.policy is None or self.steps_seen <= self.policy.warmup:
            return []
        fired = []
        for name, det in self.policy.detectors.items():
            holds, evidence = det.check(diag, generator_phases, critic_phases)
            self.streaks[name] = self.streaks.get(name, 0) + 1 if holds else 0
            if self.streaks[name] >= det.patience:
                self.streaks[name] = 0
                ev = {"step": int(step), "kind": name,
                      "evidence": {k: round(float(v), 6) for k, v in evidence.items()},
                      "action": self.policy.action}
                self.events.append(ev)
                fired.append(ev)
        return fired

    def counting(self) -> bool:
        """Whether some detector currently has a running streak (the state is then not 'good')."""
        return any(v > 0 for v in self.streaks.values())

    # ---- state
    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()}, "streaks": dict(self.streaks),
                "events": [dict(e) for e in self.events], "steps_seen": self.steps_seen,
                "detectors": {k: d.state_dict() for k, d in (self.policy.detectors.items() if self.policy else [])}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = {k: deque((float(x) for x in v), maxlen=self.window) for k, v in state["history"].items()}
        self.streaks = {k: int(v) for k, v in state["streaks"].items()}
        self.events = [dict(e) for e in state["events"]]
        self.steps_seen = int(state["steps_seen"])
        if self.policy is not None:
            saved = state.get("detectors", {})
            for k, d in self.policy.detectors.items():
                d.load_state_dict(saved.get(k, {}))

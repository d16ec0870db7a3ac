"""The generic trainer: runs a system's phases in order, with EMA, bf16 autocast and gradient accumulation.

Nothing topology-specific lives here.  Per batch and per phase (``phase.repeats_at(step)`` times):
``zero_grad`` -> ``compute`` (under autocast when enabled) -> ``backward`` -> ``optimizer.step`` ->
``after_step``.  Only the phase's own optimizer steps, so gradients a G phase leaves on D's parameters are
cleared by D's next ``zero_grad`` and never applied.

EMA (GAN_NOTES §5.12) keeps a copy of every generator and lerps **parameters and buffers** (integer buffers,
e.g. ``num_batches_tracked``, are copied) from ``ema_start`` on.

After the phases: the system's learning-rate schedulers step (once per generator step), ADA's p follows the
critics' r_t, and the stability diagnostics of the step (critic accuracies, gradient norms of every phase,
output diversity, loss oscillation; :mod:`gan_models.training.monitors`) join the step's logs, where a
``monitors`` policy checks them.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch
from torch import nn

from gan_models.critic_stats import PhaseRecord, recording
from gan_models.systems.base import Batch, GANSystem, unwrap
from gan_models.training.monitors import Monitor, TrainingStopped


class EMA:
    """Exponential moving average of a module's parameters and buffers."""

    def __init__(self, module: nn.Module, decay: float = 0.999, start_step: int = 0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.start_step = start_step
        self.shadow = copy.deepcopy(unwrap(module)).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        src = unwrap(module)
        decay = 0.0 if step < self.start_step else self.decay
        for s, p in zip(self.shadow.parameters(), src.parameters()):
            s.lerp_(p.detach(), 1.0 - decay)
        for s, b in zip(self.shadow.buffers(), src.buffers()):
            if s.dtype.is_floating_point:
                s.lerp_(b.detach(), 1.0 - decay)
            else:
                s.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow.load_state_dict(state)


class Trainer:
    """Runs ``system.phases()`` on batches.

    Args:
        system: a set-up :class:`GANSystem` (optimizers created).
        ema_decay: keep an EMA of every generator when set (e.g. 0.999).
        ema_start: first step at which the EMA starts averaging (before it, it copies).
        autocast_dtype: e.g. ``torch.bfloat16`` for bf16 autocast (GPU); ``None`` disables autocast.
        grad_accum: micro-batches per optimizer step; each loss is divided by it (GAN_NOTES §5.12).
        diagnostics: compute the stability diagnostics every step (:mod:`gan_models.training.monitors`; on by
            default, their values are part of the step's logs).  A system's ``monitors`` policy needs them.

    The system's generic training options (``GANSystem.configure_training``) act here: the learning-rate
    schedulers step once per generator step (after all phases), ADA's p is updated from the critics' r_t,
    and the ``monitors`` policy's events are recorded / stop training / roll back to the last good state.
    """

    def __init__(self, system: GANSystem, *, ema_decay: float | None = None, ema_start: int = 0,
                 autocast_dtype: torch.dtype | None = None, grad_accum: int = 1,
                 device: torch.device | str | None = None, diagnostics: bool = True):
        if not system.optimizers:
            system.setup()
        self.system = system
        self.device = torch.device(device) if device is not None else next(system.parameters()).device
        self.autocast_dtype = autocast_dtype
        if grad_accum < 1:
            raise ValueError("grad_accum must be >= 1")
        self.grad_accum = grad_accum
        self.ema: dict[str, EMA] = (
            {k: EMA(g, ema_decay, ema_start) for k, g in system.generators.items()} if ema_decay else {})
        policy = system.training_options.monitors
        if policy is not None and not diagnostics:
            raise ValueError("the system's 'monitors' policy needs the trainer's diagnostics (diagnostics=True)")
        self.diagnostics = diagnostics
        self.monitor = Monitor(policy)
        self.rollbacks = 0
        self._good: dict[str, Any] | None = None

    @property
    def step(self) -> int:
        return int(self.system.step_count)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The monitor events so far (``{step, kind, evidence, action}``)."""
        return self.monitor.events

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _to_device(self, batch: Batch) -> Batch:
        return {k: (v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                for k, v in batch.items()}

    @staticmethod
    def _grad_norm(opt: torch.optim.Optimizer) -> torch.Tensor | None:
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        return torch.nn.utils.get_total_norm(grads) if grads else None

    def train_step(self, batch: Batch | list[Batch]) -> dict[str, float]:
        """One optimisation step over all phases.  ``batch`` may be a list of micro-batches (grad_accum)."""
        micro = batch if isinstance(batch, list) else [batch]
        if len(micro) != self.grad_accum:
            raise ValueError(f"expected {self.grad_accum} micro-batches, got {len(micro)}")
        micro = [self._to_device(b) for b in micro]
        step = self.step
        self.system.train()
        logs: dict[str, float] = {}
        records: dict[str, PhaseRecord] = {}
        grad_norms: dict[str, torch.Tensor] = {}
        totals: dict[str, float] = {}
        augment = self.system.training_options.augment
        collect = self.diagnostics or augment is not None          # ADA's r_t needs the critics' outputs too
        for phase in self.system.phases():
            opt = self.system.optimizers[phase.optimizer]
            terms = None
            with (recording() if collect else contextlib.nullcontext()) as record:
                for r in range(phase.repeats_at(step)):
                    if r > 0 and phase.stop_early is not None and phase.stop_early(step):
                        break
                    opt.zero_grad(set_to_none=True)
                    terms = None
                    for mb in micro:
                        with self._autocast():
                            t = phase.compute(mb, step)
                        (t.total / self.grad_accum).backward()
                        terms = t if terms is None else terms + t
                    if self.diagnostics:
                        norm = self._grad_norm(opt)
                        if norm is not None:
                            grad_norms[phase.name] = norm
                    opt.step()
                    if phase.after_step is not None:
                        phase.after_step(terms)
            if record is not None:
                records[phase.name] = record
            if terms is None:          # the phase ran zero times at this step (e.g. a 0-repeat schedule)
                continue
            for k, v in terms.floats().items():
                logs[f"{phase.name}/{k}"] = v / len(micro)
            totals[phase.name] = logs[f"{phase.name}/total"]
        self.system.step_count += 1
        self.system.training_options.step()
        for k, ema in self.ema.items():
            ema.update(self.system.generators[k], self.step)
        if augment is not None:
            batch_size = sum(int(next(v for v in mb.values() if isinstance(v, torch.Tensor)).shape[0]) for mb in micro)
            augment.observe([c.real_sign() for rec in records.values() for c in rec.critic], batch_size)
        logs.update(self.system.training_options.logs())
        if self.diagnostics:
            diag, g_phases, d_phases = self.monitor.diagnostics(
                records, {k: float(v) for k, v in grad_norms.items()}, totals)
            logs.update(diag)
            self._act(self.monitor.check(step, diag, g_phases, d_phases), logs)
        return logs

    # ---- monitor actions
    def _act(self, events: list[dict[str, Any]], logs: dict[str, float]) -> None:
        policy = self.monitor.policy
        for ev in events:
            logs[f"monitor/event/{ev['kind']}"] = 1.0
        if policy is None:
            return
        if not events:
            if policy.action == "rollback" and not self.monitor.counting() and self.step % policy.snapshot_every == 0:
                self._snapshot()
            return
        if policy.action == "record":
            return
        if policy.action == "stop" or self.rollbacks >= policy.max_rollbacks or self._good is None:
            raise TrainingStopped(events[0])
        self._rollback(policy.rollback_lr_factor)
        logs["monitor/rollbacks"] = float(self.rollbacks)

    def _snapshot(self) -> None:
        from gan_models.training.checkpoint import rng_state
        self._good = {"trainer": copy.deepcopy(self.state_dict(include_monitor=False)), "rng": rng_state()}

    def _rollback(self, lr_factor: float) -> None:
        """Restore the last good snapshot and scale every learning rate (and every schedule's base) by
        ``lr_factor``."""
        from gan_models.training.checkpoint import set_rng_state
        self.load_state_dict(copy.deepcopy(self._good["trainer"]), include_monitor=False)
        set_rng_state(self._good["rng"])
        for opt in self.system.optimizers.values():
            for g in opt.param_groups:
                g["lr"] *= lr_factor
        schedulers = self.system.training_options.schedulers
        if schedulers is not None:
            for s in schedulers.schedulers.values():
                s.base_lrs = [b * lr_factor for b in s.base_lrs]
        self.rollbacks += 1
        self.monitor.recent = {}

    # ---- state
    def state_dict(self, include_monitor: bool = True) -> dict[str, Any]:
        state = {"system": self.system.checkpoint_state(),
                 "ema": {k: e.state_dict() for k, e in self.ema.items()}}
        if include_monitor:
            state["monitor"] = {**self.monitor.state_dict(), "rollbacks": self.rollbacks}
        return state

    def load_state_dict(self, state: dict[str, Any], include_monitor: bool = True) -> None:
        self.system.load_checkpoint_state(state["system"])
        if set(state.get("ema", {})) != set(self.ema):
            raise KeyError(f"checkpoint EMA {sorted(state.get('ema', {}))} != trainer EMA {sorted(self.ema)}")
        for k, e in self.ema.items():
            e.load_state_dict(state["ema"][k])
        if include_monitor and "monitor" in state:
            self.monitor.load_state_dict(state["monitor"])
            self.rollbacks = int(state["monitor"].get("rollbacks", 0))

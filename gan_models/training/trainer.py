"""The generic trainer: runs a system's phases in order, with EMA, bf16 autocast and gradient accumulation.

Nothing topology-specific lives here.  Per batch and per phase (``phase.repeats_at(step)`` times):
``zero_grad`` -> ``compute`` (under autocast when enabled) -> ``backward`` -> ``optimizer.step`` ->
``after_step``.  Only the phase's own optimizer steps, so gradients a G phase leaves on D's parameters are
cleared by D's next ``zero_grad`` and never applied.

EMA (GAN_NOTES §5.12) keeps a copy of every generator and lerps **parameters and buffers** (integer buffers,
e.g. ``num_batches_tracked``, are copied) from ``ema_start`` on.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch
from torch import nn

from gan_models.systems.base import Batch, GANSystem, unwrap


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
    """

    def __init__(self, system: GANSystem, *, ema_decay: float | None = None, ema_start: int = 0,
                 autocast_dtype: torch.dtype | None = None, grad_accum: int = 1,
                 device: torch.device | str | None = None):
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

    @property
    def step(self) -> int:
        return int(self.system.step_count)

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def _to_device(self, batch: Batch) -> Batch:
        return {k: (v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
                for k, v in batch.items()}

    def train_step(self, batch: Batch | list[Batch]) -> dict[str, float]:
        """One optimisation step over all phases.  ``batch`` may be a list of micro-batches (grad_accum)."""
        micro = batch if isinstance(batch, list) else [batch]
        if len(micro) != self.grad_accum:
            raise ValueError(f"expected {self.grad_accum} micro-batches, got {len(micro)}")
        micro = [self._to_device(b) for b in micro]
        step = self.step
        self.system.train()
        logs: dict[str, float] = {}
        for phase in self.system.phases():
            opt = self.system.optimizers[phase.optimizer]
            terms = None
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
                opt.step()
                if phase.after_step is not None:
                    phase.after_step(terms)
            if terms is None:          # the phase ran zero times at this step (e.g. a 0-repeat schedule)
                continue
            for k, v in terms.floats().items():
                logs[f"{phase.name}/{k}"] = v / len(micro)
        self.system.step_count += 1
        for k, ema in self.ema.items():
            ema.update(self.system.generators[k], self.step)
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"system": self.system.checkpoint_state(),
                "ema": {k: e.state_dict() for k, e in self.ema.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.system.load_checkpoint_state(state["system"])
        if set(state.get("ema", {})) != set(self.ema):
            raise KeyError(f"checkpoint EMA {sorted(state.get('ema', {}))} != trainer EMA {sorted(self.ema)}")
        for k, e in self.ema.items():
            e.load_state_dict(state["ema"][k])

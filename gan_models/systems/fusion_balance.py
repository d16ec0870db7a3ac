"""Balanced-steps policies: adaptive repeat schedules for the phases of a fusion system.

DDcGAN's authors (code hanna-xu/DDcGAN, ``PET-MRI image fusion/train.py``) do not alternate one D step and
one G step: after a first update of each net they

* repeat D_i while its loss exceeds 1.7 (at most 20 updates of D_i);
* repeat G while either D loss is below 1.4 (an *adversarial-only* G update, ``G_GAN_solver``) or while the
  G loss exceeds 200 (a full G update, ``G_solver``), at most 20 G updates.

GAN_NOTES §5.14 calls this a reproducibility hazard; here it is an optional policy object, selected by name in
a preset (``balance: {name: threshold, ...}``), never a hard-coded loop.  The trainer asks
``phase.stop_early(step)`` before every repeat after the first (``Phase.repeats`` is the maximum); the policy
answers from losses measured **after** the latest update on the same batch (the authors re-run
``sess.run(D1_loss)`` after each step the same way).  Differences from the authors' loop, stated: each net's
first update and its extra updates are consecutive (D1 1+k1, D2 1+k2, G 1+k3) rather than D1, D2, G once each and
then the adaptive loops; the G repeat chooses adversarial-only or full per repeat from the current losses.

The thresholds are on the binary cross-entropy scale of ``-log D(x) - log(1 - D(x~))`` and are meaningful only
with the logistic losses (``nonsaturating``, ``vanilla``); other losses are refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gan_models.registry import Registry

BALANCE_POLICIES: Registry = Registry("balanced-steps policy")

#: losses whose D loss is the BCE sum the thresholds refer to
LOGISTIC_LOSSES = ("nonsaturating", "vanilla")


@BALANCE_POLICIES.register("threshold")
@dataclass
class ThresholdBalance:
    """DDcGAN's threshold schedule (constants from the authors' PET-MRI code)."""
    d_max_loss: float = 1.7       # repeat D_i while L_{D_i} > d_max_loss
    d_min_loss: float = 1.4       # repeat G (adversarial only) while some L_{D_i} < d_min_loss
    g_max_loss: float = 200.0     # repeat G (full) while L_G > g_max_loss
    max_repeats: int = 20

    def __post_init__(self) -> None:
        if self.max_repeats < 1:
            raise ValueError(f"max_repeats must be >= 1, got {self.max_repeats}")
        self.d_loss: dict[str, float] = {}
        self.g_loss: float = 0.0
        self.g_mode: str = "full"

    def check_loss(self, loss_name: str) -> None:
        if loss_name not in LOGISTIC_LOSSES:
            raise ValueError(f"balance policy 'threshold' compares D losses with DDcGAN's BCE thresholds and "
                             f"works only with {list(LOGISTIC_LOSSES)}, not {loss_name!r}")

    # ---- D phases
    def d_repeats(self, step: int) -> int:
        return self.max_repeats

    def record_d(self, name: str, loss: float) -> None:
        self.d_loss[name] = float(loss)

    def stop_d(self, name: str) -> Callable[[int], bool]:
        return lambda step: self.d_loss.get(name, float("inf")) <= self.d_max_loss

    # ---- G phase
    def g_repeats(self, step: int) -> int:
        return self.max_repeats

    def start_g(self) -> None:
        self.g_mode = "full"

    def record_g(self, g_loss: float, d_losses: dict[str, float]) -> None:
        self.g_loss = float(g_loss)
        self.d_loss.update({k: float(v) for k, v in d_losses.items()})
        if any(v < self.d_min_loss for v in self.d_loss.values()):
            self.g_mode = "adversarial"
        elif self.g_loss > self.g_max_loss:
            self.g_mode = "full"
        else:
            self.g_mode = "done"

    def stop_g(self, step: int) -> bool:
        return self.g_mode == "done"


def build_balance(spec: dict | None):
    """A policy from ``{"name": "threshold", ...constants}`` (None: plain alternation)."""
    if not spec:
        return None
    spec = dict(spec)
    name = spec.pop("name", None)
    if name is None:
        raise ValueError(f"a balance policy needs a 'name' (one of {BALANCE_POLICIES.names()})")
    cls = BALANCE_POLICIES.get(name)
    try:
        return cls(**spec)
    except TypeError as e:
        raise ValueError(f"balance policy {name!r}: bad constants {sorted(spec)} ({e})") from None

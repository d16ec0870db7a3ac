"""What the critics and the generators saw during one training step, for the trainer's stability monitors and ADA.

The shared adversarial plumbing (``gan_models.systems.adversarial.critic_terms`` / ``generator_terms``) reports
here, so every system that uses it (the whole zoo and the fusion systems) feeds the monitors without code of
its own.  The trainer opens a :func:`recording` context around each phase; outside one, reporting is a no-op
(a system used without the trainer pays nothing).  Like StyleGAN2-ADA's ``training_stats.report``: a process-
local side channel, detached values only.

* :func:`report_critic` (critic phases): the per-sample critic scores on the real and the fake batch and the
  loss's decision threshold → critic accuracy on real / fake, and ADA's r_t = E[sign(D(x_real) − t)].
* :func:`report_generated` (generator phases): a few generated samples and, when given, real samples of the same
  batch → the generator's output diversity (mean pairwise distance of the fakes over that of the reals).
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from gan_models.losses.base import AdversarialLoss, as_critic_output

#: samples kept per report for the diversity statistic, and the side the images are pooled to
DIVERSITY_SAMPLES = 16
DIVERSITY_SIDE = 32


@dataclass
class CriticReport:
    real: torch.Tensor            # (B,) float32 scores, "higher = more real" orientation
    fake: torch.Tensor
    threshold: float | None       # in the same orientation; None = midpoint of the batch means

    def cut(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return 0.5 * float(self.real.mean() + self.fake.mean())

    def accuracy(self) -> tuple[float, float]:
        """(fraction of reals scored above the cut, fraction of fakes scored below it)."""
        t = self.cut()
        return float((self.real > t).float().mean()), float((self.fake < t).float().mean())

    def real_sign(self) -> float:
        """E[sign(D(x_real) − t)] (ADA's overfitting heuristic r_t, Karras et al. 2020 eq. (1))."""
        return float(torch.sign(self.real - self.cut()).mean())


@dataclass
class PhaseRecord:
    critic: list[CriticReport] = field(default_factory=list)
    fakes: list[torch.Tensor] = field(default_factory=list)
    reals: list[torch.Tensor] = field(default_factory=list)


_ACTIVE: contextvars.ContextVar[PhaseRecord | None] = contextvars.ContextVar("medfuse_critic_stats", default=None)


@contextlib.contextmanager
def recording() -> Iterator[PhaseRecord]:
    """Collect the reports of the code run inside (one phase)."""
    record = PhaseRecord()
    token = _ACTIVE.set(record)
    try:
        yield record
    finally:
        _ACTIVE.reset(token)


def _scores(out: Any) -> torch.Tensor | None:
    s = as_critic_output(out).score
    if s is None:
        return None
    s = s.detach().float()
    return s.reshape(s.shape[0], -1).mean(dim=1) if s.dim() > 1 else s.reshape(-1)


def report_critic(loss: AdversarialLoss, real_out: Any, fake_out: Any) -> None:
    """Record a critic's outputs on a real and a fake batch (no-op outside :func:`recording`, or when the critic
    returns no score, e.g. MMD-GAN's feature critic)."""
    record = _ACTIVE.get()
    if record is None:
        return
    real, fake = _scores(real_out), _scores(fake_out)
    if real is None or fake is None or not real.numel() or not fake.numel():
        return
    t = loss.decision_threshold()
    if not loss.real_is_high:
        real, fake, t = -real, -fake, (None if t is None else -t)
    record.critic.append(CriticReport(real, fake, t))


def _thumbnails(x: torch.Tensor) -> torch.Tensor:
    x = x.detach()[:DIVERSITY_SAMPLES].float()
    if x.dim() == 4 and max(x.shape[-2:]) > DIVERSITY_SIDE:
        x = F.adaptive_avg_pool2d(x, DIVERSITY_SIDE)
    return x.reshape(x.shape[0], -1)


def report_generated(fake: torch.Tensor, real: torch.Tensor | None = None) -> None:
    """Record generated samples (and real ones of the same batch) for the diversity statistic."""
    record = _ACTIVE.get()
    if record is None or not isinstance(fake, torch.Tensor) or fake.shape[0] < 2:
        return
    record.fakes.append(_thumbnails(fake))
    if isinstance(real, torch.Tensor) and real.shape[0] >= 2 and real.shape[1:] == fake.shape[1:]:
        record.reals.append(_thumbnails(real))


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over the distinct pairs of rows of ``x`` (N, d), N >= 2."""
    return float(torch.pdist(x).mean())

"""The fusion-metric registry: one :class:`Metric` record per metric family.

Each family is a pure, batched function ``fn(batch, **options) -> {column: (N,) float64 tensor}`` where
``batch`` is a :class:`pipelines.metrics.batch.Triplet` (F, A, B as (N, H, W) tensors on one device, on the
reference scale: integer valued, 0-255, plus the intermediates several families share); the results stay on
the batch's device.  A family returns its headline column (``Metric.name``) and its per-source parts
(e.g. ``MI_A`` = MI(F, A), ``MI_B`` = MI(F, B)).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch

from gan_models.registry import Registry

MetricFn = Callable[..., dict[str, torch.Tensor]]

# The reference evaluator's columns, in the order of the published tables and of expected.csv.
CORE_COLUMNS: tuple[str, ...] = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "CC", "PSNR", "MSE")


@dataclass(frozen=True)
class Metric:
    name: str                          # headline column
    fn: MetricFn
    parts: tuple[str, ...] = ()        # per-source part columns the family also returns
    better: Literal["higher", "lower"] = "higher"
    core: bool = True                  # one of the reference evaluator's 12 columns
    slow: bool = False                 # too slow for the default inner-loop set (FMI)
    unit: str = ""
    reference: str = ""                # where the definition comes from
    extra_columns: tuple[str, ...] = field(default=())   # further headline columns of the same family

    @property
    def headline(self) -> tuple[str, ...]:
        return (self.name, *self.extra_columns)


METRICS: Registry = Registry("fusion metric")


def register(metric: Metric) -> Metric:
    METRICS.register(metric.name)(metric)
    return metric


def metric(name: str, **kwargs) -> Callable[[MetricFn], MetricFn]:
    """Decorator: ``@metric("EN", better="higher", unit="bits")`` registers ``fn`` as family ``name``."""
    def deco(fn: MetricFn) -> MetricFn:
        register(Metric(name=name, fn=fn, **kwargs))
        return fn
    return deco

"""Pixel-wise baselines: mean, max, and the degenerate "return A" / "return B" (FUSION_METRICS.md §5.6: a
model collapsed onto one modality scores well on VIF/Qabf/SSIM; these rows keep that visible)."""
from __future__ import annotations

import numpy as np

from pipelines.baselines.registry import register


@register("mean")
def mean(a, b):
    return (a + b) * 0.5


@register("max")
def maximum(a, b):
    return np.maximum(a, b)


@register("return_a")
def return_a(a, b):
    return a.copy()


@register("return_b")
def return_b(a, b):
    return b.copy()

"""Batched scoring: every registered family on (N, H, W) images, column order, and NaN-aware aggregation.

``score_batch(F, A, B)`` takes images already on the reference scale (float, integer valued, 0-255; use
:func:`pipelines.metrics.arrays.fused_to_255` / ``source_to_255`` from [0, 1]) as numpy arrays or torch tensors
on any device, computes every family with torch on that device, and returns ``{column: (N,) float64 numpy}``
- the per-image values are the only data that leave the device.  ``score_pair`` is the same for one (H, W)
triple, returning floats.
"""
from __future__ import annotations

import inspect
import math
from typing import Iterable, Mapping

import numpy as np
import torch

from pipelines.metrics.arrays import as_batch, check_same_shape
from pipelines.metrics.batch import Triplet
from pipelines.metrics.registry import CORE_COLUMNS, METRICS, Metric

FAST_EXTRAS = ("Nabf",)                        # extras computed by default
SLOW_EXTRAS = ("FMI_pixel", "FMI_dct", "FMI_w")


def metric_names(include_slow: bool = False) -> list[str]:
    """Family names in table order: the 12 reference columns, then the extras (FMI only if asked)."""
    names = [*CORE_COLUMNS, *FAST_EXTRAS]
    if include_slow:
        names += SLOW_EXTRAS
    missing = [n for n in METRICS.names() if n not in (*CORE_COLUMNS, *FAST_EXTRAS, *SLOW_EXTRAS)]
    return names + missing


def columns_for(names: Iterable[str]) -> list[str]:
    """CSV column order: headline columns of ``names`` in order, then all per-source parts."""
    metrics = [METRICS.get(n) for n in names]
    return [m.name for m in metrics] + [p for m in metrics for p in m.parts]


def _call(m: Metric, batch: Triplet, options: Mapping[str, Mapping]) -> dict[str, torch.Tensor]:
    opts = dict(options.get(m.name, {}))
    if opts:
        allowed = set(inspect.signature(m.fn).parameters) - {"batch"}
        unknown = set(opts) - allowed
        if unknown:
            raise ValueError(f"metric {m.name}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return m.fn(batch, **opts)


CHUNK_CPU = 1            # images per internal pass on the CPU: larger chunks fall out of the caches (slower)
CHUNK_ACCELERATOR = 64   # on a GPU, batch: per-op launch overhead dominates small batches


def score_batch(F, A, B, metrics: Iterable[str] | None = None,
                options: Mapping[str, Mapping] | None = None, chunk: int | None = None) -> dict[str, np.ndarray]:
    """All requested metric families on (N, H, W) (or (H, W)) images on the 0-255 scale.

    ``F``, ``A``, ``B``: numpy arrays or torch tensors (all on one device: CPU or CUDA); the metrics are
    computed there in batches of ``chunk`` images (default: 1 on the CPU, 64 on an accelerator).
    ``metrics``: family names (default: the 12 reference metrics + Nabf; FMI is opt-in because it is slow).
    ``options``: per-family keyword options, e.g. ``{"SSIM": {"data_range": 255}}`` for FILM's SSIM variant.
    Returns ``{column: (N,) float64 numpy}`` with headline columns first, then the per-source parts.
    """
    F, _ = as_batch(F)
    A, _ = as_batch(A)
    B, _ = as_batch(B)
    check_same_shape(F, A, B)
    names = list(metrics) if metrics is not None else metric_names()
    options = options or {}
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(f"options given for metrics not being computed: {sorted(unknown)}")
    cols = columns_for(names)
    families = [METRICS.get(n) for n in names]
    parts: dict[str, list[torch.Tensor]] = {c: [] for c in cols}
    if chunk is None:
        chunk = CHUNK_CPU if F.device.type == "cpu" else CHUNK_ACCELERATOR
    step = max(1, chunk)
    with torch.inference_mode():
        for s in range(0, F.shape[0], step):
            batch = Triplet(F[s:s + step], A[s:s + step], B[s:s + step])
            results: dict[str, torch.Tensor] = {}
            for m in families:
                results.update(_call(m, batch, options))
            for c in cols:
                parts[c].append(results[c].to(torch.float64))
        return {c: torch.cat(v).cpu().numpy() if v else np.zeros(0) for c, v in parts.items()}


def score_pair(F, A, B, metrics: Iterable[str] | None = None,
               options: Mapping[str, Mapping] | None = None) -> dict[str, float]:
    """:func:`score_batch` for one (H, W) triple -> ``{column: float}``."""
    out = score_batch(F, A, B, metrics, options)
    return {k: float(v[0]) for k, v in out.items()}


def aggregate(per_image: Mapping[str, Iterable[float]]) -> dict[str, float | int]:
    """Unweighted mean of every column over images (the reference's aggregation), NaN made explicit.

    A column with NaN entries (SCD when F equals a source) gets its mean over the finite values AND a
    ``<column>_nan_count`` entry; columns without NaN get no count.  ``n_images`` is always present.
    """
    out: dict[str, float | int] = {}
    n = None
    for col, vals in per_image.items():
        v = np.asarray(list(vals), dtype=np.float64)
        n = v.size if n is None else n
        nan = np.isnan(v)
        out[col] = float(np.mean(v[~nan])) if (~nan).any() else math.nan
        if nan.any():
            out[f"{col}_nan_count"] = int(nan.sum())
    out["n_images"] = int(n or 0)
    return out


def nan_notes(summary: Mapping[str, float | int]) -> list[str]:
    """Human-readable lines for every ``<col>_nan_count`` in an :func:`aggregate` result."""
    notes = []
    for k, v in summary.items():
        if k.endswith("_nan_count"):
            col = k[: -len("_nan_count")]
            notes.append(f"{col}: {v} of {summary.get('n_images')} images gave NaN "
                         f"(e.g. SCD when the fused image equals a source); the mean is over the rest")
    return notes

"""Batched scoring: every registered family on (N, H, W) images, column order, and NaN-aware aggregation.

``score_batch(F, A, B)`` takes images already on the reference scale (float, integer valued, 0-255; use
:func:`pipelines.metrics.arrays.fused_to_255` / ``source_to_255`` from [0, 1]) and returns ``{column: (N,)
float64}``.  ``score_pair`` is the same for one (H, W) triple, returning floats.
"""
from __future__ import annotations

import inspect
import math
from typing import Iterable, Mapping

import numpy as np

from pipelines.metrics.arrays import as_batch, check_same_shape
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


def _call(m: Metric, F, A, B, options: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
    opts = dict(options.get(m.name, {}))
    if opts:
        allowed = set(inspect.signature(m.fn).parameters) - {"F", "A", "B"}
        unknown = set(opts) - allowed
        if unknown:
            raise ValueError(f"metric {m.name}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return m.fn(F, A, B, **opts)


CHUNK = 1     # images per internal pass: larger chunks fall out of the CPU caches and were slower on one core


def score_batch(F, A, B, metrics: Iterable[str] | None = None,
                options: Mapping[str, Mapping] | None = None, chunk: int = CHUNK) -> dict[str, np.ndarray]:
    """All requested metric families on (N, H, W) (or (H, W)) images on the 0-255 scale.

    ``metrics``: family names (default: the 12 reference metrics + Nabf; FMI is opt-in because it is slow).
    ``options``: per-family keyword options, e.g. ``{"SSIM": {"data_range": 255}}`` for FILM's SSIM variant.
    Returns ``{column: (N,) float64}`` with headline columns first, then the per-source parts.
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
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    for s in range(0, F.shape[0], max(1, chunk)):
        sl = slice(s, s + max(1, chunk))
        results: dict[str, np.ndarray] = {}
        for n in names:
            results.update(_call(METRICS.get(n), F[sl], A[sl], B[sl], options))
        for c in cols:
            parts[c].append(np.asarray(results[c], dtype=np.float64))
    return {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}


def score_pair(F, A, B, metrics: Iterable[str] | None = None,
               options: Mapping[str, Mapping] | None = None) -> dict[str, float]:
    """:func:`score_batch` for one (H, W) triple -> ``{column: float}``."""
    out = score_batch(np.asarray(F)[None] if np.ndim(F) == 2 else F,
                      np.asarray(A)[None] if np.ndim(A) == 2 else A,
                      np.asarray(B)[None] if np.ndim(B) == 2 else B, metrics, options)
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

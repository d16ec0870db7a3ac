"""Comparing fusion methods on the field's eight headline metrics: per-image win rates, wins of 8, bootstrap CIs.

The eight headline metrics of the Harvard medical-fusion tables (CDDFuse, DDFM, EMMA, ...) are
``HEADLINE = EN, SD, SF, MI, SCD, VIF, Qabf, SSIM``; higher is better for all eight.

**Headline win rate** (the promotion rule's and the tune objective's metric, ``docs/evaluation.md``).  For a
method M, a reference set R of methods (the classical baselines) and N test images, computed **per image**:

    win_rate(M) = 1/N Σ_i  1/(|R|·8) Σ_{r∈R} Σ_{k∈HEADLINE} w(M_ik, r_ik)

with w(x, y) = 1 if x > y, ½ if x = y, 0 if x < y.  A NaN value (SCD when F equals a source) loses to any
number and ties with NaN.  It is the probability that M beats a random baseline on a random image and metric:
0.5 means "as good as the typical baseline", a method that beats every baseline on every image and metric
scores 1, and a baseline scored against a set that contains itself gets ½ from its own column.  Unlike a
weighted sum of metric means it needs no weights or scales (SD is ~60, Qabf ~0.7), one image cannot dominate
it, and it rewards being better on many metrics, which is what the field's tables are read for.

**Wins of 8** (the quality bar, ``reports/bench/quality.md``): on the *means* over the test pairs, the number of
headline metrics on which M is above a method r, as the published tables are read.

**Bootstrap CIs**: percentile intervals of the mean over test pairs, resampling pairs with replacement.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

HEADLINE: tuple[str, ...] = ("EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM")

PerImage = Mapping[str, np.ndarray]           # {metric column: (N,) per-image values}

#: the evaluate stage's default protocol (CDDFuse's test_MIF.py): fused outputs min-max stretched per image,
#: SSIM with data_range 2 (params.yaml evaluate.stretch / evaluate.ssim_data_range)
STRETCH = True
SSIM_DATA_RANGE = 2.0


def score_headline(fused: np.ndarray, a: np.ndarray, b: np.ndarray, stretch: bool = STRETCH,
                   ssim_data_range: float = SSIM_DATA_RANGE) -> dict[str, np.ndarray]:
    """Per-image HEADLINE values of fused (N, H, W) images in [0, 1] against sources A, B in [0, 1], scored
    as the evaluate stage scores them."""
    from pipelines.metrics import fused_to_255, score_batch, source_to_255
    s = score_batch(fused_to_255(fused, stretch=stretch), source_to_255(a), source_to_255(b),
                    metrics=list(HEADLINE), options={"SSIM": {"data_range": ssim_data_range}})
    return {k: np.asarray(s[k], dtype=np.float64) for k in HEADLINE}


def _win(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """w(x, y) element-wise: 1 / ½ / 0; NaN loses to a number, NaN vs NaN is a tie."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xn, yn = np.isnan(x), np.isnan(y)
    out = np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))
    out = np.where(xn & ~yn, 0.0, out)
    out = np.where(~xn & yn, 1.0, out)
    return np.where(xn & yn, 0.5, out)


def _check(values: PerImage, name: str, n: int | None, metrics: tuple[str, ...]) -> int:
    missing = [k for k in metrics if k not in values]
    if missing:
        raise KeyError(f"{name}: per-image values lack {missing}")
    sizes = {len(np.asarray(values[k])) for k in metrics}
    if len(sizes) != 1 or (n is not None and sizes != {n}):
        raise ValueError(f"{name}: per-image columns must all have {n if n is not None else 'one'} values, "
                         f"got sizes {sorted(sizes)}")
    return sizes.pop()


def per_image_win_rate(method: PerImage, references: Mapping[str, PerImage],
                       metrics: tuple[str, ...] = HEADLINE) -> np.ndarray:
    """(N,) per-image win rate of ``method`` against ``references`` (see the module docstring)."""
    if not references:
        raise ValueError("win rate needs at least one reference method")
    n = _check(method, "method", None, metrics)
    total = np.zeros(n)
    for name, ref in references.items():
        _check(ref, name, n, metrics)
        for k in metrics:
            total += _win(method[k], ref[k])
    return total / (len(references) * len(metrics))


def win_rate(method: PerImage, references: Mapping[str, PerImage], metrics: tuple[str, ...] = HEADLINE) -> float:
    """Mean over images of :func:`per_image_win_rate`."""
    return float(per_image_win_rate(method, references, metrics).mean())


def headline_wins(method_means: Mapping[str, float], reference_means: Mapping[str, float],
                  metrics: tuple[str, ...] = HEADLINE) -> list[str]:
    """The metrics on which ``method``'s mean is strictly above the reference's (NaN never wins)."""
    out = []
    for k in metrics:
        x, y = method_means.get(k), reference_means.get(k)
        if x is not None and y is not None and np.isfinite(x) and (not np.isfinite(y) or x > y):
            out.append(k)
    return out


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
                 ) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs dropped); (nan, nan) for no finite value."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_bootstrap_ci(x: np.ndarray, y: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
                        ) -> tuple[float, float, float]:
    """Mean of x - y over the pairs where both are finite and its percentile bootstrap interval."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    d = (x - y)[np.isfinite(x) & np.isfinite(y)]
    lo, hi = bootstrap_ci(d, n_boot, level, seed)
    return (float(d.mean()) if len(d) else float("nan")), lo, hi


def paired_verdicts(method: PerImage, reference: PerImage, metrics: tuple[str, ...] = HEADLINE,
                    n_boot: int = 2000, level: float = 0.95) -> dict[str, tuple[float, float, float, str]]:
    """Per metric, the paired difference of the means (method - reference, over the images where both are
    finite), its percentile bootstrap interval, and a verdict: ``"+"`` when the whole interval is above 0 (a win
    the test pairs support), ``"-"`` when it is below 0, ``"="`` when it contains 0 (a difference of the means
    that resampling the pairs can reverse).  Images are resampled independently; slices of one patient are
    correlated, so the interval understates the between-patient uncertainty."""
    _check(reference, "reference", _check(method, "method", None, metrics), metrics)
    out = {}
    for k in metrics:
        diff, lo, hi = paired_bootstrap_ci(method[k], reference[k], n_boot, level)
        out[k] = (diff, lo, hi, "+" if lo > 0 else "-" if hi < 0 else "=")
    return out

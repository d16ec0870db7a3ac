"""Validation objectives for training reports, checkpoint selection and Ray Tune (higher is better).

``headline_win_rate`` (default): the per-image win rate against the classical baselines on the eight headline
metrics (:mod:`pipelines.metrics.comparison`), the promotion rule's metric; see :func:`headline_win_rate`.

``qabf_ssim_min``:  score = Qabf(A, B; F) + 2 * min(SSIM(F, A), SSIM(F, B)).

Why: Qabf (Xydeas & Petrovic 2000) measures how much of both sources' edge strength and orientation reaches
the fused image, and SSIM measures structural fidelity.  The field's usual SSIM(F, A) + SSIM(F, B) sum (and Qabf
itself) rewards collapsing to the MRI: FUSION_METRICS.md §5.6 notes that "return the MRI" scores Qabf 0.79 and
SSIM 1.51 on MRI-SPECT, above the published CDDFuse.  Taking twice the *weaker* source's SSIM keeps the scale of
the sum (0..2), per image, but gives a one-modality output only its weaker side, so a model that drops the functional
image cannot win a tuning trial.  ``qabf_ssim`` (the plain sum) is registered too, for comparison with tables.

Objectives take fused, A, B as (N, H, W) float arrays in [0, 1] and return ``{"score": ..., parts...}`` means.
Metrics come from :mod:`pipelines.metrics` (the project's conventions: 8-bit rounding, SSIM data_range as
documented there).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gan_models.registry import Registry

Objective = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, float]]
OBJECTIVES: Registry = Registry("validation objective")


def _qabf_ssim(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image Qabf, SSIM(F, A), SSIM(F, B) on the reference 0-255 scale (fused not min-max stretched:
    the model's own output is what gets shipped)."""
    from pipelines.metrics import fused_to_255, score_batch, source_to_255
    s = score_batch(fused_to_255(fused, stretch=False), source_to_255(a), source_to_255(b),
                    metrics=["Qabf", "SSIM"])
    return {"qabf": s["Qabf"], "ssim_fa": s["SSIM_A"], "ssim_fb": s["SSIM_B"]}


def _means(score: np.ndarray, parts: dict[str, np.ndarray]) -> dict[str, float]:
    return {"score": float(np.mean(score)), **{k: float(np.mean(v)) for k, v in parts.items()}}


@OBJECTIVES.register("qabf_ssim_min")
def qabf_ssim_min(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    p = _qabf_ssim(fused, a, b)
    return _means(p["qabf"] + 2.0 * np.minimum(p["ssim_fa"], p["ssim_fb"]), p)


@OBJECTIVES.register("qabf_ssim")
def qabf_ssim(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    p = _qabf_ssim(fused, a, b)
    return _means(p["qabf"] + p["ssim_fa"] + p["ssim_fb"], p)


#: the reference set of the win-rate objective: the classical baselines (not the degenerate return_a/return_b)
CLASSICAL_BASELINES: tuple[str, ...] = ("mean", "max", "pca", "laplacian", "dwt", "guided")
_BASELINE_CACHE: dict[bytes, dict[str, dict[str, np.ndarray]]] = {}


def baseline_scores(a: np.ndarray, b: np.ndarray, names: tuple[str, ...] = CLASSICAL_BASELINES
                    ) -> dict[str, dict[str, np.ndarray]]:
    """Per-image headline values of each classical baseline on (A, B), computed once per image set (the val
    split does not change during a run)."""
    import hashlib

    from pipelines.baselines import BASELINES
    from pipelines.metrics.comparison import score_headline
    key = hashlib.sha1(np.ascontiguousarray(a).tobytes() + np.ascontiguousarray(b).tobytes()
                       + ",".join(names).encode()).digest()
    if key not in _BASELINE_CACHE:
        _BASELINE_CACHE.clear()                   # one image set at a time is all a run needs
        _BASELINE_CACHE[key] = {n: score_headline(BASELINES.get(n)(a, b), a, b) for n in names}
    return _BASELINE_CACHE[key]


@OBJECTIVES.register("headline_win_rate")
def headline_win_rate(fused: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Per-image win rate against the classical baselines on the eight headline metrics
    (:mod:`pipelines.metrics.comparison`), scored with the evaluate stage's protocol (per-image stretch, SSIM
    data_range 2): the promotion rule's metric, so tuning and checkpoint selection optimise what promotes.
    Parts: the mean of each headline metric and the number of baselines beaten on >= 5 of 8 means."""
    from pipelines.metrics.comparison import HEADLINE, headline_wins, per_image_win_rate, score_headline
    refs = baseline_scores(np.asarray(a), np.asarray(b))
    mine = score_headline(fused, a, b)
    means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in mine.items()}
    beaten = sum(len(headline_wins(means, {k: float(np.nanmean(v)) for k, v in r.items()})) >= 5
                 for r in refs.values())
    return {"score": float(per_image_win_rate(mine, refs).mean()), "baselines_beaten_5of8": float(beaten),
            **{k.lower(): means[k] for k in HEADLINE}}

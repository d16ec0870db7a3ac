"""Validation objectives for training reports, checkpoint selection and Ray Tune (higher is better).

``qabf_ssim_min`` (default):  score = Qabf(A, B; F) + 2 * min(SSIM(F, A), SSIM(F, B)).

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

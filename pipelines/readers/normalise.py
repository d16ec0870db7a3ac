"""Per-modality intensity normalisation of quantitative volumes to [0, 1].

* CT (Hounsfield units): a linear window ``[level - width/2, level + width/2]`` -> [0, 1], clipped.  The
  default (level 40 HU, width 200 HU) shows grey/white matter contrast (~8 HU apart) and saturates bone to
  white, which is how the Harvard AANLIB CT slices look.
* MRI, PET, SPECT and anything else (arbitrary units, Bq/ml, counts): robust percentiles over the finite
  voxels of the whole volume (default 0.5 and 99.5) -> [0, 1], clipped.  One volume, one mapping, so slices
  keep their relative brightness.

The same function normalises a NIfTI or DICOM volume at ingest and the phantom's volumes before they are
quantised into 8-bit AANLIB PNGs, which is why the three phantom formats ingest to the same images.
AANLIB images (already 8-bit display images) are not renormalised: value / 255.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from gan_models.registry import Registry


@dataclass(frozen=True)
class NormaliseParams:
    ct_level: float = 40.0          # HU
    ct_width: float = 200.0         # HU
    low_percentile: float = 0.5
    high_percentile: float = 99.5

    def __post_init__(self):
        if self.ct_width <= 0:
            raise ValueError(f"ingest.normalise.ct_width must be > 0 HU, got {self.ct_width}")
        if not 0.0 <= self.low_percentile < self.high_percentile <= 100.0:
            raise ValueError("ingest.normalise: need 0 <= low_percentile < high_percentile <= 100, got "
                             f"{self.low_percentile}, {self.high_percentile}")


NORMALISERS: Registry[Callable[[np.ndarray, NormaliseParams], np.ndarray]] = Registry("normaliser")

# modality name -> normaliser; anything not listed uses "robust_percentile"
MODALITY_NORMALISER = {"CT": "hu_window"}


@NORMALISERS.register("hu_window")
def hu_window(volume: np.ndarray, p: NormaliseParams) -> np.ndarray:
    lo = p.ct_level - p.ct_width / 2.0
    return np.clip((np.asarray(volume, np.float64) - lo) / p.ct_width, 0.0, 1.0).astype(np.float32)


@NORMALISERS.register("robust_percentile")
def robust_percentile(volume: np.ndarray, p: NormaliseParams) -> np.ndarray:
    v = np.asarray(volume, np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros(v.shape, np.float32)
    lo, hi = np.percentile(finite, [p.low_percentile, p.high_percentile])
    if hi <= lo:                      # (nearly) constant volume: fall back to the full range
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros(v.shape, np.float32)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def normaliser_for(modality: str) -> str:
    return MODALITY_NORMALISER.get(modality.upper(), "robust_percentile")


def normalise_volume(modality: str, volume: np.ndarray, params: NormaliseParams) -> np.ndarray:
    """Volume (any shape) of ``modality`` in its physical units -> float32 in [0, 1] (NaN/inf -> 0)."""
    out = NORMALISERS.get(normaliser_for(modality))(volume, params)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

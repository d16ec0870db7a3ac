"""A coarser B detector (``medfuse phantom --b-scale R``, ``phantom.b_scale``): CT, PET and SPECT recorded with
pixels R times larger in-plane than A's (R mm instead of 1 mm), as functional scans are natively coarser than
MRI (DDcGAN fuses a 64x64 PET with a 256x256 MRI).

Physics of the larger pixel, per modality (:data:`COARSE_DETECTORS`, keyed by modality name):

1. the modality's noise-free image is simulated as usual on the 1 mm display slices (PET / SPECT: activity,
   3-D PSF on their 2 / 4 mm grid, resliced; CT: HU with its 0.5 mm in-plane blur), then **integrated over each
   R x R mm detector pixel** (the block mean, :func:`pipelines.imaging.multires.box_downsample`): the pixel
   response of a detector element is a box of its own size, on top of the system PSF;
2. the noise is drawn **per detector pixel, at that pixel's signal**:

   * PET / SPECT: Poisson counts.  A pixel of R x R mm in-plane and one voxel (v mm) thick collects
     ``(R / v)^2`` times the counts of a v-mm voxel (PET v = 2, SPECT v = 4: at R = 4, PET pixels get 4 x the
     counts, so relative noise halves; SPECT pixels the same counts as before), and the value is brought back to
     the modality's unit (Bq/ml, counts per v-mm voxel) so intensities compare with R = 1;
   * CT: Gaussian noise of ``ct_noise_hu / R`` (quantum noise falls as 1/sqrt(photons), and a pixel R^2 times
     larger catches R^2 times the photons).

MR contrasts used as B (T2, PD, FLAIR) share A's scanner and grid and stay at 1 mm.  The noise streams are the
case's per-modality generators (:meth:`pipelines.phantom.cases.Case.noise_rng`), so a seed gives identical files.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gan_models.registry import Registry
from pipelines.imaging.multires import box_downsample
from pipelines.phantom.modalities import MODALITIES, CasePhysics

#: modality name -> noise of the coarse detector: ``(binned noise-free image, physics, R, rng) -> image``
NoiseModel = Callable[[np.ndarray, CasePhysics, int, np.random.Generator], np.ndarray]
COARSE_DETECTORS: Registry[NoiseModel] = Registry("coarse B detector")


def counts_per_pixel_factor(voxel_mm: float, r: int) -> float:
    """Counts of an R x R mm pixel (one voxel thick) relative to a cubic v-mm voxel: ``(R / v)^2``."""
    return (float(r) / float(voxel_mm)) ** 2


def _poisson(expected_counts: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of a pixel collecting ``factor`` x ``expected_counts``, divided back by ``factor``."""
    return rng.poisson(np.clip(expected_counts * factor, 0, None)).astype(np.float64) / factor


@COARSE_DETECTORS.register("PET")
def coarse_pet(binned_bqml: np.ndarray, phys: CasePhysics, r: int, rng: np.random.Generator) -> np.ndarray:
    to_counts = phys.pet_gm_counts / phys.pet_gm_bqml
    factor = counts_per_pixel_factor(MODALITIES.get("PET").voxel_mm, r)
    return (_poisson(binned_bqml * to_counts, factor, rng) / to_counts).astype(np.float32)


@COARSE_DETECTORS.register("SPECT")
def coarse_spect(binned_counts: np.ndarray, phys: CasePhysics, r: int, rng: np.random.Generator) -> np.ndarray:
    factor = counts_per_pixel_factor(MODALITIES.get("SPECT").voxel_mm, r)
    return _poisson(binned_counts, factor, rng).astype(np.float32)


@COARSE_DETECTORS.register("CT")
def coarse_ct(binned_hu: np.ndarray, phys: CasePhysics, r: int, rng: np.random.Generator) -> np.ndarray:
    return (binned_hu + rng.normal(0.0, phys.ct_noise_hu / r, binned_hu.shape)).astype(np.float32)


def coarse_modalities() -> list[str]:
    """The B modalities a coarser detector applies to."""
    return COARSE_DETECTORS.names()


def coarse_image(name: str, noise_free: np.ndarray, phys: CasePhysics, r: int, rng: np.random.Generator,
                 noise: bool = True) -> np.ndarray:
    """(K, H/R, W/R) image of modality ``name`` seen by the coarse detector, from its noise-free (K, H, W)
    stack on the 1 mm display slices (see the module docstring)."""
    binned = box_downsample(np.asarray(noise_free, np.float64), r)
    if not noise:
        return binned.astype(np.float32)
    return COARSE_DETECTORS.get(name)(binned, phys, r, rng)

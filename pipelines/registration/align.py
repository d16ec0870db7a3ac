"""Align one unit (a 2-D pair or a whole volume pair) and decide whether to keep the result.

``align_unit`` registers B's luma onto A, resamples B (and its Cb/Cr with the same transform, neutral
chroma outside the field), and measures NMI / NCC before and after.  It never makes things worse: when
the optimum's NMI is not above the identity's by more than ``min_nmi_gain``, or the optimiser fails,
B is kept bit-for-bit and the status is ``kept_original`` with the reason.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from pipelines.registration import engine, metrics
from pipelines.registration.config import RegisterParams
from pipelines.registration.transforms import (identity_like, in_plane_motion, max_displacement_vox,
                                               transform_to_dict)

NEUTRAL_CHROMA = 0.5


@dataclass
class UnitImages:
    """A 2-D pair (arrays H x W) or a volume pair (Z x H x W); spacing in numpy axis order (mm)."""
    a: np.ndarray
    b: np.ndarray
    b_cb: np.ndarray | None = None
    b_cr: np.ndarray | None = None
    spacing: tuple[float, ...] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.a.shape != self.b.shape or self.a.ndim not in (2, 3):
            raise ValueError(f"A {self.a.shape} and B {self.b.shape} must be equal-shaped 2-D or 3-D arrays")
        if (self.b_cb is None) != (self.b_cr is None):
            raise ValueError("b_cb and b_cr must both be given or both be None")
        if len(self.spacing) != self.a.ndim:
            raise ValueError(f"spacing {self.spacing} does not match a {self.a.ndim}-D image")


@dataclass
class UnitOutcome:
    status: str                          # "registered" | "kept_original"
    reason: str
    b: np.ndarray
    b_cb: np.ndarray | None
    b_cr: np.ndarray | None
    nmi_before: float
    nmi_after: float                     # of the B that is written (== before when kept)
    ncc_before: float
    ncc_after: float
    candidate_nmi: float                 # NMI of the optimum, accepted or not
    applied: dict                        # transform JSON of what was applied (identity when kept)
    candidate: dict | None               # transform JSON of the optimum (None if the optimiser failed)
    motion: dict                         # in-plane rotation / centre shift of the candidate
    max_displacement_vox: float
    seconds: float
    optimiser: dict = field(default_factory=dict)


def _sitk_spacing(spacing_numpy_order) -> tuple[float, ...]:
    return tuple(float(s) for s in reversed(spacing_numpy_order))


def align_unit(unit: UnitImages, cfg: RegisterParams) -> UnitOutcome:
    t0 = time.perf_counter()
    sp = _sitk_spacing(unit.spacing)
    fixed = engine.to_image(unit.a, sp)
    moving = engine.to_image(unit.b, sp)
    centre = engine.image_centre(fixed)
    nmi_before = metrics.nmi(unit.a, unit.b, cfg.nmi_bins)
    ncc_before = metrics.ncc(unit.a, unit.b)
    identity = identity_like(cfg.transform, unit.a.ndim, centre)

    def kept(reason: str, candidate: sitk.Transform | None, cand_nmi: float, optimiser: dict) -> UnitOutcome:
        return UnitOutcome(
            status="kept_original", reason=reason, b=unit.b, b_cb=unit.b_cb, b_cr=unit.b_cr,
            nmi_before=nmi_before, nmi_after=nmi_before, ncc_before=ncc_before, ncc_after=ncc_before,
            candidate_nmi=cand_nmi, applied=transform_to_dict(identity, cfg.transform),
            candidate=None if candidate is None else transform_to_dict(candidate, cfg.transform),
            motion={} if candidate is None else in_plane_motion(candidate, centre, sp),
            max_displacement_vox=0.0 if candidate is None else max_displacement_vox(
                candidate, fixed.GetSize(), sp, fixed.GetOrigin()),
            seconds=time.perf_counter() - t0, optimiser=optimiser)

    try:
        opt = engine.register(fixed, moving, cfg)
    except RuntimeError as exc:          # ITK raises RuntimeError e.g. when too few samples overlap
        return kept(f"optimiser failed: {str(exc).strip().splitlines()[-1]}", None, float("nan"), {})
    optimiser = {"mattes_mi": opt.mattes_mi, "iterations_last_level": opt.iterations,
                 "stop_condition": opt.stop_condition}
    b_new = np.clip(engine.to_array(engine.resample(moving, fixed, opt.transform, 0.0, cfg.threads)), 0.0, 1.0)
    cand_nmi = metrics.nmi(unit.a, b_new, cfg.nmi_bins)
    if not np.isfinite(cand_nmi) or cand_nmi - nmi_before <= cfg.min_nmi_gain:
        return kept(f"optimum NMI {cand_nmi:.4f} is not above identity NMI {nmi_before:.4f} "
                    f"by more than {cfg.min_nmi_gain:g}", opt.transform, cand_nmi, optimiser)

    def chroma(c: np.ndarray | None) -> np.ndarray | None:
        if c is None:
            return None
        img = engine.resample(engine.to_image(c, sp), fixed, opt.transform, NEUTRAL_CHROMA, cfg.threads)
        return np.clip(engine.to_array(img), 0.0, 1.0)

    cand = transform_to_dict(opt.transform, cfg.transform)
    return UnitOutcome(
        status="registered", reason="optimum improves NMI", b=b_new.astype(np.float32),
        b_cb=chroma(unit.b_cb), b_cr=chroma(unit.b_cr),
        nmi_before=nmi_before, nmi_after=cand_nmi, ncc_before=ncc_before, ncc_after=metrics.ncc(unit.a, b_new),
        candidate_nmi=cand_nmi, applied=cand, candidate=cand, motion=in_plane_motion(opt.transform, centre, sp),
        max_displacement_vox=max_displacement_vox(opt.transform, fixed.GetSize(), sp, fixed.GetOrigin()),
        seconds=time.perf_counter() - t0, optimiser=optimiser)

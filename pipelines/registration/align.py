"""Align one unit (a 2-D pair or a whole volume pair) and decide whether to keep the result.

``align_unit`` registers B's luma onto A, resamples B (and its Cb/Cr with the same transform, neutral
chroma outside the field), and measures NMI / NCC before and after.  It never makes things worse: when
the optimum's accept/reject NMI is not above the identity's by more than ``min_nmi_gain``, or the optimiser
fails, B is kept bit-for-bit and the status is ``kept_original`` with the reason.

The accept/reject NMI (``accept_nmi_*``, ``nmi_bins``) is that of A and B both blurred by a Gaussian of
``accept_sigma_vox`` voxels in-plane and, for volumes, at most half a voxel along z.  Without the blur the
comparison is biased towards identity: the candidate B is linearly interpolated, which averages its noise
and changes its histogram, while the identity B is not.  On noisy SPECT that bias is as large as the whole
gain of a correct 3-degree registration (phantom volume MRI_SPECT/ph02, 10 slices: raw NMI 1.1608 at
identity, 1.1587 at the correct optimum); the blur makes both sides equally smooth.  Along z half a voxel
is the most that linear interpolation between slices blurs (kernel variance at most 1/4 voxel^2), while a
wider blur across thick slices (12 mm in the phantom) mixes distant anatomy and washes the gain out.  The
raw NMI / NCC before and after are reported as well.

Threshold: on the 711 registered Harvard pairs most candidates move by degrees or voxels, with accept gains
up to ~0.03.  ``min_nmi_gain`` 0.01 keeps all but 57 (128 px) / 42 (256 px) of them at identity, while every
phantom pair misaligned beyond 1 degree / 1 voxel gains at least 0.013 (figures in docs/data_pipeline.md).

The pieces are shared with the case consensus pass (:mod:`pipelines.registration.consensus`), which may give a
2-D slice its case's median transform instead of its own optimum: :func:`frame` (what every evaluation of a
unit shares), :func:`evaluate` (B resampled by a given transform, raw and accept NMI), :func:`kept_outcome`
and :func:`applied_outcome` (Cb/Cr resampled with the applied transform).  ``UnitOutcome.source`` says what
was applied: ``identity``, ``own`` (the unit's optimum) or ``case_consensus``.

Multi-resolution units (``UnitImages.b_scale`` r > 1, B at ``1/r`` of A's in-plane resolution,
:mod:`pipelines.imaging.multires`): B keeps its resolution.  The moving image is B on its own physical grid
(in-plane spacing r times A's, first pixel centre ``(r - 1) / 2`` A-pixels from A's), registered against A at
full resolution, and B is resampled onto **A's field of view at B's resolution** (the grid :attr:`Frame.b_grid`).
Every NMI / NCC compares B with A box-averaged onto that grid (:attr:`UnitImages.a_low`): what A looks like
through B's larger pixels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from pipelines.imaging.multires import box_downsample
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
    b_scale: int = 1                     # B at 1/b_scale of A's in-plane resolution (the last two axes)

    def __post_init__(self) -> None:
        r = self.b_scale
        want = self.a.shape[:-2] + tuple(n // r for n in self.a.shape[-2:])
        if self.a.ndim not in (2, 3) or self.b.shape != want or any(n % r for n in self.a.shape[-2:]):
            raise ValueError(f"A {self.a.shape} and B {self.b.shape} must be 2-D or 3-D arrays with B "
                             + ("equal-shaped" if r == 1 else f"at 1/{r} of A in-plane"))
        if (self.b_cb is None) != (self.b_cr is None):
            raise ValueError("b_cb and b_cr must both be given or both be None")
        if len(self.spacing) != self.a.ndim:
            raise ValueError(f"spacing {self.spacing} does not match a {self.a.ndim}-D image")

    @property
    def a_low(self) -> np.ndarray:
        """A on B's grid (box-averaged r x r in-plane; A itself when r = 1): the reference of every metric."""
        return box_downsample(self.a, self.b_scale)

    @property
    def b_spacing(self) -> tuple[float, ...]:
        """B's spacing, numpy axis order: in-plane r times A's."""
        return tuple(self.spacing[:-2]) + tuple(s * self.b_scale for s in self.spacing[-2:])


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
    accept_nmi_before: float             # accept/reject NMI (blurred, see module doc) of the identity ...
    accept_nmi_candidate: float          # ... and of the optimum (NaN if the optimiser failed)
    accept_nmi_after: float              # ... and of the B that is written (the identity's when kept)
    applied: dict                        # transform JSON of what was applied (identity when kept)
    candidate: dict | None               # transform JSON of the optimum (None if the optimiser failed)
    motion: dict                         # in-plane rotation / centre shift of the candidate
    applied_motion: dict                 # ... and of what was applied (zero when kept)
    max_displacement_vox: float          # of the candidate
    seconds: float
    optimiser: dict = field(default_factory=dict)
    source: str = "own"                  # what was applied: "identity" | "own" (candidate) | "case_consensus"
    consensus: dict | None = None        # 2-D slices: the case consensus pass (pipelines.registration.consensus)


@dataclass
class Frame:
    """What every evaluation of a transform on one unit shares: the sitk images, centre and the identity's
    raw / accept NMI (the accept side blurred by ``sigma``)."""
    unit: UnitImages
    sp: tuple[float, ...]                # spacing, sitk order
    fixed: sitk.Image
    moving: sitk.Image
    centre: np.ndarray
    b_grid: sitk.Image                   # where B is resampled to: A's field of view at B's resolution
    a_low: np.ndarray                    # A on that grid (UnitImages.a_low)
    sigma: tuple[float, ...]
    a_blur: np.ndarray
    nmi_before: float
    ncc_before: float
    accept_before: float
    identity: sitk.Transform


@dataclass
class Evaluation:
    """A transform applied to a unit's B: the resampled luma, its raw NMI and its accept/reject NMI."""
    transform: sitk.Transform
    b: np.ndarray
    nmi: float
    accept_nmi: float


def _sitk_spacing(spacing_numpy_order) -> tuple[float, ...]:
    return tuple(float(s) for s in reversed(spacing_numpy_order))


def accept_sigma(ndim: int, cfg: RegisterParams) -> tuple[float, ...]:
    """Per-axis (numpy order) blur of the accept/reject NMI: ``accept_sigma_vox`` in-plane, at most 0.5 along z."""
    return (min(cfg.accept_sigma_vox, 0.5),) * (ndim - 2) + (cfg.accept_sigma_vox,) * 2


def b_image(array: np.ndarray, unit: UnitImages) -> sitk.Image:
    """A B-resolution array as a sitk image on B's physical grid: spacing ``unit.b_spacing``, first pixel centre
    ``(r - 1) / 2`` A-pixels in-plane from A's (origin 0), so both cover one field of view."""
    sp = _sitk_spacing(unit.b_spacing)
    img = engine.to_image(array, sp)
    half = (unit.b_scale - 1) / 2.0
    a_sp = _sitk_spacing(unit.spacing)
    img.SetOrigin(tuple(half * a_sp[i] if i < 2 else 0.0 for i in range(len(sp))))
    return img


def _accept_b(fr_fixed: sitk.Image, moving: sitk.Image, unit: UnitImages, transform: sitk.Transform | None,
              b_on_grid: np.ndarray, threads: int) -> np.ndarray:
    """The B the accept/reject NMI compares with A: B on its own grid when r = 1; for a multi-resolution unit B
    resampled by ``transform`` onto A's full-resolution grid, so identity and candidate are both interpolated
    from B's grid and compared with A at A's resolution (on B's coarse grid a correct 3-degree rotation moves
    the blurred NMI by less than ``min_nmi_gain``)."""
    if unit.b_scale == 1:
        return b_on_grid
    return np.clip(engine.to_array(engine.resample(moving, fr_fixed, transform, 0.0, threads)), 0.0, 1.0)


def frame(unit: UnitImages, cfg: RegisterParams) -> Frame:
    sp = _sitk_spacing(unit.spacing)
    fixed = engine.to_image(unit.a, sp)
    centre = engine.image_centre(fixed)
    sigma = accept_sigma(unit.a.ndim, cfg)
    a_low = unit.a_low
    a_blur = metrics.blurred(unit.a, sigma)
    moving = b_image(unit.b, unit)
    identity = identity_like(cfg.transform, unit.a.ndim, centre)
    b_accept = _accept_b(fixed, moving, unit, identity, unit.b, cfg.threads)
    return Frame(unit=unit, sp=sp, fixed=fixed, moving=moving, centre=centre,
                 b_grid=fixed if unit.b_scale == 1 else moving, a_low=a_low, sigma=sigma,
                 a_blur=a_blur, nmi_before=metrics.nmi(a_low, unit.b, cfg.nmi_bins),
                 ncc_before=metrics.ncc(a_low, unit.b),
                 accept_before=metrics.nmi(a_blur, metrics.blurred(b_accept, sigma), cfg.nmi_bins),
                 identity=identity)


def evaluate(fr: Frame, transform: sitk.Transform, cfg: RegisterParams) -> Evaluation:
    """B resampled by ``transform`` onto A's grid at B's resolution (clipped to [0, 1]) with its raw and
    accept/reject NMI."""
    b_new = np.clip(engine.to_array(engine.resample(fr.moving, fr.b_grid, transform, 0.0, cfg.threads)), 0.0, 1.0)
    b_accept = _accept_b(fr.fixed, fr.moving, fr.unit, transform, b_new, cfg.threads)
    return Evaluation(transform=transform, b=b_new, nmi=metrics.nmi(fr.a_low, b_new, cfg.nmi_bins),
                      accept_nmi=metrics.nmi(fr.a_blur, metrics.blurred(b_accept, fr.sigma), cfg.nmi_bins))


def _candidate_report(fr: Frame, candidate: sitk.Transform | None, cfg: RegisterParams) -> dict:
    """The UnitOutcome fields describing the unit's own optimum (empty / zero when the optimiser failed)."""
    if candidate is None:
        return {"candidate": None, "motion": {}, "max_displacement_vox": 0.0}
    return {"candidate": transform_to_dict(candidate, cfg.transform),
            "motion": in_plane_motion(candidate, fr.centre, fr.sp),
            "max_displacement_vox": max_displacement_vox(candidate, fr.fixed.GetSize(), fr.sp, fr.fixed.GetOrigin())}


def kept_outcome(fr: Frame, reason: str, cfg: RegisterParams, candidate: sitk.Transform | None,
                 cand_nmi: float, cand_accept: float, optimiser: dict, seconds: float) -> UnitOutcome:
    """B kept bit-for-bit (identity applied); the rejected candidate, if any, is reported."""
    u = fr.unit
    return UnitOutcome(
        status="kept_original", reason=reason, b=u.b, b_cb=u.b_cb, b_cr=u.b_cr,
        nmi_before=fr.nmi_before, nmi_after=fr.nmi_before, ncc_before=fr.ncc_before, ncc_after=fr.ncc_before,
        candidate_nmi=cand_nmi, accept_nmi_before=fr.accept_before, accept_nmi_candidate=cand_accept,
        accept_nmi_after=fr.accept_before, applied=transform_to_dict(fr.identity, cfg.transform),
        **_candidate_report(fr, candidate, cfg),
        applied_motion=in_plane_motion(fr.identity, fr.centre, fr.sp),
        seconds=seconds, optimiser=optimiser, source="identity")


def applied_outcome(fr: Frame, ev: Evaluation, reason: str, cfg: RegisterParams, source: str,
                    candidate: sitk.Transform | None, cand_nmi: float, cand_accept: float, optimiser: dict,
                    seconds: float) -> UnitOutcome:
    """``ev``'s transform applied: B from ``ev``, Cb/Cr resampled with the same transform (neutral outside).
    ``candidate``: the unit's own optimum (reported; None if the optimiser failed), which may differ from
    ``ev.transform`` when the case consensus is applied."""
    u = fr.unit

    def chroma(c: np.ndarray | None) -> np.ndarray | None:
        if c is None:
            return None
        img = engine.resample(b_image(c, u), fr.b_grid, ev.transform, NEUTRAL_CHROMA, cfg.threads)
        return np.clip(engine.to_array(img), 0.0, 1.0)

    return UnitOutcome(
        status="registered", reason=reason, b=ev.b.astype(np.float32), b_cb=chroma(u.b_cb), b_cr=chroma(u.b_cr),
        nmi_before=fr.nmi_before, nmi_after=ev.nmi, ncc_before=fr.ncc_before, ncc_after=metrics.ncc(fr.a_low, ev.b),
        candidate_nmi=cand_nmi, accept_nmi_before=fr.accept_before, accept_nmi_candidate=cand_accept,
        accept_nmi_after=ev.accept_nmi, applied=transform_to_dict(ev.transform, cfg.transform),
        **_candidate_report(fr, candidate, cfg),
        applied_motion=in_plane_motion(ev.transform, fr.centre, fr.sp),
        seconds=seconds, optimiser=optimiser, source=source)


def align_unit(unit: UnitImages, cfg: RegisterParams) -> UnitOutcome:
    t0 = time.perf_counter()
    fr = frame(unit, cfg)
    try:
        opt = engine.register(fr.fixed, fr.moving, cfg)
    except RuntimeError as exc:          # ITK raises RuntimeError e.g. when too few samples overlap
        return kept_outcome(fr, f"optimiser failed: {str(exc).strip().splitlines()[-1]}", cfg, None,
                            float("nan"), float("nan"), {}, time.perf_counter() - t0)
    optimiser = {"mattes_mi": opt.mattes_mi, "iterations_last_level": opt.iterations,
                 "stop_condition": opt.stop_condition}
    ev = evaluate(fr, opt.transform, cfg)
    if not np.isfinite(ev.accept_nmi) or ev.accept_nmi - fr.accept_before <= cfg.min_nmi_gain:
        return kept_outcome(
            fr, f"optimum NMI {ev.accept_nmi:.4f} is not above identity NMI {fr.accept_before:.4f} by more than "
                f"{cfg.min_nmi_gain:g} (A and B blurred by {' x '.join(f'{v:g}' for v in fr.sigma)} voxels)",
            cfg, opt.transform, ev.nmi, ev.accept_nmi, optimiser, time.perf_counter() - t0)
    return applied_outcome(fr, ev, "optimum improves NMI", cfg, "own", opt.transform, ev.nmi, ev.accept_nmi,
                           optimiser, time.perf_counter() - t0)

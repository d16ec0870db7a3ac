"""One phantom patient: its random anatomy, pathology, physics and misalignment, and its simulated images.

Every case is drawn from its own generator ``np.random.default_rng([seed, index])``, so case ``k`` is the
same whatever the number of cases, and each modality's noise from ``[seed, index, crc32(modality)]``.

Per case:

* anatomy: a smooth deformation of the template (head size +-3 % per axis, plane-wave displacement of
  ~2 mm RMS) and head shells of random thickness (:mod:`pipelines.phantom.tissue`);
* pathology: a tumour and a contralateral hypoperfused region inside the written slab
  (:mod:`pipelines.phantom.pathology`);
* intensity variation: jittered relaxation times, bias fields, noise levels, PET/SPECT GM:WM ratios and
  count levels (:class:`pipelines.phantom.modalities.CasePhysics`);
* misalignment: every B image (CT, PET, SPECT and the second MR contrasts) was acquired with the head
  rotated about the axial axis by up to +-5 degrees and shifted by up to +-5 mm in-plane relative to the A
  image (T1); one transform per case (:mod:`pipelines.phantom.misalignment`).  B images are simulated from
  the moved anatomy (not by resampling A), so their noise is independent of the motion.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pipelines.phantom.anatomy import Anatomy
from pipelines.phantom.fields import random_bias_field, random_deformation, random_plane_waves, SmoothDeformation
from pipelines.phantom.geometry import SlabGeometry
from pipelines.phantom.misalignment import InPlaneRigid, random_rigid
from pipelines.phantom.modalities import MODALITIES, CasePhysics, ModalitySpec
from pipelines.phantom.pathology import Hypoperfusion, Tumour, random_hypoperfusion, random_tumour
from pipelines.phantom.tissue import HeadLayers, TissueSample, jittered_mr_tissues, random_layers, sample_tissues

A_MODALITY = "T1"
MR_MODALITIES = ("T1", "T2", "PD", "FLAIR")


def case_name(index: int) -> str:
    return f"ph{index + 1:02d}"


@dataclass(frozen=True)
class Case:
    case_id: str
    index: int
    seed: int
    deformation: SmoothDeformation
    layers: HeadLayers
    tumour: Tumour
    hypoperfusion: Hypoperfusion
    physics: CasePhysics
    misalignment: InPlaneRigid

    def noise_rng(self, modality: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.index, zlib.crc32(modality.encode())])

    def to_json(self) -> dict:
        return {"misalignment": self.misalignment.to_json(), "deformation": self.deformation.to_json(),
                "head_layers": self.layers.to_json(), "tumour": self.tumour.to_json(),
                "hypoperfusion": self.hypoperfusion.to_json(), "physics": self.physics.to_json()}


def make_case(seed: int, index: int, anatomy: Anatomy, geometry: SlabGeometry,
              max_rotation_deg: float = 5.0, max_translation_mm: float = 5.0) -> Case:
    rng = np.random.default_rng([seed, index])
    center = (np.asarray(anatomy.shape, np.float64) - 1.0) / 2.0
    deformation = random_deformation(rng, center)
    layers = random_layers(rng, random_plane_waves(rng, 3, 1, 0.12, (60.0, 150.0)))
    z_range = (geometry.slices[0], geometry.slices[-1])
    tumour = random_tumour(rng, anatomy, z_range)
    hypo = random_hypoperfusion(rng, anatomy, z_range, tumour)
    physics = CasePhysics(
        mr=jittered_mr_tissues(rng),
        mr_noise=float(rng.uniform(0.008, 0.015)),
        bias={m: random_bias_field(rng) for m in MR_MODALITIES},
        ct_noise_hu=float(rng.uniform(3.0, 5.0)),
        pet_gm_wm=float(rng.uniform(3.6, 4.4)),
        pet_gm_counts=float(rng.uniform(100.0, 160.0)),
        pet_gm_bqml=float(rng.uniform(8000.0, 14000.0)),
        spect_gm_wm=float(rng.uniform(2.2, 2.8)),
        spect_gm_counts=float(rng.uniform(30.0, 50.0)),
        hypo_severity=hypo.severity,
        t1_wm_level=anatomy.t1_wm_level,
    )
    rigid = random_rigid(rng, geometry.center_mm, max_rotation_deg, max_translation_mm)
    return Case(case_name(index), index, seed, deformation, layers, tumour, hypo, physics, rigid)


def _frame_to_template(case: Case, geometry: SlabGeometry, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                       moved: bool) -> np.ndarray:
    """Display-frame points of the A frame (``moved=False``) or the B frame -> template coordinates."""
    if moved:
        x, y = case.misalignment.inverse(x, y)
    return case.deformation.to_template(geometry.display_to_voxel(x, y, z))


def tissues_at(case: Case, anatomy: Anatomy, geometry: SlabGeometry, x: np.ndarray, y: np.ndarray,
               z: np.ndarray, moved: bool) -> TissueSample:
    pts = _frame_to_template(case, geometry, x, y, z, moved)
    return sample_tissues(anatomy, pts, case.layers, case.tumour, case.hypoperfusion, np.stack([x, y, z]),
                          with_t1=not moved)


def _coarse_grid(geometry: SlabGeometry, voxel: float, margin_mm: float):
    """3-D grid (display frame) of ``voxel`` mm covering the slices plus ``margin_mm`` above and below."""
    xs = np.arange(-voxel, geometry.width + voxel, voxel)
    ys = np.arange(-voxel, geometry.height + voxel, voxel)
    zs = np.arange(geometry.slices[0] - margin_mm - voxel, geometry.slices[-1] + margin_mm + 2 * voxel, voxel)
    z, y, x = np.meshgrid(zs, ys, xs, indexing="ij")
    return (x, y, z), (zs[0], ys[0], xs[0])


def simulate_modality(case: Case, spec: ModalitySpec, anatomy: Anatomy, geometry: SlabGeometry,
                      noise: bool = True, fine: TissueSample | None = None) -> np.ndarray:
    """(K, H, W) display-frame stack of ``spec`` for ``case`` in physical units."""
    moved = spec.name != A_MODALITY
    rng = case.noise_rng(spec.name)
    x, y, z = geometry.display_grid()
    if spec.voxel_mm is None:
        t = fine if fine is not None else tissues_at(case, anatomy, geometry, x, y, z, moved)
        return spec.simulate(t, case.physics, rng, (geometry.step_mm, 1.0, 1.0), noise)
    v = spec.voxel_mm
    (cx, cy, cz), origin = _coarse_grid(geometry, v, 3.0 * spec.psf_fwhm_mm / 2.355 + v)
    t = tissues_at(case, anatomy, geometry, cx, cy, cz, moved)
    coarse = spec.simulate(t, case.physics, rng, (v, v, v), noise)
    idx = np.stack([(z - origin[0]) / v, (y - origin[1]) / v, (x - origin[2]) / v]).reshape(3, -1)
    out = ndi.map_coordinates(coarse, idx, order=1, mode="nearest", prefilter=False)
    return out.reshape(x.shape).astype(np.float32)


def simulate_case(case: Case, anatomy: Anatomy, geometry: SlabGeometry, modalities: list[str],
                  noise: bool = True, cache: dict[bool, TissueSample] | None = None,
                  b_scale: int = 1) -> dict[str, np.ndarray]:
    """All requested modalities of one case; slice-grid modalities of one frame share one tissue sample
    (kept in ``cache``, keyed by "moved": False = A frame, True = B frame).  ``b_scale`` R > 1: CT, PET and
    SPECT come from a detector with R x R mm pixels, (K, H/R, W/R) (:mod:`pipelines.phantom.detector`)."""
    from pipelines.phantom.detector import coarse_image, coarse_modalities
    x, y, z = geometry.display_grid()
    cache = {} if cache is None else cache
    out = {}
    for name in modalities:
        spec = MODALITIES.get(name)
        fine = None
        if spec.voxel_mm is None:
            moved = name != A_MODALITY
            if moved not in cache:
                cache[moved] = tissues_at(case, anatomy, geometry, x, y, z, moved)
            fine = cache[moved]
        if b_scale > 1 and name in coarse_modalities():
            noise_free = simulate_modality(case, spec, anatomy, geometry, False, fine)
            out[name] = coarse_image(name, noise_free, case.physics, b_scale, case.noise_rng(name), noise)
        else:
            out[name] = simulate_modality(case, spec, anatomy, geometry, noise, fine)
    return out


def slice_truth(t: TissueSample, geometry: SlabGeometry) -> list[dict]:
    """Per written slice of the A-frame tissue sample ``t``: tumour, oedema and hypoperfusion areas in mm^2
    (1 mm pixels)."""
    tum = t.fractions["tumour"] + t.fractions["necrosis"]
    return [{"slice": k, "template_k": int(geometry.slices[k]),
             "tumour_mm2": round(float(tum[k].sum()), 1),
             "oedema_mm2": round(float(t.fractions["oedema"][k].sum()), 1),
             "hypoperfusion_mm2": round(float(t.hypoperfusion[k].sum()), 1)} for k in range(len(geometry.slices))]

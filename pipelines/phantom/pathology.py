"""Pathology that makes fusion matter: a glioma-like tumour and a region of hypoperfusion.

Both are soft-edged ellipsoids in template coordinates (so they deform with the case's anatomy).

* Tumour (high-grade glioma pattern): a solid core (radius 8-14 mm) that is hypermetabolic on FDG-PET
  (1.5 x grey-matter uptake), hyperintense on T2/FLAIR and slightly hypointense on T1 and CT; in half of
  the cases a necrotic centre (fluid-like on MR, little uptake: a ring on PET); around it vasogenic oedema in
  the white matter (1.6-2.2 x the core radius): bright on T2/FLAIR, hypodense on CT, reduced uptake.
  Placed in deep white matter at least 12 mm inside the brain surface, within the written slab.
* Hypoperfusion (an ischaemic/diaschisis-like perfusion deficit): a cortical region (radius 14-22 mm,
  5 mm soft edge) in the other hemisphere, where SPECT perfusion drops by ``severity`` (40-60 %) and FDG
  metabolism by half that.  Structural images (MR, CT) do not show it: only fusion with SPECT/PET reveals it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from pipelines.phantom.anatomy import Anatomy, sample


@dataclass(frozen=True)
class Ellipsoid:
    center: np.ndarray        # (3,) template voxel (= mm)
    axes_mm: np.ndarray       # (3,) semi-axes
    rotation: np.ndarray      # (3, 3) columns = ellipsoid axes in template space

    def distance_mm(self, points: np.ndarray) -> np.ndarray:
        """Approximate signed distance to the surface (negative inside): (rho - 1) * mean semi-axis."""
        p = np.asarray(points, np.float32).reshape(3, -1) - self.center.astype(np.float32)[:, None]
        r = self.rotation.astype(np.float32)
        local = np.stack([r[0, i] * p[0] + r[1, i] * p[1] + r[2, i] * p[2] for i in range(3)])   # R^T p
        rho = np.sqrt(((local / self.axes_mm.astype(np.float32)[:, None]) ** 2).sum(axis=0))
        return ((rho - 1.0) * float(np.mean(self.axes_mm))).reshape(np.shape(points)[1:])

    def fraction(self, points: np.ndarray, edge_mm: float) -> np.ndarray:
        """Soft membership in [0, 1]: 1 inside, 0 outside, a linear ramp of ``edge_mm`` across the surface.
        Only points within the bounding sphere (plus the ramp) are evaluated."""
        p = np.asarray(points, np.float32)
        flat = p.reshape(3, -1)
        reach = float(self.axes_mm.max()) + edge_mm
        near = np.ones(flat.shape[1], bool)
        for d in range(3):
            near &= np.abs(flat[d] - np.float32(self.center[d])) <= reach
        out = np.zeros(flat.shape[1], np.float32)
        if near.any():
            dist = self.distance_mm(flat[:, near])
            out[near] = np.clip(0.5 - dist / edge_mm, 0.0, 1.0)
        return out.reshape(p.shape[1:])

    def scaled(self, factor: float) -> "Ellipsoid":
        return Ellipsoid(self.center, self.axes_mm * factor, self.rotation)

    def to_json(self) -> dict:
        return {"center_vox": self.center.round(3).tolist(), "semi_axes_mm": self.axes_mm.round(3).tolist(),
                "rotation": self.rotation.round(6).tolist()}


@dataclass(frozen=True)
class Tumour:
    core: Ellipsoid
    oedema_scale: float
    necrosis_scale: float          # 0: no necrosis; else necrotic centre = core scaled by this

    def weights(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(core, necrosis, oedema) weights in [0, 1]; necrosis is part of the core."""
        core = self.core.fraction(points, 1.5)
        nec = (self.core.scaled(self.necrosis_scale).fraction(points, 1.5) if self.necrosis_scale > 0
               else np.zeros_like(core))
        oed = np.clip(self.core.scaled(self.oedema_scale).fraction(points, 4.0) - core, 0.0, 1.0)
        return core, np.minimum(nec, core), oed

    def to_json(self) -> dict:
        return {"core": self.core.to_json(), "oedema_scale": round(self.oedema_scale, 4),
                "necrosis_scale": round(self.necrosis_scale, 4)}


@dataclass(frozen=True)
class Hypoperfusion:
    region: Ellipsoid
    severity: float                # fractional perfusion drop at the centre

    def weight(self, points: np.ndarray) -> np.ndarray:
        return self.region.fraction(points, 5.0)

    def to_json(self) -> dict:
        return {"region": self.region.to_json(), "severity": round(self.severity, 4)}


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    return Rotation.from_quat(rng.normal(size=4)).as_matrix()


def _pick_voxel(rng: np.random.Generator, anatomy: Anatomy, ok: np.ndarray, what: str) -> np.ndarray:
    idx = np.argwhere(ok)
    if len(idx) == 0:
        raise ValueError(f"no template voxel qualifies as a {what} centre inside the written slab")
    return idx[rng.integers(len(idx))].astype(np.float64)


def _candidate_mask(anatomy: Anatomy, tissue: np.ndarray, z_range: tuple[int, int], depth_mm: tuple[float, float],
                    stride: int = 3) -> tuple[np.ndarray, int]:
    """Boolean mask on a strided grid: tissue probability > 0.6, within z_range and the depth band."""
    sub = tissue[::stride, ::stride, ::stride] > 0.6
    coords = np.stack(np.meshgrid(*(np.arange(0, s, stride) for s in tissue.shape), indexing="ij"))
    depth = -sample(anatomy.outer_distance, coords, grid_mm=2.0, cval=1e3)
    zc = coords[2]
    # centres within 4 mm of the slab, so the lesion cuts at least one written slice (also for one slice)
    ok = sub & (zc >= z_range[0] - 4) & (zc <= z_range[1] + 4) & (depth >= depth_mm[0]) & (depth <= depth_mm[1])
    return ok, stride


def random_tumour(rng: np.random.Generator, anatomy: Anatomy, z_range: tuple[int, int]) -> Tumour:
    ok, stride = _candidate_mask(anatomy, anatomy.wm, z_range, (12.0, 45.0))
    center = _pick_voxel(rng, anatomy, ok, "tumour") * stride
    radius = rng.uniform(8.0, 14.0)
    axes = radius * rng.uniform(0.8, 1.2, size=3)
    necrosis = float(rng.uniform(0.35, 0.55)) if rng.random() < 0.5 else 0.0
    return Tumour(Ellipsoid(center, axes, _random_rotation(rng)), float(rng.uniform(1.6, 2.2)), necrosis)


def random_hypoperfusion(rng: np.random.Generator, anatomy: Anatomy, z_range: tuple[int, int],
                         tumour: Tumour) -> Hypoperfusion:
    ok, stride = _candidate_mask(anatomy, anatomy.gm, z_range, (4.0, 25.0))
    # opposite hemisphere from the tumour (template x centre = (nx - 1) / 2)
    mid = (anatomy.shape[0] - 1) / 2.0
    xs = np.arange(0, anatomy.shape[0], stride)[:, None, None]
    side = np.sign(tumour.core.center[0] - mid) or 1.0
    ok &= (np.sign(xs - mid) == -side)
    center = _pick_voxel(rng, anatomy, ok, "hypoperfusion") * stride
    axes = rng.uniform(14.0, 22.0) * rng.uniform(0.8, 1.2, size=3)
    return Hypoperfusion(Ellipsoid(center, axes, _random_rotation(rng)), float(rng.uniform(0.4, 0.6)))

"""Real anatomy for the phantom: the ICBM152 2009a template that ships inside nilearn's wheel.

Files read (never fetched; nilearn itself is not imported, only located with :mod:`importlib`):
``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``: 197 x 233 x 189 voxels,
1 mm, RAS, uint8.  T1 is the brain-only template (skull stripped); GM and WM are probability maps (0..255).

Derived here, once per process:

* ``brain``: nilearn's own brain-mask rule (T1 > 0.2 of its maximum, as in
  ``nilearn.datasets.load_mni152_brain_mask``) united with GM + WM > 0.5.
* ``outer_distance``: signed distance in mm to the surface of the brain after closing and hole filling
  (negative inside), on a 2 mm grid.  Inside that surface, CSF = 1 - GM - WM (ventricles, sulci).  There
  is no bone map in nilearn, so the skull and scalp of the phantom are shells at given distances outside
  this surface (:mod:`pipelines.phantom.tissue`).  Closing uses a 6 mm radius so that the skull
  follows the outer contour of the brain instead of dipping into sulci.

The ICBM152 2009 data are (c) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
Institute, McGill University, released under a permissive "use, copy, modify, distribute with this notice"
licence; nilearn is BSD-3.  See docs/inputs.md.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
BRAIN_THRESHOLD = 0.2        # nilearn's load_mni152_brain_mask default
CLOSING_RADIUS_MM = 6.0
DISTANCE_GRID_MM = 2


def template_dir() -> Path:
    """Folder of the template files inside the installed nilearn package (no import, no download)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nilearn is not installed: the phantom reads the ICBM152 template from its wheel "
                                "(pip install nilearn==0.14.1)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    missing = [n for n in TEMPLATE_FILES.values() if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: template file(s) {missing} missing from the nilearn installation")
    return folder


@dataclass(frozen=True)
class Anatomy:
    """Template maps on the 1 mm RAS grid (x, y, z) = (i, j, k); float32 in [0, 1]."""

    t1: np.ndarray                 # T1 template, scaled so that its maximum is 1
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray              # raw brain mask (nilearn's rule) as float32 0/1
    outer_distance: np.ndarray     # signed distance (mm) to the closed brain surface, 2 mm grid
    affine: np.ndarray             # RAS voxel -> mm of the 1 mm grid
    files: dict                    # name -> {"file": ..., "sha256": ...}
    t1_wm_level: float             # mean template T1 where the WM probability > 0.9 (calibrates simulated T1w)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.t1.shape)  # type: ignore[return-value]

    def brain_area_per_slice(self) -> np.ndarray:
        return self.brain.sum(axis=(0, 1))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_brain(mask: np.ndarray, radius_mm: float) -> np.ndarray:
    """Morphological closing with a ball (via two distance transforms) followed by hole filling."""
    dilated = ndi.distance_transform_edt(~mask) <= radius_mm
    closed = ndi.distance_transform_edt(dilated) > radius_mm
    return ndi.binary_fill_holes(closed | mask)


def _signed_distance(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Signed distance (mm) to the mask boundary: positive outside, negative inside (voxel-centre convention:
    the boundary lies half a voxel outside the last inside voxel)."""
    outside = ndi.distance_transform_edt(~mask, sampling=spacing)
    inside = ndi.distance_transform_edt(mask, sampling=spacing)
    return np.where(mask, -(inside - 0.5 * spacing), outside - 0.5 * spacing).astype(np.float32)


@functools.lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    folder = template_dir()
    imgs = {k: nib.load(folder / name) for k, name in TEMPLATE_FILES.items()}
    shapes = {k: img.shape for k, img in imgs.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{folder}: template files have different shapes {shapes}")
    t1 = np.asarray(imgs["t1"].dataobj, dtype=np.float32)
    t1 /= float(t1.max())
    gm = np.asarray(imgs["gm"].dataobj, dtype=np.float32) / 255.0
    wm = np.asarray(imgs["wm"].dataobj, dtype=np.float32) / 255.0
    raw_mask = (t1 > BRAIN_THRESHOLD) | (gm + wm > 0.5)
    # closing and the signed distance on a 2 mm grid (a 2 mm block counts as brain when 30 % of it is);
    # trilinear sampling of the distance gives a smooth surface with a 1 mm partial-volume ramp.
    g = DISTANCE_GRID_MM
    nx, ny, nz = (s // g * g for s in raw_mask.shape)
    coarse = raw_mask[:nx, :ny, :nz].reshape(nx // g, g, ny // g, g, nz // g, g).mean(axis=(1, 3, 5)) >= 0.3
    dist = _signed_distance(_closed_brain(coarse, CLOSING_RADIUS_MM / g), float(g))
    files = {k: {"file": TEMPLATE_FILES[k], "sha256": _sha256(folder / TEMPLATE_FILES[k])} for k in TEMPLATE_FILES}
    return Anatomy(t1=t1, gm=gm, wm=wm, brain=raw_mask.astype(np.float32), outer_distance=dist,
                   affine=np.asarray(imgs["t1"].affine, dtype=np.float64), files=files,
                   t1_wm_level=float(t1[wm > 0.9].mean()))


def sample(volume: np.ndarray, coords: np.ndarray, grid_mm: float = 1.0, cval: float = 0.0) -> np.ndarray:
    """Trilinear sample of ``volume`` at voxel coordinates ``coords`` (3, ...) given on the 1 mm grid;
    ``grid_mm`` is the spacing of ``volume`` (2 for ``outer_distance``; its voxel centres sit at the centres
    of the 2 mm blocks, i.e. 1 mm grid coordinate ``g*i + (g-1)/2``)."""
    c = np.asarray(coords, dtype=np.float32)
    if grid_mm != 1.0:
        c = (c - (grid_mm - 1.0) / 2.0) / grid_mm
    flat = c.reshape(3, -1)
    out = ndi.map_coordinates(volume, flat, order=1, mode="constant", cval=cval, prefilter=False)
    return out.reshape(c.shape[1:])

"""Which axial slices the phantom writes, and how display-frame points map to template voxels.

The phantom only simulates what it writes: ``K`` axial slices of the 1 mm template grid, evenly stepped over
the part of the brain whose axial cross-section is at least 35 % of the largest one (from the temporal
lobes / lateral ventricles to the upper convexity), so every slice shows plenty of brain.

Display frame (:mod:`pipelines.readers.orientation`): a slice is an ``ny x nx`` (233 x 197) image, rows
anterior -> posterior, columns patient right -> left, 1 mm pixels; point ``(x, y)`` is (column, row) in mm
from the centre of pixel (0, 0).  Template voxel of display point ``(x, y)`` on slice ``z``:
``(i, j, k) = (nx - 1 - x, ny - 1 - y, z)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.phantom.anatomy import Anatomy

MIN_AREA_FRACTION = 0.35


@dataclass(frozen=True)
class SlabGeometry:
    grid_shape: tuple[int, int, int]      # template (nx, ny, nz)
    slices: tuple[int, ...]               # template k index of each written slice, inferior first
    affine: np.ndarray                    # RAS voxel -> mm of the template grid

    @property
    def width(self) -> int:
        return self.grid_shape[0]

    @property
    def height(self) -> int:
        return self.grid_shape[1]

    @property
    def step_mm(self) -> float:
        return float(self.slices[1] - self.slices[0]) if len(self.slices) > 1 else 1.0

    @property
    def center_mm(self) -> tuple[float, float]:
        """Centre of the display image (x, y)."""
        return ((self.width - 1) / 2.0, (self.height - 1) / 2.0)

    def display_grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, z) arrays of shape (K, H, W): display coordinates of every written pixel."""
        z, y, x = np.meshgrid(np.asarray(self.slices, np.float64), np.arange(self.height, dtype=np.float64),
                              np.arange(self.width, dtype=np.float64), indexing="ij")
        return x, y, z

    def display_to_voxel(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Display coordinates -> template voxel coordinates, stacked (3, ...)."""
        return np.stack([self.width - 1 - np.asarray(x, np.float64), self.height - 1 - np.asarray(y, np.float64),
                         np.broadcast_to(np.asarray(z, np.float64), np.shape(x))])

    def slab_affine(self) -> np.ndarray:
        """RAS affine of the written volume (i, j, slab index)."""
        k0 = self.slices[0]
        to_slab = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, self.step_mm, k0], [0, 0, 0, 1]], np.float64)
        return self.affine @ to_slab

    def to_json(self) -> dict:
        return {"template_slices_k": list(self.slices), "image_shape": [self.height, self.width],
                "pixel_spacing_mm": [1.0, 1.0], "slice_spacing_mm": self.step_mm,
                "slab_affine_ras": np.round(self.slab_affine(), 6).tolist()}


def select_slices(anatomy: Anatomy, n: int) -> tuple[int, ...]:
    if n < 1:
        raise ValueError(f"phantom.slices must be >= 1, got {n}")
    area = anatomy.brain_area_per_slice()
    ok = np.nonzero(area >= MIN_AREA_FRACTION * area.max())[0]
    lo, hi = int(ok.min()), int(ok.max())
    if n > hi - lo + 1:
        raise ValueError(f"phantom.slices={n} is more than the {hi - lo + 1} axial slices of the brain "
                         f"(template slices {lo}..{hi})")
    if n == 1:
        return ((lo + hi) // 2,)
    step = (hi - lo) // (n - 1)
    start = lo + ((hi - lo) - step * (n - 1)) // 2
    return tuple(start + step * i for i in range(n))


def make_geometry(anatomy: Anatomy, n_slices: int, multiple: int = 1) -> SlabGeometry:
    """The slab; with ``multiple`` r > 1 the display frame keeps the first ``r * floor(n / r)`` template voxels
    along each in-plane axis (at most r - 1 voxels dropped, those of the largest indices: the template's edge,
    at least 11 mm outside the brain), so a B detector with r-mm pixels tiles A's field of view exactly."""
    nx, ny, nz = anatomy.shape
    shape = (nx - nx % multiple, ny - ny % multiple, nz)
    return SlabGeometry(shape, select_slices(anatomy, n_slices), anatomy.affine)

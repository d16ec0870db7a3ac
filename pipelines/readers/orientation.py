"""The one 2-D display orientation every reader (and the phantom) produces for axial slices.

Radiological convention, as on a DICOM axial image with ImageOrientationPatient = [1,0,0, 0,1,0]:
rows run anterior -> posterior (top of the image = anterior) and columns run patient right -> left (the
patient's right is on the image's left).  Slices are ordered inferior -> superior.

For a volume in RAS voxel order (``nibabel.as_closest_canonical``: i -> right, j -> anterior, k -> superior),
the display image of axial slice k is ``D[r, c] = V[nx-1-c, ny-1-r, k]``.
"""
from __future__ import annotations

import numpy as np


def ras_slice_to_display(ras2d: np.ndarray) -> np.ndarray:
    """(nx, ny) axial slice in RAS voxel order -> (ny, nx) display image."""
    return np.ascontiguousarray(np.flip(np.asarray(ras2d).T, (0, 1)))


def display_to_ras_slice(img: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ras_slice_to_display`."""
    return np.ascontiguousarray(np.flip(np.asarray(img), (0, 1)).T)


def ras_volume_to_display(vol: np.ndarray) -> np.ndarray:
    """(nx, ny, nz) RAS volume -> (nz, ny, nx) stack of display images, inferior first."""
    return np.ascontiguousarray(np.flip(np.asarray(vol).transpose(2, 1, 0), (1, 2)))


def display_to_ras_volume(stack: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ras_volume_to_display`."""
    return np.ascontiguousarray(np.flip(np.asarray(stack), (1, 2)).transpose(2, 1, 0))

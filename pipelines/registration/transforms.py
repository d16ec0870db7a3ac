"""Transform models for registration and their JSON form.

``TRANSFORMS`` maps a name from ``register.transform`` to a factory ``dimension -> sitk.Transform``:
``rigid`` is Euler2DTransform / Euler3DTransform (rotation + translation), ``affine`` is AffineTransform.
All transforms follow ITK's convention: they map a point of the fixed image (A) to the moving image (B),
``T(x) = M (x - c) + c + t``; resampling B with T brings B onto A's grid.

:func:`transform_to_dict` gives the JSON stored in ``reg_transform`` and in ``reports/registration.json``;
:func:`transform_from_dict` rebuilds the transform.  :func:`in_plane_motion` summarises any transform as the
in-plane rotation (degrees, about the axial axis) and the displacement of a reference point in voxels, the
numbers the phantom truth and the identity check compare against.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import SimpleITK as sitk


def _rigid(dim: int) -> sitk.Transform:
    return sitk.Euler2DTransform() if dim == 2 else sitk.Euler3DTransform()


def _affine(dim: int) -> sitk.Transform:
    return sitk.AffineTransform(dim)


TRANSFORMS: dict[str, Callable[[int], sitk.Transform]] = {"rigid": _rigid, "affine": _affine}


def make_transform(name: str, dim: int) -> sitk.Transform:
    if dim not in (2, 3):
        raise ValueError(f"registration works on 2-D or 3-D images, got dimension {dim}")
    try:
        factory = TRANSFORMS[name]
    except KeyError:
        raise ValueError(f"unknown transform {name!r}; known: {sorted(TRANSFORMS)}") from None
    return factory(dim)


def _typed(tx: sitk.Transform) -> sitk.Transform:
    """Downcast a generic sitk.Transform (e.g. from a registration) to its concrete class."""
    name = tx.GetName()
    cls = {"Euler2DTransform": sitk.Euler2DTransform, "Euler3DTransform": sitk.Euler3DTransform,
           "AffineTransform": sitk.AffineTransform}.get(name)
    if cls is None:
        raise ValueError(f"unsupported transform {name}")
    return cls(tx)


def matrix_and_offset(tx: sitk.Transform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M, c, t) of ``T(x) = M (x - c) + c + t`` in physical units."""
    tx = _typed(tx)
    dim = tx.GetDimension()
    m = np.asarray(tx.GetMatrix(), dtype=np.float64).reshape(dim, dim)
    return m, np.asarray(tx.GetCenter(), np.float64), np.asarray(tx.GetTranslation(), np.float64)


def apply(tx: sitk.Transform, point) -> np.ndarray:
    return np.asarray(tx.TransformPoint(tuple(float(v) for v in point)), dtype=np.float64)


def in_plane_motion(tx: sitk.Transform, reference_point, spacing) -> dict:
    """Rotation about the axial (z) axis in degrees, and the displacement ``T(p) - p`` of ``reference_point``
    (e.g. the image centre) in voxels along x (columns) and y (rows), plus z for 3-D."""
    m, _, _ = matrix_and_offset(tx)
    angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    p = np.asarray(reference_point, dtype=np.float64)
    d = (apply(tx, p) - p) / np.asarray(spacing, dtype=np.float64)
    out = {"rotation_deg": angle, "shift_x_vox": float(d[0]), "shift_y_vox": float(d[1])}
    if len(d) == 3:
        out["shift_z_vox"] = float(d[2])
    return out


def max_displacement_vox(tx: sitk.Transform, size, spacing, origin=None) -> float:
    """Largest displacement ``|T(x) - x|`` in voxels over the corners of the image domain (for linear
    transforms the maximum over the box is at a corner)."""
    size = np.asarray(size, dtype=np.float64)
    spacing = np.asarray(spacing, dtype=np.float64)
    origin = np.zeros_like(size) if origin is None else np.asarray(origin, dtype=np.float64)
    corners = np.array(np.meshgrid(*[[0.0, s - 1.0] for s in size], indexing="ij")).reshape(len(size), -1).T
    worst = 0.0
    for idx in corners:
        p = origin + idx * spacing
        worst = max(worst, float(np.linalg.norm((apply(tx, p) - p) / spacing)))
    return worst


def transform_to_dict(tx: sitk.Transform, kind: str) -> dict:
    tx = _typed(tx)
    m, c, t = matrix_and_offset(tx)
    out = {
        "type": kind,
        "itk_class": tx.GetName(),
        "dimension": tx.GetDimension(),
        "parameters": [float(v) for v in tx.GetParameters()],
        "fixed_parameters": [float(v) for v in tx.GetFixedParameters()],
        "matrix": [float(v) for v in m.ravel()],
        "center": [float(v) for v in c],
        "translation": [float(v) for v in t],
    }
    if tx.GetName() == "Euler3DTransform":
        out["angles_deg"] = [math.degrees(v) for v in tx.GetParameters()[:3]]
    elif tx.GetName() == "Euler2DTransform":
        out["angles_deg"] = [math.degrees(tx.GetAngle())]
    return out


def transform_from_dict(d: dict) -> sitk.Transform:
    tx = make_transform(d["type"], int(d["dimension"]))
    tx.SetFixedParameters(tuple(d["fixed_parameters"]))
    tx.SetParameters(tuple(d["parameters"]))
    return tx


def identity_like(kind: str, dim: int, center) -> sitk.Transform:
    tx = make_transform(kind, dim)
    tx.SetCenter(tuple(float(v) for v in center))
    return tx


def is_identity(d: dict) -> bool:
    """True when a transform dict (:func:`transform_to_dict`) maps every point onto itself."""
    m = np.asarray(d["matrix"], dtype=np.float64)
    return bool(np.array_equal(m, np.eye(int(d["dimension"])).ravel())
                and not np.any(np.asarray(d["translation"], dtype=np.float64)))


def median_transform(dicts: list[dict]) -> dict:
    """Element-wise median of the ``parameters`` of transform dicts of one type, dimension and centre.

    Rigid 2-D (Euler2D): median angle, tx, ty; affine: median of the 4 matrix entries and of the 2
    translations (all about the shared centre).  An element-wise median of affine matrices need not be a
    composition of the inputs, but for near-rigid, mostly agreeing inputs it is the robust middle.  Raises
    ``ValueError`` when the dicts differ in type, dimension or centre (their parameters would not compare)."""
    if not dicts:
        raise ValueError("median_transform needs at least one transform")
    first = dicts[0]
    for d in dicts[1:]:
        if (d["type"], d["itk_class"], d["dimension"]) != (first["type"], first["itk_class"], first["dimension"]):
            raise ValueError(f"cannot take the median of {first['itk_class']} and {d['itk_class']} transforms")
        if not np.allclose(d["fixed_parameters"], first["fixed_parameters"], rtol=0.0, atol=1e-9):
            raise ValueError(f"transforms have different centres {first['fixed_parameters']} and "
                             f"{d['fixed_parameters']}: their parameters do not compare")
    params = np.median(np.asarray([d["parameters"] for d in dicts], dtype=np.float64), axis=0)
    tx = transform_from_dict({**first, "parameters": [float(v) for v in params]})
    return transform_to_dict(tx, first["type"])

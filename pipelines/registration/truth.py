"""Compare a recovered transform with a known misalignment (the phantom's truth in a row's ``meta``).

The phantom records, per case, ``true_rotation_deg``, ``true_translation_mm`` and ``center_mm`` in the
resampled pair frame with ITK's convention ``B(T(p)) = A(p)`` (:mod:`pipelines.phantom.misalignment`), which
is exactly what the registration estimates, so the two compare directly: rotation about the axial axis, and
the displacement ``T(p) - p`` of the image centre in voxels.
"""
from __future__ import annotations

import math

import SimpleITK as sitk

from pipelines.phantom.misalignment import InPlaneRigid
from pipelines.registration.transforms import in_plane_motion

TRUTH_KEYS = ("true_rotation_deg", "true_translation_mm", "center_mm")


def truth_transform(meta: dict) -> sitk.Euler2DTransform | None:
    if not all(k in meta for k in TRUTH_KEYS):
        return None
    rigid = InPlaneRigid.from_json(meta)
    t = sitk.Euler2DTransform()
    t.SetCenter(tuple(rigid.center_mm))
    t.SetAngle(math.radians(rigid.rotation_deg))
    t.SetTranslation(tuple(rigid.translation_mm))
    return t


def truth_error(found: dict, meta: dict, centre_xy, spacing_xy) -> dict | None:
    """``found``: an :func:`in_plane_motion` dict measured at ``centre_xy``; None when meta has no truth."""
    t = truth_transform(meta)
    if t is None:
        return None
    want = in_plane_motion(t, centre_xy, spacing_xy)
    return {"true_rotation_deg": want["rotation_deg"],
            "true_shift_vox": [want["shift_x_vox"], want["shift_y_vox"]],
            "rotation_error_deg": abs(found["rotation_deg"] - want["rotation_deg"]),
            "shift_error_vox": math.hypot(found["shift_x_vox"] - want["shift_x_vox"],
                                          found["shift_y_vox"] - want["shift_y_vox"])}

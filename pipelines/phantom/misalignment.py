"""The known rigid misalignment between a phantom case's A (MRI) and its B images.

Frame: the 2-D display frame of the axial slices (:mod:`pipelines.readers.orientation`), in mm, with the
origin at the centre of pixel (0, 0), ``x`` along columns and ``y`` along rows: exactly the physical frame of
``SimpleITK.GetImageFromArray(image)`` with spacing ``(dx, dy)`` and origin (0, 0).

Convention (ITK's, fixed = A, moving = B): ``T(p) = R(theta) (p - c) + c + t`` with
``R(theta) = [[cos, -sin], [sin, cos]]``.  The anatomy shown by A at point ``p`` is shown by B at ``T(p)``,
so ``B(T(p)) = A(p)``: resampling B through ``T`` (``sitk.Resample(B, A, T)``) aligns it with A.  An
``sitk.Euler2DTransform`` with ``SetCenter(c)``, ``SetAngle(radians(theta))``, ``SetTranslation(t)`` is
this transform.  The motion is a rotation of the head about the scanner's axial (S-I) axis plus an in-plane
shift, the same for every slice of the case.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONVENTION = ("ITK fixed=A moving=B: B(T(p)) = A(p) with T(p) = R(theta)(p - c) + c + t, "
              "R = [[cos,-sin],[sin,cos]]; frame: 2-D image, origin at the centre of pixel (0,0), "
              "x = column direction, y = row direction, mm")


@dataclass(frozen=True)
class InPlaneRigid:
    rotation_deg: float
    translation_mm: tuple[float, float]     # (tx, ty)
    center_mm: tuple[float, float]          # (cx, cy)

    def _matrix(self, sign: float = 1.0) -> np.ndarray:
        a = math.radians(self.rotation_deg) * sign
        return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A-frame point -> B-frame point ``T(p)``."""
        r = self._matrix()
        cx, cy = self.center_mm
        tx, ty = self.translation_mm
        dx, dy = np.asarray(x, np.float64) - cx, np.asarray(y, np.float64) - cy
        return r[0, 0] * dx + r[0, 1] * dy + cx + tx, r[1, 0] * dx + r[1, 1] * dy + cy + ty

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B-frame point -> A-frame point ``T^-1(q) = R(-theta)(q - c - t) + c``."""
        r = self._matrix(-1.0)
        cx, cy = self.center_mm
        tx, ty = self.translation_mm
        dx, dy = np.asarray(x, np.float64) - cx - tx, np.asarray(y, np.float64) - cy - ty
        return r[0, 0] * dx + r[0, 1] * dy + cx, r[1, 0] * dx + r[1, 1] * dy + cy

    def moved_to(self, center_mm: tuple[float, float]) -> "InPlaneRigid":
        """The same rigid map expressed with another rotation centre (translation adjusted)."""
        c_new = np.asarray(center_mm, np.float64)
        # T(c_new) = R(c_new - c) + c + t  =>  t_new = T(c_new) - c_new
        tx, ty = self.forward(c_new[0], c_new[1])
        return InPlaneRigid(self.rotation_deg, (float(tx - c_new[0]), float(ty - c_new[1])),
                            (float(c_new[0]), float(c_new[1])))

    def to_json(self) -> dict:
        return {"true_rotation_deg": round(float(self.rotation_deg), 6),
                "true_translation_mm": [round(float(v), 6) for v in self.translation_mm],
                "center_mm": [round(float(v), 6) for v in self.center_mm],
                "transform_convention": CONVENTION}

    @classmethod
    def from_json(cls, d: dict) -> "InPlaneRigid":
        t = [float(v) for v in d["true_translation_mm"]]
        c = [float(v) for v in d["center_mm"]]
        return cls(float(d["true_rotation_deg"]), (t[0], t[1]), (c[0], c[1]))


def random_rigid(rng: np.random.Generator, center_mm: tuple[float, float], max_rotation_deg: float = 5.0,
                 max_translation_mm: float = 5.0) -> InPlaneRigid:
    """Rotation uniform in +-max_rotation_deg, each translation component uniform in +-max_translation_mm."""
    rot = float(rng.uniform(-max_rotation_deg, max_rotation_deg))
    t = rng.uniform(-max_translation_mm, max_translation_mm, size=2)
    return InPlaneRigid(rot, (float(t[0]), float(t[1])), (float(center_mm[0]), float(center_mm[1])))

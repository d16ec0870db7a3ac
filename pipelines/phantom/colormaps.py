"""Pseudo-colour maps whose BT.601 luma equals the input value exactly.

The Harvard atlas shows PET and SPECT in pseudo-colour.  The field fuses the luma Y of such images and puts
the chroma back (:mod:`pipelines.imaging.color`), so a colour map is only harmless if Y still orders (and
here: equals) the underlying intensity.  Each map is a polyline through RGB knots whose lumas increase; the
colour for value ``v`` is the point on the polyline with luma ``v``.  Luma is linear in RGB, so along every
segment it is linear too and the inverse is exact: ``Y(colour(v)) = v`` up to 8-bit rounding (<= 0.5/255).

* ``hot_luma`` (PET): black -> red -> yellow -> white, like the classic "hot" map.
* ``rainbow_luma`` (SPECT): black -> blue -> red -> yellow -> white, the blue-to-red look of the atlas's
  SPECT, kept luma-monotone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan_models.registry import Registry
from pipelines.imaging.color import rgb_to_ycbcr


@dataclass(frozen=True)
class LumaColormap:
    name: str
    knots: tuple[tuple[float, float, float], ...]

    def __post_init__(self):
        lumas = self.knot_lumas()
        if lumas[0] != 0.0 or abs(lumas[-1] - 1.0) > 1e-9 or np.any(np.diff(lumas) <= 0):
            raise ValueError(f"colormap {self.name}: knot lumas {lumas} must rise strictly from 0 to 1")

    def knot_lumas(self) -> np.ndarray:
        return rgb_to_ycbcr(np.asarray(self.knots, np.float64))[0]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """values in [0, 1] (any shape) -> RGB (..., 3) in [0, 1]."""
        v = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
        lumas = self.knot_lumas()
        knots = np.asarray(self.knots, np.float64)
        return np.stack([np.interp(v, lumas, knots[:, c]) for c in range(3)], axis=-1)


COLORMAPS: Registry[LumaColormap] = Registry("colormap")
for _cm in (LumaColormap("hot_luma", ((0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1))),
            LumaColormap("rainbow_luma", ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 1, 1)))):
    COLORMAPS.register(_cm.name)(_cm)

MODALITY_COLORMAP = {"PET": "hot_luma", "SPECT": "rainbow_luma"}

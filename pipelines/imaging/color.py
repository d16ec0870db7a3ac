"""BT.601 (full-range, JPEG) luma/chroma conversions: the one implementation lives in ``gan_models.ycbcr`` (the
zoo needs it and stands alone without the pipeline); re-exported here for the pipeline's readers, baselines and
inference.

One rule for image A (the MRI, the structural reference) everywhere: it must be grey.  An RGB image whose
channels differ by more than 2/255 somewhere (:func:`is_pseudo_colour`) is colour: ingest quarantines such an A
and ``medfuse fuse`` / ``medfuse baseline`` / the pyfunc model refuse it, all with :data:`COLOUR_A`; an RGB file
whose channels agree within that tolerance is grey and is used as its luma.
"""
from __future__ import annotations

import numpy as np

from gan_models.ycbcr import is_pseudo_colour, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["COLOUR_A", "grey_a", "is_pseudo_colour", "rgb_to_ycbcr", "ycbcr_to_rgb"]

COLOUR_A = ("is a colour image, but A (the MRI) must be grey (its channels differ by more than 2/255); is it "
            "in the wrong folder, or A and B swapped?")


def grey_a(img: np.ndarray, name: str) -> np.ndarray:
    """Image A as a 2-D grey array: (H, W) as is, grey RGB(A) as its luma; colour raises ``ValueError``."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if is_pseudo_colour(arr[..., :3]):
            raise ValueError(f"{name} {COLOUR_A}")
        return rgb_to_ycbcr(arr[..., :3])[0].astype(arr.dtype, copy=False)
    return arr

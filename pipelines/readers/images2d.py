"""Decoding one 2-D image file (PNG, GIF, JPEG, TIFF) into a grey or pseudo-colour :class:`SliceImage`.

* 8-bit grey (``L``, ``P`` without colour, ``LA``, ``1``): value / 255.
* 16-bit grey (``I;16``, ``I`` with values <= 65535): value / 65535.
* Float (``F``, e.g. a float TIFF): robust percentiles (0.5/99.5) to [0, 1] (NaN/inf reported, not hidden).
* Colour (``RGB``, ``RGBA``, ``P``, ``CMYK``, ``YCbCr``): alpha dropped; a colour image whose channels are
  equal everywhere (within 2/255) is grey; otherwise it is pseudo-colour and split into BT.601 Y, Cb, Cr
  (:mod:`pipelines.imaging.color`).
* Multi-frame GIF/TIFF: the first frame (the number of frames is reported in the row's ``meta``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.imaging.color import rgb_to_ycbcr
from pipelines.readers.common import SliceImage
from pipelines.readers.normalise import NormaliseParams, robust_percentile

SUPPORTED_EXTENSIONS = (".png", ".gif", ".jpg", ".jpeg", ".tif", ".tiff")
PSEUDO_COLOUR_SPREAD = 2      # 8-bit levels; the rule of pipelines.imaging.color.is_pseudo_colour (2/255)


class ImageDecodeError(ValueError):
    """The file cannot be decoded; the message is a sentence naming the file."""


def _grey_float(arr: np.ndarray, mode: str) -> np.ndarray:
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return arr.astype(np.float32) / 65535.0
    if mode == "I":
        a = arr.astype(np.float64)
        top = 255.0 if a.max(initial=0) <= 255 else 65535.0
        return (a / top).astype(np.float32)
    if mode == "F":
        return arr.astype(np.float32)
    return arr.astype(np.float32) / 255.0


def load_image(path: Path) -> tuple[SliceImage, dict]:
    """(image, info) where info has the PIL mode, the frame count and whether it was pseudo-colour."""
    try:
        with Image.open(path) as im:
            im.load()
            frames = int(getattr(im, "n_frames", 1) or 1)
            mode = im.mode
            if mode in ("P", "PA"):
                im = im.convert("RGBA")
                mode = "RGBA"
            if mode in ("RGBA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
                im = im.convert("RGB")
                mode = "RGB"
            if mode == "LA":
                im = im.convert("L")
                mode = "L"
            arr = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes a quarantine sentence
        raise ImageDecodeError(f"{path} cannot be decoded as an image ({type(exc).__name__}: {exc}); "
                               "re-export it or remove it") from exc
    info = {"pil_mode": mode, "frames": frames}
    if mode == "RGB":
        spread = int((arr.max(axis=-1).astype(np.int16) - arr.min(axis=-1)).max()) if arr.size else 0
        rgb = arr.astype(np.float32) / 255.0
        if spread > PSEUDO_COLOUR_SPREAD:
            y, cb, cr = rgb_to_ycbcr(rgb)
            info["pseudo_colour"] = True
            return SliceImage(y.astype(np.float32), cb.astype(np.float32), cr.astype(np.float32)), info
        return SliceImage(rgb_to_ycbcr(rgb)[0].astype(np.float32)), {**info, "pseudo_colour": False}
    if mode == "1":
        return SliceImage(arr.astype(np.float32)), {**info, "pseudo_colour": False}
    if arr.ndim != 2:
        raise ImageDecodeError(f"{path}: unsupported image mode {mode!r} with shape {arr.shape}; "
                               "save it as 8- or 16-bit grey or RGB")
    grey = _grey_float(arr, mode)
    if mode == "F":
        if not np.isfinite(grey).all():
            return SliceImage(grey), {**info, "pseudo_colour": False}     # NaN/inf: the caller quarantines
        grey = robust_percentile(grey, NormaliseParams())
    return SliceImage(grey), {**info, "pseudo_colour": False}

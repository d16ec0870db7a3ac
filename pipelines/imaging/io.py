"""Image file reading/writing the way the fusion field's reference evaluator does it.

:func:`read_gray_255` reproduces CDDFuse's ``image_read_cv2(path, 'GRAY')`` (``cv2.imread`` -> float32 ->
``cv2.cvtColor(BGR2GRAY)`` -> ``np.round``) with Pillow and numpy, without OpenCV:

* 8-bit grey, RGB, palette images: channels as cv2's IMREAD_COLOR gives them (grey replicated, palette
  expanded, alpha dropped - not composited);
* 16-bit PNGs: reduced to 8 bits by keeping the high byte, as libpng's strip-16 inside cv2.imread does;
* grey = 0.114 B + 0.587 G + 0.299 R evaluated in float32 in OpenCV's order, then rounded half to even.

PNG writers take [0, 1] floats and round half to even to uint8.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")

_CB, _CG, _CR = np.float32(0.114), np.float32(0.587), np.float32(0.299)


def _open(path: Path) -> Image.Image:
    try:
        im = Image.open(path)
        im.load()
        return im
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None


def read_rgb_uint8(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB as cv2.imread(IMREAD_COLOR) sees the file (then reordered to RGB)."""
    path = Path(path)
    im = _open(path)
    if im.mode.startswith("I;16") or im.mode == "I":        # 16-bit grey: keep the high byte
        arr = np.asarray(im).astype(np.int64)
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise ValueError(f"{path}: {im.mode} image with values outside 0..65535 is not supported")
        return np.repeat((arr >> 8).astype(np.uint8)[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA").convert("RGB") if im.mode != "LA" else im.convert("L").convert("RGB")  # drop alpha
    elif im.mode != "RGB":
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise ValueError(f"{path}: unsupported image mode {im.mode!r}")
    return arr


def gray_from_rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    """float32 grey (not rounded) with cv2's BGR2GRAY coefficients and float32 arithmetic order."""
    f = rgb.astype(np.float32)
    return (f[..., 2] * _CB + f[..., 1] * _CG) + f[..., 0] * _CR


def read_gray_255(path: str | Path) -> np.ndarray:
    """The reference evaluator's reading: float32 (H, W) holding integers 0..255 (BT.601 luma, rounded)."""
    return np.round(gray_from_rgb_uint8(read_rgb_uint8(path)))


def read_image_01(path: str | Path) -> np.ndarray:
    """Image as float64 in [0, 1]: (H, W) for grey files, (H, W, 3) RGB when the channels differ."""
    rgb = read_rgb_uint8(path)
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return rgb[..., 0].astype(np.float64) / 255.0
    return rgb.astype(np.float64) / 255.0


def to_uint8(x01: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, clipped, rounded half to even."""
    return np.clip(np.round(np.asarray(x01, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def write_png(path: str | Path, x01: np.ndarray) -> Path:
    """Write a [0, 1] grey (H, W) or RGB (H, W, 3) image as an 8-bit PNG (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = to_uint8(x01)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"{path}: expected (H, W) or (H, W, 3) image, got {arr.shape}")
    Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB").save(path)
    return path


def list_images(folder: str | Path) -> dict[str, Path]:
    """{stem: path} of the image files in ``folder``; two files with one stem is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder not found")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            if p.stem in out:
                raise ValueError(f"{p}: two images share the stem {p.stem!r} ({out[p.stem].name})")
            out[p.stem] = p
    return out

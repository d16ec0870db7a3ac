"""Multi-resolution pairs: B (CT/PET/SPECT) at ``1/r`` of A's resolution, as DDcGAN fuses a 64x64 PET with a
256x256 MRI.  The one place that says what "r times smaller" means and how the two grids relate.

Geometry (every reader, the register stage, training and inference use it): B's pixel ``(i, j)`` covers A's
pixels ``r i .. r i + r - 1`` by ``r j .. r j + r - 1``; both images cover the same field of view, so B's
pixel is ``r`` times A's and its centre lies at ``((r - 1) / 2 + r j)`` A-pixels from A's first pixel centre.

* :func:`scale_factor` (the ingest rule): the integer ``r >= 1`` with ``B = A / r`` on both axes, or ``None``;
* :func:`box_downsample`: the mean over each ``r x r`` block (what a detector with ``r`` times larger pixels
  records of a finer image; also how the benchmark makes a low-resolution B from a full-resolution one and how
  DDcGAN's second critic sees F, ``F.avg_pool2d``);
* :func:`upsample_bicubic`: B brought to A's size for scoring and for the classical baselines.  Bicubic with
  Keys' kernel ``a = -0.5`` on pixel centres (PIL's ``BICUBIC``, the kernel of MATLAB's ``imresize``, which the
  DDcGAN authors evaluated with), then clipped to the input's range (the cubic kernel overshoots at edges).
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def scale_factor(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> int | None:
    """``r`` when ``b_shape == a_shape / r`` exactly for one integer ``r >= 1`` on both axes, else None."""
    (ha, wa), (hb, wb) = tuple(a_shape), tuple(b_shape)
    if hb < 1 or wb < 1 or ha % hb or wa % wb:
        return None
    r = ha // hb
    return r if r == wa // wb else None


def mismatch_sentence(a_what: str, a_shape: tuple[int, int], b_what: str, b_shape: tuple[int, int]) -> str:
    """Why a pair of sizes is neither one grid nor a multi-resolution pair (names both files / images)."""
    return (f"{a_what} is {a_shape[0]}x{a_shape[1]} but its partner {b_what} is {b_shape[0]}x{b_shape[1]}; a "
            "registered pair must share one pixel grid, or B may be smaller by one integer factor r on both axes "
            "(multi-resolution: B = A / r)")


def check_size_multiple(size: int, r: int, what: str) -> str | None:
    """A sentence when images resampled to ``size`` cannot keep B at ``1/r`` (``size`` not a multiple of r)."""
    if size % r:
        return (f"{what}: B is 1/{r} of A's resolution, but data.size {size} is not a multiple of {r}, so B cannot "
                f"stay at 1/{r} of A; choose data.size as a multiple of {r}")
    return None


def lowres_affine(affine: np.ndarray, r: int) -> np.ndarray:
    """The voxel-to-world affine of a grid ``r`` times coarser on the first two (in-plane) axes, covering the same
    field of view: its voxel ``(i, j, k)`` is the block of voxels ``r i .. r i + r - 1`` by ``r j .. r j + r - 1``
    of slice k, centred at continuous index ``(r i + (r - 1) / 2, r j + (r - 1) / 2, k)`` of ``affine``'s grid."""
    to_fine = np.array([[r, 0, 0, (r - 1) / 2.0], [0, r, 0, (r - 1) / 2.0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)
    return np.asarray(affine, np.float64) @ to_fine


def box_downsample(img: np.ndarray, r: int) -> np.ndarray:
    """Mean over each ``r x r`` block of the last two axes (``(..., H, W)`` -> ``(..., H/r, W/r)``)."""
    arr = np.asarray(img)
    r = int(r)
    if r < 1:
        raise ValueError(f"r must be >= 1, got {r}")
    h, w = arr.shape[-2:]
    if h % r or w % r:
        raise ValueError(f"a {h}x{w} image cannot be split into {r}x{r} blocks")
    if r == 1:
        return arr
    out = arr.reshape(arr.shape[:-2] + (h // r, r, w // r, r)).mean(axis=(-3, -1))
    return out.astype(arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64, copy=False)


def upsample_bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize (Keys a = -0.5, pixel centres aligned) of ``(..., h, w)`` to ``(..., H, W)``, clipped to the
    input's value range; computed in float32 (PIL's mode F), returned as float64 for float64 input, else float32.
    ``size`` equal to the input's size returns the input unchanged."""
    arr = np.asarray(img)
    target = (int(size[0]), int(size[1]))
    if arr.shape[-2:] == target:
        return arr
    flat = arr.reshape((-1,) + arr.shape[-2:])
    out = np.empty((len(flat),) + target, np.float64)
    for i, plane in enumerate(flat):
        im = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
        out[i] = np.asarray(im.resize((target[1], target[0]), Image.Resampling.BICUBIC), dtype=np.float64)
        out[i] = np.clip(out[i], float(plane.min()), float(plane.max()))
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    return out.reshape(arr.shape[:-2] + target).astype(dtype, copy=False)

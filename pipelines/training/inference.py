"""From a trained checkpoint to fused images: rebuild the system from its stored model spec, load the networks
(the generators' EMA copies when training kept them), and fuse numpy images of any size.

Used by the training loop's validation, the pyfunc model, ``medfuse fuse`` and the evaluate stage's model fuser.
Colour: a pseudo-colour B (H, W, 3) is fused on its BT.601 luma and gets its own Cb/Cr back
(``pipelines/imaging/color.py``), as in the field's evaluation code.

Multi-resolution: a model built with ``b_scale`` r (trained on pairs whose B is 1/r of A) takes B at (H/r, W/r)
and returns F at A's (H, W); a colour B's Cb/Cr are brought to A's size by bicubic upsampling
(:func:`pipelines.imaging.multires.upsample_bicubic`).  A B at A's size is accepted by every model (an r model's
system box-averages it to 1/r); any other size is refused with one line naming both sizes and the model's r.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan_models.systems.base import unwrap
from gan_models.training.checkpoint import read_checkpoint
from pipelines.imaging.color import grey_a, rgb_to_ycbcr, ycbcr_to_rgb
from pipelines.imaging.multires import scale_factor, upsample_bicubic

#: spatial sizes are padded (edge-replicated) to a multiple of this before the generator and cropped after,
#: so strided generators accept any H, W
PAD_MULTIPLE = 16


def expand_indexed_overrides(preset: str, overrides: dict[str, Any],
                             preset_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Dotted overrides that index into lists (``stages.0.generator.width``) become a replacement of the
    top-level key, built from the preset's own value (``preset_params`` when given: a checkpoint's recorded
    params); other keys pass through to ``gan_models.build``."""
    list_tops = {k.split(".")[0] for k in overrides if any(p.isdigit() for p in k.split("."))}
    # every key under a replaced top-level key is applied here, so none is lost to the replacement
    indexed = {k: v for k, v in overrides.items() if k.split(".")[0] in list_tops and "." in k}
    if not indexed:
        return dict(overrides)
    from gan_models.presets import load_preset, preset_names
    if preset_params is not None:
        params = copy.deepcopy(preset_params)
    elif preset not in preset_names():
        raise KeyError(f"override(s) {sorted(indexed)} index into lists, which needs a preset; {preset!r} is not one")
    else:
        _, params = load_preset(preset)
    out = {k: v for k, v in overrides.items() if k not in indexed}
    tops: dict[str, Any] = {}
    for key, value in indexed.items():
        top, *path = key.split(".")
        if top not in tops:
            if top not in params:
                raise KeyError(f"override {key!r}: preset {preset!r} has no {top!r}")
            tops[top] = copy.deepcopy(params[top])
        node = tops[top]
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                idx = int(part) if part.isdigit() else None
                if idx is None or not 0 <= idx < len(node):
                    raise KeyError(f"override {key!r}: {part!r} is not an index of a {len(node)}-item list")
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise KeyError(f"override {key!r}: {part!r} addresses inside a value")
    out.update(tops)
    return out


def build_system(spec: dict[str, Any]):
    """``gan_models.build(preset, loss=..., **overrides)`` from a stored model spec."""
    import importlib

    import gan_models
    for module in spec.get("plugins") or []:
        importlib.import_module(module)
    resolved = spec.get("resolved")       # the preset as it was at training time (older checkpoints: as it is now)
    recorded = (resolved.get("params") or {}) if resolved else None
    overrides = expand_indexed_overrides(spec["preset"], dict(spec.get("overrides") or {}), recorded)
    if spec.get("loss"):
        overrides["loss"] = spec["loss"]
    if resolved:
        return gan_models.build_from_params(resolved["system"], recorded, **overrides)
    return gan_models.build(spec["preset"], **overrides)


def load_generator_state(system, trainer_state: dict[str, Any], use_ema: bool = True) -> None:
    """Load a trainer state's networks into ``system``; generators take their EMA shadow when present."""
    system.load_network_state(trainer_state["system"]["networks"])
    if use_ema:
        for k, shadow in (trainer_state.get("ema") or {}).items():
            unwrap(system.generators[k]).load_state_dict(shadow)


def system_from_state(spec: dict[str, Any], trainer_state: dict[str, Any], device: str | torch.device = "cpu",
                      use_ema: bool = True):
    system = build_system(spec)
    load_generator_state(system, trainer_state, use_ema)
    return system.to(device).eval()


def _pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def model_b_scale(system) -> int:
    """The r a system was built for (B at 1/r of A; 1 for systems without ``b_scale``)."""
    return int(getattr(system, "b_scale", 1) or 1)


def check_b_size(system, a_shape: tuple[int, ...], b_shape: tuple[int, ...], where: str = "") -> int:
    """r of the pair (1: B at A's size) when ``system`` takes it, else ``ValueError`` with one sentence naming
    both sizes and the model's r (prefixed by ``where``, e.g. the files)."""
    (ha, wa), (hb, wb) = tuple(a_shape[-2:]), tuple(b_shape[-2:])
    r, want = scale_factor((ha, wa), (hb, wb)), model_b_scale(system)
    if r == 1 or (r is not None and r == want):
        return r
    takes = (f"B at 1/{want} of A ({ha // want}x{wa // want}) or at A's size" if want > 1
             else "B at A's size (b_scale 1)")
    where = f"{where}: " if where else ""
    if r is None:
        raise ValueError(f"{where}B is {hb}x{wb} and A is {ha}x{wa}: they differ in size and B is not smaller by one "
                         f"integer factor on both axes (this model takes {takes}); register the pair first")
    raise ValueError(f"{where}B is {hb}x{wb}, 1/{r} of A's {ha}x{wa}, but this model was trained for {takes}; use "
                     f"a model trained on pairs with B at 1/{r} of A (b_scale {r}), or resample B")


@torch.no_grad()
def fuse_luma(system, a: np.ndarray, b: np.ndarray, batch_size: int = 16,
              device: str | torch.device | None = None) -> np.ndarray:
    """Fuse grey images: ``a`` (N, H, W) or (H, W) and ``b`` of A's size or, for a model built with ``b_scale`` r,
    (N, H/r, W/r) (:func:`check_b_size`); float in [0, 1] -> fused of A's shape."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"A {a.shape} and B {b.shape}: give one B per A")
    r = check_b_size(system, a.shape, b.shape)
    single = a.ndim == 2
    if single:
        a, b = a[None], b[None]
    if a.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W) images, got {a.shape}")
    dev = torch.device(device) if device is not None else next(system.parameters()).device
    was_training = system.training
    system.eval()
    out = np.empty_like(a)
    multiple = math.lcm(PAD_MULTIPLE, model_b_scale(system), r)     # padded A stays divisible by r
    try:
        for i in range(0, len(a), batch_size):
            ta, hw = _pad(torch.from_numpy(a[i:i + batch_size])[:, None].to(dev), multiple)
            tb, _ = _pad(torch.from_numpy(b[i:i + batch_size])[:, None].to(dev), multiple // r)
            f = system.fuse(ta, tb)
            out[i:i + batch_size] = f[:, 0, :hw[0], :hw[1]].float().clamp(0, 1).cpu().numpy()
    finally:
        system.train(was_training)
    return out[0] if single else out


def as_unit_float(img: np.ndarray, name: str) -> np.ndarray:
    """uint8 / uint16 / float image -> float32 in [0, 1] (floats must already be in [0, 1])."""
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    arr = arr.astype(np.float32)
    if arr.size and (np.nanmin(arr) < -1e-6 or np.nanmax(arr) > 1 + 1e-6):
        raise ValueError(f"{name}: float image values must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: image contains NaN or inf")
    return np.clip(arr, 0.0, 1.0)


def fuse_pair(system, a: np.ndarray, b: np.ndarray, **kw: Any) -> np.ndarray:
    """One pair: ``a`` grey (H, W) (a grey RGB A becomes its luma, a colour A is refused: imaging.color), ``b``
    grey (H, W) or pseudo-colour (H, W, 3), at A's size or (multi-resolution model) 1/r of it.  Returns (H, W)
    for grey B, (H, W, 3) RGB for colour B, at A's size; float32 in [0, 1]."""
    a = as_unit_float(a, "A")
    b = as_unit_float(b, "B")
    a = grey_a(a, "A")                        # one rule for A everywhere (pipelines/imaging/color.py)
    if a.ndim != 2:
        raise ValueError(f"A: expected a 2-D grey image, got shape {a.shape}")
    if b.ndim == 3 and b.shape[-1] in (3, 4):
        y, cb, cr = rgb_to_ycbcr(b[..., :3])
        fy = fuse_luma(system, a, y.astype(np.float32), **kw)
        cb, cr = upsample_bicubic(cb, a.shape), upsample_bicubic(cr, a.shape)     # B's chroma at F's size
        return ycbcr_to_rgb(fy, cb, cr).astype(np.float32)
    if b.ndim != 2:
        raise ValueError(f"B: expected a grey (H, W) or RGB (H, W, 3) image, got shape {b.shape}")
    return fuse_luma(system, a, b, **kw)


@dataclass
class FusionModel:
    """A trained fusion model loaded from a medfuse checkpoint (``checkpoint.pt``; meta holds the model spec)."""
    system: Any
    spec: dict[str, Any]
    meta: dict[str, Any]

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None) -> "FusionModel":
        path = Path(path)
        if path.is_dir():
            path = path / "checkpoint.pt"
        payload = read_checkpoint(path)
        meta = payload.get("meta") or {}
        spec = meta.get("model")
        if not spec or "preset" not in spec:
            raise ValueError(f"{path}: checkpoint has no model spec in its meta (not written by medfuse train?)")
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(system_from_state(spec, payload["trainer"], dev), spec, meta)

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    def fuse(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fuse_pair(self.system, a, b)

    def fuse_batch(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Grey (N, H, W) batches in [0, 1] (what the evaluate stage and validation use)."""
        return fuse_luma(self.system, a, b)

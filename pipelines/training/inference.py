"""From a trained checkpoint to fused images: rebuild the system from its stored model spec, load the networks
(the generators' EMA copies when training kept them), and fuse numpy images of any size.

Used by the training loop's validation, the pyfunc model, ``medfuse fuse`` and the evaluate stage's model fuser.
Colour: a pseudo-colour B (H, W, 3) is fused on its BT.601 luma and gets its own Cb/Cr back
(``pipelines/imaging/color.py``), as in the field's evaluation code.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gan_models.systems.base import unwrap
from gan_models.training.checkpoint import read_checkpoint
from pipelines.imaging.color import grey_a, rgb_to_ycbcr, ycbcr_to_rgb

#: spatial sizes are padded (edge-replicated) to a multiple of this before the generator and cropped after,
#: so strided generators accept any H, W
PAD_MULTIPLE = 16


def expand_indexed_overrides(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Dotted overrides that index into lists (``stages.0.generator.width``) become a replacement of the
    top-level key, built from the preset's own value; other keys pass through to ``gan_models.build``."""
    list_tops = {k.split(".")[0] for k in overrides if any(p.isdigit() for p in k.split("."))}
    # every key under a replaced top-level key is applied here, so none is lost to the replacement
    indexed = {k: v for k, v in overrides.items() if k.split(".")[0] in list_tops and "." in k}
    if not indexed:
        return dict(overrides)
    from gan_models.presets import load_preset, preset_names
    if preset not in preset_names():
        raise KeyError(f"override(s) {sorted(indexed)} index into lists, which needs a preset; {preset!r} is not one")
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
    overrides = expand_indexed_overrides(spec["preset"], dict(spec.get("overrides") or {}))
    if spec.get("loss"):
        overrides["loss"] = spec["loss"]
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


@torch.no_grad()
def fuse_luma(system, a: np.ndarray, b: np.ndarray, batch_size: int = 16,
              device: str | torch.device | None = None) -> np.ndarray:
    """Fuse grey images: ``a``, ``b`` (N, H, W) or (H, W) float in [0, 1] -> fused of the same shape."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"A {a.shape} and B {b.shape} must have the same shape (register them first)")
    single = a.ndim == 2
    if single:
        a, b = a[None], b[None]
    if a.ndim != 3:
        raise ValueError(f"expected (H, W) or (N, H, W) images, got {a.shape}")
    dev = torch.device(device) if device is not None else next(system.parameters()).device
    was_training = system.training
    system.eval()
    out = np.empty_like(a)
    try:
        for i in range(0, len(a), batch_size):
            ta, hw = _pad(torch.from_numpy(a[i:i + batch_size])[:, None].to(dev), PAD_MULTIPLE)
            tb, _ = _pad(torch.from_numpy(b[i:i + batch_size])[:, None].to(dev), PAD_MULTIPLE)
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
    grey (H, W) or pseudo-colour (H, W, 3).  Returns (H, W) for grey B, (H, W, 3) RGB for colour B; float32 in
    [0, 1]."""
    a = as_unit_float(a, "A")
    b = as_unit_float(b, "B")
    a = grey_a(a, "A")                        # one rule for A everywhere (pipelines/imaging/color.py)
    if a.ndim != 2:
        raise ValueError(f"A: expected a 2-D grey image, got shape {a.shape}")
    if b.ndim == 3 and b.shape[-1] in (3, 4):
        y, cb, cr = rgb_to_ycbcr(b[..., :3])
        if y.shape != a.shape:
            raise ValueError(f"A {a.shape} and B {y.shape} differ in size (register them first)")
        fy = fuse_luma(system, a, y.astype(np.float32), **kw)
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

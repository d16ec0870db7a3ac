"""Multi-resolution training: the train and tune stages read r (``b_scale``) from the data and give it to the model.

A task whose training pairs keep B at ``1/r`` of A's resolution (``b_scale`` r > 1 in the pair table,
:mod:`pipelines.imaging.multires`) trains a model built with ``b_scale = r``: :func:`model_overrides` adds
``b_scale: r`` to the ``gan_models.build`` overrides, so the model spec stored with every checkpoint says which B
resolution the model takes (``medfuse fuse`` and the evaluate stage read it back).

* ``train.overrides.b_scale`` given explicitly wins: on same-resolution data (r = 1) it makes the system derive a
  low-resolution B by box averaging (DDcGAN's own simulated setting); on data with r > 1 it must equal r, and a
  mismatch is an error naming both values.
* A preset whose system has no ``b_scale`` (a synthesis or non-fusion preset) is refused on r > 1 data with its
  name.  Every fusion preset takes a low-resolution B: DDcGAN / MGMDcGAN's generators through their learned
  upsampler (stage B view ``b_lowres``), the others through ``FusionSystem.prepare``'s explicit bilinear
  upsampling (docs/fusion_models.md).
* ``train.crop`` must be a multiple of r (B's crop is crop / r), and the preset must build with ``b_scale`` r
  (DDcGAN's learned upsampler takes powers of two): both are checked before anything starts.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pipelines.params import ParamsError


def data_b_scale(split: str | Path, task: str) -> int | None:
    """r of ``task``'s pairs in the split (None when the split does not exist yet or has no such rows); pairs of one
    task at different resolutions are an error naming the values."""
    from pipelines.schema import read_pairs
    split = Path(split)
    if not split.exists():
        return None
    t = read_pairs(split, columns=["task", "b_scale"])
    values = sorted({int(r) for tk, r in zip(t.column("task").to_pylist(), t.column("b_scale").to_pylist())
                     if tk == task})
    if len(values) > 1:
        raise ParamsError(f"{split}: task {task} has pairs with B at different resolutions (b_scale {values}); "
                          "a model is trained for one r: ingest one B resolution per task")
    return values[0] if values else None


def system_takes_b_scale(preset: str) -> tuple[bool, str]:
    """(whether the preset's system has a ``b_scale`` parameter, the system's name)."""
    from gan_models import load_all
    from gan_models.presets import resolve_preset
    from gan_models.registry import SYSTEMS
    load_all()
    system = resolve_preset(preset)["system"]
    return "b_scale" in inspect.signature(SYSTEMS.get(system)).parameters, system


def model_overrides(preset: str, overrides: dict[str, Any], r: int | None, crop: int | None, task: str,
                    split: str | Path) -> dict[str, Any]:
    """``overrides`` with ``b_scale`` set from the data's r (see the module docstring); a copy."""
    out = dict(overrides)
    if r is None:
        return out
    explicit = out.get("b_scale")
    if explicit is not None and r > 1 and explicit != r:
        raise ParamsError(f"train.overrides.b_scale is {explicit} but the {task} pairs in {split} have B at 1/{r} "
                          f"of A's resolution (b_scale {r}); drop the override or set it to {r}")
    if r == 1:
        return out
    takes, system = system_takes_b_scale(preset)
    if not takes:
        raise ParamsError(f"preset {preset} (system {system}) cannot take a low-resolution B, but the {task} pairs "
                          f"in {split} have B at 1/{r} of A's resolution; choose a fusion preset "
                          "(docs/fusion_models.md)")
    if crop is not None and crop % r:
        raise ParamsError(f"train.crop {crop} is not a multiple of {r}: the {task} pairs have B at 1/{r} of A's "
                          f"resolution, so B's crop would be {crop}/{r}; use a multiple of {r}")
    out["b_scale"] = r
    from pipelines.training.inference import build_system
    try:                                   # e.g. DDcGAN's learned upsampler takes powers of two only
        build_system({"preset": preset, "overrides": out})
    except (ValueError, KeyError, TypeError) as exc:
        raise ParamsError(f"preset {preset} cannot take B at 1/{r} of A's resolution (the {task} pairs in "
                          f"{split}): {' '.join(str(exc).split())}") from None
    return out


def b_scale_overrides(preset: str, overrides: dict[str, Any], crop: int | None, task: str,
                      split: str | Path) -> dict[str, Any]:
    """:func:`model_overrides` with r read from ``split`` (:func:`data_b_scale`)."""
    return model_overrides(preset, overrides, data_b_scale(split, task), crop, task, split)


"""The one generic trainer that runs every system's phases, checkpoints, learning-rate schedules and monitors.

Attributes are imported lazily: :mod:`gan_models.systems.base` imports :mod:`gan_models.training.options`, and
the trainer imports the systems' base, so an eager import here would be circular.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"EMA": "gan_models.training.trainer", "Trainer": "gan_models.training.trainer",
         "TrainingStopped": "gan_models.training.monitors",
         "load_checkpoint": "gan_models.training.checkpoint", "save_checkpoint": "gan_models.training.checkpoint"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gan_models.training' has no attribute {name!r}")

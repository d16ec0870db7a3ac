"""Checkpoints that restore training exactly, loadable with ``torch.load(..., weights_only=True)``.

A checkpoint holds the trainer state (networks, optimizers, EMA, step counter, system training-state scalars)
and the RNG states (torch CPU, CUDA when present, numpy, Python ``random``), plus a JSON-able ``meta`` dict
(the config that built the system).  Everything is stored as tensors, dicts, lists, numbers and strings so
the safe unpickler accepts it.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_models.training.trainer import Trainer


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, trainer: Trainer, meta: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": "medfuse-checkpoint/1", "trainer": trainer.state_dict(), "rng": rng_state(),
               "meta": meta or {}}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "medfuse-checkpoint/1":
        raise ValueError(f"{path}: not a medfuse checkpoint")
    return payload


def load_checkpoint(path: str | Path, trainer: Trainer, restore_rng: bool = True) -> dict[str, Any]:
    """Restore ``trainer`` (and the RNGs) from ``path``; returns the checkpoint's ``meta``."""
    payload = read_checkpoint(path, map_location=trainer.device)
    trainer.load_state_dict(payload["trainer"])
    if restore_rng:
        set_rng_state(payload["rng"])
    return payload["meta"]

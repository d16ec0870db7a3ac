"""The fuser interface the evaluation uses, and the hook that turns a model reference into one.

A *fuser* is a callable ``fuser(a, b) -> fused`` on float arrays in [0, 1] of shape (N, H, W) (``a`` the MRI,
``b`` the functional image's luma); it returns (N, H, W) in [0, 1].  Classical baselines are fusers
(:data:`pipelines.baselines.BASELINES`); a trained model becomes one through :func:`load_model_fuser`.

Model loading is pluggable: a loader is registered in :data:`MODEL_LOADERS` under a kind
(``"checkpoint"`` for a local checkpoint path, ``"mlflow"`` for ``models:/``, ``runs:/`` and other MLflow
URIs) by the module that knows how to build the model; :data:`LOADER_MODULES` lists the modules imported
before lookup so their ``@MODEL_LOADERS.register`` decorators run.
"""
from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from gan_models.registry import Registry
from pipelines.model_loading import MLFLOW_SCHEMES, reference_kind  # noqa: F401  (one rule for references)

Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]
ModelLoader = Callable[[str], Fuser]

MODEL_LOADERS: Registry = Registry("model loader")
LOADER_MODULES: list[str] = ["pipelines.training.model_fuser"]   # registers "checkpoint" and "mlflow"


def load_model_fuser(ref: str) -> Fuser:
    """Resolve a checkpoint path or an MLflow model URI into a fuser."""
    kind = reference_kind(ref)
    for mod in LOADER_MODULES:
        importlib.import_module(mod)
    if kind not in MODEL_LOADERS:
        raise ValueError(f"{ref}: no model loader registered for kind {kind!r} (registered: "
                         f"{MODEL_LOADERS.names()}); the training package registers them in MODEL_LOADERS")
    return MODEL_LOADERS.get(kind)(ref)


def native_b(fuser: Fuser, b_scale: int) -> Fuser:
    """Mark ``fuser`` as a model built for ``b_scale`` r: on pairs whose B is stored at ``1/r`` of A it fuses that
    B as stored; every other fuser (and a model on pairs of another r) gets B at A's size
    (:mod:`pipelines.metrics.multires`)."""
    fuser.native_b_scale = int(b_scale)    # type: ignore[attr-defined]
    return fuser


def fuser_b_scale(fuser: Fuser) -> int | None:
    """The r a fuser takes B at natively (None: it takes B at A's size, e.g. a classical baseline)."""
    return getattr(fuser, "native_b_scale", None)


def checked(fuser: Fuser, name: str) -> Fuser:
    """Wrap a fuser so a wrong output shape or non-finite values raise with the fuser's name."""
    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = fuser(a, b)
        if hasattr(out, "detach"):
            out = out.detach().cpu().numpy()
        out = np.asarray(out, dtype=np.float64)
        if out.shape != np.shape(a):
            raise ValueError(f"fuser {name!r} returned shape {out.shape} for inputs of shape {np.shape(a)}")
        if not np.isfinite(out).all():
            raise ValueError(f"fuser {name!r} returned non-finite values")
        return out
    return run if fuser_b_scale(fuser) is None else native_b(run, fuser_b_scale(fuser))

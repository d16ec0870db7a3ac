"""Trained models as fusers for the evaluation (:mod:`pipelines.fusers`): a local checkpoint path (a
``checkpoint.pt`` or a folder holding one, e.g. ``models/final/MRI_PET``) or an MLflow model URI
(``models:/medfuse-MRI_PET@champion``, ``runs:/<id>/model``...), loaded by :mod:`pipelines.model_loading`
(checkpoint + spec with ``torch.load(weights_only=True)``; the model's pyfunc code is never run)."""
from __future__ import annotations

from pipelines.fusers import MODEL_LOADERS, Fuser
from pipelines.model_loading import load_fusion_model

__all__ = ["checkpoint_fuser", "load_fusion_model", "mlflow_fuser"]


@MODEL_LOADERS.register("checkpoint")
def checkpoint_fuser(ref: str) -> Fuser:
    return load_fusion_model(ref).fuse_batch


@MODEL_LOADERS.register("mlflow")
def mlflow_fuser(ref: str) -> Fuser:
    return load_fusion_model(ref).fuse_batch

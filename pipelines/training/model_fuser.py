"""Trained models as fusers for the evaluation (:mod:`pipelines.fusers`): a local checkpoint path (a
``checkpoint.pt`` or a folder holding one, e.g. ``models/final/MRI_PET``) or an MLflow model URI
(``models:/medfuse-MRI_PET@champion``, ``runs:/<id>/model``...), loaded by :mod:`pipelines.model_loading`
(checkpoint + spec with ``torch.load(weights_only=True)``; the model's pyfunc code is never run)."""
from __future__ import annotations

from pipelines.fusers import MODEL_LOADERS, Fuser, native_b
from pipelines.model_loading import load_fusion_model
from pipelines.training.inference import model_b_scale

__all__ = ["checkpoint_fuser", "load_fusion_model", "mlflow_fuser"]


def model_fuser(ref: str) -> Fuser:
    """The model's batch fuser, marked with the r it was built for (``native_b``: B at 1/r of A as stored)."""
    model = load_fusion_model(ref)

    def fuse(a, b):
        return model.fuse_batch(a, b)
    return native_b(fuse, model_b_scale(model.system))


@MODEL_LOADERS.register("checkpoint")
def checkpoint_fuser(ref: str) -> Fuser:
    return model_fuser(ref)


@MODEL_LOADERS.register("mlflow")
def mlflow_fuser(ref: str) -> Fuser:
    return model_fuser(ref)

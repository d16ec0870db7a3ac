"""Trained models as fusers for the evaluation (:mod:`pipelines.fusers`): a local checkpoint path (a
``checkpoint.pt`` or a folder holding one, e.g. ``models/final/MRI_PET``) or an MLflow model URI
(``models:/medfuse-MRI_PET@champion``, ``runs:/<id>/model``...)."""
from __future__ import annotations

from pathlib import Path

from pipelines.fusers import MODEL_LOADERS, Fuser


def load_fusion_model(ref: str):
    """:class:`~pipelines.training.inference.FusionModel` behind a checkpoint path or an MLflow model URI."""
    from pipelines.fusers import reference_kind
    if reference_kind(ref) == "checkpoint":
        from pipelines.training.inference import FusionModel
        return FusionModel.from_checkpoint(ref)
    import mlflow
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set
    from pipelines.tracking.setup import configure
    if not is_tracking_uri_set():
        configure(Path.cwd())                     # the project's embedded store (or $MLFLOW_TRACKING_URI)
    from mlflow.exceptions import MlflowException
    try:
        loaded = mlflow.pyfunc.load_model(ref)
    except MlflowException as exc:
        raise ValueError(f"{ref}: cannot load the MLflow model ({str(exc).splitlines()[0]})") from None
    inner = loaded.unwrap_python_model()
    if not hasattr(inner, "model"):
        raise ValueError(f"{ref}: not a medfuse fusion model (python model {type(inner).__name__})")
    return inner.model


@MODEL_LOADERS.register("checkpoint")
def checkpoint_fuser(ref: str) -> Fuser:
    return load_fusion_model(ref).fuse_batch


@MODEL_LOADERS.register("mlflow")
def mlflow_fuser(ref: str) -> Fuser:
    return load_fusion_model(ref).fuse_batch

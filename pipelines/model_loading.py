"""Loading a trained model for medfuse's own commands without running any code that came with it.

``medfuse fuse``, the evaluate stage and the champion/challenger promotion load a model from its checkpoint and
the model spec stored inside it, never by executing the model's pyfunc:

* a local path: a ``checkpoint.pt`` or a folder holding one (``models/final/<task>``);
* an MLflow model: ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/<run_id>/<path>``,
  ``mlflow-artifacts:/...`` or the ``file:`` URI of a logged model folder.  The model folder is downloaded as
  plain files; its ``MLmodel`` is read with ``yaml.safe_load`` and must name a ``checkpoint`` artifact (what
  :func:`pipelines.tracking.pyfunc_model.log_fusion_model` logs).  The pyfunc's Python code is never imported:
  that is what ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` do, so serving a model runs its code
  (docs/training.md).

The checkpoint is read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only; a
corrupt, truncated or foreign file is a one-line error that never suggests turning that off.  The system is
rebuilt from the spec with ``gan_models.build``.  A spec's ``plugins`` (modules that register extra systems or
losses) are imported only when the user allowed them: ``train.plugins`` in ``params.yaml``, or
``medfuse fuse --allow-plugin MODULE``; otherwise the error names the modules and where to allow them.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterable

from pipelines.errors import InputError

#: model references medfuse resolves itself (anything else, e.g. ``http://`` or ``s3://``, is refused)
MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "file:")
REFUSED_SCHEMES = ("http://", "https://", "s3://", "gs://", "wasbs://", "hdfs://", "ftp://")
CHECKPOINT_FORMAT = "medfuse-checkpoint/1"


def reference_kind(ref: str) -> str:
    """``"mlflow"`` for a supported MLflow model URI, ``"checkpoint"`` for an existing local path."""
    if ref.startswith(MLFLOW_SCHEMES):
        return "mlflow"
    if ref.startswith(REFUSED_SCHEMES) or "://" in ref:
        raise InputError(f"{ref}: medfuse loads a model from a local checkpoint or an MLflow model URI "
                         f"({', '.join(MLFLOW_SCHEMES)}), not from {ref.split('://', 1)[0]}:// (register the "
                         "model and use models:/<name>@<alias>)")
    if Path(ref).exists():
        return "checkpoint"
    raise FileNotFoundError(f"{ref}: model not found (neither an existing checkpoint path nor an MLflow "
                            f"URI starting with one of {list(MLFLOW_SCHEMES)})")


def read_checkpoint_safely(path: str | Path) -> dict[str, Any]:
    """The checkpoint's payload via ``torch.load(weights_only=True)``, with medfuse's own one-line errors."""
    import torch
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):       # a pickled class or function: what weights_only refuses
            raise InputError(f"{path}: refused: the file holds Python objects other than tensors, numbers and "
                             "strings (not a medfuse checkpoint; medfuse never unpickles such files)") from None
        raise InputError(f"{path}: not a readable checkpoint (the file is corrupt or not written by "
                         "torch.save)") from None
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/EOFError/zip errors for damaged files
        raise InputError(f"{path}: not a readable checkpoint ({type(exc).__name__}: the file is truncated, "
                         "corrupt or not written by torch.save)") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a medfuse checkpoint (no format {CHECKPOINT_FORMAT!r})")
    spec = (payload.get("meta") or {}).get("model")
    if not isinstance(spec, dict) or "preset" not in spec or "trainer" not in payload:
        raise InputError(f"{path}: checkpoint has no model spec in its meta (not written by medfuse train?)")
    return payload


def allowed_plugins(params_path: str | Path = "params.yaml") -> list[str]:
    """``train.plugins`` of the params file, when there is one (the modules the user trusts)."""
    path = Path(params_path)
    if not path.exists():
        return []
    from pipelines.params import load_params, section
    from pipelines.training.config import TrainParams
    return list(section(load_params(path), TrainParams, "train").plugins)


def check_plugins(spec: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a spec whose plugin modules are not all allowed (nothing is imported before this check)."""
    wanted = [str(m) for m in spec.get("plugins") or []]
    missing = [m for m in wanted if m not in set(allowed)]
    if missing:
        raise InputError(f"{where}: the model imports plugin module(s) {missing}, which are not allowed; "
                         "medfuse imports only modules listed in train.plugins (params.yaml) or given with "
                         "medfuse fuse --allow-plugin, so add them there if you trust them")


def _mlflow_checkpoint(ref: str, workdir: Path) -> Path:
    """Download an MLflow model folder (files only) and return its checkpoint artifact."""
    import yaml
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set
    from pipelines.tracking.setup import configure
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if not is_tracking_uri_set():
        configure(Path.cwd())                     # the project's embedded store (or $MLFLOW_TRACKING_URI)
    import mlflow.artifacts
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref, dst_path=str(workdir)))
    except MlflowException as exc:
        raise InputError(f"{ref}: cannot fetch the MLflow model ({' '.join(str(exc).split())[:300]})") from None
    except OSError as exc:
        raise InputError(f"{ref}: cannot fetch the MLflow model ({type(exc).__name__}: {exc})") from None
    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        raise InputError(f"{ref}: not an MLflow model folder (no MLmodel file)")
    try:
        meta = yaml.safe_load(mlmodel.read_text()) or {}
    except yaml.YAMLError:
        raise InputError(f"{ref}: its MLmodel file is not valid YAML") from None
    flavour = ((meta.get("flavors") or {}).get("python_function") or {}) if isinstance(meta, dict) else {}
    rel = ((flavour.get("artifacts") or {}).get("checkpoint") or {}).get("path")
    if not isinstance(rel, str):
        raise InputError(f"{ref}: not a medfuse fusion model (its MLmodel names no 'checkpoint' artifact; "
                         f"flavours: {sorted((meta.get('flavors') or {}) if isinstance(meta, dict) else [])})")
    ckpt = (local / rel).resolve()
    if not ckpt.is_relative_to(local.resolve()) or not ckpt.is_file():
        raise InputError(f"{ref}: its checkpoint artifact {rel!r} is not a file inside the model folder")
    return ckpt


def load_fusion_model(ref: str, allowed: Iterable[str] | None = None, device: str | None = None):
    """:class:`pipelines.training.inference.FusionModel` behind a checkpoint path or an MLflow model URI.
    ``allowed``: plugin modules the model may import (default: ``train.plugins`` of ./params.yaml)."""
    import torch
    from pipelines.training.inference import FusionModel, system_from_state
    allowed = list(allowed_plugins() if allowed is None else allowed)
    with tempfile.TemporaryDirectory(prefix="medfuse-model-") as tmp:
        path = Path(ref) if reference_kind(ref) == "checkpoint" else _mlflow_checkpoint(ref, Path(tmp))
        payload = read_checkpoint_safely(path)
    meta = payload["meta"]
    spec = meta["model"]
    check_plugins(spec, allowed, ref)
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return FusionModel(system_from_state(spec, payload["trainer"], dev), spec, meta)

"""Where runs go: the tracking URI, per-task experiments and their artifact locations.

Embedded default (no server): ``sqlite:///<repo>/mlruns/mlflow.db`` (absolute: Ray workers chdir, STACK_NOTES §2)
with artifacts under ``<repo>/mlruns/artifacts/<experiment id>``.  ``MLFLOW_TRACKING_URI`` (e.g. a team server,
``http://mlflow.internal:5000``) overrides it; the server then decides where artifacts go.
Experiment per task: ``medfuse/<task>``; registered model per task: ``medfuse-<task>``.
"""
from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "mlflow.db"


def experiment_name(task: str) -> str:
    return f"medfuse/{task}"


def registered_model_name(task: str) -> str:
    return f"medfuse-{task}"


def default_tracking_uri(root: str | Path) -> str:
    mlruns = Path(root).resolve() / "mlruns"
    mlruns.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{mlruns / DB_NAME}"


def tracking_uri(root: str | Path = ".") -> str:
    """``$MLFLOW_TRACKING_URI`` when set, else the embedded sqlite store under ``root``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def artifact_location(root: str | Path, name: str) -> str | None:
    """Local artifact folder next to a sqlite store (``<db dir>/artifacts/<name>``); ``None`` for a server,
    which decides itself.  (``mlflow.set_tracking_uri`` exports ``MLFLOW_TRACKING_URI``, so the env var alone
    does not tell a server from our own embedded store.)"""
    uri = tracking_uri(root)
    if not uri.startswith("sqlite:///"):
        return None
    db_dir = Path(uri[len("sqlite:///"):]).parent
    if not db_dir.is_absolute():
        db_dir = Path(root).resolve() / db_dir
    return (db_dir / "artifacts" / name.replace("/", "_")).as_uri()


def configure(root: str | Path = ".") -> str:
    """Point MLflow at the project's store; returns the URI (also exported for child processes / workers)."""
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    import mlflow
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, root: str | Path = ".") -> str:
    """Experiment id of ``name``, created (with a local artifact location when embedded) if missing."""
    import mlflow
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_location(root, name))

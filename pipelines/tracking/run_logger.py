"""Logging from inside a training worker to an existing MLflow run (rank 0 only; a no-op without a run id)."""
from __future__ import annotations

import time
from pathlib import Path


class RunLogger:
    """Thin wrapper over ``MlflowClient`` bound to one run; batches metrics per call."""

    def __init__(self, tracking_uri: str | None, run_id: str | None):
        self.run_id = run_id
        self._client = None
        if tracking_uri and run_id:
            from mlflow.tracking import MlflowClient
            self._client = MlflowClient(tracking_uri=tracking_uri)

    @property
    def active(self) -> bool:
        return self._client is not None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if not self.active:
            return
        from mlflow.entities import Metric
        ts = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, int(step))
                                                     for k, v in metrics.items()])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.active:
            self._client.log_artifact(self.run_id, str(path), artifact_path)

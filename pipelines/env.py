"""Telemetry off and local-only defaults, set before Ray / MLflow / DVC / GX are imported."""
from __future__ import annotations

import os

TELEMETRY_OFF = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
    "RAY_TRAIN_METRICS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def quiet_telemetry() -> None:
    """Set the telemetry-off variables unless the user set them explicitly."""
    for k, v in TELEMETRY_OFF.items():
        os.environ.setdefault(k, v)

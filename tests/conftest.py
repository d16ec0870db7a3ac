"""Test-wide setup: telemetry off before any Ray / MLflow / DVC / GX import, deterministic seeds."""
import os
import random

from pipelines.env import quiet_telemetry

quiet_telemetry()
os.environ.setdefault("CI", "true")          # MLflow / DVC skip update checks and telemetry lookups

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


_MLFLOW_URI_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _isolate_mlflow_uris():
    """No MLflow store leaks from one test into the next.  ``configure()`` (and ``mlflow.set_registry_uri``)
    set process-wide globals *and* export ``MLFLOW_*_URI`` for child processes; a later test that only sets the
    tracking URI would otherwise read aliases from an earlier test's sqlite registry (and its subprocesses would
    inherit that registry)."""
    import sys
    before = {k: os.environ.get(k) for k in _MLFLOW_URI_VARS}
    yield
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils
        tracking_utils._tracking_uri = None        # fall back to the (restored) environment
        registry_utils._registry_uri = None

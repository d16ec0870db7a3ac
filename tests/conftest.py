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

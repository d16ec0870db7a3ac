"""Fixtures for the training tests: a tiny pair-table split on disk and a session-scoped local Ray."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from training_fixtures import write_split_dir  # noqa: E402


@pytest.fixture(scope="session")
def split_dir(tmp_path_factory) -> Path:
    return write_split_dir(tmp_path_factory.mktemp("splits"))


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for all Ray tests (2 logical CPUs; workers find toy_fusion via PYTHONPATH)."""
    import ray
    root = str(HERE.parents[1])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(HERE), root])}})
    yield ray
    ray.shutdown()

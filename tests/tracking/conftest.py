"""Fixtures for the tracking tests: a trained toy checkpoint and a throw-away MLflow sqlite store."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TRAINING_TESTS = Path(__file__).resolve().parents[1] / "training"
if str(TRAINING_TESTS) not in sys.path:
    sys.path.insert(0, str(TRAINING_TESTS))

from training_fixtures import toy_loop_config, write_split_dir  # noqa: E402


@pytest.fixture(scope="module")
def toy_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Two trained toy checkpoints: 2 steps ("weak") and 12 steps ("strong")."""
    from pipelines.training.loop import run_in_process
    d = tmp_path_factory.mktemp("toyck")
    split = write_split_dir(d / "splits")
    out = {"split": split}
    for name, steps in (("weak", 2), ("strong", 12)):
        cfg = toy_loop_config(split, steps=steps, val_every=steps, checkpoint_every=steps, log_every=steps,
                              overrides={"width": 8, "content_weight": 50.0, "lr": 3e-3})
        run_in_process(cfg, d / name)
        out[name] = d / name / f"step_{steps:08d}" / "checkpoint.pt"
    return out


@pytest.fixture()
def mlflow_store(tmp_path, monkeypatch):
    """MLflow pointed at ``tmp_path/mlruns/mlflow.db`` (the project's embedded layout); returns the root."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    import mlflow
    from pipelines.tracking.setup import configure
    uri = configure(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    yield tmp_path
    mlflow.set_tracking_uri("")                   # forget the temporary store (and its exported env var)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

"""``mlflow models serve`` (127.0.0.1, --env-manager local) answers a fusion request (slow: ~20 s start)."""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipelines.tracking import setup
from pipelines.tracking.pyfunc_model import decode_image, encode_image, log_fusion_model

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it is still there after 15 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


def test_models_serve_answers_a_fusion_request(mlflow_store, toy_checkpoints, tmp_path):
    import mlflow
    from pipelines.training.inference import FusionModel
    exp = setup.ensure_experiment("medfuse/MRI_PET", mlflow_store)
    with mlflow.start_run(experiment_id=exp):
        log_fusion_model(toy_checkpoints["strong"], registered_model_name="medfuse-MRI_PET")
    mlflow.tracking.MlflowClient().set_registered_model_alias("medfuse-MRI_PET", "champion", "1")
    port = free_port()
    training_tests = str(Path(__file__).resolve().parents[1] / "training")
    bindir = str(Path(sys.executable).parent)                  # the server execs uvicorn from the venv
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
           "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
           "PYTHONPATH": os.pathsep.join([training_tests, os.environ.get("PYTHONPATH", "")])}
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen([mlflow_cli, "models", "serve", "-m", "models:/medfuse-MRI_PET@champion",
                             "--host", "127.0.0.1", "--port", str(port), "--env-manager", "local",
                             "--workers", "1"], env=env, start_new_session=True,
                            stdout=open(tmp_path / "serve.log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = (tmp_path / "serve.log").read_text(errors="replace")
                pytest.fail(f"server did not come up (rc {proc.poll()}): {out[-2000:]}")
            time.sleep(1)
        rng = np.random.default_rng(0)
        a, b = rng.random((20, 20)).astype(np.float32), rng.random((20, 20)).astype(np.float32)
        body = {"dataframe_split": {"columns": ["a", "b"], "data": [[
            base64.b64encode(encode_image(a, "npy")).decode(), base64.b64encode(encode_image(b, "npy")).decode()]]}}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        fused, kind = decode_image(base64.b64decode(answer["predictions"][0]["fused"]), "response")
        assert kind == "npy"
        np.testing.assert_allclose(fused, FusionModel.from_checkpoint(toy_checkpoints["strong"]).fuse(a, b),
                                   atol=1e-6)
    finally:
        stop_group(proc)

"""The retraining job for real, on this machine: everything a cluster run touches, on loopback.

* an S3-compatible server (moto, 127.0.0.1) is the DVC remote, the MLflow artifact store and Ray's storage
  (``train.resources.storage_path``);
* a real ``mlflow server`` (PostgreSQL when installed, else SQLite) with the manifest's security flags;
* a two-node Ray cluster: ``ray start --head`` and a second ``ray start --address`` with its own temp dir,
  one CPU each, so the two DDP workers must run one per node;
* the job's working copy is laid out exactly as the Dockerfile's COPY set (no .git, no DVC cache), built by
  reading the Dockerfile; the team's dataset is a DVC-tracked folder ``datasets/mri_pet`` pushed to the remote;
* ``python -m pipelines.retrain --dvc-pull`` runs there: pulls the data, runs every stage, trains over both
  nodes, registers the model; ``champion`` moves on a win and stays on a loss.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import docker_context  # noqa: E402
import servers  # noqa: E402

ROOT = HERE.parents[1]
VENV_BIN = Path(sys.executable).parent
TASK = "MRI_PET"
MODEL = f"medfuse-{TASK}"

#: the job's settings: tiny data and budgets, the cluster's resources, shared storage on S3
JOB_SETS = [
    "data.source.kind=aanlib", "data.source.path=datasets/mri_pet", "data.size=32", "ingest.progress=false",
    f"train.tasks=[{TASK}]", "train.steps=4", "train.val_every=2", "train.checkpoint_every=2", "train.log_every=2",
    "train.sample_every=4", "train.batch_size=2", "train.crop=null", "train.val_max_pairs=2",
    "train.overrides={stages.G.generator.width: 4}",
    "train.resources.num_workers=2", "train.resources.cpus_per_worker=1.0", "train.resources.ray_address=auto",
    "train.resources.storage_path=s3://medfuse-ray/runs",
    "tune.num_samples=1", "tune.steps=2", "tune.grace_steps=2", "tune.max_concurrent=1", "tune.cpus_per_trial=1.0",
    "tune.space={loss: {choice: [lsgan]}}",
    "evaluate.baselines=[mean, return_a]", "evaluate.figure_rows=1",
]


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float = 600) -> str:
    """Run ``cmd``; on success returns its output with the seconds each DVC stage took appended."""
    t0 = time.time()
    marks: list[tuple[str, float]] = []
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Running stage '"):
                marks.append((line.split("'")[1], time.time()))
            if time.time() - t0 > timeout:
                proc.kill()
        rc = proc.wait()
    out = "".join(lines)
    assert rc == 0, f"{' '.join(cmd)} -> {rc}\n{out[-6000:]}"
    ends = [t for _, t in marks[1:]] + [time.time()]
    timing = ", ".join(f"{name} {end - start:.0f}s" for (name, start), end in zip(marks, ends))
    return out + f"\n[timing] total {time.time() - t0:.0f}s: {timing}\n"


class RayCluster:
    """Two Ray nodes on this machine, each its own `ray start --block` process tree with its own temp dir."""

    def __init__(self, env: dict):
        self.env = env
        self.port = servers.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dirs = [Path(tempfile.mkdtemp(prefix="mfr", dir="/tmp")) for _ in range(2)]   # short: socket paths
        self.procs: list[subprocess.Popen] = []

    def _start(self, args: list[str], temp_dir: Path) -> None:
        log = open(temp_dir / "start.log", "wb")
        self.procs.append(subprocess.Popen(
            [str(VENV_BIN / "ray"), "start", *args, f"--temp-dir={temp_dir}", "--num-cpus=1",
             "--object-store-memory=150000000", "--memory=3000000000", "--disable-usage-stats", "--block"],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True))
        log.close()

    def start(self) -> None:
        self._start(["--head", f"--port={self.port}", "--include-dashboard=false"], self.dirs[0])
        self._wait(self.dirs[0])
        self._start([f"--address={self.address}"], self.dirs[1])
        self._wait(self.dirs[1])

    def _wait(self, temp_dir: Path, timeout: float = 180) -> None:
        """Until that node's `ray start` says the runtime is up (it prints this once its raylet joined)."""
        t0 = time.time()
        log = temp_dir / "start.log"
        while time.time() - t0 < timeout:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("ray start exited: " + " | ".join(
                    (d / "start.log").read_text()[-1500:] for d in self.dirs if (d / "start.log").exists()))
            if log.exists() and "Ray runtime started" in log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{log}: node not up after {timeout} s: {log.read_text()[-1500:]}")

    def train_workers_per_node(self) -> list[int]:
        """How many Ray Train worker actors each node's raylet hosted (from that node's own log folder)."""
        counts = []
        for d in self.dirs:
            n = 0
            for f in (d / "session_latest" / "logs").glob("worker-*.out"):
                if ":actor_name:RayTrainWorker" in f.read_text(errors="replace"):
                    n += 1
            counts.append(n)
        return counts

    def stop(self) -> None:
        for p in reversed(self.procs):          # only this cluster's processes (never a global `ray stop`)
            servers.kill_tree(p.pid)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def job_env(s3_server, mlflow_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
    env.update(s3_server.env)
    env.update(mlflow_server.env)
    env.update({"PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", "RAY_AUTH_MODE": "disabled",
                "RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
                "DVC_NO_ANALYTICS": "1", "CI": "true", "MLFLOW_DISABLE_TELEMETRY": "true"})
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def cluster(job_env):
    c = RayCluster(job_env)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _team_dataset_and_image(tmp: Path, env: dict) -> Path:
    """The team's side: a DVC-tracked dataset pushed to the remote; then the image folder built from it."""
    context = tmp / "context"
    docker_context.build(ROOT, ROOT / "infra/docker/Dockerfile", context)     # the project's files
    (context / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    (context / "infra/docker").mkdir(parents=True)
    (context / "infra/docker/Dockerfile").write_text((ROOT / "infra/docker/Dockerfile").read_text())
    raw = tmp / "incoming"
    _run([str(VENV_BIN / "medfuse"), "phantom", "--out", str(raw), "--format", "aanlib", "--cases", "4",
          "--slices", "2", "--tasks", TASK], tmp, env)
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "config", "--local", "core.no_scm", "true"], context, env)    # the team's clone is a git repo
    _run([*dvc, "add", "-q", str(raw), "-o", "datasets/mri_pet"], context, env)
    _run([*dvc, "push", "-q"], context, env)                                  # -> s3://medfuse-dvc (moto)
    image = tmp / "image"
    docker_context.build(context, context / "infra/docker/Dockerfile", image)
    return image


def _champion() -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    try:
        import mlflow
        client = MlflowClient(tracking_uri=mlflow.get_tracking_uri(), registry_uri=mlflow.get_tracking_uri())
        return str(client.get_model_version_by_alias(MODEL, "champion").version)
    except MlflowException:
        return None


@pytest.mark.slow
def test_retrain_job_on_a_two_node_cluster_with_s3(tmp_path, job_env, cluster, s3_server, mlflow_server, capsys,
                                                   monkeypatch):
    import boto3
    import mlflow
    with capsys.disabled():
        print(f"\n[loopback cluster] MLflow backend: {mlflow_server.backend}; Ray at {cluster.address}")
    image = _team_dataset_and_image(tmp_path, job_env)
    assert (image / "datasets/mri_pet.dvc").exists() and not (image / "datasets/mri_pet").exists()
    assert not (image / ".git").exists() and not (image / ".dvc/cache").exists()
    retrain = [sys.executable, "-m", "pipelines.retrain"]

    # 1. the weekly job: pull, every stage, train over both nodes; no champion yet -> this version becomes it.
    # A 4-step model cannot beat the classical baselines, which the promotion rule also requires: the margins
    # below (min_delta) decide instead, so both outcomes are exercised through the real decision code.
    first_sets = [*JOB_SETS, "mlflow.promotion.min_delta=-1000.0"]
    out = _run([*retrain, "--dvc-pull", *[a for s in first_sets for a in ("--set", s)]], image, job_env, 900)
    timings = [out.rsplit("[timing]", 1)[1].strip()]
    assert "no_scm = True" in (image / ".dvc/config.local").read_text().replace("true", "True")
    assert (image / "datasets/mri_pet/MRI_PET/MRI").is_dir(), "dvc pull must restore the dataset"
    assert json.loads((image / "data/ingested/summary.json").read_text())["source"]["path"] == "datasets/mri_pet"
    per_node = cluster.train_workers_per_node()
    assert all(n >= 1 for n in per_node), f"Ray Train workers per node: {per_node}\n{out[-3000:]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)          # aliases live in the server's registry
    try:
        first = json.loads((image / "models/final" / TASK / "model.json").read_text())
        decision = json.loads((image / "metrics/eval.json").read_text())["promotion"][TASK]
        assert decision["promoted"] is True and decision["champion_version"] is None, decision
        assert _champion() == first["version"], out[-3000:]
        run = mlflow.get_run(first["run_id"])
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        loop_cfg = mlflow.artifacts.load_dict(f"runs:/{first['run_id']}/config/loop_config.json")
        assert loop_cfg["train_path"].startswith("s3://medfuse-ray/runs/data/"), loop_cfg["train_path"]
        s3 = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        ray_keys = [o["Key"] for o in s3.list_objects_v2(Bucket="medfuse-ray").get("Contents", [])]
        assert any("/checkpoint_" in k and k.endswith("checkpoint.pt") for k in ray_keys), ray_keys[:20]
        assert s3.list_objects_v2(Bucket="medfuse-dvc").get("KeyCount", 0) > 0
        assert s3.list_objects_v2(Bucket="medfuse-mlflow").get("KeyCount", 0) > 0

        # 2. a new model that must not win (promotion margin out of reach): champion stays
        lose = [*JOB_SETS, "train.steps=6", "mlflow.promotion.min_delta=1000.0"]
        out = _run([*retrain, *[a for s in lose for a in ("--set", s)]], image, job_env, 900)
        timings.append(out.rsplit("[timing]", 1)[1].strip())
        second = json.loads((image / "models/final" / TASK / "model.json").read_text())
        assert second["version"] != first["version"]
        decision = json.loads((image / "metrics/eval.json").read_text())["promotion"][TASK]
        assert decision["promoted"] is False and decision["champion_version"] == first["version"], decision
        assert _champion() == first["version"], out[-3000:]

        # 3. the same challenger under a rule it wins (only evaluate reruns): champion moves to it
        win = [*JOB_SETS, "train.steps=6", "mlflow.promotion.min_delta=-1000.0"]
        out = _run([*retrain, *[a for s in win for a in ("--set", s)]], image, job_env, 900)
        timings.append(out.rsplit("[timing]", 1)[1].strip())
        with capsys.disabled():
            print("\n".join(f"[loopback cluster] job {i + 1}: {t}" for i, t in enumerate(timings)))
        assert "Running stage 'train'" not in out
        decision = json.loads((image / "metrics/eval.json").read_text())["promotion"][TASK]
        assert decision["promoted"] is True and decision["champion_version"] == first["version"], decision
        assert _champion() == second["version"]
    finally:
        mlflow.set_tracking_uri("")

"""Ray start-up and the Ray Train config builders (STACK_NOTES §2, §8).

* :func:`ensure_ray` starts a local Ray (telemetry and token auth off, no dashboard, node IP 127.0.0.1, repo on
  the workers' PYTHONPATH) or connects to ``ray_address``.
* :func:`resolve_use_gpu`: ``use_gpu: auto`` means GPUs when the cluster reports any.
* :func:`scaling_config` / :func:`run_config` / :func:`torch_config`: DDP over ``num_workers`` workers, NCCL on
  GPU and gloo on CPU, fractional CPUs so 2 workers plus a driver fit on 2 cores, ``FailureConfig`` restarts
  from the last checkpoint and ``controller_failure_limit=0`` so a resource misfit fails instead of hanging.
* :func:`fit_torch` runs ``train_func`` under a ``TorchTrainer`` and returns the final checkpoint path.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pipelines.env import quiet_telemetry
from pipelines.training.config import ResourcesParams
from pipelines.training.shared_storage import is_uri

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",      # single node: node IP 127.0.0.1
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
}


def ensure_ray(num_cpus: int | None = None, address: str | None = None, extra_paths: list[str] | None = None):
    """``ray.init`` once per process with the project's environment; returns the ``ray`` module."""
    quiet_telemetry()
    for k, v in LOCAL_RAY_ENV.items():
        if address is None or k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER":
            os.environ.setdefault(k, v)
    import ray
    if ray.is_initialized():
        return ray
    paths = [str(REPO_ROOT), *(extra_paths or [])]
    env_vars = {k: os.environ[k] for k in (*LOCAL_RAY_ENV, "RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED",
                                           "RAY_TRAIN_ENABLE_PRINT_PATCH", "MLFLOW_DISABLE_TELEMETRY",
                                           "DO_NOT_TRACK", "MLFLOW_TRACKING_URI") if k in os.environ}
    env_vars["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level="ERROR",
                                  runtime_env={"env_vars": env_vars})
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    return ray


def resolve_use_gpu(use_gpu: Any) -> bool:
    if use_gpu == "auto":
        import ray
        return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    return bool(use_gpu)


def scaling_config(res: ResourcesParams, use_gpu: bool):
    from ray.train import ScalingConfig
    per_worker: dict[str, float] = {"CPU": res.cpus_per_worker}
    if use_gpu:
        per_worker["GPU"] = res.gpus_per_worker
    return ScalingConfig(num_workers=res.num_workers, use_gpu=use_gpu, resources_per_worker=per_worker)


def torch_config(use_gpu: bool):
    from ray.train.torch import TorchConfig
    return TorchConfig(backend="nccl" if use_gpu else "gloo")


def run_config(name: str, storage_path: str | Path, max_failures: int, keep: int | None = 2, callbacks=None):
    """``keep``: checkpoints kept (the latest ones); None keeps all (``train.select: best_val`` picks among them)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig
    return RunConfig(
        name=name, storage_path=str(storage_path) if is_uri(storage_path) else str(Path(storage_path).resolve()),
        failure_config=FailureConfig(max_failures=max_failures, controller_failure_limit=0),
        checkpoint_config=CheckpointConfig(num_to_keep=keep, checkpoint_score_attribute="step",
                                           checkpoint_score_order="max"),
        callbacks=callbacks)


def fit_torch(loop_config: dict[str, Any], res: ResourcesParams, name: str, storage_path: str | Path,
              keep: int | None = 2, callbacks=None, download_to: Path | None = None,
              retained: list[Path] | None = None) -> tuple[Path, dict[str, Any]]:
    """Run :func:`pipelines.training.loop.train_func` under Ray Train; returns (final checkpoint dir, metrics).

    The same ``name`` + ``storage_path`` resumes an interrupted run from its last checkpoint (Ray's snapshot),
    which is how rerunning the train stage after a crash picks up where it stopped.  ``storage_path`` may be an
    S3 URI (``train.resources.storage_path``): the final checkpoint is then downloaded to ``download_to`` (a
    temporary folder by default).  ``retained``: a list that receives every checkpoint Ray kept (local folders,
    downloaded likewise), for ``train.select: best_val``."""
    from ray.train.torch import TorchTrainer
    from pipelines.training.loop import train_func
    use_gpu = resolve_use_gpu(res.use_gpu)
    trainer = TorchTrainer(train_func, train_loop_config=loop_config,
                           torch_config=torch_config(use_gpu),
                           scaling_config=scaling_config(res, use_gpu),
                           run_config=run_config(name, storage_path, res.max_failures, keep, callbacks))
    result = trainer.fit()
    if result.error is not None:
        raise RuntimeError(f"Ray Train run {name!r} failed: {result.error}") from result.error
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {name!r} finished without a checkpoint")
    into = Path(download_to or tempfile.mkdtemp(prefix="medfuse-ckpt-"))
    if retained is not None:
        retained.extend(_local_dir(c, into) for c, _ in (result.best_checkpoints or []))
    return _local_dir(result.checkpoint, into), dict(result.metrics or {})


def _local_dir(ck, into: Path) -> Path:
    """A checkpoint's folder on this machine (remote storage, storage_path s3://...: downloaded into ``into``)."""
    local = Path(ck.path)
    if not (local / "checkpoint.pt").exists():
        local = Path(ck.to_directory(str(into / Path(ck.path).name)))
    return local

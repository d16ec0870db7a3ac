"""Train stage: one fusion model per task in ``train.tasks``, in-process or on Ray Train (DDP), tracked in MLflow.

Reads ``data/splits/{train,val}.parquet`` and (when ``train.use_tuned`` and it exists) ``reports/tune.json``;
writes

* ``models/final/<task>/checkpoint.pt`` (networks, optimizers, EMA, RNG, model spec: resumable and loadable by
  ``medfuse fuse``) and ``models/final/<task>/model.json`` (spec, MLflow run, registered version);
* ``metrics/train.json`` (per task: final losses, validation objective, throughput, steps, seconds).

Per task an MLflow run in experiment ``medfuse/<task>`` gets the parameters, lineage tags (git commit, DVC hash
of the splits), per-step losses, validation scores, sample grids and the config; the final model is logged as
the ``MedfuseFusionModel`` pyfunc, registered as ``medfuse-<task>`` and given the alias ``challenger`` (the
evaluate stage decides about ``champion``).

Resuming: the checkpoint folder (``models/checkpoints/<task>/<key>``, or Ray's ``ray_results/train-<task>-<key>``)
is named by a hash of the loop config and the data version, so rerunning the stage after a crash continues the
same run (and the same MLflow run) from its last checkpoint, while a change of params or data starts afresh.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import publish
from pipelines.errors import stage_entry
from pipelines.params import ParamsError, section, stage_main_args, to_dict
from pipelines.training.selection import below_start_warning, select_checkpoint, untrained_score
from pipelines.training.config import (DEFAULT_PRESET, LoopConfig, TrainParams, apply_train_updates,
                                       config_key, from_dict, parse_loop_config)

SPLITS = Path("data/splits")
TUNE_REPORT = Path("reports/tune.json")
FINAL_DIR = Path("models/final")
CHECKPOINTS = Path("models/checkpoints")
RAY_RESULTS = Path("ray_results")
METRICS = Path("metrics/train.json")


@dataclass
class TaskResult:
    task: str
    checkpoint: Path
    run_id: str | None
    model_version: str | None
    metrics: dict[str, Any]


def tuned_train_params(tp: TrainParams, report: Path = TUNE_REPORT, task: str | None = None
                       ) -> tuple[TrainParams, dict[str, Any] | None]:
    """``train`` params with ``task``'s best tuned config (``reports/tune.json``) filling the keys params.yaml
    leaves open (null ``preset`` / ``loss``, overrides not given): explicit values win, so ``dvc exp run -S
    train.loss=lsgan`` trains LSGAN even after tuning.  A task the report does not cover keeps the params as
    they are.  A still-null preset becomes ``DEFAULT_PRESET``."""
    best = None
    d = to_dict(tp)
    if tp.use_tuned and report.exists():
        data = json.loads(report.read_text())
        tasks = data.get("tasks")
        if not isinstance(tasks, dict):
            raise ParamsError(f"{report}: no per-task 'tasks' mapping (written by an older tune stage: rerun it)")
        entry = tasks.get(task) if task is not None else None
        if entry is not None:
            best = entry.get("best_config")
            if not isinstance(best, dict):
                raise ParamsError(f"{report}: task {task} has no 'best_config' mapping (rerun the tune stage)")
            d = apply_train_updates(d, best, f"{report} ({task})", fill_only=True)
    if d.get("preset") is None:
        d["preset"] = DEFAULT_PRESET
    return from_dict(TrainParams, d, "train"), best


def loop_config(tp: TrainParams, task: str, root: Path) -> dict[str, Any]:
    from pipelines.training.multires import b_scale_overrides   # b_scale = the data's r (B at 1/r of A)
    overrides = b_scale_overrides(tp.preset, dict(tp.overrides), tp.crop, task, root / SPLITS / "train.parquet")
    cfg = LoopConfig(task=task, preset=tp.preset, loss=tp.loss, overrides=overrides,
                     plugins=list(tp.plugins), callbacks=list(tp.callbacks),
                     train_path=str((root / SPLITS / "train.parquet").resolve()),
                     val_path=str((root / SPLITS / "val.parquet").resolve()),
                     steps=tp.steps, batch_size=tp.batch_size, augment=tp.augment, crop=tp.crop, seed=tp.seed,
                     ema_decay=tp.ema_decay, val_every=tp.val_every, checkpoint_every=tp.checkpoint_every,
                     log_every=tp.log_every, sample_every=tp.sample_every, val_max_pairs=tp.val_max_pairs,
                     objective=tp.objective, bf16=tp.resources.bf16, keep_checkpoints=tp.keep_checkpoints)
    return cfg.to_dict()


def flat_params(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flat_params(v, key + "."))
        else:
            out[key] = json.dumps(v) if not isinstance(v, str) else v
    return {k: v[:6000] for k, v in out.items()}


def run_params(tp: TrainParams, task: str) -> dict[str, str]:
    """The ``train.*`` / ``task`` params logged on a run; train runs and tune trials log the same names, so
    MLflow's comparison view lines a trial up with the model trained from its config."""
    return flat_params({"train": {k: v for k, v in to_dict(tp).items() if k not in ("tasks", "callbacks")},
                        "task": task})


def _previous_run_id(state_dir: Path) -> str | None:
    f = state_dir / "mlflow_run_id"
    return f.read_text().strip() if f.exists() else None


def _start_run(task: str, state_dir: Path, root: Path, tags: dict[str, str]):
    """Reopen the MLflow run of an interrupted attempt (same state dir) or start a new one -> (run, resumed)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from pipelines.tracking.setup import ensure_experiment, experiment_name
    exp = ensure_experiment(experiment_name(task), root)
    prev = _previous_run_id(state_dir)
    if prev:
        try:
            if mlflow.get_run(prev).info.experiment_id == exp:
                return mlflow.start_run(run_id=prev), True
        except MlflowException:
            pass
    run = mlflow.start_run(experiment_id=exp, run_name=f"train-{task}", tags=tags)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "mlflow_run_id").write_text(run.info.run_id)
    return run, False


def _final_step(path: Path) -> int:
    from gan_models.training.checkpoint import read_checkpoint
    return int(read_checkpoint(path)["trainer"]["system"]["step_count"])


def _completed_ray_checkpoint(run_dir: Path, steps: int) -> Path | None:
    for ck in sorted(run_dir.glob("checkpoint_*/checkpoint.pt"), reverse=True):
        if _final_step(ck) >= steps:
            return ck
    return None


def train_task(tp: TrainParams, task: str, root: Path, tuned: dict[str, Any] | None,
               final_dir: Path | None = None) -> TaskResult:
    import mlflow
    from pipelines.tracking.lineage import data_version, lineage_tags
    from pipelines.tracking.pyfunc_model import log_fusion_model
    from pipelines.tracking.setup import registered_model_name

    cfg = loop_config(tp, task, root)
    parse_loop_config(cfg)                                  # validate before anything starts
    splits = {"train": root / SPLITS / "train.parquet", "val": root / SPLITS / "val.parquet"}
    for name, p in splits.items():
        if not p.exists():
            raise FileNotFoundError(f"{p}: {name} split not found (run the split stage first)")
    key = config_key({**cfg, "data": data_version(splits["train"], root), "workers": tp.resources.num_workers})
    distributed = tp.resources.num_workers >= 1
    state_dir = (root / (RAY_RESULTS if distributed else CHECKPOINTS) / f"train-{task}-{key}").resolve()
    if distributed and tp.resources.storage_path:          # multi-node: workers read the splits from shared storage
        from pipelines.training.shared_storage import stage_splits
        cfg.update(stage_splits(splits, tp.resources.storage_path))
    tags = {**lineage_tags(root, splits), "medfuse.task": task, "medfuse.stage": "train",
            "medfuse.config_key": key}
    t0 = time.time()
    run, resumed = _start_run(task, state_dir, root, tags)
    with run:
        run_id = run.info.run_id
        if resumed:                                          # same config key: params are already logged
            print(f"[train] {task}: resuming MLflow run {run_id} and the checkpoints in {state_dir}", flush=True)
        else:
            mlflow.log_params(run_params(tp, task))
            if tuned:
                mlflow.set_tag("medfuse.tuned_config", json.dumps(tuned, sort_keys=True)[:5000])
            mlflow.log_dict(cfg, "config/loop_config.json")
        cfg.update(tracking_uri=mlflow.get_tracking_uri(), run_id=run_id,
                   sample_dir=str(state_dir / "samples"))
        if distributed:
            from pipelines.training.ray_runtime import ensure_ray, fit_torch
            from pipelines.training.shared_storage import ray_storage
            done = _completed_ray_checkpoint(state_dir, tp.steps) if state_dir.exists() else None
            if done is None:
                ensure_ray(address=tp.resources.ray_address)
                kept: list[Path] = []
                ck_dir, metrics = fit_torch(cfg, tp.resources, state_dir.name,
                                            ray_storage(tp.resources.storage_path, state_dir.parent),
                                            keep=None if tp.select == "best_val" else tp.keep_checkpoints,
                                            download_to=state_dir, retained=kept)
                ckpt = ck_dir / "checkpoint.pt"
                candidates = [d / "checkpoint.pt" for d in kept]
            else:
                ckpt, metrics = done, {}
                candidates = sorted(state_dir.glob("checkpoint_*/checkpoint.pt"))
        else:
            from pipelines.training.loop import run_loop
            from pipelines.training.session import LocalSession
            if tp.resources.torch_threads:
                import torch
                torch.set_num_threads(tp.resources.torch_threads)
            session = LocalSession(state_dir, keep=tp.keep_checkpoints, keep_best=tp.select == "best_val")
            latest = session.latest_checkpoint()
            if latest is not None and _final_step(latest) >= tp.steps:
                metrics = {}
            else:
                metrics = run_loop(cfg, session)
            ckpt = session.latest_checkpoint()
            candidates = session.checkpoints()
        if ckpt is None or _final_step(ckpt) < tp.steps:
            raise RuntimeError(f"{state_dir}: training ended without a final checkpoint")
        chosen = select_checkpoint(tp.select, ckpt, candidates)
        mlflow.set_tag("medfuse.select", json.dumps(chosen.record()))
        mlflow.log_metric("selected_step", chosen.step)
        start_score = untrained_score(chosen.path)
        if start_score is not None:
            mlflow.log_metric("val_score_untrained", start_score)
            warning = below_start_warning(task, chosen, start_score)
            mlflow.set_tag("medfuse.below_untrained", str(warning is not None).lower())
            if warning:
                print(warning, flush=True)
        mlflow.set_tag("medfuse.shipped_untrained", str(chosen.step == 0).lower())
        if chosen.step == 0:
            print(f"[train] {task}: shipping the untrained generator (step 0, val_score {chosen.score:.4f}): no "
                  f"trained checkpoint validated above the starting point (train.select best_val)", flush=True)
        elif chosen.path != ckpt:
            print(f"[train] {task}: shipping step {chosen.step} (val_score {chosen.score:.4f}, the best validation "
                  f"score; train.select best_val) instead of the final step {tp.steps}", flush=True)
        out_dir = (final_dir or root / FINAL_DIR) / task      # final_dir: run()'s staging copy of models/final
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(chosen.path, out_dir / "checkpoint.pt")
        info = log_fusion_model(out_dir / "checkpoint.pt", registered_model_name=registered_model_name(task),
                                tags={"task": task})
        version = str(info.registered_model_version) if info.registered_model_version is not None else None
        if version is not None:
            from pipelines.tracking.registry import CHALLENGER, set_alias
            set_alias(registered_model_name(task), CHALLENGER, version)
        seconds = time.time() - t0
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        metrics["seconds"] = round(seconds, 2)
        metrics["selected_step"] = chosen.step
        if start_score is not None:
            metrics["val_score_untrained"] = start_score
        mlflow.log_metric("train_seconds", seconds)
    model_json = {"task": task, "checkpoint": "checkpoint.pt", "run_id": run_id, "model_uri": info.model_uri,
                  "registered_model": registered_model_name(task), "version": version,
                  "spec": parse_loop_config({k: v for k, v in cfg.items()}).model_spec(), "config_key": key,
                  "selected": chosen.record()}
    (out_dir / "model.json").write_text(json.dumps(model_json, indent=2))
    return TaskResult(task, out_dir / "checkpoint.pt", run_id, version, metrics)


def run(params: dict[str, Any], root: str | Path = ".") -> dict[str, Any]:
    from pipelines.tracking.setup import configure
    root = Path(root).resolve()
    base = section(params, TrainParams, "train")
    if not base.tasks:
        raise ParamsError("train.tasks: list at least one task (e.g. [MRI_PET])")
    per_task = {task: tuned_train_params(base, root / TUNE_REPORT, task) for task in base.tasks}
    for task, (tp, _) in per_task.items():                   # bad values: one line before MLflow or Ray start
        parse_loop_config(loop_config(tp, task, root))
        tp.check_selection()
        check_crop(tp.crop, root / SPLITS / "train.parquet")
    configure(root)
    results = {}
    with publish.staged("train", root / FINAL_DIR, root / METRICS, root=root) as staged:   # models and metrics
        for task, (tp, tuned) in per_task.items():                                          # appear together
            r = train_task(tp, task, root, tuned, staged[root / FINAL_DIR])
            results[task] = {"run_id": r.run_id, "model_version": r.model_version, "preset": tp.preset,
                             "loss": tp.loss, "tuned": tuned is not None, **r.metrics}
            print(f"[train] {task}: {root / FINAL_DIR / task / r.checkpoint.name} (registered version "
                  f"{r.model_version})", flush=True)
        summary = {"steps": base.steps, "workers": base.resources.num_workers, "tasks": results}
        staged[root / METRICS].write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def check_crop(crop: int | None, train_split: Path) -> None:
    """``train.crop`` must fit the training images (read from the split's height/width columns)."""
    if crop is None or not train_split.exists():
        return
    from pipelines.schema import read_pairs
    t = read_pairs(train_split, columns=["height", "width"])
    if len(t) and crop > min(min(t.column("height").to_pylist()), min(t.column("width").to_pylist())):
        raise ParamsError(f"train.crop: {crop} is larger than the training images ({t.column('height')[0]}x"
                          f"{t.column('width')[0]} in {train_split}); use a smaller crop or null")


@stage_entry("train")
def main(argv: list[str] | None = None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    _, params = stage_main_args("Train one fusion GAN per task (in-process or Ray Train DDP), track in MLflow",
                                argv)
    run(params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

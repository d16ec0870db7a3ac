"""The per-worker training loop: one function for Ray Train workers (:func:`train_func`), Ray Tune trials and
in-process runs (:func:`run_loop` with a :class:`~pipelines.training.session.LocalSession`).

Per worker: build the fusion system from the model spec (preset + loss + overrides), wrap its networks for
DDP (gloo on CPU, NCCL on GPU; Ray picks the backend), create the optimizers, resume from the session's latest
checkpoint (networks, optimizers, EMA, step counter, RNG states), read this rank's shard of the task's Parquet
split, then run the shared :class:`~gan_models.training.trainer.Trainer` step by step (bf16 autocast on GPU).

Every ``val_every`` steps all ranks call ``session.report`` (Ray / Tune need every rank); rank 0 adds the
validation score of the :mod:`objective <pipelines.training.objective>` on the val split and, every
``checkpoint_every`` steps and at the end, a checkpoint directory.  With a val split, a fresh run also validates
and reports its untrained generator as step 0, with a checkpoint: ``train.select: best_val`` then never ships a
model that validates below its starting point, and the tune ranks a trial by the same candidates.  Rank 0 also
logs per-step losses and sample grids to the MLflow run given in the config.
"""
from __future__ import annotations

import importlib
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gan_models.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from gan_models.training.trainer import Trainer
from pipelines.imaging.multires import upsample_bicubic
from pipelines.tracking.run_logger import RunLogger
from pipelines.training.config import LoopConfig, parse_loop_config
from pipelines.training.data import ShardBatches, epoch_batches, read_task_rows
from pipelines.training.inference import build_system, fuse_luma, system_from_state
from pipelines.training.objective import OBJECTIVES
from pipelines.training.samples import save_sample_grid
from pipelines.training.session import CHECKPOINT_FILE, LocalSession, Session

N_SAMPLE_PAIRS = 4


def load_callable(spec: str) -> Callable:
    """``"package.module:function"`` -> the function (step hooks named in ``LoopConfig.callbacks``)."""
    mod, _, name = spec.partition(":")
    if not mod or not name:
        raise ValueError(f"callback {spec!r}: expected 'module:function'")
    return getattr(importlib.import_module(mod), name)


def checkpoint_meta(cfg: LoopConfig) -> dict[str, Any]:
    return {"task": cfg.task, "model": cfg.model_spec(), "loop": cfg.to_dict()}


def resume(trainer: Trainer, path: Path, cfg: LoopConfig) -> None:
    """Restore ``trainer`` from ``path`` after checking the checkpoint was made for the same model."""
    meta = read_checkpoint(path).get("meta") or {}
    if meta.get("model") != cfg.model_spec() or meta.get("task") != cfg.task:
        raise ValueError(f"{path}: checkpoint is for task {meta.get('task')!r} model {meta.get('model')}, "
                         f"not task {cfg.task!r} model {cfg.model_spec()}; use another checkpoint directory")
    load_checkpoint(path, trainer)


def validate(trainer: Trainer, cfg: LoopConfig, val: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
             device: torch.device) -> tuple[dict[str, float], np.ndarray | None]:
    """Objective on the val pairs ``(A, B as stored, B at A's size)`` with the model that would be shipped (EMA
    generators when kept): the model fuses the stored B (1/r of A for a multi-resolution task), the objective
    scores against B at A's size (bicubic, as the evaluate stage)."""
    if val is None:
        return {}, None
    with torch.random.fork_rng(devices=[]):        # building the eval copy must not shift training's RNG
        system = system_from_state(cfg.model_spec(), trainer.state_dict(), device)
    fused = fuse_luma(system, val[0], val[1])
    scores = OBJECTIVES.get(cfg.objective)(fused, val[0], val[2])
    return {f"val_{k}": float(v) for k, v in scores.items()}, fused


def report_step(session: Session, cfg: LoopConfig, trainer: Trainer, metrics: dict[str, Any],
                scores: dict[str, float], start_scores: dict[str, float], rank: int, checkpoint: bool = True) -> None:
    """``session.report`` on every rank; rank 0 adds a checkpoint (with ``checkpoint``) whose meta carries this
    step's validation ``scores`` (what ``train.select: best_val`` ranks) and the untrained generator's."""
    with tempfile.TemporaryDirectory(prefix="medfuse-ckpt-") as tmp:
        ck_dir = None
        if checkpoint and rank == 0:
            save_checkpoint(Path(tmp) / CHECKPOINT_FILE, trainer,
                            meta={**checkpoint_meta(cfg), "val": scores, "val_start": start_scores})
            ck_dir = Path(tmp)
        session.report(metrics, ck_dir)


def run_loop(config: dict[str, Any], session: Session) -> dict[str, Any]:
    """Train to ``config['steps']`` (resuming if the session has a checkpoint); returns rank 0's last report."""
    cfg = parse_loop_config(config)
    rank, world = session.world_rank, session.world_size
    torch.manual_seed(cfg.seed + 1000 * rank)
    np.random.seed(cfg.seed + 1000 * rank)
    device = session.device()
    hooks = [load_callable(s) for s in cfg.callbacks]

    _, a, b = read_task_rows(cfg.train_path, cfg.task, rank, world)
    batches = ShardBatches(a, b, cfg.batch_size, cfg.seed, rank, cfg.augment, cfg.crop)
    system = build_system(cfg.model_spec()).to(device)
    system.wrap_networks(session.wrap)
    # optimizers over the (wrapped, moved) parameters; an epoch (``scheduler.steps_per_epoch: data``) is the same
    # number of batches on every rank, so that DDP ranks keep one learning rate
    system.setup(steps_per_epoch=epoch_batches(cfg.train_path, cfg.task, world, cfg.batch_size))
    autocast = torch.bfloat16 if (cfg.bf16 and device.type == "cuda") else None
    trainer = Trainer(system, ema_decay=cfg.ema_decay, autocast_dtype=autocast, device=device)
    ckpt = session.latest_checkpoint()
    if ckpt is not None:
        resume(trainer, ckpt, cfg)
    start = trainer.step

    val = None
    if rank == 0 and cfg.val_path:
        _, va, vb = read_task_rows(cfg.val_path, cfg.task, max_rows=cfg.val_max_pairs)
        val = (va, vb, upsample_bicubic(vb, va.shape[-2:]))     # the same array when B is at A's size
    logger = RunLogger(cfg.tracking_uri, cfg.run_id) if rank == 0 else RunLogger(None, None)
    if rank == 0:
        print(f"[train {cfg.task}] {cfg.preset}/{cfg.loss or 'preset loss'}: steps {start}->{cfg.steps}, "
              f"{world} worker(s), shard {len(a)} pairs, batch {cfg.batch_size}/worker, device {device}"
              f"{', bf16' if autocast else ''}", flush=True)
    # the untrained generator's validation scores (carried by every checkpoint as meta "val_start"): what the
    # train stage compares the shipped checkpoint with (did training improve on the starting point?)
    if ckpt is not None:
        start_scores = dict((read_checkpoint(ckpt).get("meta") or {}).get("val_start") or {})
    else:
        start_scores, _ = validate(trainer, cfg, val, device) if rank == 0 else ({}, None)
        if start_scores:
            logger.log_metrics({f"{k}_untrained": v for k, v in start_scores.items()}, step=0)
            print(f"[train {cfg.task}] step 0 (untrained) val_score={start_scores.get('val_score', float('nan')):.4g}",
                  flush=True)
        if cfg.val_path:        # the starting point is a candidate of train.select best_val (every rank reports)
            report_step(session, cfg, trainer, {"step": 0, **start_scores}, start_scores, start_scores, rank)

    sums: dict[str, float] = defaultdict(float)
    n_sum = 0
    last: dict[str, Any] = {"step": start}
    t_interval = time.perf_counter()
    steps_interval = 0
    for step in range(start, cfg.steps):
        logs = trainer.train_step(batches.batch(step))
        done = trainer.step
        steps_interval += 1
        for k, v in logs.items():
            sums[k] += v
        n_sum += 1
        if rank == 0 and done % cfg.log_every == 0:
            logger.log_metrics(logs, step=done)
        if done % cfg.val_every == 0 or done == cfg.steps:
            elapsed = time.perf_counter() - t_interval
            metrics: dict[str, Any] = {"step": done, **{k: v / n_sum for k, v in sums.items()},
                                       "steps_per_s": steps_interval / max(elapsed, 1e-9),
                                       "samples_per_s": steps_interval * cfg.batch_size * world / max(elapsed, 1e-9)}
            scores, fused = validate(trainer, cfg, val, device) if rank == 0 else ({}, None)
            metrics.update(scores)
            if rank == 0:
                logger.log_metrics({k: v for k, v in metrics.items()              # losses: logged per step
                                    if k.startswith("val_") or k.endswith("_per_s")}, step=done)
                if fused is not None and cfg.sample_dir and (done % cfg.sample_every == 0 or done == cfg.steps):
                    n = min(N_SAMPLE_PAIRS, len(fused))
                    grid = save_sample_grid(Path(cfg.sample_dir) / f"step_{done:06d}.png",
                                            val[0][:n], val[2][:n], fused[:n])
                    logger.log_artifact(grid, "samples")
                shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                                 if k.endswith("total") or k.startswith("val_score") or k == "steps_per_s")
                print(f"[train {cfg.task}] step {done}/{cfg.steps} {shown}", flush=True)
            want_ckpt = done % cfg.checkpoint_every == 0 or done == cfg.steps
            report_step(session, cfg, trainer, metrics, scores, start_scores, rank, checkpoint=want_ckpt)
            last = metrics
            sums.clear()
            n_sum = 0
            steps_interval = 0
            t_interval = time.perf_counter()
        for hook in hooks:
            hook(done, session, cfg)
    return last


def train_func(config: dict[str, Any]) -> None:
    """Ray Train V2 worker entry point (``TorchTrainer(train_func, train_loop_config=config, ...)``)."""
    from pipelines.env import quiet_telemetry
    from pipelines.training.session import RayTrainSession
    quiet_telemetry()
    run_loop(config, RayTrainSession())


def tune_trial_func(config: dict[str, Any]) -> None:
    """Ray Tune function trainable running the loop in the trial process (``tune.num_workers: 0``)."""
    from pipelines.training.session import TuneSession
    run_loop(config, TuneSession())


def run_in_process(config: dict[str, Any], checkpoint_root: str | Path, keep: int = 2) -> dict[str, Any]:
    """``num_workers: 0``: the same loop in this process, checkpoints under ``checkpoint_root``."""
    return run_loop(config, LocalSession(checkpoint_root, keep=keep))

"""Where the per-worker loop runs: in this process, in a Ray Train worker, or in a Ray Tune trial.

The loop only talks to a :class:`Session`: rank / world size / device, how to wrap a network for DDP, the
checkpoint to resume from, and ``report(metrics, checkpoint_dir)`` (every rank calls it; only rank 0 passes a
directory).  Checkpoint directories hold one file, ``checkpoint.pt`` (:mod:`gan_models.training.checkpoint`).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

CHECKPOINT_FILE = "checkpoint.pt"


class Session(Protocol):
    world_rank: int
    world_size: int

    def device(self) -> torch.device: ...
    def wrap(self, module: nn.Module) -> nn.Module: ...
    def latest_checkpoint(self) -> Path | None: ...
    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None: ...


class LocalSession:
    """In-process, one worker: checkpoints are kept as ``<root>/step_<n>/checkpoint.pt`` (the last ``keep``,
    plus, with ``keep_best``, the one with the highest validation score: ``train.select: best_val``)."""

    world_rank = 0
    world_size = 1

    def __init__(self, checkpoint_root: str | Path, keep: int = 2, device: str | None = None,
                 keep_best: bool = False):
        self.root = Path(checkpoint_root)
        self.keep = max(1, keep)
        self.keep_best = keep_best
        self._scores: dict[Path, float | None] = {}        # step folder -> val_score (read once per folder)
        self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.reports: list[dict[str, Any]] = []

    def device(self) -> torch.device:
        return self._device

    def wrap(self, module: nn.Module) -> nn.Module:
        return module.to(self._device)

    def _step_dirs(self) -> list[tuple[int, Path]]:
        if not self.root.exists():
            return []
        out = []
        for p in self.root.iterdir():
            m = re.fullmatch(r"step_(\d+)", p.name)
            if m and (p / CHECKPOINT_FILE).exists():
                out.append((int(m.group(1)), p))
        return sorted(out)

    def latest_checkpoint(self) -> Path | None:
        dirs = self._step_dirs()
        return dirs[-1][1] / CHECKPOINT_FILE if dirs else None

    def checkpoints(self) -> list[Path]:
        """Every retained checkpoint, oldest first."""
        return [d / CHECKPOINT_FILE for _, d in self._step_dirs()]

    def _best_dir(self) -> Path | None:
        from pipelines.training.selection import best_by_score, checkpoint_score
        dirs = self._step_dirs()
        for _, d in dirs:
            if d not in self._scores:                    # folders from before a resume: read their score once
                self._scores[d] = checkpoint_score(d / CHECKPOINT_FILE)[1]
        best = best_by_score((step, self._scores[d], d) for step, d in dirs)
        return best[2] if best else None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir is None:
            return
        dest = self.root / f"step_{int(metrics['step']):08d}"
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(checkpoint_dir, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        self._scores.pop(dest, None)                     # rewritten: its score is read again from the file
        protect = self._best_dir() if self.keep_best else None
        for _, old in self._step_dirs()[:-self.keep]:
            if old != protect:
                shutil.rmtree(old, ignore_errors=True)
                self._scores.pop(old, None)


class RayTrainSession:
    """A Ray Train (V2) worker: DDP via ``ray.train.torch.prepare_model``; checkpoints through Ray storage."""

    def __init__(self) -> None:
        import ray.train
        ctx = ray.train.get_context()
        self.world_rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()

    def device(self) -> torch.device:
        import ray.train.torch
        return ray.train.torch.get_device()

    def wrap(self, module: nn.Module) -> nn.Module:
        import ray.train.torch
        # torch 2.13 renamed DDP's broadcast_buffers to forward_sync_buffers (STACK_NOTES §2); no buffer
        # broadcast keeps spectral-norm u/v and BN statistics per worker, the usual GAN setting.
        return ray.train.torch.prepare_model(module, parallel_strategy_kwargs={"forward_sync_buffers": False})

    def latest_checkpoint(self) -> Path | None:
        import ray.train
        ck = ray.train.get_checkpoint()
        if ck is None:
            return None
        # local storage: the checkpoint directory is readable in place (no download copy needed)
        path = Path(ck.path) / CHECKPOINT_FILE
        if path.exists():
            return path
        local = Path(ck.to_directory()) / CHECKPOINT_FILE
        return local

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train
        ck = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir is not None else None
        ray.train.report(metrics, checkpoint=ck)


class TuneSession:
    """An in-process Ray Tune trial (one worker, no Train worker group): reports go to ``ray.tune.report``."""

    world_rank = 0
    world_size = 1

    def __init__(self, device: str | None = None) -> None:
        self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def device(self) -> torch.device:
        return self._device

    def wrap(self, module: nn.Module) -> nn.Module:
        return module.to(self._device)

    def latest_checkpoint(self) -> Path | None:
        import ray.tune
        ck = ray.tune.get_checkpoint()
        if ck is None:
            return None
        path = Path(ck.path) / CHECKPOINT_FILE
        return path if path.exists() else Path(ck.to_directory()) / CHECKPOINT_FILE

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.tune
        ck = ray.tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir is not None else None
        ray.tune.report(metrics, checkpoint=ck)

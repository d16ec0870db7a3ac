"""Ray Train: 2-worker CPU DDP (gloo) and recovery from a killed worker (slow: a worker group costs ~20 s)."""
from __future__ import annotations

import pytest
import torch

from training_fixtures import toy_loop_config
from gan_models.training.checkpoint import read_checkpoint
from pipelines.training.config import ResourcesParams
from pipelines.training.ray_runtime import fit_torch

pytestmark = pytest.mark.slow


def test_two_worker_ddp_fit_keeps_replicas_in_sync(ray_local, split_dir, tmp_path):
    res = ResourcesParams(num_workers=2, use_gpu="auto", cpus_per_worker=0.5, max_failures=0)
    ck, metrics = fit_torch(toy_loop_config(split_dir, steps=4, val_every=2, checkpoint_every=2),
                            res, "ddp", tmp_path / "ray")
    assert metrics["step"] == 4 and "val_score" in metrics
    # 2 workers x batch 4 per step
    assert metrics["samples_per_s"] == pytest.approx(metrics["steps_per_s"] * 8)
    state = read_checkpoint(ck / "checkpoint.pt")
    assert state["trainer"]["system"]["step_count"] == 4
    # DDP all-reduces gradients: the generator moved away from its initial weights identically on both ranks,
    # so the saved (rank-0) weights must differ from a fresh init with the same seed
    from pipelines.training.inference import build_system
    torch.manual_seed(0)
    fresh = build_system({"preset": "toy_fusion", "loss": "lsgan", "overrides": {"width": 4},
                          "plugins": ["toy_fusion"]})
    w = state["trainer"]["system"]["networks"]["generators"]["G"]["0.weight"]
    assert not torch.allclose(w, fresh.generators["G"][0].weight)


def test_killed_worker_resumes_from_last_checkpoint(ray_local, split_dir, tmp_path):
    crash_dir = tmp_path / "crash"
    cfg = toy_loop_config(split_dir, steps=8, val_every=2, checkpoint_every=2, sample_dir=str(crash_dir),
                          callbacks=["toy_fusion:crash_once"])
    res = ResourcesParams(num_workers=2, cpus_per_worker=0.5, max_failures=1)
    ck, metrics = fit_torch(cfg, res, "crash", tmp_path / "ray")
    assert (crash_dir / "crashed").exists()
    assert metrics["step"] == 8
    assert read_checkpoint(ck / "checkpoint.pt")["trainer"]["system"]["step_count"] == 8
    lines = [tuple(map(int, ln.split())) for ln in (crash_dir / "steps.log").read_text().splitlines()]
    pids = list(dict.fromkeys(p for p, _ in lines))
    assert len(pids) == 2, lines                                  # one restart
    first = [s for p, s in lines if p == pids[0]]
    second = [s for p, s in lines if p == pids[1]]
    assert first == [1, 2, 3, 4]
    assert second == [5, 6, 7, 8]                                 # resumed after the step-4 checkpoint

"""The per-worker loop run in-process: training, checkpoints, exact resume, bad configs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training_fixtures import toy_loop_config
from gan_models.training.checkpoint import read_checkpoint
from pipelines.params import ParamsError
from pipelines.training.inference import FusionModel
from pipelines.training.loop import run_in_process, run_loop
from pipelines.training.session import LocalSession


def test_in_process_loop_trains_reports_and_checkpoints(split_dir, tmp_path):
    cfg = toy_loop_config(split_dir, sample_dir=str(tmp_path / "samples"))
    session = LocalSession(tmp_path / "ck", keep=10)
    last = run_loop(cfg, session)
    assert [r["step"] for r in session.reports] == [0, 2, 4, 6]      # step 0: the untrained generator
    assert last["step"] == 6 and math.isfinite(last["G/total"]) and math.isfinite(last["D/total"])
    assert all("val_score" in r for r in session.reports)
    steps = sorted(int(p.name.split("_")[1]) for p in (tmp_path / "ck").iterdir())
    assert steps == [0, 2, 4, 6]
    payload = read_checkpoint(tmp_path / "ck" / "step_00000006" / "checkpoint.pt")
    assert payload["trainer"]["system"]["step_count"] == 6
    assert payload["meta"]["model"] == {"preset": "toy_fusion", "loss": "lsgan", "overrides": {"width": 4},
                                     "plugins": ["toy_fusion"]}
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000002.png", "step_000004.png",
                                                                          "step_000006.png"]


def test_training_improves_the_content_fit(split_dir, tmp_path):
    """With the content term dominant, 24 steps must reduce the L1 to max(A, B) on val (learning happens)."""
    cfg = toy_loop_config(split_dir, steps=24, val_every=12, checkpoint_every=12, log_every=12,
                          overrides={"width": 8, "content_weight": 50.0, "lr": 3e-3}, sample_dir=None)
    session = LocalSession(tmp_path / "ck")
    run_loop(cfg, session)
    first, last = session.reports[0]["val_l1_max"], session.reports[-1]["val_l1_max"]
    assert last < first


def test_resume_continues_step_count_and_reproduces_losses(split_dir, tmp_path):
    full = LocalSession(tmp_path / "full", keep=10)
    run_loop(toy_loop_config(split_dir, steps=6), full)

    part = LocalSession(tmp_path / "part", keep=10)
    run_loop(toy_loop_config(split_dir, steps=4), part)          # "crash" after the step-4 checkpoint
    resumed = LocalSession(tmp_path / "part", keep=10)
    run_loop(toy_loop_config(split_dir, steps=6), resumed)
    assert [r["step"] for r in resumed.reports] == [6]           # continued from 4, not from 0
    want = full.reports[-1]
    got = resumed.reports[-1]
    for k in ("G/total", "D/total", "val_score"):
        assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), k
    a = read_checkpoint(tmp_path / "full" / "step_00000006" / "checkpoint.pt")["trainer"]["system"]["networks"]
    b = read_checkpoint(tmp_path / "part" / "step_00000006" / "checkpoint.pt")["trainer"]["system"]["networks"]
    for name, t in a["generators"]["G"].items():
        torch.testing.assert_close(b["generators"]["G"][name], t)


def test_resume_refuses_a_checkpoint_of_another_model(split_dir, tmp_path):
    run_in_process(toy_loop_config(split_dir, steps=2), tmp_path / "ck")
    with pytest.raises(ValueError, match="checkpoint is for"):
        run_in_process(toy_loop_config(split_dir, steps=4, overrides={"width": 6}), tmp_path / "ck")


def test_keep_prunes_old_checkpoints(split_dir, tmp_path):
    run_in_process(toy_loop_config(split_dir, steps=6), tmp_path / "ck", keep=2)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["step_00000004", "step_00000006"]


def test_bad_loop_configs_are_rejected(split_dir):
    with pytest.raises(ParamsError, match="multiple of"):
        run_loop(toy_loop_config(split_dir, val_every=4, checkpoint_every=6), LocalSession("/nonexistent"))
    with pytest.raises(ParamsError, match="unknown key"):
        run_loop(toy_loop_config(split_dir, stepz=3), LocalSession("/nonexistent"))
    with pytest.raises(ValueError, match="no rows for task 'MRI_SPECT'"):
        run_loop(toy_loop_config(split_dir, task="MRI_SPECT"), LocalSession("/nonexistent"))


def test_trained_checkpoint_fuses_grey_and_colour_b(split_dir, tmp_path):
    run_in_process(toy_loop_config(split_dir, steps=2), tmp_path / "ck")
    model = FusionModel.from_checkpoint(tmp_path / "ck" / "step_00000002")
    rng = np.random.default_rng(0)
    a = rng.random((20, 28)).astype(np.float32)                   # not a multiple of the pad size
    b = rng.random((20, 28)).astype(np.float32)
    f = model.fuse(a, b)
    assert f.shape == (20, 28) and f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1
    rgb = np.stack([b, 0.5 * b, 0.2 * b], axis=-1)
    fc = model.fuse(a, rgb)
    assert fc.shape == (20, 28, 3)
    from pipelines.imaging.color import rgb_to_ycbcr
    y, cb, cr = rgb_to_ycbcr(fc)
    _, cb0, cr0 = rgb_to_ycbcr(rgb)
    # the fused luma is the model's output on B's luma; chroma comes back from B (up to RGB clipping)
    np.testing.assert_allclose(y, model.fuse(a, rgb_to_ycbcr(rgb)[0].astype(np.float32)), atol=0.02)
    inside = (fc > 0.01).all(-1) & (fc < 0.99).all(-1)
    np.testing.assert_allclose(cb[inside], cb0[inside], atol=1e-4)
    np.testing.assert_allclose(cr[inside], cr0[inside], atol=1e-4)
    with pytest.raises(ValueError, match="same shape|differ in size"):
        model.fuse(a, b[:10])


def test_epoch_batches_is_the_smallest_shard_once(split_dir):
    from pipelines.training.data import epoch_batches
    train = split_dir / "train.parquet"                      # MRI_PET: 12 training pairs
    assert epoch_batches(train, "MRI_PET", 1, 4) == 3
    assert epoch_batches(train, "MRI_PET", 2, 2) == 3        # 6 pairs per rank
    assert epoch_batches(train, "MRI_PET", 5, 4) == 1        # never 0


def test_ddcgan_learning_rates_decay_0_9_per_epoch_of_the_training_split(split_dir, tmp_path):
    """The ddcgan preset's schedule counts epochs of the data (steps_per_epoch: data): the loop gives it the
    split's batches per epoch (12 pairs / batch 4 = 3), so after 6 steps every lr is 2e-4 * 0.9^2."""
    tiny = {"stages.G.generator.width": 4, "judges.mri.net.width": 4, "judges.func.net.width": 4}
    cfg = toy_loop_config(split_dir, preset="ddcgan", loss="nonsaturating", overrides=tiny, sample_dir=None)
    session = LocalSession(tmp_path / "ck", keep=10)
    run_loop(cfg, session)
    payload = read_checkpoint(tmp_path / "ck" / "step_00000006" / "checkpoint.pt")
    system = payload["trainer"]["system"]
    assert system["schedulers"]["steps_per_epoch"] == 3
    for opt in system["optimizers"].values():
        assert opt["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.9 ** 2)

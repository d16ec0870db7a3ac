"""Multi-resolution training and inference: r read from the data into the model's b_scale, B's crop aligned with
A's, a model trained on 1/4-resolution B fusing a 256-px MRI with a 64-px PET (colour) through ``medfuse fuse``,
and one-line errors for a wrong factor."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.imaging.io import read_image_01, write_png
from pipelines.imaging.multires import box_downsample
from pipelines.params import ParamsError
from pipelines.schema import write_pairs
from pipelines.training.config import TrainParams
from pipelines.training.data import ShardBatches, crop_pair, read_task_rows
from pipelines.training.multires import data_b_scale, model_overrides
from training_fixtures import blob_pair, make_rows

R = 4


def multires_rows(task, cases, slices, size, seed):
    """``make_rows`` with B seen at 1/R (block means), r recorded."""
    rows = make_rows(task, cases, slices, size, seed)
    for row in rows:
        row.update(b=box_downsample(row["b"], R), b_scale=R)
    return rows


@pytest.fixture(scope="module")
def multires_splits(tmp_path_factory):
    d = tmp_path_factory.mktemp("mr_splits")
    write_pairs(multires_rows("MRI_PET", ["c1", "c2"], 3, 64, 1), d / "train.parquet")
    write_pairs(multires_rows("MRI_PET", ["c3"], 3, 64, 2), d / "val.parquet")
    return d


# ----------------------------------------------------------------------------------------------- data
def test_crop_and_augmentation_keep_b_on_a_s_blocks():
    rng = np.random.default_rng(0)
    a = rng.random((6, 32, 32)).astype(np.float32)
    b = box_downsample(a, R)                          # B = A seen by the coarse detector, exactly
    ca, cb = crop_pair(a, b, 16, np.random.default_rng(3))
    assert ca.shape == (6, 16, 16) and cb.shape == (6, 4, 4)
    np.testing.assert_allclose(cb, box_downsample(ca, R), rtol=1e-6)
    batches = ShardBatches(a, b, batch_size=3, seed=1, crop=16)
    for step in range(4):
        x = batches.batch(step)
        np.testing.assert_allclose(x["b"][:, 0].numpy(), box_downsample(x["a"][:, 0].numpy(), R), rtol=1e-6)
    with pytest.raises(ValueError, match="crop 18 is not a multiple of b_scale 4"):
        ShardBatches(a, b, batch_size=3, crop=18)
    with pytest.raises(ValueError, match="B must be A's size or 1/r of it"):
        ShardBatches(a, b[:, :5, :5], batch_size=3)


def test_r_1_crops_draw_what_they_drew_before():
    """Same-resolution data: the crop corners come from the same RNG draws as before multi-resolution."""
    a = np.random.default_rng(0).random((5, 40, 40)).astype(np.float32)
    ca, cb = crop_pair(a, a + 1, 24, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    ys, xs = rng.integers(0, 17, 5), rng.integers(0, 17, 5)
    np.testing.assert_array_equal(ca, np.stack([a[i, y:y + 24, x:x + 24] for i, (y, x) in enumerate(zip(ys, xs))]))
    np.testing.assert_array_equal(cb, ca + 1)


def test_read_task_rows_gives_b_at_its_stored_resolution(multires_splits):
    _, a, b = read_task_rows(multires_splits / "train.parquet", "MRI_PET")
    assert a.shape == (6, 64, 64) and b.shape == (6, 16, 16)


# ------------------------------------------------------------------------------------ r -> b_scale
def test_b_scale_comes_from_the_data_and_an_explicit_override_must_agree(multires_splits, tmp_path):
    split = multires_splits / "train.parquet"
    assert data_b_scale(split, "MRI_PET") == R
    assert data_b_scale(split, "MRI_CT") is None and data_b_scale(tmp_path / "none.parquet", "MRI_PET") is None
    assert model_overrides("ddcgan", {}, R, 64, "MRI_PET", split) == {"b_scale": R}
    width = {"stages.G.generator.width": 4}
    assert model_overrides("smoothmax_gan", {"b_scale": R, **width}, R, None, "MRI_PET", split) == {"b_scale": R,
                                                                                                     **width}
    with pytest.raises(ParamsError, match=r"train.overrides.b_scale is 2 but the MRI_PET pairs in .* have B at 1/4"
                                          r" of A's resolution \(b_scale 4\)"):
        model_overrides("ddcgan", {"b_scale": 2}, R, 64, "MRI_PET", split)
    # same-resolution data: an explicit b_scale wins (the system box-averages B: DDcGAN's simulated setting)
    assert model_overrides("ddcgan", {"b_scale": 4}, 1, 64, "MRI_PET", split) == {"b_scale": 4}
    assert model_overrides("ddcgan", {}, 1, 64, "MRI_PET", split) == {}
    with pytest.raises(ParamsError, match="train.crop 30 is not a multiple of 4"):
        model_overrides("ddcgan", {}, R, 30, "MRI_PET", split)
    with pytest.raises(ParamsError, match="preset nenc_mdec .* cannot take a low-resolution B"):
        model_overrides("nenc_mdec", {}, R, 64, "MRI_PET", split)


def test_mixed_resolutions_in_one_task_are_refused(tmp_path):
    rows = make_rows("MRI_PET", ["c1"], 2, 16, 0) + multires_rows("MRI_PET", ["c2"], 2, 16, 1)
    write_pairs(rows, tmp_path / "train.parquet")
    with pytest.raises(ParamsError, match=r"task MRI_PET has pairs with B at different resolutions \(b_scale"
                                          r" \[1, 4\]\)"):
        data_b_scale(tmp_path / "train.parquet", "MRI_PET")


def test_the_train_stage_loop_config_carries_the_data_s_r(multires_splits, tmp_path):
    from pipelines.stages.train import loop_config
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "splits").symlink_to(multires_splits)
    tp = replace(TrainParams(), preset="ddcgan", crop=16)
    assert loop_config(tp, "MRI_PET", tmp_path)["overrides"] == {"b_scale": R}
    with pytest.raises(ParamsError, match="b_scale is 3 but"):
        loop_config(replace(tp, overrides={"b_scale": 3}), "MRI_PET", tmp_path)


# ------------------------------------------------------------------------ a model trained at r = 4
@pytest.fixture(scope="module")
def multires_model(multires_splits, tmp_path_factory):
    from pipelines.training.loop import run_in_process
    root = tmp_path_factory.mktemp("mr_ckpt")
    cfg = dict(task="MRI_PET", preset="ddcgan", loss=None, overrides={"b_scale": R, "stages.G.generator.width": 2},
               train_path=str(multires_splits / "train.parquet"), val_path=str(multires_splits / "val.parquet"),
               steps=2, batch_size=2, crop=32, val_every=2, checkpoint_every=2, log_every=1, sample_every=2,
               objective="qabf_ssim")
    run_in_process(cfg, root)
    return root / "step_00000002"


def test_fuse_a_256_px_mri_with_a_64_px_pet(multires_model, tmp_path):
    """The issue's case: a model trained on B at 1/4 fuses MRI 256 px + pseudo-colour PET 64 px into 256 px RGB,
    the fused luma equal to the model's output and the chroma PET's, bicubically upsampled."""
    from pipelines.imaging.color import rgb_to_ycbcr
    from pipelines.imaging.multires import upsample_bicubic
    from pipelines.training.inference import FusionModel
    a, b = blob_pair(np.random.default_rng(4), 256)
    b64 = box_downsample(b, R)
    pet = np.stack([b64, 0.4 * b64, 1 - b64], -1)
    write_png(tmp_path / "mri.png", a)
    write_png(tmp_path / "pet.png", pet)
    out = tmp_path / "fused.png"
    assert main(["fuse", "--model", str(multires_model), "--a", str(tmp_path / "mri.png"),
                 "--b", str(tmp_path / "pet.png"), "-o", str(out)]) == 0
    fused = read_image_01(out)
    assert fused.shape == (256, 256, 3)
    model = FusionModel.from_checkpoint(multires_model)
    rgb = read_image_01(tmp_path / "pet.png")
    want = model.fuse(read_image_01(tmp_path / "mri.png").astype(np.float32), rgb.astype(np.float32))
    np.testing.assert_allclose(fused, np.round(want * 255) / 255, atol=1 / 255 + 1e-9)
    y, cb, cr = rgb_to_ycbcr(fused)
    _, cb0, cr0 = rgb_to_ycbcr(rgb)
    inside = (fused > 0.02).all(-1) & (fused < 0.98).all(-1)
    np.testing.assert_allclose(cb[inside], upsample_bicubic(cb0, (256, 256))[inside], atol=0.01)
    np.testing.assert_allclose(cr[inside], upsample_bicubic(cr0, (256, 256))[inside], atol=0.01)


def test_wrong_factors_are_one_line_errors(multires_model, split_dir, tmp_path, capsys):
    from pipelines.training.loop import run_in_process
    from training_fixtures import toy_loop_config
    a, b = blob_pair(np.random.default_rng(5), 256)
    write_png(tmp_path / "mri.png", a)
    write_png(tmp_path / "pet128.png", box_downsample(b, 2))
    write_png(tmp_path / "pet64.png", box_downsample(b, 4))
    write_png(tmp_path / "pet100.png", b[:100, :100])
    same = tmp_path / "same"
    run_in_process(toy_loop_config(split_dir, steps=2, val_every=2, checkpoint_every=2), same)
    cases = [
        (multires_model, "pet128.png", "B is 128x128, 1/2 of A's 256x256, but this model was trained for B at 1/4 "
                                       "of A (64x64) or at A's size"),
        (multires_model, "pet100.png", "B is 100x100 and A is 256x256: they differ in size"),
        (same / "step_00000002", "pet64.png", "B is 64x64, 1/4 of A's 256x256, but this model was trained for B at "
                                              "A's size (b_scale 1)"),
    ]
    for model, pet, msg in cases:
        rc = main(["fuse", "--allow-plugin", "toy_fusion", "--model", str(model), "--a", str(tmp_path / "mri.png"),
                   "--b", str(tmp_path / pet), "-o", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1, err
        assert not (tmp_path / "x.png").exists()


def test_evaluate_gives_the_model_its_native_b_and_scores_on_bicubic_b(multires_model, multires_splits, tmp_path):
    """A model built for r fuses B as stored (1/r); baselines and metrics see B upsampled bicubically; the report
    says so."""
    import json
    from pipelines.imaging.multires import upsample_bicubic
    from pipelines.stages.evaluate import EvaluateParams, load_tasks, run
    td = load_tasks(multires_splits / "val.parquet")[0]
    assert td.b_scale == R and td.b_native.shape == (3, 16, 16) and td.b.shape == (3, 64, 64)
    np.testing.assert_allclose(td.b, upsample_bicubic(td.b_native, (64, 64)))
    p = EvaluateParams(test_split=str(multires_splits / "val.parquet"), model=str(multires_model),
                       baselines=["return_b", "mean"], figure_rows=1,
                       **{k: str(tmp_path / v) for k, v in dict(
                           metrics_json="eval.json", per_method_csv="pm.csv", per_image_csv="pi.csv",
                           report="eval.md", figures_dir="fig").items()})
    res = run(p)
    report = (tmp_path / "eval.md").read_text()
    assert "**Multi-resolution pairs.** MRI_PET (B at 1/4 of A)" in report and "bicubic upsampling" in report
    summary = json.loads((tmp_path / "eval.json").read_text())
    assert summary["convention"]["b_scale"] == {"MRI_PET": R}
    assert set(res.summary["tasks"]["MRI_PET"]) == {"model", "return_b", "mean"}


def test_only_a_model_built_for_the_task_s_r_gets_the_native_b(multires_splits):
    from pipelines.fusers import checked, native_b
    from pipelines.metrics.multires import fuser_input_b
    from pipelines.stages.evaluate import load_tasks
    td = load_tasks(multires_splits / "val.parquet")[0]
    seen = {}

    def spy(name):
        def fuse(a, b):
            seen[name] = b.shape
            return a
        return fuse
    fusers = {"model_r4": checked(native_b(spy("model_r4"), R), "m4"),
              "model_r1": checked(native_b(spy("model_r1"), 1), "m1"), "baseline": checked(spy("baseline"), "b")}
    for name, f in fusers.items():
        f(td.a, fuser_input_b(f, td))
    assert seen == {"model_r4": (3, 16, 16), "model_r1": (3, 64, 64), "baseline": (3, 64, 64)}


def test_a_preset_that_cannot_build_at_r_is_refused_before_training(multires_splits):
    with pytest.raises(ParamsError, match="preset ddcgan cannot take B at 1/3 of A's resolution .* power of two"):
        model_overrides("ddcgan", {}, 3, 66, "MRI_PET", multires_splits / "train.parquet")
    assert model_overrides("smoothmax_gan", {}, 3, 66, "MRI_PET", multires_splits / "train.parquet") == {"b_scale": 3}

"""``medfuse fuse``: one pair, folders, NIfTI volumes, and bad input -> exit 2 with a one-line message."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.imaging.io import read_image_01, write_png
from pipelines.training.inference import FusionModel
from pipelines.training.loop import run_in_process
from training_fixtures import blob_pair, toy_loop_config

TOY = ["--allow-plugin", "toy_fusion"]      # the toy model's plugin module (pipelines.model_loading)


@pytest.fixture(scope="module")
def ckpt(split_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuseck")
    run_in_process(toy_loop_config(split_dir, steps=2, val_every=2, checkpoint_every=2), root)
    return root / "step_00000002"


@pytest.fixture()
def pngs(tmp_path):
    a, b = blob_pair(np.random.default_rng(0), 40)
    write_png(tmp_path / "a" / "s1.png", a)
    write_png(tmp_path / "b" / "s1.png", b)
    write_png(tmp_path / "a" / "s2.png", b)
    write_png(tmp_path / "b" / "s2.png", np.stack([b, 0.5 * b, a], -1))     # pseudo-colour B
    return tmp_path


def test_fuse_one_pair_matches_the_model(ckpt, pngs, tmp_path):
    out = tmp_path / "f.png"
    assert main(["fuse", *TOY, "--model", str(ckpt), "--a", str(pngs / "a/s1.png"), "--b", str(pngs / "b/s1.png"),
                 "-o", str(out)]) == 0
    want = FusionModel.from_checkpoint(ckpt).fuse(read_image_01(pngs / "a/s1.png").astype(np.float32),
                                                  read_image_01(pngs / "b/s1.png").astype(np.float32))
    np.testing.assert_allclose(read_image_01(out), np.round(want * 255) / 255, atol=1 / 255 + 1e-9)


def test_fuse_folders_grey_and_colour(ckpt, pngs, tmp_path):
    out = tmp_path / "out"
    assert main(["fuse", *TOY, "--model", str(ckpt / "checkpoint.pt"), "--a-dir", str(pngs / "a"),
                 "--b-dir", str(pngs / "b"), "--out-dir", str(out)]) == 0
    assert read_image_01(out / "s1.png").shape == (40, 40)
    assert read_image_01(out / "s2.png").shape == (40, 40, 3)


def test_fuse_nifti_keeps_the_affine(ckpt, tmp_path):
    import nibabel as nib
    rng = np.random.default_rng(0)
    va = rng.random((24, 24, 5)) * 800
    vb = rng.random((24, 24, 5)) * 3e4
    affine = np.diag([0.9, 0.9, 2.5, 1.0])
    affine[:3, 3] = [-10, 5, 3]
    nib.save(nib.Nifti1Image(va.astype(np.float32), affine), str(tmp_path / "mri.nii.gz"))
    nib.save(nib.Nifti1Image(vb.astype(np.float32), affine), str(tmp_path / "pet.nii.gz"))
    out = tmp_path / "fused.nii.gz"
    assert main(["fuse", *TOY, "--model", str(ckpt), "--a", str(tmp_path / "mri.nii.gz"),
                 "--b", str(tmp_path / "pet.nii.gz"), "-o", str(out)]) == 0
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine, affine)
    data = np.asarray(img.dataobj)
    assert data.shape == (24, 24, 5) and data.dtype == np.float32 and 0 <= data.min() and data.max() <= 1
    # slice k of the output is the model applied to slice k of the normalised inputs
    from pipelines.readers.normalise import NormaliseParams, normalise_volume
    na = normalise_volume("MRI", va, NormaliseParams())[:, :, 3].astype(np.float32)
    nb = normalise_volume("PET", vb, NormaliseParams())[:, :, 3].astype(np.float32)
    np.testing.assert_allclose(data[:, :, 3], FusionModel.from_checkpoint(ckpt).fuse(na, nb), atol=1e-5)


def test_fuse_bad_input_exits_2_with_a_message(ckpt, pngs, tmp_path, capsys):
    cases = [
        (["--a", str(pngs / "a/none.png"), "--b", str(pngs / "b/s1.png"), "-o", str(tmp_path / "x.png")],
         "none.png: file not found"),
        (["--a", str(pngs / "a/s1.png"), "-o", str(tmp_path / "x.png")], "needs all of --a, --b and -o"),
        (["--a", str(pngs / "a/s1.png"), "--b", str(pngs / "b/s1.png"), "-o", str(tmp_path / "x.png"),
          "--a-dir", str(pngs)], "either --a"),
    ]
    (tmp_path / "junk.png").write_bytes(b"nope")
    cases.append((["--a", str(tmp_path / "junk.png"), "--b", str(pngs / "b/s1.png"), "-o",
                   str(tmp_path / "x.png")], "junk.png: not a readable image"))
    write_png(tmp_path / "small.png", np.zeros((20, 30)))
    cases.append((["--a", str(pngs / "a/s1.png"), "--b", str(tmp_path / "small.png"), "-o",
                   str(tmp_path / "x.png")], "register the pair first"))
    (pngs / "b" / "s3.png").write_bytes((pngs / "b" / "s1.png").read_bytes())
    cases.append((["--a-dir", str(pngs / "a"), "--b-dir", str(pngs / "b"), "--out-dir", str(tmp_path / "o")],
                  "unpaired stems (A only: [], B only: ['s3'])"))
    for argv, msg in cases:
        model = [*TOY, "--model", str(ckpt)]
        assert main(["fuse", *model, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert main(["fuse", "--model", str(tmp_path / "nomodel"), "--a", str(pngs / "a/s1.png"), "--b",
                 str(pngs / "b/s1.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "model not found" in capsys.readouterr().err

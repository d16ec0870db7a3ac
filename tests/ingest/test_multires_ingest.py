"""Multi-resolution pairs at ingest: B kept at its native 1/r of A's resolution with r recorded, any other size
mismatch quarantined; the phantom's coarse B detector (``phantom.b_scale``) in all three formats."""
from __future__ import annotations

import shutil
from dataclasses import replace

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.imaging.multires import box_downsample, lowres_affine, scale_factor, upsample_bicubic
from pipelines.phantom.detector import COARSE_DETECTORS, coarse_image, counts_per_pixel_factor
from pipelines.phantom.generate import generate_formats
from pipelines.phantom.modalities import MODALITIES
from pipelines.readers import ReaderOptions, get_reader
from pipelines.schema import read_pairs, write_pairs

R = 4


def read(fmt, folder, size=64):
    r = get_reader(fmt)(folder, ReaderOptions(size=size, progress=False))
    r.check_accounting()
    return r


# --------------------------------------------------------------------------------------------- the rules
def test_scale_factor_is_one_integer_on_both_axes():
    assert scale_factor((256, 256), (64, 64)) == 4
    assert scale_factor((232, 196), (58, 49)) == 4
    assert scale_factor((256, 256), (256, 256)) == 1
    for b in [(64, 128), (100, 100), (512, 512), (0, 0), (85, 85)]:
        assert scale_factor((256, 256), b) is None, b


def test_box_downsample_is_the_block_mean():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(box_downsample(x, 2), [[2.5, 4.5], [10.5, 12.5]])
    assert box_downsample(x, 1) is x
    with pytest.raises(ValueError, match="3x3 blocks"):
        box_downsample(x, 3)


def test_bicubic_upsampling_reproduces_quadratics_and_stays_in_range():
    """Keys' kernel with a = -0.5 reproduces polynomials up to degree 2: a quadratic ramp sampled at B's pixel
    centres comes back exactly at A's centres ((v + 0.5) / r - 0.5 in B pixels), away from the edges."""
    n, r = 16, 4
    u = np.arange(n, dtype=np.float64)
    low = np.tile((0.02 * u ** 2 + 0.1 * u)[None, :], (n, 1))
    up = upsample_bicubic(low, (n * r, n * r))
    v = (np.arange(n * r) + 0.5) / r - 0.5
    want = 0.02 * v ** 2 + 0.1 * v
    np.testing.assert_allclose(up[10, 8:-8], want[8:-8], atol=2e-5)
    step = np.zeros((8, 8))
    step[:, 4:] = 1.0                                     # the cubic kernel overshoots a step: clipped
    up = upsample_bicubic(step, (32, 32))
    assert up.min() == 0.0 and up.max() == 1.0 and up.dtype == np.float64


def test_lowres_affine_places_block_centres():
    aff = np.diag([0.9, 0.9, 2.5, 1.0])
    aff[:3, 3] = [-10, 5, 3]
    low = lowres_affine(aff, 4)
    # low-res voxel (1, 2, 3) is the centre of fine voxels 4..7 x 8..11 of slice 3: index (5.5, 9.5, 3)
    np.testing.assert_allclose(low @ [1, 2, 3, 1], aff @ [5.5, 9.5, 3, 1])


# ------------------------------------------------------------------------------------------------ AANLIB
def _aanlib_pair(root, a_shape, b_shape, colour=False):
    rng = np.random.default_rng(0)
    (root / "MRI_PET" / "MRI").mkdir(parents=True)
    (root / "MRI_PET" / "PET").mkdir(parents=True)
    Image.fromarray((rng.random(a_shape) * 255).astype(np.uint8)).save(root / "MRI_PET" / "MRI" / "p01001.png")
    b = (rng.random(b_shape + ((3,) if colour else ())) * 255).astype(np.uint8)
    Image.fromarray(b).save(root / "MRI_PET" / "PET" / "p01001.png")
    return root / "MRI_PET" / "PET" / "p01001.png"


def test_aanlib_keeps_a_quarter_size_b_native_with_r_recorded(tmp_path):
    _aanlib_pair(tmp_path, (256, 256), (64, 64), colour=True)
    r = read("aanlib", tmp_path, size=128)
    assert not r.quarantine and len(r.rows) == 1
    row = r.rows[0]
    assert row["b_scale"] == 4 and row["height"] == row["width"] == 128
    assert row["a"].shape == (128, 128)
    assert row["b"].shape == row["b_cb"].shape == row["b_cr"].shape == (32, 32)
    write_pairs(r.rows, tmp_path / "t.parquet")
    t = read_pairs(tmp_path / "t.parquet")
    assert t.column("b_scale").to_pylist() == [4] and len(t.column("b")[0].as_py()) == 32 * 32 * 4


@pytest.mark.parametrize("b_shape", [(100, 90), (64, 128), (512, 512)])
def test_aanlib_other_size_mismatches_are_still_quarantined(tmp_path, b_shape):
    fb = _aanlib_pair(tmp_path, (256, 256), b_shape)
    r = read("aanlib", tmp_path)
    assert not r.rows and len(r.quarantine) == 1
    reason = r.quarantine[0]["reason"]
    assert str(fb) in reason and f"{b_shape[0]}x{b_shape[1]}" in reason and "256x256" in reason
    assert "must share one pixel grid" in reason and "integer factor" in reason


def test_data_size_not_a_multiple_of_r_is_quarantined(tmp_path):
    fb = _aanlib_pair(tmp_path, (256, 256), (64, 64))
    r = read("aanlib", tmp_path, size=90)
    assert not r.rows and len(r.quarantine) == 1
    assert "data.size 90 is not a multiple of 4" in r.quarantine[0]["reason"] and str(fb) in r.quarantine[0]["reason"]


def test_a_table_written_before_b_scale_reads_as_r_1(tmp_path):
    _aanlib_pair(tmp_path, (64, 64), (64, 64))
    write_pairs(read("aanlib", tmp_path).rows, tmp_path / "new.parquet")
    old = pq.read_table(tmp_path / "new.parquet")
    pq.write_table(old.drop_columns(["b_scale"]), tmp_path / "old.parquet")
    t = read_pairs(tmp_path / "old.parquet")
    assert t.schema.names == read_pairs(tmp_path / "new.parquet").schema.names
    assert t.column("b_scale").to_pylist() == [1]
    assert read_pairs(tmp_path / "old.parquet", columns=["task", "b_scale"]).column("b_scale").to_pylist() == [1]


# ------------------------------------------------------------------------------------------------ volumes
def _volume_pair(root, b_zoom, b_shift_mm=0.0):
    rng = np.random.default_rng(1)
    case = root / "c01"
    case.mkdir(parents=True)
    a_aff = np.diag([1.0, 1.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image((rng.random((32, 32, 4)) * 900).astype(np.float32), a_aff), case / "T1.nii.gz")
    n = int(32 / b_zoom)
    b_aff = lowres_affine(a_aff, int(b_zoom))
    b_aff[0, 3] += b_shift_mm
    nib.save(nib.Nifti1Image((rng.random((n, n, 4)) * 1e4).astype(np.float32), b_aff), case / "PET.nii.gz")


def test_nifti_in_plane_factor_keeps_b_on_a_s_grid_at_its_resolution(tmp_path):
    _volume_pair(tmp_path / "on", 4)
    rows = read("nifti", tmp_path / "on", size=32).rows
    assert len(rows) == 4 and {r["b_scale"] for r in rows} == {4}
    assert rows[0]["b"].shape == (8, 8) and "resliced" not in rows[0]["source_b"]
    _volume_pair(tmp_path / "off", 4, b_shift_mm=1.5)            # same voxel size, shifted: resliced at 1/4
    rows = read("nifti", tmp_path / "off", size=32).rows
    assert {r["b_scale"] for r in rows} == {4} and "#resliced:" in rows[0]["source_b"]
    assert rows[0]["b"].shape == (8, 8)


def test_nifti_non_integer_factor_is_resliced_onto_a_s_grid(tmp_path):
    case = tmp_path / "c01"
    case.mkdir()
    rng = np.random.default_rng(2)
    nib.save(nib.Nifti1Image(rng.random((32, 32, 3)).astype(np.float32), np.diag([1, 1, 3, 1.0])), case / "T1.nii")
    nib.save(nib.Nifti1Image(rng.random((13, 13, 3)).astype(np.float32), np.diag([2.5, 2.5, 3, 1.0])),
             case / "PET.nii")
    rows = read("nifti", tmp_path, size=32).rows
    assert {r["b_scale"] for r in rows} == {1} and rows[0]["b"].shape == (32, 32)


# ---------------------------------------------------------------------------------- the coarse detector
@pytest.fixture(scope="module")
def coarse_sets(tmp_path_factory, small):
    """The ingest tests' small phantom (same cases and seed) with CT/PET/SPECT from a 4 mm detector."""
    root = tmp_path_factory.mktemp("phantom_r4")
    outs = {f: root / f for f in ("aanlib", "nifti", "dicom")}
    generate_formats(outs, replace(small, b_scale=R), progress=False)
    return outs


@pytest.mark.parametrize("fmt", ["aanlib", "nifti", "dicom"])
def test_phantom_b_scale_reads_back_native_in_every_format(coarse_sets, phantom_sets, fmt):
    """CT/PET/SPECT at 1/4 (no reslicing: the files put B exactly on A's grid at 1/4), T2 at A's resolution;
    and B lies where the 1 mm phantom's B, box-averaged, lies: best correlation at zero shift."""
    rows = read(fmt, coarse_sets[fmt]).rows
    ref = {r["pair_id"]: r for r in read(fmt, phantom_sets[fmt]).rows}
    assert rows and len(rows) == len(ref)
    for row in rows:
        want = 1 if row["task"] == "MRI_T2" else R
        assert row["b_scale"] == want and row["b"].shape == (64 // want, 64 // want), row["pair_id"]
        assert "resliced" not in row["source_b"]
        if want == 1:
            continue
        same = box_downsample(ref[row["pair_id"]]["b"], R)
        cc = {s: np.corrcoef(row["b"][1:-1, 1:-1].ravel(), np.roll(same, s, (0, 1))[1:-1, 1:-1].ravel())[0, 1]
              for s in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]}
        assert max(cc, key=cc.get) == (0, 0) and cc[(0, 0)] > 0.9, (row["pair_id"], cc)


def test_coarse_detector_bins_then_draws_noise_at_the_pixel_s_counts():
    phys = replace(_physics(), pet_gm_counts=120.0, pet_gm_bqml=10000.0, ct_noise_hu=4.0)
    flat = np.full((2, 64, 64), 5000.0)                       # Bq/ml: 60 expected counts per 2 mm voxel
    np.testing.assert_array_equal(coarse_image("PET", flat, phys, R, np.random.default_rng(0), noise=False),
                                  np.full((2, 16, 16), 5000.0, np.float32))
    big = np.full((40, 64, 64), 5000.0)
    pet = coarse_image("PET", big, phys, R, np.random.default_rng(0))
    factor = counts_per_pixel_factor(MODALITIES.get("PET").voxel_mm, R)
    assert factor == 4.0
    counts = pet * (120.0 / 10000.0)                           # back to counts per 2 mm voxel
    assert abs(counts.mean() - 60.0) < 0.3
    assert abs(counts.var() - 60.0 / factor) < 1.2             # Poisson on 4 x the counts, divided by 4
    ct = coarse_image("CT", np.zeros((40, 64, 64)), phys, R, np.random.default_rng(0))
    assert abs(ct.std() - 4.0 / R) < 0.03
    spect = coarse_image("SPECT", np.full((40, 64, 64), 40.0), phys, R, np.random.default_rng(0))
    assert abs(spect.var() - 40.0 / counts_per_pixel_factor(4.0, R)) < 1.5     # SPECT voxel 4 mm: factor 1
    assert set(COARSE_DETECTORS.names()) == {"CT", "PET", "SPECT"}


def _physics():
    from pipelines.phantom.modalities import CasePhysics
    return CasePhysics(mr={}, mr_noise=0.01, bias={}, ct_noise_hu=4.0, pet_gm_wm=4.0, pet_gm_counts=120.0,
                       pet_gm_bqml=10000.0, spect_gm_wm=2.5, spect_gm_counts=40.0)


def test_phantom_b_scale_is_checked(tmp_path):
    from pipelines.phantom.generate import PhantomParams
    with pytest.raises(ValueError, match="phantom.b_scale must be an integer from 1 to 16"):
        PhantomParams(b_scale=0)


def test_quarantine_keeps_accounting_with_a_bad_multires_file(coarse_sets, tmp_path):
    root = tmp_path / "aanlib"
    shutil.copytree(coarse_sets["aanlib"], root)
    f = root / "MRI_PET" / "PET" / "ph01001.png"
    Image.fromarray(np.full((30, 30, 3), 90, np.uint8)).save(f)                  # neither 1/1 nor 1/r
    r = read("aanlib", root)
    assert len(r.quarantine) == 1 and str(f) in r.quarantine[0]["reason"]

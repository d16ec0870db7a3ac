"""The register stage on a small synthetic pair table: units, columns, report, never-worse, determinism."""
import json
import math

import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.registration import engine
from pipelines.registration.config import RegisterParams
from pipelines.registration.units import build_units, is_volume_row, slice_step_mm
from pipelines.schema import decode_image, make_pair_id, read_pairs, write_pairs
from pipelines.stages import register as stage

N = 64


def _row(task, case, k, a, b, source_a, meta=None, cb=None, cr=None, spacing=(1.0, 1.0)):
    mod_b = task.split("_")[1]
    return dict(pair_id=make_pair_id(task, case, k), task=task, case_id=case, slice=k, modality_a="MRI",
                modality_b=mod_b, height=N, width=N, a=a, b=b, b_cb=cb, b_cr=cr, spacing_mm=list(spacing),
                source_a=source_a, source_b=source_a.replace("MRI", mod_b), sha256_a="0" * 64, sha256_b="1" * 64,
                meta=meta or {})


@pytest.fixture(scope="module")
def table_path(tmp_path_factory, synthetic):
    head, modality_b, moved, rigid = (synthetic[k] for k in ("head", "modality_b", "moved", "rigid"))
    centre = engine.image_centre(engine.to_image(np.zeros((N, N), np.float32), (1.0, 1.0)))
    rows, truth = [], {}
    # a NIfTI-like case of 6 slices with one in-plane motion (3-D unit)
    t_vol = rigid(4.0, 2.0, -1.5, centre)
    truth["MRI_CT/v1"] = t_vol
    for k, z in enumerate(np.linspace(-0.5, 0.5, 6)):
        a = head(N, z)
        rows.append(_row("MRI_CT", "v1", k, a, moved(modality_b(head(N, z, seed=1)), t_vol),
                         f"/d/v1/MRI.nii.gz#{k}", {"format": "nifti", "slice_thickness_mm": 3.0}))
    # two 2-D pairs (AANLIB-like PNGs), one pseudo-colour, and one already aligned pair
    t2 = rigid(-3.0, -2.0, 2.0, centre)
    truth["MRI_PET/p1/0"] = t2
    a = head(N, 0.2)
    b = modality_b(head(N, 0.2, seed=2))
    cb = np.where(b > 0.5, 0.8, 0.5).astype(np.float32)
    rows.append(_row("MRI_PET", "p1", 0, a, moved(b, t2), "/d/MRI_PET/MRI/p1000.png",
                     cb=moved(cb, t2, default=0.5), cr=moved(1 - cb, t2, default=0.5)))
    a = head(N, -0.1)
    rows.append(_row("MRI_CT", "g2", 0, a, modality_b(a), "/d/MRI_CT/MRI/g2000.png"))
    path = tmp_path_factory.mktemp("reg") / "pairs.parquet"
    write_pairs(rows, path)
    return path, truth, centre


@pytest.fixture(scope="module")
def result(table_path, tmp_path_factory):
    path, truth, centre = table_path
    out = tmp_path_factory.mktemp("out")
    res = stage.run(RegisterParams(), path, out / "pairs.parquet", out / "registration.json", progress=False)
    return res, out


def test_units_group_volume_rows_by_case_and_keep_2d_rows_alone():
    meta = [{"format": "nifti"}] * 3 + [{}, {"format": "dicom"}, {"format": "dicom"}]
    units = build_units(["T", "T", "T", "T", "U", "U"], ["c", "c", "c", "d", "e", "e"], [2, 0, 1, 0, 0, 2],
                        ["x.nii.gz#2", "x.nii.gz#0", "x.nii.gz#1", "p.png", "s1.dcm", "s3.dcm"], meta)
    kinds = {u.key: (u.kind, u.rows) for u in units}
    assert kinds["T/c"] == ("volume", (1, 2, 0))                  # stacked in slice order
    assert kinds["T/d/0"] == ("slice", (3,))
    assert kinds["U/e"] == ("volume", (4, 5))                      # evenly stepped (0, 2)
    units = build_units(["T"] * 3, ["c"] * 3, [0, 1, 3], ["x.nii#0", "x.nii#1", "x.nii#3"], [{}] * 3)
    assert [u.kind for u in units] == ["slice"] * 3 and "not evenly stepped" in units[0].note
    units = build_units(["T"] * 2, ["c"] * 2, [0, 1], ["x.nii#0", "x.nii#1"], [{}] * 2, mode="slice")
    assert [u.kind for u in units] == ["slice", "slice"]
    assert is_volume_row("/a/b.nii.gz#3", {}) and not is_volume_row("/a/b.png", {})
    assert not is_volume_row("/a/b.nii.gz#3", {"format": "aanlib"})


def test_slice_step_comes_from_meta_then_params_then_in_plane():
    assert slice_step_mm([{"slice_thickness_mm": 2.5}] * 2, [4, 6], (1.0, 1.0), None) == (5.0, "meta slice_thickness_mm")
    assert slice_step_mm([{}] * 2, [0, 1], (1.0, 1.0), 3.0) == (3.0, "register.slice_thickness_mm")
    step, source = slice_step_mm([{}] * 2, [0, 1], (0.5, 1.5), None)
    assert step == 1.0 and "isotropic" in source


def test_table_keeps_rows_and_fills_reg_columns(table_path, result):
    path, truth, centre = table_path
    res, out = result
    before, after = read_pairs(path), read_pairs(out / "pairs.parquet")
    assert after.column("pair_id").to_pylist() == before.column("pair_id").to_pylist()
    assert after.column("a").to_pylist() == before.column("a").to_pylist()            # A never moves
    for col in ("reg_nmi_before", "reg_nmi_after", "reg_ncc_before", "reg_ncc_after", "reg_seconds",
                "reg_transform", "reg_status"):
        assert after.column(col).null_count == 0, col
    nmi_b = np.array(after.column("reg_nmi_before").to_pylist())
    nmi_a = np.array(after.column("reg_nmi_after").to_pylist())
    assert (nmi_a >= nmi_b - 1e-6).all()
    status = dict(zip(after.column("pair_id").to_pylist(), after.column("reg_status").to_pylist()))
    assert status["MRI_PET/p1/0"] == "registered" and status["MRI_CT/v1/3"] == "registered"
    # the unit NMI in reg_transform is the accept/reject NMI (never lowered, blur recorded); the raw one too
    for text, st in zip(after.column("reg_transform").to_pylist(), after.column("reg_status").to_pylist()):
        tj = json.loads(text)
        assert tj["unit_nmi_blur_vox"] == RegisterParams().accept_sigma_vox
        assert tj["unit_nmi_after"] - tj["unit_nmi_before"] > (RegisterParams().min_nmi_gain if st == "registered"
                                                                else -1e-12)
        assert {"unit_raw_nmi_before", "unit_raw_nmi_after"} <= set(tj)


def test_misalignments_are_recovered_and_reported(table_path, result):
    path, truth, centre = table_path
    res, out = result
    report = json.loads((out / "registration.json").read_text())
    units = {u["key"]: u for u in report["units"]}
    assert units["MRI_CT/v1"]["kind"] == "volume" and units["MRI_CT/v1"]["spacing_mm"] == [3.0, 1.0, 1.0]
    for key, t in truth.items():
        m = units[key]["motion"]
        want = {"rotation_deg": math.degrees(t.GetAngle()), **dict(zip(("shift_x_vox", "shift_y_vox"),
                                                                        t.GetTranslation()))}
        assert abs(m["rotation_deg"] - want["rotation_deg"]) < 0.5, key
        assert math.hypot(m["shift_x_vox"] - want["shift_x_vox"], m["shift_y_vox"] - want["shift_y_vox"]) < 0.5
    # every pair is in the report with metrics, the transform and the time
    pairs = {p["pair_id"]: p for p in report["pairs"]}
    assert len(pairs) == 8
    assert pairs["MRI_CT/v1/0"]["transform"]["unit"] == "MRI_CT/v1"
    assert all(p["seconds"] > 0 for p in pairs.values())
    s = report["summary"]
    assert s["units"] == {"slice": 2, "volume": 1} and s["pairs"] == 8
    assert s["seconds_per_volume"] > 0 and s["seconds_per_2d_pair"] > 0


def test_already_aligned_pair_stays_within_a_small_tolerance_of_identity(result):
    res, out = result
    report = json.loads((out / "registration.json").read_text())
    u = {u["key"]: u for u in report["units"]}["MRI_CT/g2/0"]
    assert abs(u["motion"]["rotation_deg"]) < 0.2
    assert math.hypot(u["motion"]["shift_x_vox"], u["motion"]["shift_y_vox"]) < 0.2
    after = read_pairs(out / "pairs.parquet")
    row = after.filter(pc.equal(after["pair_id"], "MRI_CT/g2/0"))
    if row["reg_status"][0].as_py() == "kept_original":
        assert json.loads(row["reg_transform"][0].as_py())["kept_original_reason"]


def test_chroma_of_pseudo_colour_b_is_resampled_with_b(table_path, result):
    path, truth, centre = table_path
    res, out = result
    after = read_pairs(out / "pairs.parquet")
    row = after.filter(pc.equal(after["pair_id"], "MRI_PET/p1/0"))
    b = decode_image(row["b"][0].as_py(), N, N)
    cb = decode_image(row["b_cb"][0].as_py(), N, N)
    # after registration, Cb is high exactly where B is bright, as it was built
    inside = np.zeros((N, N), bool)
    inside[10:-10, 10:-10] = True
    agree = ((cb > 0.65) == (b > 0.5))[inside].mean()
    assert agree > 0.97


def test_stage_is_deterministic_and_independent_of_the_worker_count(table_path, result, tmp_path):
    """The fixture ran with one process; two worker processes must give the same bytes, in the same order."""
    path, truth, centre = table_path
    res, out = result
    again = stage.run(RegisterParams(workers=2), path, tmp_path / "p.parquet", tmp_path / "r.json",
                      progress=False)
    t1, t2 = read_pairs(out / "pairs.parquet"), read_pairs(again.pairs_out)
    assert t1.column("pair_id").to_pylist() == t2.column("pair_id").to_pylist()
    assert t1.column("b").to_pylist() == t2.column("b").to_pylist()
    assert t1.column("reg_transform").to_pylist() == t2.column("reg_transform").to_pylist()
    assert again.summary["status"] == res.summary["status"]


def test_workers_must_be_positive():
    from pipelines.params import ParamsError
    with pytest.raises(ParamsError, match="register.workers"):
        RegisterParams(workers=0)


def test_missing_input_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pairs.parquet: pair table not found"):
        stage.run(RegisterParams(), tmp_path / "pairs.parquet", tmp_path / "o.parquet", tmp_path / "r.json")

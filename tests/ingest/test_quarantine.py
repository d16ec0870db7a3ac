"""Bad input is quarantined with a sentence naming the file, never dropped: inputs = rows + quarantine."""
from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from pipelines.readers import get_reader
from pipelines.readers.common import parse_case_slice


def read(fmt, folder, options):
    r = get_reader(fmt)(folder, options)
    r.check_accounting()
    return r


def only_reason(result, must_contain: str, names_file) -> str:
    assert len(result.quarantine) == 1, [q["reason"] for q in result.quarantine]
    reason = result.quarantine[0]["reason"]
    assert must_contain in reason and str(names_file) in reason, reason
    return reason


@pytest.fixture
def aanlib(phantom_copy, small):
    root = phantom_copy("aanlib")
    total = small.cases * small.slices * len(small.tasks)
    return root, total


def test_aanlib_corrupt_file(aanlib, options):
    root, total = aanlib
    f = root / "MRI_CT" / "CT" / "ph01001.png"
    f.write_bytes(f.read_bytes()[:200])                      # truncated PNG
    r = read("aanlib", root, options)
    only_reason(r, "cannot be decoded", f)
    assert len(r.rows) == total - 1 and r.inputs == total


def test_aanlib_unpaired_name(aanlib, options):
    root, total = aanlib
    (root / "MRI_PET" / "PET" / "ph02000.png").unlink()
    r = read("aanlib", root, options)
    only_reason(r, "has no partner", root / "MRI_PET" / "MRI" / "ph02000.png")
    assert len(r.rows) == total - 1


def test_aanlib_size_mismatch(aanlib, options):
    root, total = aanlib
    f = root / "MRI_T2" / "T2" / "ph01002.png"
    Image.fromarray(np.full((100, 90), 7, np.uint8)).save(f)
    r = read("aanlib", root, options)
    only_reason(r, "must share one pixel grid", f)
    assert len(r.rows) == total - 1


def test_aanlib_constant_image(aanlib, options):
    root, total = aanlib
    f = root / "MRI_CT" / "MRI" / "ph02002.png"
    shape = np.asarray(Image.open(f)).shape
    Image.fromarray(np.zeros(shape, np.uint8)).save(f)
    r = read("aanlib", root, options)
    only_reason(r, "is constant", f)
    assert len(r.rows) == total - 1


def test_aanlib_unsupported_formats(aanlib, options):
    root, total = aanlib
    txt = root / "MRI_CT" / "CT" / "notes.txt"
    txt.write_text("scanner notes")
    bmp = root / "MRI_CT" / "MRI" / "ph01000.bmp"
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(bmp)
    r = read("aanlib", root, options)
    assert len(r.rows) == total and len(r.quarantine) == 2 and r.inputs == total + 2
    reasons = " ".join(q["reason"] for q in r.quarantine)
    assert "unsupported type .txt" in reasons and str(txt) in reasons and str(bmp) in reasons


def test_aanlib_missing_modality_folder(aanlib, options, small):
    root, total = aanlib
    shutil.rmtree(root / "MRI_SPECT" / "SPECT")
    r = read("aanlib", root, options)
    n = small.cases * small.slices
    assert len(r.rows) == total - n and len(r.quarantine) == n
    assert all("folder MRI_SPECT/SPECT is missing" in q["reason"] and "MRI_SPECT/MRI/" in q["reason"]
               for q in r.quarantine)


def test_aanlib_stray_files_and_unknown_folders(aanlib, options):
    root, total = aanlib
    stray = root / "MRI_CT" / "ph01000.png"
    shutil.copy(root / "MRI_CT" / "CT" / "ph01000.png", stray)
    (root / "MRI_CT" / "XRAY").mkdir()
    extra = root / "MRI_CT" / "XRAY" / "a.png"
    shutil.copy(root / "MRI_CT" / "CT" / "ph01000.png", extra)
    r = read("aanlib", root, options)
    assert len(r.rows) == total and r.inputs == total + 2
    reasons = [q["reason"] for q in r.quarantine]
    assert any(str(stray) in s and "directly in task folder" in s for s in reasons)
    assert any(str(extra) in s and "not one of task MRI_CT's modality folders" in s for s in reasons)


@pytest.fixture
def nifti(phantom_copy, small):
    root = phantom_copy("nifti")
    return root, small.cases * small.slices * len(small.tasks)


def test_nifti_nan_slice(nifti, options):
    root, total = nifti
    f = root / "ph01" / "PET.nii.gz"
    img = nib.load(f)
    data = img.get_fdata().astype(np.float32)
    data[50:60, 50:60, 1] = np.nan
    data[10, 10, 2] = np.inf
    nib.save(nib.Nifti1Image(data, img.affine, img.header), f)
    r = read("nifti", root, options)
    assert len(r.quarantine) == 2 and len(r.rows) == total - 2
    assert all("NaN/inf" in q["reason"] and str(f) in q["reason"] for q in r.quarantine)
    assert {q["source_b"] for q in r.quarantine} == {f"{f}#1", f"{f}#2"}


def test_nifti_missing_volume(nifti, options, small):
    root, total = nifti
    (root / "ph02" / "CT.nii.gz").unlink()
    r = read("nifti", root, options)
    reason = only_reason(r, "has no CT volume", root / "ph02")
    assert "MRI_CT" in reason
    assert len(r.rows) == total - small.slices


def test_nifti_corrupt_volume(nifti, options, small):
    root, total = nifti
    f = root / "ph01" / "T2.nii.gz"
    f.write_bytes(f.read_bytes()[:300])
    r = read("nifti", root, options)
    only_reason(r, "cannot be read", f)
    assert len(r.rows) == total - small.slices


def test_nifti_unsupported_file_and_non_overlapping_partner(nifti, options, small):
    root, total = nifti
    notes = root / "ph01" / "README.txt"
    notes.write_text("x")
    f = root / "ph02" / "SPECT.nii.gz"
    img = nib.load(f)
    far = img.affine.copy()
    far[0, 3] += 5000.0
    nib.save(nib.Nifti1Image(img.get_fdata().astype(np.float32), far), f)
    r = read("nifti", root, options)
    assert len(r.quarantine) == 2 and len(r.rows) == total - small.slices
    reasons = " ".join(q["reason"] for q in r.quarantine)
    assert "unsupported type .txt" in reasons and str(notes) in reasons
    assert "does not overlap" in reasons and str(f) in reasons


def test_nifti_partner_on_another_grid_is_resliced(nifti, options, small):
    root, total = nifti
    f = root / "ph01" / "CT.nii.gz"
    img = nib.load(f)
    data = img.get_fdata().astype(np.float32)[::2, ::2, :]          # 2 mm in-plane, same field of view
    aff = img.affine.copy()
    aff[:2, :2] *= 2.0
    aff[:2, 3] += 0.5
    nib.save(nib.Nifti1Image(data, aff), f)
    r = read("nifti", root, options)
    assert not r.quarantine
    rows = [row for row in r.rows if row["task"] == "MRI_CT" and row["case_id"] == "ph01"]
    assert len(rows) == small.slices and all(json.loads(row["meta"])["b_resliced_to_a"] for row in rows)


@pytest.fixture
def dicom(phantom_copy, small):
    root = phantom_copy("dicom")
    return root, small.cases * small.slices * len(small.tasks)


def test_dicom_non_dicom_file_and_foreign_series(dicom, options, small):
    root, total = dicom
    bad = root / "ph01" / "CT" / "IM0002.dcm"
    bad.write_bytes(b"this is not DICOM" * 20)
    foreign = root / "ph01" / "CT" / "IMX.dcm"
    shutil.copy(root / "ph01" / "T2" / "IM0001.dcm", foreign)
    r = read("dicom", root, options)
    reasons = " ".join(q["reason"] for q in r.quarantine)
    assert "is not a DICOM file" in reasons and str(bad) in reasons
    assert "belongs to series" in reasons and str(foreign) in reasons
    # the CT series lost a middle slice: the two remaining slices are still ingested at their own positions, and
    # the pair that needed the lost one is quarantined (it used to be interpolated across the gap)
    ct = [row for row in r.rows if row["task"] == "MRI_CT" and row["case_id"] == "ph01"]
    assert [row["slice"] for row in ct] == [0, 2]
    assert "needs a slice that is not there" in reasons
    assert r.inputs == len(r.rows) + len(r.quarantine)


def test_dicom_missing_modality(dicom, options, small):
    root, total = dicom
    shutil.rmtree(root / "ph01" / "PET")
    r = read("dicom", root, options)
    only_reason(r, "has no PET volume", root / "ph01")
    assert len(r.rows) == total - small.slices


def test_missing_root_is_an_error(tmp_path, options):
    for fmt in ("aanlib", "nifti", "dicom"):
        with pytest.raises(FileNotFoundError, match="not found"):
            get_reader(fmt)(tmp_path / "nope", options)


@pytest.mark.parametrize("stem, expect", [
    ("25042", ("25", 42, True)), ("2004", ("2", 4, True)), ("ph01007", ("ph01", 7, True)),
    ("brain_012", ("brain", 12, True)), ("scan", ("scan", 0, False)), ("042", ("042", 0, False)),
])
def test_case_id_rule(stem, expect):
    assert parse_case_slice(stem) == expect


def test_duplicate_pair_ids_are_quarantined(aanlib, options):
    root, total = aanlib
    for folder in ("MRI", "CT"):
        shutil.copy(root / "MRI_CT" / folder / "ph01001.png", root / "MRI_CT" / folder / "ph01_001.png")
    r = read("aanlib", root, options)
    assert len(r.rows) == total and r.inputs == total + 1
    only_reason(r, "already has", "MRI_CT/ph01/1")

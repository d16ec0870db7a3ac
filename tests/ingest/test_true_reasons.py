"""Inputs that used to be read silently wrong, or quarantined with the wrong reason (issue 13 §1):

* a DICOM series with a dropped interior slice (no pixel data, an off-size slice, a duplicated position) was
  stacked as if evenly spaced, so every later slice sat one step off; now each slice keeps its own position,
  the pairs that need the missing slice are quarantined with that reason, and the others are bit-identical;
* a zero voxel size without sform, a truncated .dcm, a dangling symlink, a colour image as A: the quarantine
  sentence names the real problem.
"""
from __future__ import annotations

import io
import gzip
import os
import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest

from pipelines.readers import get_reader
from pipelines.readers.dicom import grid_slots


def read(fmt, folder, options):
    r = get_reader(fmt)(folder, options)
    r.check_accounting()
    return r


def _b(row) -> np.ndarray:
    return np.asarray(row["b"] if isinstance(row["b"], np.ndarray) else np.frombuffer(row["b"], "<f4"))


@pytest.fixture(scope="module")
def dicom_rows(phantom_sets):
    from pipelines.readers import ReaderOptions
    r = get_reader("dicom")(phantom_sets["dicom"], ReaderOptions(size=64, progress=False))
    return {row["pair_id"]: row for row in r.rows}


def _edit_ct_slice(root, mode: str):
    """Break CT slice file 2 of case ph01 (of 3) in one of the ways that leave a hole in the series."""
    files = sorted((root / "ph01" / "CT").glob("*.dcm"))
    f = files[1]
    ds = pydicom.dcmread(f)
    if mode == "no_pixels":
        del ds.PixelData
    elif mode == "off_size":
        ds.Rows = ds.Rows // 2
        ds.PixelData = ds.PixelData[: ds.Rows * ds.Columns * 2]
    elif mode == "duplicate_position":
        ds.ImagePositionPatient = pydicom.dcmread(files[0]).ImagePositionPatient
    ds.save_as(f)
    return f


@pytest.mark.parametrize("mode, first_reason", [
    ("no_pixels", "has no pixel data"),
    ("off_size", "while the series is"),
    ("duplicate_position", "duplicate slice"),
])
def test_dicom_slice_lost_from_a_series_leaves_the_other_slices_in_place(phantom_copy, options, dicom_rows, mode,
                                                                         first_reason):
    root = phantom_copy("dicom")
    bad_file = _edit_ct_slice(root, mode)
    r = read("dicom", root, options)
    reasons = [q["reason"] for q in r.quarantine]
    assert any(first_reason in x and bad_file.name in x for x in reasons), reasons
    gap = [x for x in reasons if "needs a slice that is not there" in x]
    assert len(gap) == 1 and "has no slice at" in gap[0] and "CT" in gap[0], reasons
    rows = {row["pair_id"]: row for row in r.rows}
    assert "MRI_CT/ph01/1" not in rows                 # the pair that needs the lost CT slice
    for pid in ("MRI_CT/ph01/0", "MRI_CT/ph01/2"):      # before: slice 2 took the next file, max error 0.59
        np.testing.assert_array_equal(_b(rows[pid]), _b(dicom_rows[pid]))
    assert set(dicom_rows) - set(rows) == {"MRI_CT/ph01/1"}


def test_dicom_lost_mri_slice_quarantines_only_the_pairs_that_need_it(phantom_copy, options, dicom_rows):
    """A T1 slice lost: every task of that case loses that slice's pair (SPECT is resliced onto the T1 grid)."""
    root = phantom_copy("dicom")
    f = sorted((root / "ph02" / "T1").glob("*.dcm"))[1]
    ds = pydicom.dcmread(f)
    del ds.PixelData
    ds.save_as(f)
    r = read("dicom", root, options)
    lost = set(dicom_rows) - {row["pair_id"] for row in r.rows}
    assert lost == {f"{t}/ph02/1" for t in ("MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2")}
    for row in r.rows:
        np.testing.assert_array_equal(_b(row), _b(dicom_rows[row["pair_id"]]))


@pytest.mark.parametrize("z, slots", [
    ([0.0, 2.0, 4.0, 6.0], [0, 1, 2, 3]),
    ([0.0, 2.0, 6.0, 8.0], [0, 1, 3, 4]),            # one position missing
    ([0.0, 2.5, 5.001, 7.499], [0, 1, 2, 3]),        # rounding noise within 5 % of the step
    ([10.0], [0]),
])
def test_grid_slots_places_slices_by_position(z, slots):
    assert grid_slots(np.array(z)).tolist() == slots


@pytest.mark.parametrize("z, message", [
    ([0.0, 2.0, 5.0, 7.0], "not whole multiples"),
    ([0.0, 1.0, 10.0], "more than half"),
])
def test_grid_slots_rejects_positions_that_are_no_grid(z, message):
    out = grid_slots(np.array(z))
    assert isinstance(out, str) and message in out


def test_dicom_irregular_series_is_quarantined_as_one_reason(phantom_copy, options):
    root = phantom_copy("dicom")
    f = sorted((root / "ph01" / "CT").glob("*.dcm"))[1]
    ds = pydicom.dcmread(f)
    pos = [float(v) for v in ds.ImagePositionPatient]
    pos[2] += 3.0                                          # a third of a step off its place
    ds.ImagePositionPatient = pos
    ds.save_as(f)
    r = read("dicom", root, options)
    reasons = [q["reason"] for q in r.quarantine if q["task"] == "MRI_CT" and q["case_id"] == "ph01"]
    assert len(reasons) == 1 and "not whole multiples" in reasons[0] and "cannot be placed" in reasons[0]


def test_truncated_dicom_file_is_named_truncated(phantom_copy, options):
    root = phantom_copy("dicom")
    f = sorted((root / "ph01" / "CT").glob("*.dcm"))[2]
    f.write_bytes(f.read_bytes()[:600])
    r = read("dicom", root, options)
    mine = [q["reason"] for q in r.quarantine if str(f) in q["reason"]]
    assert len(mine) == 1 and "600 bytes" in mine[0] and "without SeriesInstanceUID" in mine[0] \
        and "truncated" in mine[0] and "belongs to series" not in mine[0]


def _zero_voxel_size(path):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(raw)), check=False)
    hdr["pixdim"][1] = 0.0
    hdr["qform_code"] = 0
    hdr["sform_code"] = 0
    buf = io.BytesIO()
    hdr.write_to(buf)
    raw[:348] = buf.getvalue()[:348]
    path.write_bytes(gzip.compress(bytes(raw)))


def test_nifti_zero_voxel_size_is_named(phantom_copy, options):
    """nibabel turns pixdim 0 into 1 mm with a log line; the made-up geometry then gave a 'constant' slice."""
    root = phantom_copy("nifti")
    f = root / "ph01" / "CT.nii.gz"
    _zero_voxel_size(f)
    r = read("nifti", root, options)
    mine = [q["reason"] for q in r.quarantine]
    assert len(mine) == 1 and str(f) in mine[0] and "voxel size (pixdim) [0.0" in mine[0] \
        and "geometry is unknown" in mine[0]
    assert "constant" not in mine[0]


def test_zero_pixdim_with_an_sform_is_fine(phantom_copy, options, small):
    root = phantom_copy("nifti")
    f = root / "ph01" / "CT.nii.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(raw)), check=False)
    assert int(hdr["sform_code"]) > 0
    hdr["pixdim"][1] = 0.0
    buf = io.BytesIO()
    hdr.write_to(buf)
    raw[:348] = buf.getvalue()[:348]
    f.write_bytes(gzip.compress(bytes(raw)))
    r = read("nifti", root, options)
    assert not r.quarantine and len(r.rows) == small.cases * small.slices * len(small.tasks)


@pytest.mark.parametrize("fmt, rel", [
    ("aanlib", "MRI_CT/MRI/ph01001.png"),
    ("nifti", "ph01/CT.nii.gz"),
    ("dicom", "ph01/CT/IM0002.dcm"),
])
def test_dangling_symlink_is_named_not_its_partner(phantom_copy, options, fmt, rel):
    root = phantom_copy(fmt)
    f = root / rel
    if fmt == "dicom":
        f = sorted(f.parent.glob("*.dcm"))[1]
    f.unlink()
    os.symlink("/nonexistent/target.file", f)
    r = read(fmt, root, options)
    broken = [q["reason"] for q in r.quarantine if "symbolic link" in q["reason"]]
    assert len(broken) == 1 and str(f) in broken[0] and "/nonexistent/target.file" in broken[0]
    assert not any("has no partner" in q["reason"] for q in r.quarantine)


def test_colour_image_as_a_is_quarantined(phantom_copy, options):
    root = phantom_copy("aanlib")
    mri = root / "MRI_PET" / "MRI" / "ph01001.png"
    shutil.copy(root / "MRI_PET" / "PET" / "ph01001.png", mri)      # a pseudo-colour PET in the MRI folder
    r = read("aanlib", root, options)
    (q,) = r.quarantine
    assert str(mri) in q["reason"] and "A (the MRI) must be grey" in q["reason"]


def test_grid_slots_sees_a_lost_slice_between_two_by_their_instance_numbers():
    assert grid_slots(np.array([-45.0, 65.0])).tolist() == [0, 1]               # nothing to tell by position
    assert grid_slots(np.array([-45.0, 65.0]), np.array([1.0, 3.0])).tolist() == [0, 2]
    assert grid_slots(np.array([0.0, 5.0, 10.0]), np.array([9.0, 4.0, 1.0])).tolist() == [0, 1, 2]  # uneven numbers

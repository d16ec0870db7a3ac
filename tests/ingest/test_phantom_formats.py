"""Phantom generation: determinism, the recorded misalignment, each format's round trip, and the three formats
ingesting to the same pairs."""
from __future__ import annotations

import hashlib
import json
import math

import nibabel as nib
import numpy as np
import pydicom
import SimpleITK as sitk
from PIL import Image

from pipelines.phantom.anatomy import load_anatomy
from pipelines.phantom.cases import make_case, tissues_at
from pipelines.phantom.generate import PhantomParams, generate_formats
from pipelines.phantom.geometry import make_geometry
from pipelines.phantom.misalignment import InPlaneRigid
from pipelines.phantom.writers.aanlib import to_uint8
from pipelines.readers import get_reader
from pipelines.readers.normalise import NormaliseParams, normalise_volume
from pipelines.readers.orientation import (display_to_ras_slice, display_to_ras_volume, ras_slice_to_display,
                                           ras_volume_to_display)

TOL = 1.5 / 255      # 8-bit PNG quantisation (0.5/255) + integer HU in DICOM CT (0.5 HU of a 200 HU window)


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    params = PhantomParams(cases=1, seed=11, slices=2, tasks=["MRI_CT"])
    fmts = ("aanlib", "nifti", "dicom")
    a = generate_formats({f: tmp_path / "a" / f for f in fmts}, params, progress=False)
    b = generate_formats({f: tmp_path / "b" / f for f in fmts}, params, progress=False)
    c = generate_formats({f: tmp_path / "c" / f for f in fmts},
                         PhantomParams(cases=1, seed=12, slices=2, tasks=["MRI_CT"]), progress=False)
    for f in fmts:
        da, db, dc = _digest(a[f].out), _digest(b[f].out), _digest(c[f].out)
        assert da == db, f"{f}: same seed, different bytes"
        assert da.keys() == dc.keys()
        assert all(da[k] != dc[k] for k in da if k != "truth.json" and not k.endswith("truth.json")), \
            f"{f}: another seed left some files unchanged"


def test_case_k_does_not_depend_on_the_number_of_cases():
    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, 3)
    assert make_case(5, 1, anatomy, geometry).to_json() == make_case(5, 1, anatomy, geometry).to_json()
    assert make_case(5, 1, anatomy, geometry).misalignment != make_case(5, 0, anatomy, geometry).misalignment


def test_rigid_transform_matches_simpleitk_euler2d():
    t = InPlaneRigid(4.0, (2.5, -1.5), (98.0, 116.0))
    e = sitk.Euler2DTransform()
    e.SetCenter(t.center_mm)
    e.SetAngle(math.radians(t.rotation_deg))
    e.SetTranslation(t.translation_mm)
    for p in [(0.0, 0.0), (98.0, 116.0), (150.0, 20.0)]:
        assert np.allclose(t.forward(*p), e.TransformPoint(p), atol=1e-9)
        assert np.allclose(t.inverse(*t.forward(*p)), p, atol=1e-9)
    moved = t.moved_to((10.0, 20.0))
    assert np.allclose(moved.forward(150.0, 20.0), t.forward(150.0, 20.0), atol=1e-9)


def test_misalignment_is_applied_as_recorded():
    """B's anatomy resampled through T with SimpleITK (fixed = A, moving = B) equals A's anatomy."""
    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, 3)
    case = make_case(2, 0, anatomy, geometry, max_rotation_deg=5.0, max_translation_mm=5.0)
    rigid = case.misalignment
    assert abs(rigid.rotation_deg) > 0.5 or max(map(abs, rigid.translation_mm)) > 0.5
    x, y, z = geometry.display_grid()
    wm_a = tissues_at(case, anatomy, geometry, x, y, z, moved=False).fractions["wm"][1]
    wm_b = tissues_at(case, anatomy, geometry, x, y, z, moved=True).fractions["wm"][1]
    fixed, moving = sitk.GetImageFromArray(wm_a), sitk.GetImageFromArray(wm_b)
    e = sitk.Euler2DTransform()
    e.SetCenter(rigid.center_mm)
    e.SetAngle(math.radians(rigid.rotation_deg))
    e.SetTranslation(rigid.translation_mm)
    back = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, e, sitk.sitkLinear, 0.0))
    inner = (slice(20, -20), slice(20, -20))
    aligned = np.abs(back - wm_a)[inner].mean()
    unaligned = np.abs(wm_b - wm_a)[inner].mean()
    inverse_sign = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, e.GetInverse(), sitk.sitkLinear, 0.0))
    assert aligned < 0.02 and aligned < 0.25 * unaligned
    assert np.abs(inverse_sign - wm_a)[inner].mean() > 2 * aligned


def test_orientation_helpers_round_trip():
    img = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(ras_slice_to_display(display_to_ras_slice(img)), img)
    vol = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(ras_volume_to_display(display_to_ras_volume(vol)), vol)
    ras = display_to_ras_slice(img)           # display (row 0, col 0) = RAS (nx-1, ny-1): right-most, anterior-most
    assert ras[-1, -1] == img[0, 0]


def test_nifti_round_trip(phantom_sets, small):
    truth = json.loads((phantom_sets["nifti"] / "truth.json").read_text())
    img = nib.load(phantom_sets["nifti"] / "ph01" / "CT.nii.gz")
    assert img.shape == (197, 233, small.slices) and nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert np.allclose(img.affine, truth["geometry"]["slab_affine_ras"], atol=1e-6)
    ct = img.get_fdata()
    assert ct.min() > -1100 and 700 < np.percentile(ct, 99.5) < 1700


def test_dicom_headers_and_values(phantom_sets, small):
    root = phantom_sets["dicom"]
    nifti = phantom_sets["nifti"]
    truth = json.loads((root / "truth.json").read_text())
    files = sorted((root / "ph01" / "CT").glob("*.dcm"))
    assert len(files) == small.slices
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage and ds.Modality == "CT"
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in ds.PixelSpacing] == [1.0, 1.0]
    assert float(ds.RescaleIntercept) == -1024.0 and float(ds.RescaleSlope) == 1.0
    # values: HU within integer rounding of the NIfTI volume (same simulation)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    ref = ras_volume_to_display(nib.load(nifti / "ph01" / "CT.nii.gz").get_fdata())[0]
    assert np.abs(hu - ref).max() <= 0.5 + 1e-3
    # an independent reader (ITK/GDCM) agrees on the geometry
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(root / "ph01" / "CT")))
    vol = reader.Execute()
    assert np.allclose(vol.GetSpacing(), (1.0, 1.0, truth["geometry"]["slice_spacing_mm"]))
    assert np.allclose(vol.GetDirection(), np.eye(3).ravel())
    assert np.allclose(vol.GetOrigin(), [float(v) for v in ds.ImagePositionPatient])
    assert np.abs(sitk.GetArrayFromImage(vol)[0] - hu).max() < 1e-3
    # PET: per-slice slope, Bq/ml; SPECT: one multi-frame NM file
    pt = pydicom.dcmread(sorted((root / "ph01" / "PET").glob("*.dcm"))[1])
    assert pt.Units == "BQML" and pt.SOPClassUID == pydicom.uid.PositronEmissionTomographyImageStorage
    ref_pet = ras_volume_to_display(nib.load(nifti / "ph01" / "PET.nii.gz").get_fdata())[1]
    assert np.abs(pt.pixel_array * float(pt.RescaleSlope) - ref_pet).max() <= float(pt.RescaleSlope)
    nm = pydicom.dcmread(root / "ph01" / "SPECT" / "IM0001.dcm")
    assert nm.SOPClassUID == pydicom.uid.NuclearMedicineImageStorage and int(nm.NumberOfFrames) == small.slices
    assert "RECON TOMO" in nm.ImageType
    mr = pydicom.dcmread(sorted((root / "ph01" / "T1").glob("*.dcm"))[0])
    assert mr.Modality == "MR" and float(mr.RepetitionTime) == 500.0 and float(mr.MagneticFieldStrength) == 1.5


def test_aanlib_pngs_are_the_normalised_volumes(phantom_sets):
    root = phantom_sets["aanlib"]
    nifti = phantom_sets["nifti"]
    for mod, folder in (("CT", "MRI_CT/CT"), ("T1", "MRI_CT/MRI"), ("PET", "MRI_PET/PET")):
        vol = ras_volume_to_display(nib.load(nifti / "ph02" / f"{mod}.nii.gz").get_fdata())
        norm = normalise_volume(mod, vol, NormaliseParams())
        png = np.asarray(Image.open(root / folder / "ph02001.png"))
        if png.ndim == 3:            # pseudo-colour: the luma is the value
            from pipelines.imaging.color import rgb_to_ycbcr
            y = rgb_to_ycbcr(png / 255.0)[0]
            assert np.abs(y - norm[1]).max() <= 1.0 / 255
        else:
            assert np.array_equal(png, to_uint8(norm[1]))


def test_three_formats_ingest_to_the_same_pairs(phantom_sets, options, small):
    tables = {}
    for fmt, folder in phantom_sets.items():
        r = get_reader(fmt)(folder, options)
        r.check_accounting()
        assert not r.quarantine, r.quarantine[:3]
        tables[fmt] = {row["pair_id"]: row for row in r.rows}
    ids = set(tables["aanlib"])
    assert len(ids) == small.cases * small.slices * len(small.tasks)
    assert set(tables["nifti"]) == ids and set(tables["dicom"]) == ids
    for pid in sorted(ids):
        ref = tables["aanlib"][pid]
        for fmt in ("nifti", "dicom"):
            row = tables[fmt][pid]
            for col in ("case_id", "slice", "task", "modality_a", "modality_b", "spacing_mm"):
                assert row[col] == ref[col], (pid, fmt, col)
            for col in ("a", "b"):
                assert np.abs(row[col] - ref[col]).max() <= TOL, (pid, fmt, col)
            m_ref, m = json.loads(ref["meta"]), json.loads(row["meta"])
            for key in ("true_rotation_deg", "true_translation_mm", "center_mm", "a_contrast", "slice_spacing_mm"):
                assert m[key] == m_ref[key], (pid, fmt, key)
        # pseudo-colour only in the AANLIB copy; its luma is the grey value of the other formats
        assert (ref["b_cb"] is not None) == (ref["modality_b"] in ("PET", "SPECT"))
        assert tables["nifti"][pid]["b_cb"] is None


def test_recorded_misalignment_aligns_the_ingested_pairs(phantom_sets, options):
    """Resampling an ingested B through its meta transform (SimpleITK, fixed = A) raises its agreement
    with A; the opposite sign lowers it."""
    from skimage.metrics import normalized_mutual_information as nmi
    rows = [r for r in get_reader("nifti")(phantom_sets["nifti"], options).rows
            if r["task"] == "MRI_T2" and r["slice"] == 1]
    for row in rows:
        meta = json.loads(row["meta"])
        a, b = sitk.GetImageFromArray(row["a"]), sitk.GetImageFromArray(row["b"])
        sp = row["spacing_mm"]
        for img in (a, b):
            img.SetSpacing((sp[1], sp[0]))
        e = sitk.Euler2DTransform()
        e.SetCenter(meta["center_mm"])
        e.SetAngle(math.radians(meta["true_rotation_deg"]))
        e.SetTranslation(meta["true_translation_mm"])
        fixed = row["a"]
        before = nmi(fixed, row["b"], bins=32)
        after = nmi(fixed, sitk.GetArrayFromImage(sitk.Resample(b, a, e, sitk.sitkLinear, 0.0)), bins=32)
        wrong = nmi(fixed, sitk.GetArrayFromImage(sitk.Resample(b, a, e.GetInverse(), sitk.sitkLinear, 0.0)), bins=32)
        assert after > before > wrong, (row["pair_id"], before, after, wrong)

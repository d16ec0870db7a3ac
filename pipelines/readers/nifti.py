"""NIfTI layout: ``<root>/<case>/<MODALITY>.nii[.gz]`` (e.g. ``ph01/T1.nii.gz``, ``ph01/PET.nii.gz``); the
modality is the file name without extension, matched case-insensitively against ``ingest.pairs``.  Volumes
are read with nibabel; pairing, reorientation, reslicing and slicing are in :mod:`pipelines.readers.volumes`.
A slice's source is ``<file>#<k>`` (k = axial index after reorientation to RAS, inferior first); its sha256 is
the file's.  Anything else in a case folder, and NIfTI files outside case folders, are quarantined.
"""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from pipelines.readers import READERS, ReaderOptions
from pipelines.readers.common import ReadResult, broken_link, listed_files, quarantine_row, sha256_file
from pipelines.readers.volumes import Volume, VolumeError, canonical_3d, read_case_folders

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def nifti_modality(path: Path) -> str | None:
    name = path.name
    for suf in NIFTI_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)].upper()
    return None


def _voxel_size_problem(img, path: Path) -> str | None:
    """nibabel replaces a zero or negative voxel size (pixdim) by 1 mm with only a log message; when the affine
    then comes from pixdim (no sform), the volume's geometry is made up: say so instead."""
    from nibabel.openers import ImageOpener
    with ImageOpener(path) as fobj:
        raw = type(img.header).from_fileobj(fobj, check=False)
    ndim = int(raw["dim"][0])
    pixdim = [float(v) for v in raw["pixdim"][1:1 + min(ndim, 3)]]
    if all(np.isfinite(v) and v > 0 for v in pixdim) or int(raw["sform_code"]) > 0:
        return None
    return (f"{path} has voxel size (pixdim) {pixdim} mm and no sform: its geometry is unknown (nibabel would "
            "assume 1 mm); fix the header's pixdim or sform")


def _loader(path: Path):
    def load() -> Volume:
        if broken_link(path):
            raise VolumeError(broken_link(path))
        loaded = nib.load(path)
        problem = _voxel_size_problem(loaded, path)
        if problem:
            raise VolumeError(problem)
        img = canonical_3d(loaded, path)
        sha = sha256_file(path)
        return Volume(img, path, lambda k: f"{path}#{k}", lambda k: sha, sha, {})
    return load


def _nifti_root_file(entry: Path, result: ReadResult) -> None:
    if nifti_modality(entry):
        result.inputs += 1
        result.quarantine.append(quarantine_row(
            f"{entry} lies at the top of the data folder; put each case's volumes in <case>/<MODALITY>.nii.gz",
            source_a=entry))
    else:
        result.notes.append(f"not read (metadata at the root): {entry.name}")


def _scan_nifti_case(entry: Path, result: ReadResult) -> tuple[dict, dict]:
    loaders, names = {}, {}
    for f in listed_files(entry):
        if any(p.startswith(".") for p in f.relative_to(entry).parts):
            continue
        mod = nifti_modality(f)
        if mod is None or f.parent != entry:
            result.inputs += 1
            why = ("is in a sub-folder; volumes belong directly in the case folder" if mod
                   else f"has unsupported type {''.join(f.suffixes) or '(no extension)'}; "
                        "supported: .nii, .nii.gz")
            result.quarantine.append(quarantine_row(f"{f} {why}", source_a=f, case_id=entry.name))
        elif mod in loaders:
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{f} is a second {mod} volume in case {entry.name} (also {names[mod]}); keep one per modality",
                source_a=f, case_id=entry.name))
        else:
            loaders[mod], names[mod] = _loader(f), f.name
    return loaders, names


@READERS.register("nifti")
def read_nifti(root: Path, options: ReaderOptions) -> ReadResult:
    return read_case_folders(root, options, "nifti", "NIfTI", _nifti_root_file, _scan_nifti_case)

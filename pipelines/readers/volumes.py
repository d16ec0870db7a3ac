"""Pairing and slicing volumes (NIfTI files, assembled DICOM series) case by case.

Layout: ``<root>/<case>/<modality volume>``.  ``options.pairs`` says which two modalities make each task.
A task is read when its B modality appears in at least one case; a case that lacks the A or the B of such a
task is quarantined for that task.  Volumes are reoriented to RAS (``nibabel.as_closest_canonical``) and
cut into axial display-frame slices (:mod:`pipelines.readers.orientation`), inferior first.  If B's voxel
grid differs from A's, B is resliced onto A's grid through the two affines (world coordinates; trilinear),
so pairs share A's grid; a B that does not overlap A at all is quarantined.  Multi-resolution: when B's in-plane
voxels are one integer factor r >= 2 larger than A's on both in-plane axes (and r divides A's in-plane size), B
keeps its resolution: it is resliced (only if it is not on it already) onto A's grid at ``1/r`` in-plane (A's
field of view and slices, voxels r times larger in-plane, :func:`lowres_grid`) and the pairs record
``b_scale = r``; ``data.size`` must then be a multiple of r (else the (case, task) is quarantined).  Each
volume is normalised once (:mod:`pipelines.readers.normalise`, per modality) over its finite voxels.

Accounted inputs: each volume no task uses, each unsupported file, and for each (case, task) either one item
(when the pair cannot be read as a whole) or one item per slice (a slice with NaN/inf or a constant image is
quarantined alone).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to
from tqdm import tqdm

from pipelines.imaging.multires import check_size_multiple, lowres_affine
from pipelines.readers import ReaderOptions
from pipelines.readers.common import ReadResult, SliceImage, build_row, image_problem, quarantine_row
from pipelines.readers.normalise import normalise_volume
from pipelines.readers.orientation import ras_slice_to_display
from pipelines.readers.tasks import stored_modality_a
from pipelines.readers.truth import load_truth


class VolumeError(ValueError):
    """A volume cannot be used; the message is a sentence naming the file."""


@dataclass
class Volume:
    """A canonical (RAS) 3-D volume and where each of its axial slices came from."""

    image: nib.Nifti1Image
    path: Path                                   # file or series folder, for messages
    slice_source: Callable[[int], str]
    slice_sha: Callable[[int], str]
    sha: str                                     # the whole file (NIfTI) or series (DICOM, see reader)
    info: dict
    gaps: str = ""                               # why some voxels hold no data (DICOM: missing slices), or ""

    @property
    def data(self) -> np.ndarray:
        return np.asarray(self.image.dataobj, dtype=np.float32)


@dataclass
class CaseFolder:
    case_id: str
    folder: Path
    loaders: dict[str, Callable[[], Volume]]     # modality (upper case) -> loader
    names: dict[str, str]                        # modality -> file/folder name, for messages


def canonical_3d(img: nib.spatialimages.SpatialImage, path: Path) -> nib.Nifti1Image:
    """3-D RAS image (a trailing singleton 4th dimension is dropped)."""
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        img = nib.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine, img.header)
    elif len(shape) == 2:
        img = nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine, img.header)
    elif len(shape) != 3:
        raise VolumeError(f"{path} has shape {shape}: a {len(shape)}-D image; give one 3-D volume per modality "
                          "(split 4-D series into volumes)")
    if not np.isfinite(img.affine).all() or abs(np.linalg.det(img.affine[:3, :3])) < 1e-9:
        raise VolumeError(f"{path} has a degenerate affine {img.affine.tolist()}; fix its header (qform/sform)")
    return nib.as_closest_canonical(nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine))


def gap_problem(vol: Volume, plane: np.ndarray, what: str) -> str | None:
    """A sentence when ``plane`` (a slice of ``vol``, or of ``vol`` resliced) touches a part of the volume that
    no source slice fills (``vol.gaps``), else None."""
    if not vol.gaps or np.isfinite(plane).all():
        return None
    return f"{what} needs a slice that is not there: {vol.gaps}"


def _same_grid(a: nib.Nifti1Image, b: nib.Nifti1Image) -> bool:
    return a.shape == b.shape and np.allclose(a.affine, b.affine, atol=1e-3)


def lowres_grid(a: nib.Nifti1Image, r: int) -> tuple[tuple[int, int, int], np.ndarray]:
    """(shape, affine) of A's grid at ``1/r`` in-plane: voxel ``(i, j, k)`` covers A's voxels ``r i .. r i + r -
    1`` by ``r j .. r j + r - 1`` of slice k (its centre at A's continuous index ``r i + (r - 1) / 2``)."""
    nx, ny, nz = a.shape[:3]
    return (nx // r, ny // r, nz), lowres_affine(a.affine, r)


def in_plane_factor(a: nib.Nifti1Image, b: nib.Nifti1Image, tolerance: float = 1e-3) -> int:
    """r >= 2 when B's in-plane voxel sizes are both r times A's (within ``tolerance`` relative) and r divides
    A's in-plane size; otherwise 1 (B is resliced onto A's own grid)."""
    za = np.asarray(a.header.get_zooms()[:2], np.float64)
    zb = np.asarray(b.header.get_zooms()[:2], np.float64)
    ratio = zb / za
    r = int(round(float(ratio[0])))
    if r < 2 or not np.allclose(ratio, r, rtol=tolerance, atol=0.0):
        return 1
    return r if a.shape[0] % r == 0 and a.shape[1] % r == 0 else 1


def _overlaps(a: nib.Nifti1Image, b: nib.Nifti1Image) -> bool:
    def box(img):
        corners = np.array([[i, j, k, 1] for i in (0, img.shape[0] - 1) for j in (0, img.shape[1] - 1)
                            for k in (0, img.shape[2] - 1)], float)
        w = corners @ img.affine.T
        return w[:, :3].min(0), w[:, :3].max(0)
    (alo, ahi), (blo, bhi) = box(a), box(b)
    return bool(np.all(np.minimum(ahi, bhi) >= np.maximum(alo, blo)))


def _volume(cache: dict, case: CaseFolder, modality: str) -> Volume:
    key = (case.case_id, modality)
    if key not in cache:
        try:
            cache[key] = case.loaders[modality]()
        except VolumeError as exc:
            cache[key] = exc
        except Exception as exc:  # noqa: BLE001 - unreadable file -> quarantine sentence
            cache[key] = VolumeError(f"{case.folder / case.names[modality]} cannot be read "
                                     f"({type(exc).__name__}: {exc}); re-export it or remove it")
    value = cache[key]
    if isinstance(value, VolumeError):
        raise value
    return value


def read_case_folders(root: Path, options: ReaderOptions, fmt: str, label: str,
                      root_file: Callable[[Path, ReadResult], None],
                      scan_case: Callable[[Path, ReadResult], tuple[dict, dict]]) -> ReadResult:
    """The volume readers' common walk: every non-hidden folder under ``root`` is a case.  ``root_file(path,
    result)`` deals with a file lying at the top (quarantine or note); ``scan_case(folder, result)`` returns
    the case's {MODALITY: loader} and {MODALITY: name} maps, quarantining what it cannot use.  The volumes are
    then paired and sliced by :func:`read_volume_pairs`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: {label} folder not found (data.source.path)")
    result = ReadResult()
    cases: list[CaseFolder] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            root_file(entry, result)
            continue
        loaders, names = scan_case(entry, result)
        cases.append(CaseFolder(entry.name, entry, loaders, names))
    read_volume_pairs(root, cases, options, fmt, result)
    result.dedupe()
    return result


def read_volume_pairs(root: Path, cases: list[CaseFolder], options: ReaderOptions, fmt: str,
                      result: ReadResult) -> None:
    truth = load_truth(root)
    present = {m for c in cases for m in c.loaders}
    tasks = {t: ab for t, ab in options.pairs.items() if ab[1].upper() in present}
    used = {m.upper() for ab in tasks.values() for m in ab}
    for c in cases:
        for m in sorted(set(c.loaders) - used):
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{c.folder / c.names[m]}: modality {m} is not part of any task with data "
                f"(tasks: {', '.join(f'{t}={a}+{b}' for t, (a, b) in options.pairs.items())}); "
                "add the task with ingest.pairs.<TASK>=[A,B]", source_a=c.folder / c.names[m], case_id=c.case_id))
    cache: dict = {}
    normalised: dict = {}
    units = [(c, t, ab) for c in cases for t, ab in tasks.items()]
    current = None
    for case, task, (a_mod, b_mod) in tqdm(units, desc=f"ingest {fmt}", unit="volume pair",
                                           disable=not options.progress, leave=False):
        if case.case_id != current:          # one case's volumes in memory at a time
            cache.clear()
            normalised.clear()
            current = case.case_id
        a_key, b_key = a_mod.upper(), b_mod.upper()
        missing = [m for m in (a_key, b_key) if m not in case.loaders]
        if missing:
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"case {case.case_id} ({case.folder}) has no {' or '.join(missing)} volume, which task {task} needs "
                f"({a_mod} + {b_mod}) and other cases have",
                source_a=case.folder / case.names[a_key] if a_key in case.loaders else None,
                source_b=case.folder / case.names[b_key] if b_key in case.loaders else None,
                task=task, case_id=case.case_id))
            continue
        try:
            va = _volume(cache, case, a_key)
            vb = _volume(cache, case, b_key)
            b_img = vb.image
            resliced = False
            b_scale = in_plane_factor(va.image, b_img)
            target = va.image if b_scale == 1 else lowres_grid(va.image, b_scale)
            on_target = (_same_grid(va.image, b_img) if b_scale == 1 else
                         b_img.shape == target[0] and np.allclose(b_img.affine, target[1], atol=1e-3))
            if not on_target:
                if not _overlaps(va.image, b_img):
                    raise VolumeError(f"{vb.path} does not overlap {va.path} in world coordinates (affines); "
                                      "the two volumes of a pair must cover the same anatomy")
                b_img = resample_from_to(b_img, target, order=1, mode="constant", cval=0.0)
                resliced = True
            problem = check_size_multiple(options.size, b_scale,
                                          f"{vb.path} (in-plane voxels {b_scale} x {va.path}'s)")
            if problem:
                raise VolumeError(problem)
        except VolumeError as exc:
            result.inputs += 1
            result.quarantine.append(quarantine_row(str(exc), case.folder / case.names[a_key],
                                                    case.folder / case.names[b_key], task, case.case_id))
            continue
        a_raw = va.data
        b_raw = np.asarray(b_img.dataobj, dtype=np.float32)
        if (case.case_id, a_key) not in normalised:
            normalised[(case.case_id, a_key)] = normalise_volume(a_key, a_raw, options.normalise)
        nkey = (case.case_id, b_key, a_key if resliced else None)
        if nkey not in normalised:
            normalised[nkey] = normalise_volume(b_key, b_raw, options.normalise)
        a_norm, b_norm = normalised[(case.case_id, a_key)], normalised[nkey]
        zooms = va.image.header.get_zooms()[:3]
        spacing = (float(zooms[1]), float(zooms[0]))           # display rows = RAS j, columns = RAS i
        rigid = truth.misalignment(case.case_id) if truth else None
        for k in range(a_raw.shape[2]):
            result.inputs += 1
            src_a = va.slice_source(k)
            src_b = f"{vb.path}#resliced:{k}" if resliced else vb.slice_source(k)
            sha_b = vb.sha if resliced else vb.slice_sha(k)
            what_a = f"{src_a} (slice {k} of {a_mod})"
            onto = "A's grid" if b_scale == 1 else f"A's grid at 1/{b_scale} in-plane"
            what_b = f"{src_b} (slice {k} of {b_mod}" + (f", resliced onto {onto})" if resliced else ")")
            problem = (gap_problem(va, a_raw[:, :, k], what_a) or gap_problem(vb, b_raw[:, :, k], what_b)
                       or image_problem(a_raw[:, :, k], what_a) or image_problem(b_raw[:, :, k], what_b))
            if problem:
                result.quarantine.append(quarantine_row(problem, src_a, src_b, task, case.case_id))
                continue
            meta = {"format": fmt, "slice_spacing_mm": float(zooms[2]), "a_contrast": a_mod,
                    **({"b_resliced_to_a": True} if resliced else {})}
            if truth is not None:
                meta.update(truth.meta(case.case_id, task, k))
            a_img = SliceImage(ras_slice_to_display(a_norm[:, :, k]))
            b_img2 = SliceImage(ras_slice_to_display(b_norm[:, :, k]))
            result.rows.append(build_row(task, case.case_id, k, stored_modality_a(a_mod), b_mod.upper(), a_img,
                                         b_img2, spacing, options.size, src_a, src_b, va.slice_sha(k),
                                         sha_b, meta, rigid, b_scale))

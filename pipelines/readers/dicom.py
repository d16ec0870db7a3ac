"""DICOM layout: ``<root>/<case>/<MODALITY>/<files>``: one series per modality folder (e.g.
``ph01/CT/IM0001.dcm``); the modality is the folder name, matched case-insensitively against ``ingest.pairs``.

Per folder, every file is read with pydicom (any file name; non-DICOM files are quarantined).  Files are
grouped by SeriesInstanceUID; the largest series is used and files of other series are quarantined.  Pixel
values go through the Modality LUT / RescaleSlope-Intercept (``pydicom.pixels.apply_modality_lut``; per-frame
or shared Pixel Value Transformation for enhanced multi-frame files), so CT is in HU.  Slices are placed by
ImagePositionPatient / ImageOrientationPatient / PixelSpacing; multi-frame files (NM RECON TOMO, enhanced
CT/MR/PET) are split into frames placed by their per-frame plane positions, or by the detector position plus
SpacingBetweenSlices along the slice normal.  Slices are sorted by position along the normal; files whose
orientation, size or pixel spacing disagree with the series, and duplicate positions, are quarantined.  The
series becomes a volume (LPS -> RAS affine) handled like a NIfTI volume (:mod:`pipelines.readers.volumes`).

A slice's source is its file (``<file>#frame<i>`` for a frame of a multi-frame file) and its sha256 the
file's.  Slices sit at their own positions: the slice step is the distance per InstanceNumber (else the
smallest gap between neighbours), every gap must be a whole number of steps (within 5 %), and a position no
file fills (a dropped, unreadable or quarantined slice) is left empty, so the pairs that would need it are
quarantined with that reason; positions that are no such grid make the series unusable (one quarantine
sentence).  When the axial slices are a reformat (a sagittal or coronal acquisition), the source is
``<folder>#<k>`` and the sha256 is the series digest: sha256 of the sorted files' sha256 values.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut

from pipelines.readers import READERS, ReaderOptions
from pipelines.readers.common import ReadResult, broken_link, listed_files, quarantine_row, sha256_file
from pipelines.readers.volumes import Volume, VolumeError, canonical_3d, read_case_folders

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: how far (fraction of the slice step) a slice may sit from its grid position
GRID_TOLERANCE = 0.05


@dataclass
class DicomSlice:
    position: np.ndarray          # LPS mm of the first pixel's centre
    row_cos: np.ndarray           # direction of increasing column index
    col_cos: np.ndarray           # direction of increasing row index
    spacing: tuple[float, float]  # (row spacing dy, column spacing dx)
    pixels: np.ndarray            # (rows, cols) float32, rescaled
    source: str
    sha: str
    file: Path
    number: int | None = None     # InstanceNumber of a single-frame file (a skipped number reveals a lost slice)


class SliceError(ValueError):
    pass


def _floats(value, n: int, what: str, path: Path) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in value], np.float64)
    except (TypeError, ValueError) as exc:
        raise SliceError(f"{path}: {what} {value!r} is not numeric") from exc
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise SliceError(f"{path}: {what} {value!r} must hold {n} finite numbers")
    return arr


def _first(seq_owner, *names):
    """Walk nested single-item sequences: _first(ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence")."""
    node = seq_owner
    for n in names:
        seq = getattr(node, n, None)
        if not seq:
            return None
        node = seq[0]
    return node


def _frame_rescale(ds, frame: int) -> tuple[float, float] | None:
    for node in (_first(ds.PerFrameFunctionalGroupsSequence[frame], "PixelValueTransformationSequence")
                 if "PerFrameFunctionalGroupsSequence" in ds else None,
                 _first(ds, "SharedFunctionalGroupsSequence", "PixelValueTransformationSequence")):
        if node is not None and "RescaleSlope" in node:
            return float(node.RescaleSlope), float(getattr(node, "RescaleIntercept", 0.0))
    return None


def _slices_of(path: Path, ds, sha: str) -> list[DicomSlice]:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise SliceError(f"{path} has no pixel data (e.g. a DICOMDIR or a report); only image files belong in "
                         "a modality folder")
    if int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        raise SliceError(f"{path} is a colour ({ds.get('PhotometricInterpretation', '?')}) DICOM image; only "
                         "grey (MONOCHROME) series are read")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - decoder failure -> quarantine sentence
        raise SliceError(f"{path}: pixel data cannot be decoded ({type(exc).__name__}: {exc}); install the "
                         "decoder for its transfer syntax or re-export it uncompressed") from exc
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    arr = arr.reshape((frames,) + arr.shape[-2:]) if frames > 1 else arr[None]
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)

    def geometry(frame: int):
        def functional(name: str):
            node = _first(per_frame[frame], name) if per_frame else None
            if node is None and shared is not None:
                node = _first(shared, name)
            return node
        node_pos = _first(per_frame[frame], "PlanePositionSequence") if per_frame else None
        node_ori = functional("PlaneOrientationSequence")
        node_px = functional("PixelMeasuresSequence")
        det = _first(ds, "DetectorInformationSequence")
        iop = (node_ori.ImageOrientationPatient if node_ori is not None and "ImageOrientationPatient" in node_ori
               else ds.get("ImageOrientationPatient") or (det.get("ImageOrientationPatient") if det else None))
        px = (node_px.PixelSpacing if node_px is not None and "PixelSpacing" in node_px else ds.get("PixelSpacing"))
        if iop is None or px is None:
            raise SliceError(f"{path} has no ImageOrientationPatient or PixelSpacing; the slice cannot be placed")
        ori = _floats(iop, 6, "ImageOrientationPatient", path)
        row_cos, col_cos = ori[:3], ori[3:]
        if node_pos is not None and "ImagePositionPatient" in node_pos:
            pos = _floats(node_pos.ImagePositionPatient, 3, "ImagePositionPatient", path)
        else:
            ipp = ds.get("ImagePositionPatient") or (det.get("ImagePositionPatient") if det else None)
            if ipp is None:
                raise SliceError(f"{path} has no ImagePositionPatient; the slice cannot be placed")
            pos = _floats(ipp, 3, "ImagePositionPatient", path)
            if frame:
                step = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
                if step is None:
                    raise SliceError(f"{path}: multi-frame file without per-frame positions or "
                                     "SpacingBetweenSlices; its frames cannot be placed")
                pos = pos + frame * float(step) * np.cross(row_cos, col_cos)
        spacing = _floats(px, 2, "PixelSpacing", path)
        return pos, row_cos, col_cos, (float(spacing[0]), float(spacing[1]))

    out = []
    for i in range(frames):
        pos, rc, cc, sp = geometry(i)
        rescale = _frame_rescale(ds, i) if frames > 1 else None
        if rescale is not None:
            values = arr[i].astype(np.float64) * rescale[0] + rescale[1]
        else:
            values = apply_modality_lut(arr[i], ds).astype(np.float64)
        src = f"{path}#frame{i}" if frames > 1 else str(path)
        number = ds.get("InstanceNumber") if frames == 1 else None
        out.append(DicomSlice(pos, rc, cc, sp, values.astype(np.float32), src, sha, path,
                              int(number) if isinstance(number, (int, float)) or str(number or "").isdigit()
                              else None))
    return out


def _assemble(folder: Path, slices: list[DicomSlice], result: ReadResult, case_id: str) -> Volume | VolumeError:
    """Consistent, sorted slices -> Volume; inconsistent files are quarantined here."""
    def reject(s: DicomSlice, why: str) -> None:
        result.inputs += 1
        result.quarantine.append(quarantine_row(f"{s.source} {why}", source_a=s.source, case_id=case_id))

    ref = slices[0]
    keep = []
    for s in slices:
        if s.pixels.shape != ref.pixels.shape:
            reject(s, f"is {s.pixels.shape[0]}x{s.pixels.shape[1]} while the series is "
                      f"{ref.pixels.shape[0]}x{ref.pixels.shape[1]}; remove it from {folder}")
        elif not (np.allclose(s.row_cos, ref.row_cos, atol=1e-3) and np.allclose(s.col_cos, ref.col_cos, atol=1e-3)):
            reject(s, f"has orientation {np.r_[s.row_cos, s.col_cos].round(4).tolist()} unlike the series "
                      f"{np.r_[ref.row_cos, ref.col_cos].round(4).tolist()}; remove it from {folder}")
        elif not np.allclose(s.spacing, ref.spacing, atol=1e-4):
            reject(s, f"has pixel spacing {s.spacing} unlike the series {ref.spacing}; remove it from {folder}")
        else:
            keep.append(s)
    normal = np.cross(ref.row_cos, ref.col_cos)
    keep.sort(key=lambda s: float(s.position @ normal))
    unique: list[DicomSlice] = []
    for s in keep:
        if unique and abs(float((s.position - unique[-1].position) @ normal)) < 1e-3:
            reject(s, f"has the same position as {unique[-1].source}; duplicate slice")
        else:
            unique.append(s)
    if not unique:
        return VolumeError(f"{folder} has no usable DICOM slices (see the quarantined files)")
    z = np.array([float(s.position @ normal) for s in unique])
    numbers = [s.number for s in unique]
    placed = grid_slots(z, None if None in numbers else np.array(numbers, float))
    if isinstance(placed, str):
        return VolumeError(f"{folder}: {placed}; its slices cannot be placed on one grid (positions along the slice "
                           f"normal {np.round(z, 3).tolist()} mm)")
    slots, n_slots = placed, int(placed[-1]) + 1
    dy, dx = ref.spacing
    step = ((unique[-1].position - unique[0].position) / slots[-1] if n_slots > 1 else normal * 1.0)
    lps = np.eye(4)
    lps[:3, 0] = ref.row_cos * dx
    lps[:3, 1] = ref.col_cos * dy
    lps[:3, 2] = step
    lps[:3, 3] = unique[0].position
    # each slice at its own position; a slot no file fills (a dropped, unreadable or quarantined slice) stays NaN,
    # so the pairs that would use it are quarantined with that reason instead of being stacked at the wrong place
    data = np.full(ref.pixels.T.shape + (n_slots,), np.nan, np.float32)
    for s, slot in zip(unique, slots):
        data[:, :, slot] = s.pixels.T
    img = canonical_3d(nib.Nifti1Image(data, LPS_TO_RAS @ lps), folder)
    ornt = nib.orientations.io_orientation(LPS_TO_RAS @ lps)
    digest = hashlib.sha256("".join(sorted({s.sha for s in unique})).encode()).hexdigest()
    by_slot: dict[int, DicomSlice] = dict(zip(slots.tolist(), unique))
    info: dict = {"slices": len(unique)}
    gaps = ""
    missing = [k for k in range(n_slots) if k not in by_slot]
    if missing:
        dz = (z[-1] - z[0]) / slots[-1]
        where = []
        for k in missing:
            before = max(j for j in by_slot if j < k)
            after = min(j for j in by_slot if j > k)
            where.append(f"{z[0] + k * dz:.2f} mm (between {by_slot[before].file.name} and "
                         f"{by_slot[after].file.name})")
        info["missing_slices_mm"] = [round(float(z[0] + k * dz), 3) for k in missing]
        gaps = (f"series {folder} has no slice at {'; '.join(where)}: the file is missing or was quarantined "
                "(see the other quarantine rows); add it back to use these pairs")
    if int(ornt[2, 0]) == 2:
        flip = ornt[2, 1] < 0
        order = [n_slots - 1 - k for k in range(n_slots)] if flip else list(range(n_slots))

        def source(k: int) -> str:
            s = by_slot.get(order[k])
            return s.source if s is not None else f"{folder}#missing:{k}"

        def sha(k: int) -> str:
            s = by_slot.get(order[k])
            return s.sha if s is not None else digest
        return Volume(img, folder, source, sha, digest, info, gaps)
    return Volume(img, folder, lambda k: f"{folder}#{k}", lambda k: digest, digest, {**info, "reformatted": True},
                  gaps)


def grid_slots(z: np.ndarray, numbers: np.ndarray | None = None,
               tolerance: float = GRID_TOLERANCE) -> np.ndarray | str:
    """Slot of each sorted slice position ``z`` (mm along the normal) on a regular grid: every gap must be a whole
    number of steps within ``tolerance`` x step, and a lost slice leaves an empty slot.  The step is the distance
    per InstanceNumber when ``numbers`` (one per slice) rise or fall steadily with position, so that even a series
    left with two slices shows the one lost between them; otherwise the smallest gap.  Returns the slots, or a
    sentence saying why the positions are no such grid."""
    if len(z) < 2:
        return np.zeros(len(z), int)
    gaps = np.diff(z)
    step = float(gaps.min())
    if numbers is not None:
        dn = np.diff(numbers)
        if (dn > 0).all() or (dn < 0).all():
            per = gaps / np.abs(dn)
            if (np.abs(per - np.median(per)) <= tolerance * np.median(per)).all():
                step = float(np.median(per))
    steps = np.rint(gaps / step)
    off = np.abs(gaps - steps * step)
    if (off > tolerance * step).any():
        i = int(off.argmax())
        return (f"slice gaps {np.round(gaps, 3).tolist()} mm are not whole multiples of the smallest gap "
                f"{step:.3f} mm (gap {i + 1} is {gaps[i]:.3f} mm)")
    slots = np.concatenate([[0], np.cumsum(steps)]).astype(int)
    if slots[-1] + 1 > 2 * len(z):
        return (f"only {len(z)} slices cover {slots[-1] + 1} positions of the {step:.3f} mm grid (more than half "
                "are missing)")
    return slots


def _scan_series_folder(folder: Path, case_id: str, result: ReadResult) -> Volume | VolumeError:
    by_series: dict[str, list[tuple[Path, object, str]]] = defaultdict(list)
    for f in listed_files(folder):
        if any(part.startswith(".") for part in f.relative_to(folder).parts):
            result.notes.append(f"skipped hidden file {f}")
            continue
        if broken_link(f):
            result.inputs += 1
            result.quarantine.append(quarantine_row(broken_link(f), source_a=f, case_id=case_id))
            continue
        try:
            ds = pydicom.dcmread(f)
        except InvalidDicomError:
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{f} is not a DICOM file (no DICM header); only DICOM files belong in {folder}",
                source_a=f, case_id=case_id))
            continue
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt file -> quarantine
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{f} cannot be read as DICOM ({type(exc).__name__}: {exc}); re-export it or remove it",
                source_a=f, case_id=case_id))
            continue
        if not ds.get("SeriesInstanceUID"):
            result.inputs += 1
            pixels = any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
            result.quarantine.append(quarantine_row(
                f"{f} ({f.stat().st_size} bytes) is a DICOM file without SeriesInstanceUID"
                + ("" if pixels else " and without pixel data: it is truncated or not an image")
                + "; a slice cannot be assigned to a series without it: re-export it or remove it",
                source_a=f, case_id=case_id))
            continue
        by_series[str(ds.SeriesInstanceUID)].append((f, ds, sha256_file(f)))
    if not by_series:
        return VolumeError(f"{folder} holds no readable DICOM files")
    main = max(by_series, key=lambda uid: (len(by_series[uid]), uid))
    for uid, files in by_series.items():
        if uid == main:
            continue
        for f, _, _ in files:
            result.inputs += 1
            result.quarantine.append(quarantine_row(
                f"{f} belongs to series {uid}, but {folder} is read as series {main} ({len(by_series[main])} "
                "files); put each series in its own modality folder", source_a=f, case_id=case_id))
    slices: list[DicomSlice] = []
    for f, ds, sha in by_series[main]:
        try:
            slices.extend(_slices_of(f, ds, sha))
        except SliceError as exc:
            result.inputs += 1
            result.quarantine.append(quarantine_row(str(exc), source_a=f, case_id=case_id))
    if not slices:
        return VolumeError(f"{folder} has no usable DICOM slices (see the quarantined files)")
    try:
        return _assemble(folder, slices, result, case_id)
    except VolumeError as exc:
        return exc


def _dicom_root_file(entry: Path, result: ReadResult) -> None:
    result.notes.append(f"not read (metadata at the root): {entry.name}")


def _scan_dicom_case(entry: Path, result: ReadResult) -> tuple[dict, dict]:
    loaders, names = {}, {}
    for f in (p for p in listed_files(entry, recursive=False) if not p.name.startswith(".")):
        result.inputs += 1
        result.quarantine.append(quarantine_row(
            f"{f} lies directly in case folder {entry.name}; put each series in <case>/<MODALITY>/",
            source_a=f, case_id=entry.name))
    for d in sorted(p for p in entry.iterdir() if p.is_dir() and not p.name.startswith(".")):
        vol = _scan_series_folder(d, entry.name, result)

        def load(vol=vol) -> Volume:
            if isinstance(vol, VolumeError):
                raise vol
            return vol
        loaders[d.name.upper()], names[d.name.upper()] = load, d.name
    return loaders, names


@READERS.register("dicom")
def read_dicom(root: Path, options: ReaderOptions) -> ReadResult:
    return read_case_folders(root, options, "dicom", "DICOM", _dicom_root_file, _scan_dicom_case)

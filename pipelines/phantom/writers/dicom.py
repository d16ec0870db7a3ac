"""DICOM layout: ``<out>/<case>/<MODALITY>/``: one series per modality and case.

* T1/T2/PD/FLAIR: MR Image Storage, one file per slice, sequence parameters (TR/TE/TI, 1.5 T) in the header.
* CT: CT Image Storage, one file per slice, stored = HU + 1024 (RescaleIntercept -1024, RescaleType HU).
* PET: Positron Emission Tomography Image Storage, one file per slice, Units BQML, per-slice RescaleSlope.
* SPECT: Nuclear Medicine Image Storage, one multi-frame RECON TOMO file (frames = slices, FrameIncrement
  Pointer -> SliceVector), position/orientation in DetectorInformationSequence.

Every image: ImageOrientationPatient [1,0,0,0,1,0] (rows anterior->posterior, columns right->left, the
display frame), ImagePositionPatient (LPS mm of the first pixel's centre, from the template affine),
PixelSpacing, SliceThickness, RescaleSlope/Intercept (values = stored x slope + intercept).  UIDs are
derived from (seed, case, modality) so the same seed gives byte-identical files; dates are fixed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, NuclearMedicineImageStorage,
                         PositronEmissionTomographyImageStorage, PYDICOM_IMPLEMENTATION_UID, generate_uid)

from pipelines.phantom.geometry import SlabGeometry
from pipelines.phantom.modalities import MODALITIES, ModalitySpec
from pipelines.phantom.writers import WRITERS, WriterOptions

SOP_CLASS = {"CT": CTImageStorage, "MR": MRImageStorage, "PT": PositronEmissionTomographyImageStorage,
             "NM": NuclearMedicineImageStorage}
STUDY_DATE, STUDY_TIME = "20240101", "120000"
UINT16_MAX = 65535


def uid(seed: int, *parts: object) -> str:
    return generate_uid(entropy_srcs=["medfuse-phantom", str(seed), *map(str, parts)])


def lps_position(geometry: SlabGeometry, k: int, scale: int = 1) -> list[float]:
    """LPS mm of display pixel (row 0, column 0) of slice k (RAS voxel (nx-1, ny-1, k)); with ``scale`` R the
    centre of the first R x R mm pixel of a coarse-detector B, (R - 1) / 2 mm further along the rows and columns
    (the display frame runs towards patient left and posterior, +L and +P)."""
    ras = geometry.slab_affine() @ np.array([geometry.width - 1, geometry.height - 1, k, 1.0])
    half = (scale - 1) / 2.0
    return [float(-ras[0]) + half, float(-ras[1]) + half, float(ras[2])]


def pixel_scale(geometry: SlabGeometry, volume: np.ndarray) -> int:
    """R of a (K, H/R, W/R) stack: 1 for A's grid, b_scale for a coarse-detector B."""
    return geometry.width // volume.shape[2]


def set_pixel_grid(ds: Dataset, volume: np.ndarray, scale: int) -> None:
    """Rows, Columns and PixelSpacing of a (K, H, W) stack with ``scale``-mm pixels."""
    ds.Rows, ds.Columns = int(volume.shape[1]), int(volume.shape[2])
    ds.PixelSpacing = [float(scale), float(scale)]


def _ds(v: float) -> str:
    """A DICOM decimal string of at most 16 characters."""
    text = f"{v:.10g}"
    return text if len(text) <= 16 else f"{v:.6e}"


def to_stored(values: np.ndarray, intercept: float = 0.0) -> tuple[np.ndarray, float]:
    """Physical values -> (uint16 stored values, slope) with values ~= stored * slope + intercept."""
    v = np.asarray(values, np.float64) - intercept
    top = float(v.max()) if v.size else 0.0
    slope = top / UINT16_MAX if top > 0 else 1.0
    return np.clip(np.rint(v / slope), 0, UINT16_MAX).astype(np.uint16), slope


@WRITERS.register("dicom")
class DicomWriter:
    def __init__(self, out: Path, geometry: SlabGeometry, tasks: dict[str, tuple[str, str]], options: WriterOptions):
        self.out, self.geometry, self.tasks, self.options = Path(out), geometry, tasks, options

    def modalities(self) -> list[str]:
        return sorted({m for pair in self.tasks.values() for m in pair})

    # ------------------------------------------------------------------------------------------- headers
    def _base(self, case_id: str, spec: ModalitySpec, series_number: int) -> Dataset:
        seed = self.options.seed
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = SOP_CLASS[spec.dicom_modality]
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = STUDY_DATE
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = STUDY_TIME
        ds.AccessionNumber = ""
        ds.Modality = spec.dicom_modality
        ds.Manufacturer = "medfuse phantom"
        ds.InstitutionName = "medfuse"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "medfuse multimodal brain phantom (ICBM152 2009a anatomy)"
        ds.SeriesDescription = f"{spec.name} phantom"
        ds.PatientName = f"Phantom^{case_id}"
        ds.PatientID = case_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.PatientWeight = "70"
        ds.StudyInstanceUID = uid(seed, case_id, "study")
        ds.SeriesInstanceUID = uid(seed, case_id, spec.name, "series")
        # A (T1) and each B acquisition come from separate sessions: separate frames of reference
        ds.FrameOfReferenceUID = uid(seed, case_id, spec.name, "frame")
        ds.PositionReferenceIndicator = ""
        ds.StudyID = case_id
        ds.SeriesNumber = series_number
        ds.AcquisitionNumber = 1
        ds.BodyPartExamined = "HEAD"
        ds.PatientPosition = "HFS"
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = self.geometry.height
        ds.Columns = self.geometry.width
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.ImageComments = ("simulated from tissue maps; B images carry the case's known in-plane misalignment "
                            "(truth.json)")
        return ds

    def _file(self, ds: Dataset, path: Path, sop_uid: str) -> None:
        ds.SOPInstanceUID = sop_uid
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        dcmwrite(path, ds, enforce_file_format=True)

    def _modality_specific(self, ds: Dataset, spec: ModalitySpec) -> None:
        if spec.dicom_modality == "MR":
            seq = spec.sequence
            ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
            ds.ScanningSequence = "IR" if seq["kind"] == "IR" else "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = _ds(seq["tr_ms"])
            ds.EchoTime = _ds(seq["te_ms"])
            if "ti_ms" in seq:
                ds.InversionTime = _ds(seq["ti_ms"])
            ds.EchoTrainLength = 1
            ds.MagneticFieldStrength = "1.5"
            ds.ImagingFrequency = "63.87"
            ds.ImagedNucleus = "1H"
            ds.SpacingBetweenSlices = _ds(self.geometry.step_mm)
        elif spec.dicom_modality == "CT":
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.KVP = "120"
            ds.RescaleType = "HU"
        elif spec.dicom_modality == "PT":
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
            ds.SeriesType = ["STATIC", "IMAGE"]
            ds.Units = "BQML"
            ds.CountsSource = "EMISSION"
            ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
            ds.DecayCorrection = "START"
            ds.RandomsCorrectionMethod = "DLYD"
            ds.ReconstructionMethod = "OSEM + 6 mm Gaussian PSF (simulated)"
            ds.NumberOfSlices = len(self.geometry.slices)
            ds.FrameReferenceTime = "0"
            ds.ActualFrameDuration = 600000
            radio = Dataset()
            radio.Radiopharmaceutical = "Fludeoxyglucose"
            radio.RadionuclideTotalDose = "370000000"
            radio.RadionuclideHalfLife = "6586.2"
            radio.RadiopharmaceuticalStartTime = "113000"
            ds.RadiopharmaceuticalInformationSequence = Sequence([radio])
        elif spec.dicom_modality == "NM":
            ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
            radio = Dataset()
            radio.Radiopharmaceutical = "Tc99m exametazime (HMPAO)"
            radio.RadionuclideTotalDose = "740000000"
            ds.RadiopharmaceuticalInformationSequence = Sequence([radio])
            window = Dataset()
            rng = Dataset()
            rng.EnergyWindowLowerLimit = "126.45"
            rng.EnergyWindowUpperLimit = "154.55"
            window.EnergyWindowRangeSequence = Sequence([rng])
            window.EnergyWindowName = "Tc99m"
            ds.EnergyWindowInformationSequence = Sequence([window])
            ds.NumberOfEnergyWindows = 1
            ds.NumberOfDetectors = 1
            ds.NumberOfRotations = 1

    # ------------------------------------------------------------------------------------------- series
    def _write_slices(self, case_id: str, spec: ModalitySpec, volume: np.ndarray, number: int, d: Path) -> int:
        g = self.geometry
        shared_slope = None
        intercept = -1024.0 if spec.dicom_modality == "CT" else 0.0
        if spec.dicom_modality in ("MR", "CT"):
            _, shared_slope = to_stored(volume, intercept)
            if spec.dicom_modality == "CT":
                shared_slope = 1.0
        scale = pixel_scale(g, volume)
        for k in range(volume.shape[0]):
            ds = self._base(case_id, spec, number)
            self._modality_specific(ds, spec)
            set_pixel_grid(ds, volume, scale)
            if spec.dicom_modality == "PT":
                ds.ImageIndex = k + 1
            ds.InstanceNumber = k + 1
            pos = lps_position(g, k, scale)
            ds.ImagePositionPatient = pos
            ds.SliceLocation = _ds(pos[2])
            ds.SliceThickness = _ds(spec.voxel_mm or 1.0)
            if shared_slope is None:
                stored, slope = to_stored(volume[k], intercept)
            else:
                slope = shared_slope
                stored = np.clip(np.rint((volume[k] - intercept) / slope), 0, UINT16_MAX).astype(np.uint16)
            ds.RescaleIntercept = _ds(intercept)
            ds.RescaleSlope = _ds(slope)
            ds.PixelData = stored.tobytes()
            self._file(ds, d / f"IM{k + 1:04d}.dcm", uid(self.options.seed, case_id, spec.name, "image", k))
        return volume.shape[0]

    def _write_multiframe(self, case_id: str, spec: ModalitySpec, volume: np.ndarray, number: int, d: Path) -> int:
        g = self.geometry
        ds = self._base(case_id, spec, number)
        self._modality_specific(ds, spec)
        scale = pixel_scale(g, volume)
        set_pixel_grid(ds, volume, scale)
        k_total = volume.shape[0]
        ds.InstanceNumber = 1
        ds.NumberOfFrames = k_total
        ds.FrameIncrementPointer = 0x00540080     # SliceVector
        ds.SliceVector = list(range(1, k_total + 1))
        ds.NumberOfSlices = k_total
        ds.SliceThickness = _ds(spec.voxel_mm or 1.0)
        ds.SpacingBetweenSlices = _ds(g.step_mm)
        det = Dataset()
        det.ImagePositionPatient = lps_position(g, 0, scale)
        det.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.DetectorInformationSequence = Sequence([det])
        stored, slope = to_stored(volume)
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = _ds(slope)
        ds.PixelData = stored.tobytes()
        self._file(ds, d / "IM0001.dcm", uid(self.options.seed, case_id, spec.name, "image", 0))
        return 1

    def write_case(self, case_id: str, volumes: dict[str, np.ndarray]) -> int:
        n = 0
        for number, mod in enumerate(self.modalities(), start=1):
            spec = MODALITIES.get(mod)
            d = self.out / case_id / mod
            d.mkdir(parents=True, exist_ok=True)
            write = self._write_multiframe if spec.dicom_modality == "NM" else self._write_slices
            n += write(case_id, spec, volumes[mod], number, d)
        return n

    def finish(self) -> None:
        pass

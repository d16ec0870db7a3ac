"""NIfTI layout: ``<out>/<case>/<MODALITY>.nii.gz``: float32 volumes in physical units (T1/T2/PD/FLAIR
arbitrary units, CT in HU, PET in Bq/ml, SPECT in counts), RAS voxel order, the template's affine restricted
to the written slices (so the slice step is the z voxel size).  All modalities of a case share the grid (a
coarse-detector B, ``phantom.b_scale`` R, shares its field of view and slices with R-mm in-plane voxels:
:func:`pipelines.imaging.multires.lowres_affine`); the B volumes' content is misaligned as recorded in
``truth.json``."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from pipelines.imaging.multires import lowres_affine
from pipelines.phantom.geometry import SlabGeometry
from pipelines.phantom.modalities import MODALITIES
from pipelines.phantom.writers import WRITERS, WriterOptions
from pipelines.readers.orientation import display_to_ras_volume


@WRITERS.register("nifti")
class NiftiWriter:
    def __init__(self, out: Path, geometry: SlabGeometry, tasks: dict[str, tuple[str, str]], options: WriterOptions):
        self.out, self.geometry, self.tasks, self.options = Path(out), geometry, tasks, options

    def modalities(self) -> list[str]:
        return sorted({m for pair in self.tasks.values() for m in pair})

    def write_case(self, case_id: str, volumes: dict[str, np.ndarray]) -> int:
        d = self.out / case_id
        d.mkdir(parents=True, exist_ok=True)
        for mod in self.modalities():
            affine = lowres_affine(self.geometry.slab_affine(), self.geometry.width // volumes[mod].shape[2])
            img = nib.Nifti1Image(display_to_ras_volume(volumes[mod]).astype(np.float32), affine)
            img.header.set_xyzt_units("mm")
            img.header.set_qform(affine, code=1)
            img.header.set_sform(affine, code=1)
            spec = MODALITIES.get(mod)
            img.header["descrip"] = f"medfuse phantom {case_id} {mod} ({spec.unit})"[:79].encode()
            nib.save(img, d / f"{mod}.nii.gz")
        return len(self.modalities())

    def finish(self) -> None:
        pass

"""AANLIB layout: ``<out>/<TASK>/MRI/<case><kkk>.png`` (A) and ``<out>/<TASK>/<B>/<case><kkk>.png`` (B).

Each volume is normalised exactly as the NIfTI/DICOM readers normalise it
(:func:`pipelines.readers.normalise.normalise_volume`) and rounded to 8 bits; PET and SPECT are written in
pseudo-colour (:mod:`pipelines.phantom.colormaps`, luma = value) unless ``color`` is off.  File names follow
the Harvard rule ``<case><3-digit slice>`` (e.g. ``ph01007.png``: case ph01, slice 7).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.phantom.colormaps import COLORMAPS, MODALITY_COLORMAP
from pipelines.phantom.geometry import SlabGeometry
from pipelines.phantom.writers import WRITERS, WriterOptions
from pipelines.readers.normalise import normalise_volume
from pipelines.readers.tasks import A_FOLDER


def to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(values, np.float64) * 255.0), 0, 255).astype(np.uint8)


def slice_name(case_id: str, k: int) -> str:
    return f"{case_id}{k:03d}"


@WRITERS.register("aanlib")
class AanlibWriter:
    def __init__(self, out: Path, geometry: SlabGeometry, tasks: dict[str, tuple[str, str]], options: WriterOptions):
        self.out, self.geometry, self.tasks, self.options = Path(out), geometry, tasks, options

    def _images(self, modality: str, volume: np.ndarray) -> list[Image.Image]:
        norm = normalise_volume(modality, volume, self.options.normalise)
        if self.options.color and modality in MODALITY_COLORMAP:
            rgb = COLORMAPS.get(MODALITY_COLORMAP[modality])(norm)
            return [Image.fromarray(to_uint8(s)) for s in rgb]
        return [Image.fromarray(to_uint8(s)) for s in norm]

    def write_case(self, case_id: str, volumes: dict[str, np.ndarray]) -> int:
        rendered: dict[str, list[Image.Image]] = {}
        n = 0
        for task, (a_mod, b_mod) in self.tasks.items():
            for folder, mod in ((A_FOLDER, a_mod), (b_mod, b_mod)):
                if mod not in rendered:
                    rendered[mod] = self._images(mod, volumes[mod])
                d = self.out / task / folder
                d.mkdir(parents=True, exist_ok=True)
                for k, img in enumerate(rendered[mod]):
                    img.save(d / f"{slice_name(case_id, k)}.png", compress_level=1)
                    n += 1
        return n

    def finish(self) -> None:
        pass

"""Phantom output formats, registered by name: ``aanlib`` (PNG folders like the Harvard atlas), ``nifti``
(a folder per case, a volume per modality) and ``dicom`` (a folder per case and modality).

A writer is built with ``(out_dir, geometry, tasks, options)``, gets ``write_case(case_id, volumes)`` once
per case (volumes: modality -> (K, H, W) display-frame stack in physical units) and ``finish()`` at the end.
Every format gets the same ``truth.json`` at its root (:mod:`pipelines.phantom.generate`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from gan_models.registry import Registry
from pipelines.readers.normalise import NormaliseParams

WRITERS: Registry = Registry("phantom format")
FORMATS = ("aanlib", "nifti", "dicom")


@dataclass(frozen=True)
class WriterOptions:
    seed: int = 0
    color: bool = True                           # AANLIB: PET/SPECT as pseudo-colour RGB PNGs
    normalise: NormaliseParams = field(default_factory=NormaliseParams)


def get_writer(name: str):
    for fmt in FORMATS:
        importlib.import_module(f"pipelines.phantom.writers.{fmt}")
    return WRITERS.get(name)


def relative_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

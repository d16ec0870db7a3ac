"""Readers of paired multimodal images, registered by source kind: ``aanlib``, ``nifti``, ``dicom``.

``READERS.get(kind)(root, options) -> ReadResult`` (:mod:`pipelines.readers.common`).  Every reader produces
display-frame slices (:mod:`pipelines.readers.orientation`) in [0, 1], resampled to ``options.size`` with
the aspect kept (:mod:`pipelines.readers.resample`), and accounts for every input: a pair row or a
quarantine row with a sentence naming the file and the reason.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from gan_models.registry import Registry
from pipelines.readers.normalise import NormaliseParams
from pipelines.readers.tasks import DEFAULT_PAIRS

READERS: Registry = Registry("reader")
KINDS = ("aanlib", "nifti", "dicom")


@dataclass(frozen=True)
class ReaderOptions:
    size: int = 128
    normalise: NormaliseParams = field(default_factory=NormaliseParams)
    pairs: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_PAIRS))
    progress: bool = True

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"data.size must be >= 8 pixels, got {self.size}")


def get_reader(kind: str):
    for k in KINDS:
        importlib.import_module(f"pipelines.readers.{k}")
    return READERS.get(kind)

"""Typed ``data:`` section of params.yaml (read by the ingest and validate stages): where the images come from
and the size every slice is resampled to.  Unknown keys (``data.sise``) are rejected like everywhere else."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params import ParamsError, section


@dataclass(frozen=True)
class SourceParams:
    """``data.source``."""

    kind: Literal["phantom", "aanlib", "nifti", "dicom"] = "phantom"
    path: str | None = None


@dataclass(frozen=True)
class DataParams:
    """``data:`` section."""

    source: SourceParams = field(default_factory=SourceParams)
    size: int = 128                       # every slice is resampled to size x size

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ParamsError(f"data.size: expected an integer >= 8, got {self.size!r}")


def data_params(params: dict) -> DataParams:
    return section(params, DataParams, "data")

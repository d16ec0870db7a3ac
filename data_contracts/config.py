"""Typed ``validate:`` section of params.yaml: the thresholds and allowed values of the data contracts."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.params import ParamsError


@dataclass(frozen=True)
class ValidateParams:
    tasks: list[str] = field(default_factory=lambda: [
        "MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2", "MRI_PD", "MRI_FLAIR"])
    modalities_a: list[str] = field(default_factory=lambda: ["MRI"])
    modalities_b: list[str] = field(default_factory=lambda: ["CT", "PET", "SPECT", "T2", "PD", "FLAIR"])
    colour_modalities: list[str] = field(default_factory=lambda: ["PET", "SPECT"])   # may carry Cb/Cr
    min_std: float = 0.01           # an image with a smaller intensity std is "constant"
    min_chroma: float = 0.01        # a stored Cb/Cr must depart from neutral (0.5) by at least this somewhere
    reg_status: list[str] = field(default_factory=lambda: ["registered", "kept_original"])
    min_nmi_after: float = 1.02     # Studholme NMI of A and registered B (1 = independent)
    min_ncc_after: float = -1.0     # NCC can be negative between modalities; raise for same-contrast tasks
    examples: int = 5               # example rows shown per failing expectation
    # a row that fails only row-level expectations is quarantined (data/validated/quarantine.parquet); the
    # contract fails when more than this fraction of any task's rows is quarantined
    max_quarantine_fraction: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_quarantine_fraction < 1.0:
            raise ParamsError(f"validate.max_quarantine_fraction must be in [0, 1), got {self.max_quarantine_fraction}")

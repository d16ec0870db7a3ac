"""Typed ``register:`` section of params.yaml (unknown keys are rejected by pipelines.params.from_dict)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params import ParamsError


@dataclass(frozen=True)
class RegisterParams:
    """How the register stage aligns B (CT/PET/SPECT/...) onto A (MRI, the fixed image).

    The optimisation is SimpleITK's multi-resolution framework: Mattes mutual information, linear
    interpolation, regular-step gradient descent with scales from the physical shift, a geometry-centred
    identity start, one pyramid level per entry of ``shrink_factors`` / ``smoothing_sigmas`` (voxels).
    """

    transform: Literal["rigid", "affine"] = "rigid"
    # auto: volumes (NIfTI/DICOM rows of one case) are registered in 3-D, 2-D sources slice by slice;
    # slice: every row on its own (also for volumes)
    mode: Literal["auto", "slice"] = "auto"
    shrink_factors: list[int] = field(default_factory=lambda: [4, 2, 1])
    # the finest level keeps a light blur (0.5 voxel): on the phantom it lowers 2-D CT errors (max 0.38 -> 0.20 deg)
    smoothing_sigmas: list[float] = field(default_factory=lambda: [2.0, 1.0, 0.5])
    histogram_bins: int = 32                 # Mattes MI bins
    sampling_percentage: float = 0.25        # metric sample per level (fixed seed; engine.py) ...
    min_samples_per_level: int = 16384       # ... but at least this many voxels; a level this small is used whole
    iterations: int = 200                    # per level
    learning_rate: float = 1.0               # RegularStepGradientDescent initial step (scaled units)
    min_step: float = 1.0e-4
    relaxation: float = 0.5
    seed: int = 20240521                     # metric sampling seed: same inputs -> same transform
    threads: int = 1                         # ITK threads; 1 keeps the result bit-identical across machines
    nmi_bins: int = 64                       # bins of the NMI used to report and to accept/reject
    accept_sigma_vox: float = 1.0            # Gaussian blur (voxels) of A and B for the NMI that accepts/rejects
    min_nmi_gain: float = 0.01               # keep the original B unless that NMI improves by more than this
    slice_thickness_mm: float | None = None  # volumes: z spacing when the table's meta does not give one
    # 2-D slices of one (task, case) (>= 3, same size and spacing) share one head position: after the per-slice
    # pass each slice may take the case's median transform instead of its own when their accept NMI do not
    # differ by more than min_nmi_gain (noise moves single noisy SPECT slices; consensus.py, docs/data_pipeline.md)
    case_consensus: bool = True
    # processes aligning units in parallel (each with `threads` ITK threads); results do not depend on it
    workers: int = 1

    def __post_init__(self) -> None:
        if len(self.shrink_factors) == 0 or len(self.shrink_factors) != len(self.smoothing_sigmas):
            raise ParamsError("register.shrink_factors and register.smoothing_sigmas must be non-empty lists "
                             f"of the same length, got {self.shrink_factors} and {self.smoothing_sigmas}")
        if any(f < 1 for f in self.shrink_factors) or any(s < 0 for s in self.smoothing_sigmas):
            raise ParamsError("register.shrink_factors must be >= 1 and register.smoothing_sigmas >= 0")
        if not 0.0 < self.sampling_percentage <= 1.0:
            raise ParamsError(f"register.sampling_percentage must be in (0, 1], got {self.sampling_percentage}")
        if (self.iterations < 1 or self.histogram_bins < 4 or self.nmi_bins < 2 or self.threads < 1
                or self.min_samples_per_level < 1):
            raise ParamsError("register.iterations, histogram_bins (>= 4), nmi_bins (>= 2), threads and "
                             "min_samples_per_level must be positive")
        if self.workers < 1:
            raise ParamsError(f"register.workers must be >= 1, got {self.workers}")
        if self.accept_sigma_vox < 0:
            raise ParamsError(f"register.accept_sigma_vox must be >= 0, got {self.accept_sigma_vox}")
        if self.learning_rate <= 0 or self.min_step <= 0 or not 0 < self.relaxation < 1:
            raise ParamsError("register.learning_rate and min_step must be > 0 and relaxation in (0, 1)")
        if self.slice_thickness_mm is not None and self.slice_thickness_mm <= 0:
            raise ParamsError(f"register.slice_thickness_mm must be > 0, got {self.slice_thickness_mm}")

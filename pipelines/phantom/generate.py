"""Generate the phantom data set in one format: cases -> simulated volumes -> writer -> truth.json."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipelines.phantom.anatomy import load_anatomy
from pipelines.phantom.cases import A_MODALITY, make_case, simulate_case, slice_truth
from pipelines.phantom.geometry import make_geometry
from pipelines.phantom.misalignment import CONVENTION
from pipelines.phantom.modalities import MODALITIES
from pipelines.phantom.writers import FORMATS, WriterOptions, get_writer, relative_files
from pipelines.readers.normalise import NormaliseParams
from pipelines.readers.tasks import DEFAULT_PAIRS

TRUTH_FILE = "truth.json"
DEFAULT_TASKS = ["MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2"]


@dataclass(frozen=True)
class PhantomParams:
    """``phantom:`` section of params.yaml."""

    cases: int = 4
    seed: int = 0
    slices: int = 10
    format: str = "aanlib"
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    color: bool = True
    max_rotation_deg: float = 5.0
    max_translation_mm: float = 5.0
    b_scale: int = 1               # R > 1: CT/PET/SPECT from a detector with R x R mm pixels (1/R of A's resolution)

    def __post_init__(self):
        if self.cases < 1:
            raise ValueError(f"phantom.cases must be >= 1, got {self.cases}")
        if self.format not in FORMATS:
            raise ValueError(f"phantom.format {self.format!r} is not one of {list(FORMATS)}")
        unknown = [t for t in self.tasks if t not in DEFAULT_PAIRS]
        if unknown or not self.tasks:
            raise ValueError(f"phantom.tasks: unknown or empty {unknown or self.tasks}; known: {sorted(DEFAULT_PAIRS)}")
        if self.max_rotation_deg < 0 or self.max_translation_mm < 0:
            raise ValueError("phantom.max_rotation_deg and max_translation_mm must be >= 0")
        if isinstance(self.b_scale, bool) or not isinstance(self.b_scale, int) or not 1 <= self.b_scale <= 16:
            raise ValueError(f"phantom.b_scale must be an integer from 1 to 16 (B at 1/b_scale of A's resolution), "
                             f"got {self.b_scale!r}")


@dataclass
class PhantomSummary:
    out: Path
    format: str
    cases: list[str]
    files: int
    truth: Path
    seconds: float


def coarse_b_json(b_scale: int, modalities: list[str]) -> dict:
    """truth.json's record of the coarse B detector (empty at b_scale 1)."""
    if b_scale == 1:
        return {}
    from pipelines.phantom.detector import coarse_modalities
    return {"b_scale": b_scale, "b_pixel_spacing_mm": [float(b_scale)] * 2,
            "coarse_b_modalities": [m for m in modalities if m in coarse_modalities()]}


def task_pairs(tasks: list[str]) -> dict[str, tuple[str, str]]:
    return {t: DEFAULT_PAIRS[t] for t in tasks}


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out}: folder is not empty; choose a new folder or allow overwriting")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def generate_formats(outs: dict[str, str | Path], params: PhantomParams, normalise: NormaliseParams | None = None,
                     overwrite: bool = False, progress: bool = True) -> dict[str, PhantomSummary]:
    """Simulate ``params.cases`` phantom cases once and write them in every format of ``outs`` (format ->
    folder; ``params.format`` is ignored).  Each folder must be empty or absent unless ``overwrite``."""
    t0 = time.time()
    unknown = [f for f in outs if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown phantom format(s) {unknown}; known: {list(FORMATS)}")
    outs = {f: Path(o) for f, o in outs.items()}
    for o in outs.values():
        _prepare(o, overwrite)
    anatomy = load_anatomy()
    geometry = make_geometry(anatomy, params.slices, multiple=params.b_scale)
    pairs = task_pairs(params.tasks)
    modalities = [A_MODALITY] + sorted({b for _, b in pairs.values()} - {A_MODALITY})
    options = WriterOptions(seed=params.seed, color=params.color, normalise=normalise or NormaliseParams())
    writers = {f: get_writer(f)(o, geometry, pairs, options) for f, o in outs.items()}
    cases_json = {}
    desc = f"phantom ({', '.join(outs)})"
    for index in tqdm(range(params.cases), desc=desc, unit="case", disable=not progress):
        case = make_case(params.seed, index, anatomy, geometry, params.max_rotation_deg, params.max_translation_mm)
        cache: dict = {}
        volumes = simulate_case(case, anatomy, geometry, modalities, cache=cache, b_scale=params.b_scale)
        for w in writers.values():
            w.write_case(case.case_id, volumes)
        cases_json[case.case_id] = {**case.to_json(), "slices": slice_truth(cache[False], geometry)}
    summaries = {}
    for fmt, w in writers.items():
        w.finish()
        truth = {
            "generator": "medfuse phantom",
            "format": fmt,
            "seed": params.seed,
            "params": {"cases": params.cases, "slices": params.slices, "tasks": list(params.tasks),
                       "color": params.color, "max_rotation_deg": params.max_rotation_deg,
                       "max_translation_mm": params.max_translation_mm, "b_scale": params.b_scale},
            "template": {"source": "nilearn wheel: nilearn/datasets/data (ICBM152 2009a sym, 1 mm)",
                         "files": anatomy.files},
            "geometry": {**geometry.to_json(), **coarse_b_json(params.b_scale, modalities)},
            "display_frame": ("rows anterior->posterior, columns patient right->left, slices inferior->superior; "
                              "point (x, y) = (column, row) in mm from the centre of pixel (0, 0)"),
            "transform_convention": CONVENTION,
            "tasks": {t: {"a": a, "b": b} for t, (a, b) in pairs.items()},
            "modalities": {m: {"unit": MODALITIES.get(m).unit, "dicom_modality": MODALITIES.get(m).dicom_modality,
                               "frame": "A" if m == A_MODALITY else "B"} for m in modalities},
            "cases": cases_json,
        }
        truth_path = outs[fmt] / TRUTH_FILE
        truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
        summaries[fmt] = PhantomSummary(outs[fmt], fmt, list(cases_json), len(relative_files(outs[fmt])),
                                        truth_path, time.time() - t0)
    return summaries


def generate_phantom(out: str | Path, params: PhantomParams, normalise: NormaliseParams | None = None,
                     overwrite: bool = False, progress: bool = True) -> PhantomSummary:
    """Write ``params.cases`` phantom cases in ``params.format`` under ``out`` (must be empty or absent
    unless ``overwrite``, which deletes it first)."""
    return generate_formats({params.format: out}, params, normalise, overwrite, progress)[params.format]

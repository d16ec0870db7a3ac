"""The phantom's ``truth.json`` (written at the root of every phantom folder), seen by the readers.

When present, each row of a phantom case gets in ``meta``: the known misalignment of B relative to A
(``true_rotation_deg``, ``true_translation_mm``, ``center_mm``, ``transform_convention``; re-expressed in
the resampled pair frame by :func:`pipelines.readers.common.build_row`), the A image's MR contrast, the
slice spacing and the per-slice pathology areas.  AANLIB rows also get the pixel spacing from it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.phantom.misalignment import InPlaneRigid

TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class PhantomTruth:
    data: dict
    path: Path

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        sp = self.data["geometry"]["pixel_spacing_mm"]
        return float(sp[0]), float(sp[1])

    def misalignment(self, case_id: str) -> InPlaneRigid | None:
        case = self.data.get("cases", {}).get(case_id)
        return InPlaneRigid.from_json(case["misalignment"]) if case else None

    def meta(self, case_id: str, task: str, slice_index: int) -> dict:
        case = self.data.get("cases", {}).get(case_id)
        if case is None:
            return {}
        out = {"phantom_seed": self.data.get("seed"),
               "slice_spacing_mm": self.data["geometry"]["slice_spacing_mm"]}
        pair = self.data.get("tasks", {}).get(task)
        if pair:
            out["a_contrast"] = pair["a"]
        slices = case.get("slices", [])
        if 0 <= slice_index < len(slices):
            s = slices[slice_index]
            out.update({k: s[k] for k in ("tumour_mm2", "oedema_mm2", "hypoperfusion_mm2", "template_k")})
        return out


def load_truth(root: Path) -> PhantomTruth | None:
    path = Path(root) / TRUTH_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it or regenerate the phantom") from exc
    if data.get("generator") != "medfuse phantom":
        return None
    return PhantomTruth(data, path)

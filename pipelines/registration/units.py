"""Group pair-table rows into registration units.

* A row from a 2-D source (AANLIB PNG, one file per slice) is its own unit.
* Rows from a volume source (NIfTI ``path#slice``; DICOM series) that share ``(task, case_id)`` form one
  volume unit: slices are stacked in ``slice`` order into a Z x H x W volume and registered in 3-D, so that
  one rigid transform explains the whole case.  In-plane spacing comes from ``spacing_mm`` (row, column
  order, mm); the slice step from the meta key ``slice_thickness_mm`` (or ``spacing_z_mm``), else from
  ``register.slice_thickness_mm``, else the mean in-plane spacing (isotropic assumption, noted in the
  report).  A case whose slice indices are not evenly stepped cannot be stacked on a regular grid and is
  registered slice by slice instead (reason in the report).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

VOLUME_FORMATS = {"nifti", "dicom"}
THICKNESS_KEYS = ("slice_thickness_mm", "spacing_z_mm", "slice_spacing_mm")


@dataclass(frozen=True)
class Unit:
    kind: str                    # "slice" | "volume"
    key: str                     # pair_id for a slice, "<task>/<case_id>" for a volume
    rows: tuple[int, ...]        # row indices in the table, slice order for volumes
    note: str = ""               # e.g. why a volume case is registered slice by slice


def parse_meta(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def is_volume_row(source_a: str, meta: dict) -> bool:
    """True for rows cut from a volume: NIfTI ``path#slice`` sources, or a meta ``format`` of nifti/dicom."""
    fmt = str(meta.get("format") or meta.get("source_format") or "").lower()
    if fmt:
        return fmt in VOLUME_FORMATS
    path = source_a.split("#", 1)[0].lower()
    return "#" in source_a and (path.endswith(".nii") or path.endswith(".nii.gz") or path.endswith(".dcm")
                                or "dicom" in path)


def _evenly_stepped(slices: list[int]) -> bool:
    if len(slices) < 2:
        return True
    steps = np.diff(slices)
    return bool((steps == steps[0]).all() and steps[0] > 0)


def build_units(task: list[str], case_id: list[str], slice_index: list[int], source_a: list[str],
                meta: list[dict], mode: str = "auto") -> list[Unit]:
    """Units covering every row exactly once, in a deterministic order (table order of first rows)."""
    units: list[Unit] = []
    volumes: dict[tuple[str, str], list[int]] = defaultdict(list)
    first_row: dict[tuple[str, str], int] = {}
    for i, (t, c, s, m) in enumerate(zip(task, case_id, source_a, meta)):
        if mode == "auto" and is_volume_row(s, m):
            volumes[(t, c)].append(i)
            first_row.setdefault((t, c), i)
        else:
            units.append(Unit("slice", f"{t}/{c}/{slice_index[i]}", (i,)))
    for (t, c), rows in volumes.items():
        rows = sorted(rows, key=lambda r: slice_index[r])
        sl = [slice_index[r] for r in rows]
        if len(rows) < 2:
            units.append(Unit("slice", f"{t}/{c}/{sl[0]}", tuple(rows), "single-slice volume: registered in 2-D"))
        elif len(set(sl)) != len(sl) or not _evenly_stepped(sl):
            units.extend(Unit("slice", f"{t}/{c}/{slice_index[r]}", (r,),
                              f"slices {sl} of {t}/{c} are not evenly stepped: registered slice by slice")
                         for r in rows)
        else:
            units.append(Unit("volume", f"{t}/{c}", tuple(rows)))
    return sorted(units, key=lambda u: u.rows[0])


def slice_step_mm(rows_meta: list[dict], slice_indices: list[int], in_plane: tuple[float, float],
                  default_mm: float | None) -> tuple[float, str]:
    """z spacing of a stacked volume and where it came from."""
    step = (slice_indices[1] - slice_indices[0]) if len(slice_indices) > 1 else 1
    for key in THICKNESS_KEYS:
        values = {float(m[key]) for m in rows_meta if m.get(key) is not None}
        if len(values) == 1:
            return values.pop() * step, f"meta {key}"
    if default_mm is not None:
        return default_mm * step, "register.slice_thickness_mm"
    return float(np.mean(in_plane)) * step, "assumed isotropic (mean in-plane spacing)"

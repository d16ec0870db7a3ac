"""What every reader shares: results, quarantine records, case-id rule, checks, and building pair rows.

A reader returns a :class:`ReadResult`: pair rows (DESIGN §2), quarantine rows (a sentence naming the file
and the reason), and ``inputs``, the number of input items it looked at, with ``inputs == len(rows) +
len(quarantine)`` always (checked by :meth:`ReadResult.check_accounting`).  What an input item is depends on
the layout: an AANLIB pair name or a stray file; a NIfTI/DICOM (case, task) volume pair or one of its slices.

Case-id rule for file names (AANLIB): ``<case><3-digit slice>`` with an optional ``_`` or ``-`` before the
slice, e.g. ``25042`` -> case 25, slice 42; ``ph01007`` -> ph01, 7; ``brain_012`` -> brain, 12.  A name that
does not end in three digits after at least one other character is its own case with slice 0 (so splits by
case stay leak-free, at worst too fine).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.readers.resample import SquareResample
from pipelines.schema import make_pair_id

STAGE = "ingest"
NAME_RULE = re.compile(r"^(?P<case>.+?)[_-]?(?P<slice>\d{3})$")


def parse_case_slice(stem: str) -> tuple[str, int, bool]:
    """``(case_id, slice, followed_rule)`` for a file stem."""
    m = NAME_RULE.match(stem)
    if m:
        return m.group("case"), int(m.group("slice")), True
    return stem, 0, False


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def broken_link(path: Path) -> str | None:
    """A sentence when ``path`` is a symbolic link whose target does not exist, else None."""
    if path.is_symlink() and not path.exists():
        return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; fix or remove the link"
    return None


def listed_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Files under ``folder`` (sorted), broken symbolic links included so that they can be reported."""
    entries = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in entries if p.is_file() or broken_link(p))


def quarantine_row(reason: str, source_a: Any = None, source_b: Any = None, task: str | None = None,
                   case_id: str | None = None) -> dict:
    return {"source_a": None if source_a is None else str(source_a),
            "source_b": None if source_b is None else str(source_b),
            "task": task, "case_id": case_id, "stage": STAGE, "reason": reason}


@dataclass
class ReadResult:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    inputs: int = 0
    notes: list[str] = field(default_factory=list)

    def extend(self, other: "ReadResult") -> None:
        self.rows += other.rows
        self.quarantine += other.quarantine
        self.inputs += other.inputs
        self.notes += other.notes

    def check_accounting(self) -> None:
        if self.inputs != len(self.rows) + len(self.quarantine):
            raise AssertionError(f"reader accounting broken: {self.inputs} inputs != {len(self.rows)} rows + "
                                 f"{len(self.quarantine)} quarantined")

    def dedupe(self) -> None:
        """Quarantine rows whose pair_id repeats an earlier row's (two names parsing to one case/slice)."""
        seen: dict[str, dict] = {}
        keep = []
        for row in self.rows:
            first = seen.get(row["pair_id"])
            if first is None:
                seen[row["pair_id"]] = row
                keep.append(row)
            else:
                self.quarantine.append(quarantine_row(
                    f"{row['source_a']} and {row['source_b']} give pair id {row['pair_id']}, which "
                    f"{first['source_a']} already has; rename one so case and slice are unique",
                    row["source_a"], row["source_b"], row["task"], row["case_id"]))
        self.rows = keep


def image_problem(img: np.ndarray, what: str) -> str | None:
    """A sentence if ``img`` cannot be used (NaN/inf values, constant), else None."""
    arr = np.asarray(img)
    bad = ~np.isfinite(arr)
    if bad.any():
        return f"{what} contains {int(bad.sum())} NaN/inf value(s); fix or mask them in the source"
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return f"{what} is constant (every value is {lo:g}): there is nothing to fuse"
    return None


@dataclass(frozen=True)
class SliceImage:
    """One display-frame slice in [0, 1]: grey (``y`` only) or pseudo-colour (``y`` = BT.601 luma)."""

    y: np.ndarray
    cb: np.ndarray | None = None
    cr: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.y.shape  # type: ignore[return-value]


def build_row(task: str, case_id: str, slice_index: int, modality_a: str, modality_b: str, a: SliceImage,
              b: SliceImage, spacing: tuple[float, float] | None, size: int, source_a: str, source_b: str,
              sha_a: str, sha_b: str, meta: dict | None, truth: Any = None, b_scale: int = 1) -> dict:
    """Resample both images to ``size`` (:class:`SquareResample`) and assemble a pair-table row.  ``truth``
    (a :class:`pipelines.phantom.misalignment.InPlaneRigid` in the original slice frame) is carried into
    ``meta`` re-expressed in the resampled frame.  ``b_scale`` r > 1: B is A's field of view at ``1/r`` of A's
    resolution (``b.shape == a.shape / r``, :mod:`pipelines.imaging.multires`) and stays so: it is resampled to
    ``size / r`` (the caller checks that r divides ``size``)."""
    h, w = a.shape
    sp = spacing or (1.0, 1.0)
    rs = SquareResample(h, w, sp, size)
    rb = rs if b_scale == 1 else SquareResample(h // b_scale, w // b_scale, (sp[0] * b_scale, sp[1] * b_scale),
                                                size // b_scale)
    meta = dict(meta or {})
    if truth is not None:
        cx, cy = rs.point(*truth.center_mm)
        meta.update(type(truth)(truth.rotation_deg, truth.translation_mm, (cx, cy)).to_json())
    row = {
        "pair_id": make_pair_id(task, case_id, slice_index), "task": task, "case_id": case_id,
        "slice": int(slice_index), "modality_a": modality_a, "modality_b": modality_b,
        "height": size, "width": size, "b_scale": int(b_scale), "a": rs(a.y), "b": rb(b.y),
        "b_cb": rb(b.cb, 0.5) if b.cb is not None else None, "b_cr": rb(b.cr, 0.5) if b.cr is not None else None,
        "spacing_mm": [rs.out_spacing, rs.out_spacing] if spacing else None,
        "source_a": source_a, "source_b": source_b, "sha256_a": sha_a, "sha256_b": sha_b,
        "meta": json.dumps(meta, sort_keys=True) if meta else None,
    }
    return row

"""Ingest stage: read paired multimodal images into the pair table (DESIGN §2) and the quarantine table.

``python -m pipelines.stages.ingest [--set key=value ...]`` reads ``params.yaml`` (``data``, ``phantom``,
``ingest`` sections) and writes, relative to the working directory:

* ``data/ingested/pairs.parquet``: one row per 2-D pair, images resampled to ``data.size``;
* ``data/ingested/quarantine.parquet``: every input that could not be used, with a sentence naming the file
  and the reason (always written, possibly empty);
* ``data/ingested/summary.json``: counts per task, quarantine count, notes.

``data.source.kind``: ``phantom`` (generate ``phantom.cases`` phantom patients in ``phantom.format`` under
``data/phantom/<format>/`` and read them back through that format's real reader), or ``aanlib`` / ``nifti``
/ ``dicom`` with ``data.source.path`` the folder (docs/inputs.md).  Inputs = pairs + quarantined, checked.

The three files are published together (:mod:`pipelines.publish`): a killed run leaves the previous set.  A
source that yields no pair at all is an error (exit 2, one line saying what was found); the previous outputs
stay.
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import publish
from pipelines.data_config import data_params
from pipelines.errors import InputError, stage_entry
from pipelines.params import ParamsError, section, stage_main_args
from pipelines.phantom.generate import PhantomParams, generate_phantom
from pipelines.readers import ReaderOptions, get_reader
from pipelines.readers.normalise import NormaliseParams
from pipelines.readers.tasks import pairs_for
from pipelines.schema import write_pairs, write_quarantine

OUT_DIR = Path("data/ingested")
PAIRS_PATH = OUT_DIR / "pairs.parquet"
QUARANTINE_PATH = OUT_DIR / "quarantine.parquet"
SUMMARY_PATH = OUT_DIR / "summary.json"
PHANTOM_DIR = Path("data/phantom")


@dataclass(frozen=True)
class IngestParams:
    """``ingest:`` section."""

    normalise: NormaliseParams = field(default_factory=NormaliseParams)
    pairs: dict[str, list[str]] = field(default_factory=dict)   # extra / overridden task pairings (NIfTI, DICOM)
    progress: bool = True


@dataclass
class IngestResult:
    pairs_path: Path
    quarantine_path: Path
    summary_path: Path
    source_kind: str
    source_path: Path
    n_pairs: int
    n_quarantined: int
    inputs: int
    per_task: dict[str, int]
    seconds: float
    phantom_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def run(params: dict) -> IngestResult:
    t0 = time.time()
    data = data_params(params)
    source = data.source
    cfg = section(params, IngestParams, "ingest")
    options = ReaderOptions(size=data.size, normalise=cfg.normalise, pairs=pairs_for(None, cfg.pairs),
                            progress=cfg.progress)
    phantom_seconds = None
    if source.kind == "phantom":
        if source.path:
            raise ParamsError("data.source.path is only read for kind aanlib/nifti/dicom; the phantom is always "
                              f"written to {PHANTOM_DIR}/<format> (set data.source.path: null)")
        ph = section(params, PhantomParams, "phantom")
        root = PHANTOM_DIR / ph.format
        summary = generate_phantom(root, ph, cfg.normalise, overwrite=True, progress=cfg.progress)
        phantom_seconds = summary.seconds
        kind = ph.format
    else:
        if not source.path:
            raise ParamsError(f"data.source.path: give the {source.kind} folder (e.g. --set data.source.path=DIR)")
        root, kind = Path(source.path), source.kind
    result = get_reader(kind)(root, options)
    result.check_accounting()
    if not result.rows:
        raise InputError(no_pairs_message(root, result))
    result.rows.sort(key=lambda r: (r["task"], r["case_id"], r["slice"]))
    per_task = dict(sorted(Counter(r["task"] for r in result.rows).items()))
    out = IngestResult(PAIRS_PATH, QUARANTINE_PATH, SUMMARY_PATH, source.kind, root, len(result.rows),
                       len(result.quarantine), result.inputs, per_task, time.time() - t0, phantom_seconds,
                       result.notes)
    with publish.staged("ingest", PAIRS_PATH, QUARANTINE_PATH, SUMMARY_PATH) as staged:
        write_pairs(result.rows, staged[PAIRS_PATH])
        write_quarantine(result.quarantine, staged[QUARANTINE_PATH])
        staged[SUMMARY_PATH].write_text(json.dumps({
            "source": {"kind": source.kind, "reader": kind, "path": str(root)},
            "pairs": out.n_pairs, "quarantined": out.n_quarantined, "inputs": out.inputs, "pairs_per_task": per_task,
            "cases_per_task": {t: len({r["case_id"] for r in result.rows if r["task"] == t}) for t in per_task},
            "quarantine_reasons": [q["reason"] for q in result.quarantine[:50]],
            "notes": result.notes[:50],
        }, indent=1))
    return out


def no_pairs_message(root: Path, result) -> str:
    """Zero pairs is an error (the previous outputs stay): say what was found instead."""
    if not result.inputs:
        found = "nothing to read (" + ("; ".join(result.notes[:3]) or "the folder is empty") + ")"
    else:
        found = (f"{result.inputs} input(s), all quarantined; first reason: {result.quarantine[0]['reason']}"
                 if result.quarantine else f"{result.inputs} input(s)")
    return f"{root}: no pairs: {found}; the previous outputs in {OUT_DIR} are kept"


def print_summary(r: IngestResult) -> None:
    what = f"phantom ({r.source_path}, generated in {r.phantom_seconds:.1f} s)" if r.phantom_seconds is not None \
        else f"{r.source_kind} folder {r.source_path}"
    print(f"ingest: {r.n_pairs} pairs, {r.n_quarantined} quarantined, from {r.inputs} inputs of {what} "
          f"in {r.seconds:.1f} s")
    for task, n in r.per_task.items():
        print(f"  {task:<12} {n} pairs")
    print(f"  pairs      -> {r.pairs_path}\n  quarantine -> {r.quarantine_path}\n  summary    -> {r.summary_path}")
    if r.n_quarantined:
        print(f"  see {r.quarantine_path} (column 'reason') or {r.summary_path} for why")


@stage_entry("ingest")
def main(argv: list[str] | None = None) -> int:
    _, params = stage_main_args("Ingest paired images into data/ingested/pairs.parquet", argv)
    print_summary(run(params))
    return 0


if __name__ == "__main__":
    sys.exit(main())

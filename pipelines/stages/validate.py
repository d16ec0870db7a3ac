"""Validate stage: run the data contracts (great-expectations) on a pipeline table.

``python -m pipelines.stages.validate`` (``--table pairs``, the default) checks
``data/registered/pairs.parquet`` against the ``registered_pairs`` suite and writes
``reports/validation.json``, the Data Docs site ``reports/data_docs/pairs/``, and the table the next stages use:
``data/validated/pairs.parquet`` (the rows that passed) and ``data/validated/quarantine.parquet`` (each row that
failed a row-level expectation, with the rule and the value: :mod:`data_contracts.quarantine`).

``python -m pipelines.stages.validate --table splits`` checks ``data/splits/{train,val,test}.parquet``
(concatenated with a ``split`` column) against the ``split_tables`` suite and writes
``reports/validation_splits.json`` and ``reports/data_docs/splits/``; there every failure fails.

Exit status: 0 when the contract holds (a few quarantined rows allowed: at most
``validate.max_quarantine_fraction`` of any task), 1 when it fails (the message names each failing expectation
and shows example rows by ``pair_id``; the report and Data Docs are written, ``data/validated/pairs.parquet`` is
removed so that nothing reads a table that failed), 2 for unusable input (missing file, unreadable Parquet, bad
parameter).  The outputs are published together (:mod:`pipelines.publish`).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import publish
from pipelines.data_config import data_params
from pipelines.errors import stage_entry
from pipelines.params import load_params, section, stage_argparser
from pipelines.schema import read_pairs, write_pairs, write_quarantine
from pipelines.stages.split import SPLITS, SplitParams

REGISTERED = Path("data/registered/pairs.parquet")
VALIDATED = Path("data/validated/pairs.parquet")
VALIDATED_QUARANTINE = Path("data/validated/quarantine.parquet")
SPLIT_DIR = Path("data/splits")


@dataclass(frozen=True)
class Target:
    suite: str
    report: Path
    docs_dir: Path
    validated: Path | None = None        # pairs: the rows that passed, for the split stage
    quarantine: Path | None = None       # pairs: the rows that failed a row-level expectation
    reference: Path = REGISTERED         # splits: the table whose rows the splits must hold


TARGETS = {
    "pairs": Target("registered_pairs", Path("reports/validation.json"), Path("reports/data_docs/pairs"),
                    VALIDATED, VALIDATED_QUARANTINE),
    "splits": Target("split_tables", Path("reports/validation_splits.json"), Path("reports/data_docs/splits"),
                     reference=VALIDATED),
}


def _read(path: Path) -> pa.Table:
    if not path.exists():
        raise FileNotFoundError(f"{path}: table not found (run the previous stage first)")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc


def load_splits(split_dir: Path, splits: list[str]) -> pa.Table:
    tables = []
    for name in splits:
        t = _read(split_dir / f"{name}.parquet")
        tables.append(t.append_column("split", pa.array([name] * len(t), pa.string())))
    return pa.concat_tables(tables, promote_options="permissive")


def run(table_kind: str, params: dict, registered: Path | None = None, split_dir: Path = SPLIT_DIR,
        report: Path | None = None, docs_dir: Path | None = None, validated: Path | None = None,
        quarantine: Path | None = None):
    """Check one table.  ``registered``: the table to check (``pairs``) or the one the splits must hold
    (``splits``; default ``data/validated/pairs.parquet``)."""
    from data_contracts import ValidateParams, check

    cfg = section(params, ValidateParams, "validate")
    size = data_params(params).size
    target = TARGETS[table_kind]
    report = Path(report or target.report)
    docs_dir = Path(docs_dir or target.docs_dir)
    outputs = [report, docs_dir]
    if table_kind == "pairs":
        registered = Path(registered or REGISTERED)
        table, label, context = _read(registered), str(registered), {}
        validated, quarantine = Path(validated or target.validated), Path(quarantine or target.quarantine)
        outputs += [validated, quarantine]
    else:
        reference = Path(registered or target.reference)
        split_cfg = section(params, SplitParams, "split")
        table = load_splits(split_dir, list(SPLITS))
        label = f"{split_dir}/{{{','.join(SPLITS)}}}.parquet"
        context = {"splits": list(SPLITS), "required_splits": split_cfg.active}
        if reference.exists():
            reg = _read(reference).select(["task"])
            context |= {"registered_rows": reg.num_rows, "tasks": sorted(set(reg.column("task").to_pylist()))}
    with publish.staged(f"validate-{table_kind}", *outputs) as staged:
        result = check(table, target.suite, cfg, size, docs_dir=staged[docs_dir], context=context,
                       table_label=label, quarantine_rows=table_kind == "pairs")
        result = replace(result, docs_index=docs_dir / "index.html")
        result.report["data_docs"] = str(result.docs_index)
        staged[report].write_text(json.dumps(result.report, indent=1) + "\n")
        if table_kind == "pairs":
            _write_validated(registered, result, staged[validated] if result.success else None,
                             staged[quarantine])
    return result


def _write_validated(registered: Path, result, validated: Path | None, quarantine: Path) -> None:
    """The rows that passed (only when the contract holds) and the quarantined ones with their reasons."""
    table = read_pairs(registered)
    ids = table.column("pair_id").to_pylist()
    held = set(result.quarantine)
    cols = {c: table.column(c).to_pylist() for c in ("source_a", "source_b", "task", "case_id")}
    write_quarantine([{**{c: cols[c][i] for c in cols}, "stage": "validate",
                       "reason": f"{pid}: {' & '.join(result.quarantine[pid])}"}
                      for i, pid in enumerate(ids) if pid in held], quarantine)
    if validated is not None:
        write_pairs(table.filter(pa.array([pid not in held for pid in ids])), validated)


@stage_entry("validate")
def main(argv: list[str] | None = None) -> int:
    parser = stage_argparser("Check a pipeline table against its data contract (great-expectations).")
    parser.add_argument("--table", choices=sorted(TARGETS), default="pairs",
                        help="pairs: data/registered/pairs.parquet; splits: data/splits/*.parquet")
    args = parser.parse_args(argv)
    result = run(args.table, load_params(args.params, args.overrides))
    docs = f"; Data Docs: {result.docs_index}" if result.docs_index else ""
    if not result.success:
        print(result.message, file=sys.stderr)
        print(f"validate: report {TARGETS[args.table].report}{docs}", file=sys.stderr)
        return 1
    print(f"validate: {result.message}; report {TARGETS[args.table].report}{docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

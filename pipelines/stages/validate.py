"""Validate stage: run the data contracts (great-expectations) on a pipeline table.

``python -m pipelines.stages.validate`` (``--table pairs``, the default) checks
``data/registered/pairs.parquet`` against the ``registered_pairs`` suite and writes
``reports/validation.json`` and the Data Docs site ``reports/data_docs/pairs/``.

``python -m pipelines.stages.validate --table splits`` checks ``data/splits/{train,val,test}.parquet``
(concatenated with a ``split`` column) against the ``split_tables`` suite and writes
``reports/validation_splits.json`` and ``reports/data_docs/splits/``.

Exit status: 0 when every expectation holds, 1 when a contract fails (the message names each failing
expectation and shows example rows by ``pair_id``; the report and Data Docs are written first), 2 for
unusable input (missing file, unreadable Parquet).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.env import quiet_telemetry
from pipelines.params import ParamsError, load_params, section, stage_argparser
from pipelines.stages.split import SPLITS, SplitParams

REGISTERED = Path("data/registered/pairs.parquet")
SPLIT_DIR = Path("data/splits")


@dataclass(frozen=True)
class Target:
    suite: str
    report: Path
    docs_dir: Path


TARGETS = {
    "pairs": Target("registered_pairs", Path("reports/validation.json"), Path("reports/data_docs/pairs")),
    "splits": Target("split_tables", Path("reports/validation_splits.json"), Path("reports/data_docs/splits")),
}


def data_size(params: dict) -> int:
    size = (params.get("data") or {}).get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ParamsError(f"data.size: expected a positive integer, got {size!r}")
    return size


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


def run(table_kind: str, params: dict, registered: Path = REGISTERED, split_dir: Path = SPLIT_DIR,
        report: Path | None = None, docs_dir: Path | None = None):
    from data_contracts import ValidateParams, check

    cfg = section(params, ValidateParams, "validate")
    size = data_size(params)
    target = TARGETS[table_kind]
    report = Path(report or target.report)
    docs_dir = Path(docs_dir or target.docs_dir)
    if table_kind == "pairs":
        table, label, context = _read(registered), str(registered), {}
    else:
        split_cfg = section(params, SplitParams, "split")
        table = load_splits(split_dir, list(SPLITS))
        label = f"{split_dir}/{{{','.join(SPLITS)}}}.parquet"
        context = {"splits": list(SPLITS), "required_splits": split_cfg.active}
        if registered.exists():
            reg = pq.read_table(registered, columns=["task"])
            context |= {"registered_rows": reg.num_rows, "tasks": sorted(set(reg.column("task").to_pylist()))}
    result = check(table, target.suite, cfg, size, docs_dir=docs_dir, context=context, table_label=label)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result.report, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    quiet_telemetry()
    parser = stage_argparser("Check a pipeline table against its data contract (great-expectations).")
    parser.add_argument("--table", choices=sorted(TARGETS), default="pairs",
                        help="pairs: data/registered/pairs.parquet; splits: data/splits/*.parquet")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
        result = run(args.table, params)
    except (FileNotFoundError, ValueError) as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    docs = f"; Data Docs: {result.docs_index}" if result.docs_index else ""
    if not result.success:
        print(result.message, file=sys.stderr)
        print(f"validate: report {TARGETS[args.table].report}{docs}", file=sys.stderr)
        return 1
    print(f"validate: {result.message}; report {TARGETS[args.table].report}{docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

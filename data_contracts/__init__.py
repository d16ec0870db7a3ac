"""Data contracts of the medfuse pipeline, as great-expectations 1.x suites defined in code.

``check(table, suite_name, params, size)`` derives the validation frame (:mod:`data_contracts.frames`),
builds the suite (:data:`data_contracts.suites.SUITES`) and runs it (:mod:`data_contracts.runner`).
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from data_contracts.config import ValidateParams
from data_contracts.frames import pair_frame
from data_contracts.quarantine import apply_row_quarantine
from data_contracts.runner import ContractResult, validate


def check(table: pa.Table, suite_name: str, params: ValidateParams, size: int, docs_dir: str | Path | None = None,
          context: dict | None = None, table_label: str = "", quarantine_rows: bool = False) -> ContractResult:
    """Run the suite.  ``quarantine_rows``: rows that fail only row-level expectations are quarantined (up to
    ``params.max_quarantine_fraction`` of any task, :mod:`data_contracts.quarantine`) instead of failing it;
    otherwise every failure fails the contract."""
    from data_contracts.suites import SUITES   # imports great_expectations (seconds): only when validating

    try:
        build = SUITES[suite_name]
    except KeyError:
        raise ValueError(f"unknown suite {suite_name!r}; known: {sorted(SUITES)}") from None
    frame = pair_frame(table)
    result = validate(frame, suite_name, build(frame, params, size, context or {}), docs_dir, params.examples,
                      table_label)
    return apply_row_quarantine(result, frame, params.max_quarantine_fraction if quarantine_rows else 0.0)


__all__ = ["ContractResult", "ValidateParams", "check"]

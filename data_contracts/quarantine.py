"""Row-level expectations quarantine rows instead of stopping the pipeline (the way ingest treats bad inputs).

An expectation built with ``meta=ROW`` (:mod:`data_contracts.suites`) judges each row on its own: an image out
of range, a non-finite value, a registration that ended below ``validate.min_nmi_after``...  Its failing rows
are *quarantined*, each with the rule it broke and the offending value, and the rest of the table goes on.  The
contract still fails when any table-level expectation fails (schema, types, unique ids, allowed tasks, image
size) or when the quarantine takes more than ``max_fraction`` of the rows of any task: a systematic problem is
not a few bad rows.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import pandas as pd

from data_contracts.runner import ContractResult, _describe


def _values(row: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items() if k != "pair_id")


def apply_row_quarantine(result: ContractResult, frame: pd.DataFrame, max_fraction: float) -> ContractResult:
    """``result`` with its row-level failures turned into quarantined rows (see the module docstring)."""
    entries = result.report["expectations"]
    reasons: dict[str, list[str]] = {}
    for e in entries:
        for row in e.pop("failing_rows", []):
            if isinstance(row, dict) and row.get("pair_id") is not None:
                reasons.setdefault(str(row["pair_id"]), []).append(f"{e['rule']} ({_values(row)})")
    table_failed = [e for e in entries if not e["success"] and e.get("scope") != "row"]
    row_failed = [e for e in entries if not e["success"] and e.get("scope") == "row"]
    task_of = dict(zip(frame["pair_id"].astype(str), frame["task"].astype(str))) if len(frame) else {}
    totals = Counter(task_of.values())
    held = Counter(task_of.get(pid, "?") for pid in reasons)
    fractions = {t: held[t] / totals[t] for t in sorted(held) if totals.get(t)}
    over = {t: f for t, f in fractions.items() if f > max_fraction}
    success = not table_failed and not over
    report = dict(result.report)
    report["success"] = success
    report["failed"] = [e["expectation"] for e in table_failed + (row_failed if over else [])]
    report["quarantine"] = {
        "max_fraction": max_fraction, "pairs": len(reasons),
        "per_task": {t: {"quarantined": held[t], "rows": totals[t], "fraction": round(f, 6)}
                     for t, f in fractions.items()},
        "rows": [{"pair_id": pid, "task": task_of.get(pid), "reasons": rs} for pid, rs in sorted(reasons.items())],
    }
    where = f"data contract {result.suite!r} on {report.get('table') or 'the table'}"
    n_row = sum(e.get("scope") == "row" for e in entries)
    if success and reasons:
        shown = "; ".join(f"{pid}: {' & '.join(rs)}" for pid, rs in sorted(reasons.items())[:10])
        message = (f"{where}: all {len(entries) - n_row} table-level expectations met; {len(reasons)} of "
                   f"{len(frame)} pairs quarantined by {len(row_failed)} of {n_row} row-level expectations (at "
                   f"most {max_fraction:.1%} of a task's pairs may be): {shown}"
                   + (" ..." if len(reasons) > 10 else ""))
    elif success:
        message = (f"{where}: all {len(entries)} expectations met ({len(entries) - n_row} table-level, "
                   f"{n_row} row-level)")
    else:
        head = [f"{where} failed:"]
        if table_failed:
            head.append(f"{len(table_failed)} table-level expectation(s) failed")
        for t, f in over.items():
            head.append(f"row-level expectations fail {held[t]} of {totals[t]} {t} pairs ({f:.1%} > "
                        f"validate.max_quarantine_fraction {max_fraction:.1%})")
        shown = table_failed + (row_failed if over else [])
        message = " ".join(head) + "\n" + "\n".join(_describe(e) for e in shown)
    return dataclasses.replace(result, success=success, report=report, message=message, quarantine=reasons)

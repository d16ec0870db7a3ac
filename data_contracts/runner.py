"""Run a suite with great-expectations 1.x (ephemeral context, offline) and explain the result.

:func:`validate` builds an ephemeral context (progress bars off, no analytics, no cloud), a pandas data
source with one dataframe asset, the suite, a validation definition and a checkpoint whose
``UpdateDataDocsAction`` writes a Data Docs site (``medfuse_contracts``) under ``docs_dir``.  The result is
condensed into a JSON report (per expectation: rule, success, unexpected count, example rows identified by
``pair_id``, observed value) and a failure message that names each failing expectation and shows examples.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.env import quiet_telemetry

SITE_NAME = "medfuse_contracts"


@dataclass
class ContractResult:
    suite: str
    success: bool
    report: dict
    message: str
    docs_index: Path | None
    quarantine: dict[str, list[str]] = field(default_factory=dict)   # pair_id -> reasons (row-level failures)


def _plain(value):
    """numpy / pandas scalars and containers -> JSON-able Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _gx():
    quiet_telemetry()
    for key in [k for k in os.environ if k.startswith("GX_CLOUD_")]:
        raise RuntimeError(f"{key} is set: the data contracts run offline; unset GX_CLOUD_* variables")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="great_expectations")
    import great_expectations as gx
    return gx


def _id_first(row):
    if isinstance(row, dict) and "pair_id" in row:
        return {"pair_id": row["pair_id"], **{k: v for k, v in row.items() if k != "pair_id"}}
    return row


def _summarise(result, examples: int) -> dict:
    cfg = result.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id", "result_format")}
    res = dict(result.result or {})
    exc = result.exception_info or {}
    raised = bool(exc.get("raised_exception"))
    entry = {
        "expectation": cfg.type,
        "kwargs": _plain(kwargs),
        "rule": cfg.description,
        "success": bool(result.success) and not raised,
        "unexpected_count": res.get("unexpected_count"),
        "element_count": res.get("element_count"),
        "observed_value": _plain(res.get("observed_value")),
    }
    if res.get("partial_missing_list"):
        entry["missing"] = _plain(res["partial_missing_list"])
    if res.get("details"):
        entry["details"] = _plain(res["details"])
    if res.get("unexpected_index_list"):
        entry["examples"] = _plain([_id_first(r) for r in res["unexpected_index_list"][:examples]])
    elif res.get("partial_unexpected_list"):
        entry["examples"] = _plain(res["partial_unexpected_list"][:examples])
    if raised:
        entry["exception"] = str(exc.get("exception_message"))
    entry["scope"] = (cfg.meta or {}).get("scope", "table")
    if entry["scope"] == "row" and not entry["success"] and not raised:
        entry["failing_rows"] = _plain([_id_first(r) for r in res.get("unexpected_index_list") or []])
    return entry


def _describe(e: dict) -> str:
    args = ", ".join(f"{k}={v}" for k, v in e["kwargs"].items()
                     if k in ("column", "column_A", "column_B", "value", "min_value", "max_value", "value_set")
                     and v is not None)
    head = f"  FAILED {e['expectation']}({args})"
    if e.get("rule"):
        head += f"\n    rule: {e['rule']}"
    lines = [head]
    if e.get("exception"):
        lines.append(f"    error: {e['exception']}")
    if e.get("unexpected_count"):
        lines.append(f"    {e['unexpected_count']} of {e['element_count']} rows break it; examples:")
        for ex in e.get("examples", []):
            lines.append("      " + (", ".join(f"{k}={v}" for k, v in ex.items()) if isinstance(ex, dict) else str(ex)))
    elif e.get("missing"):
        lines.append(f"    missing: {e['missing']}")
    elif e.get("details"):
        lines.append(f"    details: {json.dumps(e['details'])[:500]}")
    elif e.get("observed_value") is not None:
        lines.append(f"    observed: {json.dumps(e['observed_value'])[:500]}")
    return "\n".join(lines)


def validate(frame: pd.DataFrame, suite_name: str, expectations: list, docs_dir: str | Path | None,
             examples: int = 5, table_label: str = "") -> ContractResult:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (ctx.data_sources.add_pandas("medfuse").add_dataframe_asset(suite_name)
                 .add_batch_definition_whole_dataframe("whole_table"))
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
    for e in expectations:
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{suite_name}_check", data=batch_def,
                                                                suite=suite))
    id_cols = ["pair_id"] if "pair_id" in frame.columns else []
    result_format = {"result_format": "COMPLETE", "partial_unexpected_count": examples,
                     "unexpected_index_column_names": id_cols}
    actions = []
    docs_index = None
    if docs_dir is not None:
        docs_dir = Path(docs_dir).resolve()
        docs_dir.mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site(site_name=SITE_NAME, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME]))
        docs_index = docs_dir / "index.html"
    cp = ctx.checkpoints.add(gx.Checkpoint(name=f"{suite_name}_checkpoint", validation_definitions=[vd],
                                           actions=actions, result_format=result_format))
    cres = cp.run(batch_parameters={"dataframe": frame})
    if docs_dir is not None:                        # the site loads no CDN: vendored assets (offline_docs.py)
        from data_contracts.offline_docs import make_offline
        make_offline(docs_dir)
    (suite_result,) = cres.run_results.values()
    entries = [_summarise(r, examples) for r in suite_result.results]
    failed = [e for e in entries if not e["success"]]
    stats = _plain(dict(suite_result.statistics))
    report = {"suite": suite_name, "table": table_label, "success": not failed, "rows": int(len(frame)),
              "statistics": stats, "failed": [e["expectation"] for e in failed],
              "data_docs": None if docs_index is None else str(docs_index), "expectations": entries}
    if failed:
        message = (f"data contract {suite_name!r} on {table_label or 'the table'} failed: {len(failed)} of "
                   f"{len(entries)} expectations\n" + "\n".join(_describe(e) for e in failed))
    else:
        message = f"data contract {suite_name!r} on {table_label or 'the table'}: all {len(entries)} expectations met"
    return ContractResult(suite_name, not failed, report, message, docs_index)

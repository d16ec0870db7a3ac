"""Plots stage: the evaluation as static per-task charts, ``reports/plots/eval_<task>.svg``.

``dvc plots show`` renders CSV plots with Vega loaded from a CDN (blank offline) and its default template reads
the text column ``method`` as a number and draws every task in one plot.  This stage reads the evaluate stage's
per-method table (``evaluate.per_method_csv``) and writes one SVG per task: a panel per metric (the reference
evaluator's 12 columns and Nabf), the methods (model, champion, every baseline) on a categorical axis, one bar
each, the model highlighted.  ``dvc.yaml`` declares the folder as image plots, which ``dvc plots show`` embeds
as ``<img>`` with no script at all.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from pipelines import publish
from pipelines.errors import InputError, stage_entry
from pipelines.params import section, stage_main_args

OUT_DIR = Path("reports/plots")
EXTRA_COLUMNS = ("Nabf",)


def read_per_method(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{task: {method: {column: value}}}`` from the evaluate stage's CSV (non-numbers become NaN)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: per-method evaluation table not found (run the evaluate stage first)")
    out: dict[str, dict[str, dict[str, float]]] = {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"task", "method"} <= set(rows[0]):
        raise InputError(f"{path}: expected a header with 'task' and 'method' and at least one row")
    for row in rows:
        vals = {}
        for k, v in row.items():
            if k in ("task", "method"):
                continue
            try:
                vals[k] = float(v)
            except (TypeError, ValueError):
                vals[k] = math.nan
        out.setdefault(row["task"], {})[row["method"]] = vals
    return out


def chart_columns(table: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    from pipelines.metrics import CORE_COLUMNS
    present = {c for methods in table.values() for vals in methods.values() for c in vals}
    return [c for c in (*CORE_COLUMNS, *EXTRA_COLUMNS) if c in present]


def run(per_method_csv: Path, model_name: str, out_dir: Path = OUT_DIR) -> list[Path]:
    from pipelines.metrics.registry import METRICS
    from pipelines.reporting.charts import method_bars
    table = read_per_method(per_method_csv)
    cols = chart_columns(table)
    if not cols:
        raise InputError(f"{per_method_csv}: none of the metric columns to chart")
    lower = [c for c in cols if c in METRICS and METRICS.get(c).better == "lower"]
    written = []
    with publish.staged("plots", out_dir) as staged:
        for task, methods in sorted(table.items()):
            name = f"eval_{task}.svg"
            method_bars(methods, cols, staged[out_dir] / name,
                        title=f"{task}: model vs champion vs baselines ({len(methods)} methods, test split)",
                        lower_is_better=lower, highlight=[model_name, "champion"])
            written.append(out_dir / name)
    return written


@stage_entry("plots")
def main(argv: list[str] | None = None) -> int:
    from pipelines.stages.evaluate import EvaluateParams
    _, params = stage_main_args("Per-task static charts of the evaluation (reports/plots/eval_<task>.svg)", argv)
    p = section(params, EvaluateParams, "evaluate")
    for path in run(Path(p.per_method_csv), p.model_name):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

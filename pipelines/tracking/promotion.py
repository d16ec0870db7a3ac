"""Champion / challenger after the evaluate stage (called by ``pipelines/stages/evaluate.py``).

For every task whose model the evaluate stage scored (``evaluate.model``, e.g. ``models/final/{task}``, with the
``{task}`` placeholder for per-task models), the model's registered version (``models/final/<task>/model.json``,
written by the train stage) is compared with the current ``champion`` of ``medfuse-<task>`` *evaluated now on the
same test split* with the same protocol; ``champion`` moves only if the new version wins under
``mlflow.promotion`` in ``params.yaml``.  The comparison (model vs champion vs every baseline) is logged on the
model's training run (metrics ``test/<method>/<column>``, artifact ``evaluation/comparison.json``) and returned
for ``metrics/eval.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipelines.params import load_params, section
from pipelines.tracking.registry import CHAMPION, PromotionRule, decide_promotion, version_by_alias

FINAL_DIR = Path("models/final")
#: summary-level objectives (same formulas as pipelines/training/objective.py, on the evaluate stage's means)
RULE_METRICS: dict[str, Callable[[dict], float]] = {
    "qabf_ssim_min": lambda s: s["Qabf"] + 2.0 * min(s["SSIM_A"], s["SSIM_B"]),
    "qabf_ssim": lambda s: s["Qabf"] + s["SSIM"],
}
HEADLINE = ("Qabf", "SSIM", "SSIM_A", "SSIM_B", "MI", "VIF", "SCD", "EN", "SD", "SF", "AG", "CC", "PSNR", "MSE")


@dataclass
class MlflowParams:
    """``mlflow:`` section."""
    promotion: PromotionRule = field(default_factory=PromotionRule)


def rule_value(method_summary: dict[str, Any], metric: str) -> float:
    if metric in RULE_METRICS:
        return float(RULE_METRICS[metric](method_summary))
    if metric not in method_summary:
        raise KeyError(f"mlflow.promotion.metric {metric!r}: not an objective {sorted(RULE_METRICS)} nor a "
                       f"column of the evaluation ({sorted(method_summary)})")
    return float(method_summary[metric])


def model_ref(template: str, task: str) -> str:
    return template.replace("{task}", task)


def load_rule(params_path: str | Path = "params.yaml") -> PromotionRule:
    p = Path(params_path)
    params = load_params(p) if p.exists() else {}
    return section(params, MlflowParams, "mlflow").promotion


def _log_comparison(run_id: str, task: str, methods: dict[str, dict], record: dict) -> None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient
    import time
    client = MlflowClient()
    ts = int(time.time() * 1000)
    metrics = [Metric(f"test/{m}/{c}", float(v), ts, 0) for m, s in methods.items() for c, v in s.items()
               if c in HEADLINE and isinstance(v, (int, float)) and math.isfinite(v)]
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500])
    client.log_text(run_id, json.dumps({"task": task, "promotion": record, "methods": methods}, indent=2,
                                       default=str), "evaluation/comparison.json")
    client.set_tag(run_id, "medfuse.promotion", record["reason"][:5000])


def promote_after_evaluation(summary: dict, tasks: list, p, score_task: Callable, progress,
                             rule: PromotionRule | None = None) -> dict[str, Any]:
    """Decide ``champion`` per task; returns ``{task: decision record}`` (also logged to MLflow)."""
    from pipelines.fusers import checked, load_model_fuser
    from pipelines.metrics import aggregate
    from pipelines.tracking.setup import configure
    rule = rule or load_rule()
    configure(Path.cwd())
    out: dict[str, Any] = {}
    for td in tasks:
        if p.model_name not in summary["tasks"].get(td.task, {}):
            continue                                   # no model for this task (baselines only)
        info_path = Path(model_ref(p.model, td.task))
        info_path = (info_path if info_path.is_dir() else info_path.parent) / "model.json"
        if not info_path.exists():
            out[td.task] = {"promoted": False, "reason": f"{info_path}: no registered model for this task"}
            continue
        info = json.loads(info_path.read_text())
        name, version = info["registered_model"], info.get("version")
        methods = dict(summary["tasks"][td.task])
        new = rule_value(methods[p.model_name], rule.metric)
        current = version_by_alias(name, CHAMPION)
        champion_score = None
        if current is not None and str(current.version) != str(version):
            fuser = checked(load_model_fuser(f"models:/{name}@{CHAMPION}"), "champion")
            per_method, _ = score_task(td, {"champion": fuser}, p, progress)
            methods["champion"] = aggregate(per_method["champion"])
            champion_score = rule_value(methods["champion"], rule.metric)
        record = decide_promotion(name, version, new, champion_score, rule)
        if info.get("run_id"):
            _log_comparison(info["run_id"], td.task, methods, record)
        print(f"[promotion] {td.task}: {record['reason']}", flush=True)
        out[td.task] = record
    return out

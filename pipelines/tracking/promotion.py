"""Champion / challenger after the evaluate stage (called by ``pipelines/stages/evaluate.py``).

For every task whose model the evaluate stage scored (``evaluate.model``, e.g. ``models/final/{task}``), the
model's registered version (``models/final/<task>/model.json``, written by the train stage) is compared, on the
same test split and with the same protocol, with

* every classical baseline the stage scored (``evaluate.baselines`` minus the degenerate return_a/return_b), and
* the current ``champion`` of ``medfuse-<task>``, *evaluated now* (when there is one).

The rule (``mlflow.promotion`` in params.yaml, :class:`~pipelines.tracking.registry.PromotionRule`) is computed
**per image** and averaged over the test pairs (``RULE_METRICS``); ``champion`` moves only when the challenger
beats the best classical baseline *and* the champion (:func:`~pipelines.tracking.registry.decide`).  The default
metric, ``headline_win_rate``, is the per-image win rate against the classical baselines on the eight headline
metrics (:mod:`pipelines.metrics.comparison`).

Written for each decision: the record in ``metrics/eval.json`` (``promotion``) and ``reports/eval.md``; tags and a
description on the model version; on the model's training run the metrics ``test_<metric>/<method>`` (grouped per
metric in the MLflow UI, so each chart puts the model beside the champion and every baseline), the rule metric
``promotion_<metric>/<method>``, and the artifacts ``evaluation/comparison.csv`` (methods x metrics),
``evaluation/comparison.png`` (a bar chart per metric) and ``evaluation/decision.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from pipelines.metrics.comparison import HEADLINE, headline_wins, per_image_win_rate
from pipelines.params import load_params, section
from pipelines.tracking.registry import CHAMPION, PromotionRule, apply_decision, decide, version_by_alias

FINAL_DIR = Path("models/final")
#: the baselines a model must beat (return_a / return_b are reported but are not fusion methods)
CLASSICAL_BASELINES: tuple[str, ...] = ("mean", "max", "pca", "laplacian", "dwt", "guided")
PerImage = Mapping[str, np.ndarray]


def _qabf_ssim_min(v: PerImage, refs: Mapping[str, PerImage]) -> np.ndarray:
    return np.asarray(v["Qabf"]) + 2.0 * np.minimum(v["SSIM_A"], v["SSIM_B"])


def _qabf_ssim(v: PerImage, refs: Mapping[str, PerImage]) -> np.ndarray:
    return np.asarray(v["Qabf"]) + np.asarray(v["SSIM"])


#: per-image rule metrics: (values of one method, per-image values of the classical baselines) -> (N,)
RULE_METRICS: dict[str, Callable[[PerImage, Mapping[str, PerImage]], np.ndarray]] = {
    "headline_win_rate": lambda v, refs: per_image_win_rate(v, refs),
    "qabf_ssim_min": _qabf_ssim_min,      # the formulas of pipelines/training/objective.py, per image
    "qabf_ssim": _qabf_ssim,
}


@dataclass
class MlflowParams:
    """``mlflow:`` section."""
    promotion: PromotionRule = field(default_factory=PromotionRule)


def load_rule(params_path: str | Path = "params.yaml") -> PromotionRule:
    p = Path(params_path)
    params = load_params(p) if p.exists() else {}
    return section(params, MlflowParams, "mlflow").promotion


def check_rule(rule: PromotionRule, baselines: list[str], columns: list[str]) -> None:
    """Refuse a rule the evaluation cannot compute (before any model is scored)."""
    from pipelines.params import ParamsError
    if rule.metric not in RULE_METRICS and rule.metric not in columns:
        raise ParamsError(f"mlflow.promotion.metric: {rule.metric!r} is neither a rule metric "
                          f"{sorted(RULE_METRICS)} nor a metric column {sorted(columns)}")
    if not [b for b in baselines if b in CLASSICAL_BASELINES]:
        raise ParamsError(f"evaluate.baselines: promotion needs at least one classical baseline "
                          f"{list(CLASSICAL_BASELINES)} to compare the model with, got {baselines}")


def rule_scores(per_image: Mapping[str, PerImage], metric: str) -> dict[str, float]:
    """``{method: mean over test pairs of the per-image rule metric}`` for every method in ``per_image``; the
    win rate's reference set is the classical baselines among them.  NaN images are left out of a mean."""
    refs = {m: v for m, v in per_image.items() if m in CLASSICAL_BASELINES}
    out = {}
    for method, values in per_image.items():
        if metric in RULE_METRICS:
            col = RULE_METRICS[metric](values, refs)
        elif metric in values:
            col = np.asarray(values[metric], dtype=np.float64)
        else:
            raise KeyError(f"mlflow.promotion.metric {metric!r}: not a rule metric {sorted(RULE_METRICS)} nor a "
                           f"column of the evaluation ({sorted(values)})")
        col = np.asarray(col, dtype=np.float64)
        out[method] = float(np.nanmean(col)) if np.isfinite(col).any() else float("nan")
    return out


def bar_against_baselines(summary_methods: Mapping[str, Mapping[str, float]], model: str) -> dict[str, list[str]]:
    """``{baseline: [headline metrics on which the model's mean is higher]}`` (the wins-of-8 bar)."""
    mine = summary_methods[model]
    return {b: headline_wins(mine, v) for b, v in summary_methods.items()
            if b != model and b != "champion"}


def _description(task: str, record: dict, bar: dict[str, list[str]], info: dict) -> str:
    wins = ", ".join(f"{b} {len(w)}/8" for b, w in bar.items())
    return (f"medfuse {task} fusion model ({(info.get('spec') or {}).get('preset')}), trained on data "
            f"{info.get('data_version', 'see run tags')}. Test split: {record['metric']} {record['challenger']:.4f} "
            f"vs best classical baseline {record['best_baseline']} {record['best_baseline_score']:.4f}"
            + (f" and champion v{record['champion_version']} {record['champion']:.4f}"
               if record.get("champion") is not None else "")
            + f". Headline wins of 8 (means): {wins}. Decision: {record['reason']}.")


def _comparison_png(task: str, methods: Mapping[str, Mapping[str, float]], model: str, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(methods)
    colours = ["tab:red" if n == model else "tab:orange" if n == "champion" else "tab:grey" for n in names]
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.5))
    for ax, k in zip(axes.flat, HEADLINE):
        vals = [methods[n].get(k, float("nan")) for n in names]
        ax.bar(range(len(names)), [0 if not np.isfinite(v) else v for v in vals], color=colours)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_title(k)
    fig.suptitle(f"{task}: test-split means ({model} red, champion orange, baselines grey)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _log_comparison(run_id: str, task: str, methods: dict[str, dict], rule_vals: dict[str, float],
                    record: dict, model: str) -> None:
    """MLflow: per-metric comparison (metrics grouped per metric), table + chart + decision artifacts."""
    import csv
    import tempfile
    import time

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient
    client = MlflowClient()
    ts = int(time.time() * 1000)
    metrics = [Metric(f"test_{c}/{m}", float(v), ts, 0) for m, s in methods.items() for c, v in s.items()
               if c in (*HEADLINE, "AG", "CC", "PSNR", "MSE") and isinstance(v, (int, float)) and math.isfinite(v)]
    metrics += [Metric(f"promotion_{record['metric']}/{m}", v, ts, 0) for m, v in rule_vals.items()
                if math.isfinite(v)]
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500])
    with tempfile.TemporaryDirectory(prefix="medfuse-cmp-") as tmp:
        table = Path(tmp) / "comparison.csv"
        with table.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["method", record["metric"], *HEADLINE])
            for m, s in methods.items():
                w.writerow([m, rule_vals.get(m), *[s.get(k) for k in HEADLINE]])
        client.log_artifact(run_id, str(table), "evaluation")
        client.log_artifact(run_id, str(_comparison_png(task, methods, model, Path(tmp) / "comparison.png")),
                            "evaluation")
    client.log_text(run_id, json.dumps({"task": task, "promotion": record, "rule": rule_vals,
                                        "methods": methods}, indent=2, default=str), "evaluation/decision.json")
    client.set_tag(run_id, "medfuse.promotion", record["reason"][:5000])
    client.set_tag(run_id, "medfuse.promoted", str(record["promoted"]).lower())


def promote_after_evaluation(summary: dict, per_image: Mapping[str, Mapping[str, PerImage]], tasks: list, p,
                             score_task: Callable, progress, rule: PromotionRule | None = None) -> dict[str, Any]:
    """Decide ``champion`` per task; returns ``{task: decision record}`` (also logged to MLflow).

    ``per_image``: ``{task: {method: {column: (N,) values}}}`` as the evaluate stage scored them; the current
    champion (when it is another version) is scored here on the same pairs and added as method ``champion``."""
    from pipelines.fusers import checked, load_model_fuser
    from pipelines.metrics import aggregate
    from pipelines.tracking.setup import configure
    rule = rule or load_rule()
    configure(Path.cwd())
    out: dict[str, Any] = {}
    for td in tasks:
        if p.model_name not in per_image.get(td.task, {}):
            continue                                   # no model for this task (baselines only)
        info_path = Path(p.model.replace("{task}", td.task))
        info_path = (info_path if info_path.is_dir() else info_path.parent) / "model.json"
        if not info_path.exists():
            out[td.task] = {"promoted": False, "reason": f"{info_path}: no registered model for this task"}
            continue
        info = json.loads(info_path.read_text())
        name, version = info["registered_model"], info.get("version")
        methods = dict(summary["tasks"][td.task])
        values = dict(per_image[td.task])
        current = version_by_alias(name, CHAMPION)
        cur_version = str(current.version) if current is not None else None
        already = cur_version is not None and cur_version == str(version)
        if cur_version is not None and not already:
            fuser = checked(load_model_fuser(f"models:/{name}@{CHAMPION}"), "champion")
            champ, _ = score_task(td, {"champion": fuser}, p, progress)
            values["champion"] = champ["champion"]
            methods["champion"] = aggregate(champ["champion"])
        rule_vals = rule_scores(values, rule.metric)
        decision = decide(rule, rule_vals[p.model_name], rule_vals.get("champion"),
                          None if already else cur_version,
                          {m: v for m, v in rule_vals.items() if m in CLASSICAL_BASELINES}, already_champion=already)
        bar = bar_against_baselines(methods, p.model_name)
        record_preview = {**decision.__dict__}
        record = apply_decision(name, version, decision,
                                description=_description(td.task, record_preview, bar, info))
        record["rule_scores"] = rule_vals
        record["headline_wins_vs"] = {b: {"wins": len(w), "metrics": w} for b, w in bar.items()}
        if "champion" in methods:
            summary["tasks"][td.task]["champion"] = methods["champion"]
        if info.get("run_id"):
            _log_comparison(info["run_id"], td.task, methods, rule_vals, record, p.model_name)
        print(f"[promotion] {td.task}: {record['reason']}", flush=True)
        out[td.task] = record
    return out

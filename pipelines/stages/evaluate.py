"""Evaluate stage: fuse the test split with the model (when given) and every baseline, score everything with
the reference metrics, and write

* ``metrics/eval.json``          - DVC metrics: per task, per method, the mean of every metric (+ NaN counts);
* ``metrics/eval_per_method.csv`` - DVC plots data: one row per (task, method), metric columns;
* ``reports/eval_per_image.csv``  - every image's values (task, pair_id, method, metrics...);
* ``reports/eval.md``             - per task: model vs baselines vs published values, protocol stated;
* ``reports/figures/eval_<task>.png`` - grids A | B | each method (colour B recombined for viewing).

Convention (FUSION_METRICS.md §2): sources are rounded to 0..255 integers; fused outputs are, by default,
min-max stretched per image and rounded (``evaluate.stretch``), as CDDFuse's test_MIF.py does - the
setting is recorded in every output.  Pseudo-colour B is scored on its luma, as the reference does.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from pipelines import publish
from pipelines.errors import stage_entry
from pipelines.params import ParamsError, section, stage_main_args, to_dict

DEFAULT_BASELINES = ["return_a", "return_b", "mean", "max", "pca", "laplacian", "dwt", "guided"]


@dataclass
class EvaluateParams:
    test_split: str = "data/splits/test.parquet"
    model: str | None = None                # checkpoint path or MLflow model URI; null = baselines only
    model_name: str = "model"
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))
    stretch: bool = True                    # min-max stretch fused outputs before rounding (CDDFuse)
    ssim_data_range: float = 2.0            # 2 = CDDFuse/DDFM/EMMA; 255 = FILM
    fmi: bool = False                       # FMI_pixel/dct/w are slow (~1 s per image and method)
    batch_size: int = 16
    figure_rows: int = 3                    # pairs shown per task in the grid
    metrics_json: str = "metrics/eval.json"
    per_method_csv: str = "metrics/eval_per_method.csv"
    per_image_csv: str = "reports/eval_per_image.csv"
    report: str = "reports/eval.md"
    figures_dir: str = "reports/figures"

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.figure_rows < 0:
            raise ParamsError(f"evaluate.batch_size must be >= 1 and evaluate.figure_rows >= 0, got "
                              f"{self.batch_size} and {self.figure_rows}")


@dataclass
class EvaluateResult:
    summary: dict
    outputs: list[Path]


@dataclass
class _TaskData:
    task: str
    pair_ids: list[str]
    a: np.ndarray
    b: np.ndarray
    b_cb: np.ndarray | None
    b_cr: np.ndarray | None
    b_native: np.ndarray | None = None       # multi-resolution task: B as stored (1/b_scale of A), for the model
    b_scale: int = 1


def load_tasks(path: str | Path) -> list[_TaskData]:
    from pipelines.metrics.multires import scoring_view
    from pipelines.schema import read_pairs, table_b_scale, table_images
    table = read_pairs(path)
    if len(table) == 0:
        raise ValueError(f"{path}: the test split has no rows")
    tasks = table.column("task").to_pylist()
    out = []
    for task in sorted(set(tasks)):
        sub = table.filter(np.asarray([t == task for t in tasks]))
        has_cb = [v is not None for v in sub.column("b_cb").to_pylist()]
        if any(has_cb) and not all(has_cb):
            raise ValueError(f"{path}: task {task} mixes grey and pseudo-colour B; split it by modality")
        out.append(scoring_view(_TaskData(         # B at A's size (bicubic) for scoring when B is 1/r of A
            task=task, pair_ids=sub.column("pair_id").to_pylist(),
            a=table_images(sub, "a").astype(np.float64), b=table_images(sub, "b").astype(np.float64),
            b_cb=table_images(sub, "b_cb").astype(np.float64) if all(has_cb) else None,
            b_cr=table_images(sub, "b_cr").astype(np.float64) if all(has_cb) else None), table_b_scale(sub)))
    return out


def build_fusers(p: EvaluateParams) -> dict[str, Callable]:
    from pipelines.baselines import BASELINES
    from pipelines.fusers import checked, load_model_fuser
    fusers: dict[str, Callable] = {}
    if p.model and "{task}" not in p.model:     # "{task}": per-task models, loaded in run()
        fusers[p.model_name] = checked(load_model_fuser(p.model), p.model_name)
    for name in p.baselines:
        if name in fusers:
            raise ValueError(f"evaluate.baselines: {name!r} clashes with evaluate.model_name")
        fusers[name] = checked(BASELINES.get(name), name)
    return fusers


def score_task(td: _TaskData, fusers: dict[str, Callable], p: EvaluateParams, progress) -> tuple[dict, dict]:
    """-> ({method: {column: (N,) array}}, {method: fused (N, H, W) in [0, 1]})."""
    from pipelines.metrics import fused_to_255, metric_names, score_batch, source_to_255
    from pipelines.metrics.multires import fuser_input_b
    names = metric_names(include_slow=p.fmi)
    options = {"SSIM": {"data_range": p.ssim_data_range}}
    A255, B255 = source_to_255(td.a), source_to_255(td.b)
    per_method, fused_all = {}, {}
    for method, fuser in fusers.items():
        cols: dict[str, list[np.ndarray]] = {}
        fused_parts = []
        for s in range(0, len(td.a), p.batch_size):
            sl = slice(s, s + p.batch_size)
            fused = fuser(td.a[sl], fuser_input_b(fuser, td)[sl])
            fused_parts.append(fused)
            res = score_batch(fused_to_255(fused, stretch=p.stretch), A255[sl], B255[sl], metrics=names,
                              options=options)
            for c, v in res.items():
                cols.setdefault(c, []).append(v)
            progress.update(fused.shape[0])
        per_method[method] = {c: np.concatenate(v) for c, v in cols.items()}
        fused_all[method] = np.concatenate(fused_parts)
    return per_method, fused_all


def _figure(td: _TaskData, fused_all: dict, p: EvaluateParams, out_dir: Path) -> Path:
    from pipelines.baselines import recolour
    from pipelines.reporting.figures import image_grid
    n = min(p.figure_rows, len(td.a))
    idx = np.linspace(0, len(td.a) - 1, n).round().astype(int) if n else []
    rows = []
    for i in idx:
        cb = None if td.b_cb is None else td.b_cb[i]
        cr = None if td.b_cr is None else td.b_cr[i]
        row = [td.a[i], recolour(td.b[i], cb, cr)]
        row += [recolour(f[i], cb, cr) for f in fused_all.values()]
        rows.append(row)
    titles = ["A (MRI)", "B", *fused_all.keys()]
    return image_grid(rows, titles, [td.pair_ids[i] for i in idx], out_dir / f"eval_{td.task}.png",
                      title=f"{td.task}: sources and fusions" + (" (colour restored from B's Cb/Cr)"
                                                                  if td.b_cb is not None else ""))


def protocol_text(p: EvaluateParams) -> str:
    return (f"CDDFuse Evaluator conventions (FUSION_METRICS.md): sources rounded to 0..255; fused outputs "
            f"{'min-max stretched per image, then ' if p.stretch else ''}x255 and rounded half-to-even; "
            f"metrics on single-channel luma; MI in nats (sum over sources); SSIM = sum over sources with "
            f"data_range={p.ssim_data_range:g}; unweighted mean over pairs within a task; NaN values "
            f"(SCD when F equals a source) excluded from the mean and counted.")


def write_report(summary: dict, p: EvaluateParams, figures: dict[str, Path], path: Path) -> Path:
    from pipelines.metrics import CORE_COLUMNS
    from pipelines.metrics.multires import protocol_lines
    from pipelines.reporting.published import load_published, published_rows
    from pipelines.reporting.tables import markdown_table
    pub = load_published()
    cols = [*CORE_COLUMNS, "Nabf"] + (["FMI_pixel", "FMI_dct", "FMI_w"] if p.fmi else [])
    lines = ["# Evaluation", "", f"**Protocol.** {protocol_text(p)}", ""]
    lines += protocol_lines(summary["convention"].get("b_scale", {}))
    if not p.model:
        lines += ["Model: none (evaluate.model is null) - baselines only.", ""]
    promotion = summary.get("promotion") or {}
    for task, methods in summary["tasks"].items():
        lines += [f"## {task}", "", f"{methods[next(iter(methods))]['n_images']} test pairs.", ""]
        if p.model and p.model_name in methods:
            lines += [f"Model: `{p.model.replace('{task}', task)}` (as `{p.model_name}`).", ""]
        if task in promotion:
            lines += promotion_lines(promotion[task], p.model_name) + [""]
        rows, notes = [], {}
        for method, vals in methods.items():
            rows.append({"method": method, **{c: vals.get(c) for c in cols}})
            for c in cols:
                if f"{c}_nan_count" in vals:
                    notes[(len(rows) - 1, c)] = f"({vals[f'{c}_nan_count']} NaN)"
        prow = published_rows(task)
        for r in prow:
            rows.append({"method": f"{r['method']} [published: {r['source']}]", **{c: r.get(c) for c in cols}})
        lines += [markdown_table(rows, cols, notes=notes), ""]
        if prow:
            for src in sorted({r["source"] for r in prow}):
                s = pub["sources"][src]
                lines += [f"- `{src}`: {' '.join(s['citation'].split())} Protocol: {' '.join(s['protocol'].split())}"
                          f" Comparable when: {s['comparable_when']}."]
        else:
            lines += ["- No published values with a comparable protocol are on file for this task."]
        lines += [f"- {' '.join(pub.get('review_table1', '').split())}", ""]
        if task in figures:
            lines += [f"![{task}](figures/{figures[task].name})", ""]
    lines += ["Lower is better for MSE and Nabf; higher for the rest. return_a / return_b are degenerate "
              "baselines: a model that collapses onto one modality scores like them.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def promotion_lines(rec: dict, model_name: str) -> list[str]:
    """The promotion decision of one task, for reports/eval.md."""
    if "metric" not in rec:
        return [f"**Promotion:** not decided: {rec.get('reason')}"]
    head = (f"**Promotion ({rec['metric']}, per image, mean over the test pairs; {rec['mode']}, min_delta "
            f"{rec['min_delta']:g}): {'PROMOTED to champion' if rec['promoted'] else 'not promoted'}** - "
            f"{rec['reason']}.")
    scores = rec.get("rule_scores", {})
    order = [model_name] + (["champion"] if "champion" in scores else []) + \
        sorted((m for m in scores if m not in (model_name, "champion")), key=lambda m: -scores[m])
    table = ["", f"| method | {rec['metric']} | headline wins of 8 for {model_name} (means) |", "|---|---|---|"]
    wins = rec.get("headline_wins_vs", {})
    for m in order:
        w = wins.get(m)
        mark = " (best classical baseline)" if m == rec.get("best_baseline") else ""
        table.append(f"| {m}{mark} | {scores[m]:.4f} | "
                     + (f"{w['wins']} ({', '.join(w['metrics'])})" if w else "") + " |")
    return [head] + table


#: the EvaluateParams fields that name the stage's outputs (published together by run())
OUTPUT_FIELDS = ("metrics_json", "per_method_csv", "per_image_csv", "report", "figures_dir")


def run(p: EvaluateParams) -> EvaluateResult:
    """Evaluate, writing every output into a staging copy, then publish them as one set (pipelines.publish)."""
    finals = {f: Path(getattr(p, f)) for f in OUTPUT_FIELDS}
    with publish.staged("evaluate", *finals.values()) as staged:
        res = _run(replace(p, **{f: str(staged[path]) for f, path in finals.items()}))
        back = {staged[path]: path for path in finals.values()}
    outputs = [back.get(o) or finals["figures_dir"] / o.name for o in res.outputs]
    return EvaluateResult(summary=res.summary, outputs=outputs)


def _run(p: EvaluateParams) -> EvaluateResult:
    from tqdm import tqdm

    from pipelines.fusers import checked, load_model_fuser
    from pipelines.metrics import aggregate, nan_notes
    tasks = load_tasks(p.test_split)
    fusers = build_fusers(p)
    if p.model:                                  # a rule the evaluation cannot compute fails before scoring
        from pipelines.metrics import columns_for, metric_names
        from pipelines.tracking.promotion import check_rule, load_rule
        check_rule(load_rule(), p.baselines, columns_for(metric_names(include_slow=p.fmi)))
    total = sum(len(t.a) for t in tasks) * len(fusers)
    summary: dict = {"convention": {"stretch": p.stretch, "ssim_data_range": p.ssim_data_range,
                                    "mi_unit": "nats", "model": p.model, "fmi": p.fmi,
                                    "b_scale": {t.task: t.b_scale for t in tasks}},
                     "tasks": {}}
    per_image_rows: list[dict] = []
    per_image: dict[str, dict] = {}
    figures: dict[str, Path] = {}
    with tqdm(total=total, desc="evaluate", unit="image") as progress:
        for td in tasks:
            task_fusers = fusers
            ref = p.model.replace("{task}", td.task) if p.model else ""
            if "{task}" in (p.model or "") and (":/" in ref or Path(ref).exists()):   # per-task model;
                task_fusers = {p.model_name: checked(load_model_fuser(ref), p.model_name), **fusers}  # untrained
                                                                                      # tasks: baselines only
            per_method, fused_all = score_task(td, task_fusers, p, progress)
            per_image[td.task] = per_method
            summary["tasks"][td.task] = {}
            for method, cols in per_method.items():
                agg = aggregate(cols)
                summary["tasks"][td.task][method] = agg
                for note in nan_notes(agg):
                    print(f"{td.task}/{method}: {note}")
                for i, pid in enumerate(td.pair_ids):
                    per_image_rows.append({"task": td.task, "pair_id": pid, "method": method,
                                           **{c: float(v[i]) for c, v in cols.items()}})
            figures[td.task] = _figure(td, fused_all, p, Path(p.figures_dir))
        if p.model:   # champion / challenger aliases (pipelines/tracking/promotion.py, rule: mlflow.promotion)
            from pipelines.tracking.promotion import promote_after_evaluation
            summary["promotion"] = promote_after_evaluation(summary, per_image, tasks, p, score_task, progress)
    outputs = []
    mj = Path(p.metrics_json)
    mj.parent.mkdir(parents=True, exist_ok=True)
    mj.write_text(json.dumps(_json_safe(summary), indent=2, sort_keys=False))
    outputs.append(mj)
    outputs.append(_write_csv(Path(p.per_method_csv), [
        {"task": t, "method": m, **{k: v for k, v in vals.items()}}
        for t, ms in summary["tasks"].items() for m, vals in ms.items()]))
    outputs.append(_write_csv(Path(p.per_image_csv), per_image_rows))
    outputs.append(write_report(summary, p, figures, Path(p.report)))
    outputs.extend(figures.values())
    return EvaluateResult(summary=summary, outputs=outputs)


def _json_safe(x):
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, float) and not np.isfinite(x):
        return None            # JSON has no NaN/inf; NaN counts are recorded beside the value
    return x


def _write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


@stage_entry("evaluate")
def main(argv: list[str] | None = None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    _, params = stage_main_args("Evaluate the model and the classical baselines on the test split", argv)
    p = section(params, EvaluateParams, "evaluate")
    res = run(p)
    print(json.dumps(to_dict(p), indent=None))
    for o in res.outputs:
        print(f"wrote {o}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

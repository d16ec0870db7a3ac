"""Fusion-quality benchmark: the trained model against every baseline on the test split (cases never seen in
training), with bootstrap confidence intervals, wins of 8, the adversarial ablation, timings and a montage.

Reads a workspace where the pipeline ran (``make quality DATA=...`` runs it in ``runs/quality/`` and then this
script; or ``--workspace .`` after ``dvc repro`` in the project):

* ``reports/eval_per_image.csv`` (the evaluate stage's per-image metrics of the model and every baseline, one
  protocol for all: CDDFuse's conventions, per-image min-max stretch, SSIM data_range 2);
* ``metrics/eval.json`` (the promotion decisions), ``metrics/train.json``, ``reports/tune.json``;
* ``models/final/<task>/checkpoint.pt`` and ``data/splits/test.parquet``.

Writes ``<out>/quality.md``, ``<out>/quality.json`` and ``<out>/quality_montage.png``.

The **adversarial ablation** retrains each task's final model with the same config, data, seed, number of
steps and checkpoint selection (``train.select``) but every critic's weight set to 0, scores it on the same test
pairs, and reports
both on the promotion metric (the per-image headline win rate against the classical baselines) with a paired
bootstrap CI of the difference.  Run ``python benchmarks/quality.py --workspace runs/quality`` (add
``--no-ablation`` to skip the retraining).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.metrics.comparison import (HEADLINE, bootstrap_ci, headline_wins,  # noqa: E402
                                          paired_bootstrap_ci, paired_verdicts, per_image_win_rate,
                                          score_headline)
from pipelines.tracking.promotion import CLASSICAL_BASELINES  # noqa: E402

TRIVIAL = ("return_a", "return_b")


def read_per_image(path: Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``{task: {method: {metric: (N,) values in pair_id order}}}`` from the evaluate stage's CSV."""
    rows = list(csv.DictReader(path.open()))
    out: dict[str, dict[str, dict[str, list]]] = {}
    order: dict[str, list[str]] = {}
    for r in rows:
        t, m = r["task"], r["method"]
        order.setdefault(t, [])
        if r["pair_id"] not in order[t]:
            order[t].append(r["pair_id"])
        out.setdefault(t, {}).setdefault(m, {k: [] for k in HEADLINE})
        for k in HEADLINE:
            out[t][m][k].append(float(r[k]) if r[k] not in ("", "nan", "NaN") else np.nan)
    return {t: {m: {k: np.asarray(v) for k, v in cols.items()} for m, cols in ms.items()} for t, ms in out.items()}


def fmt_ci(values: np.ndarray) -> str:
    v = np.asarray(values, dtype=np.float64)
    fin = v[np.isfinite(v)]
    if len(fin) == 0:
        return "NaN"
    lo, hi = bootstrap_ci(fin)
    nan = f" ({len(v) - len(fin)} NaN)" if len(fin) < len(v) else ""
    return f"{fin.mean():.3f} [{lo:.3f}, {hi:.3f}]{nan}"


def task_table(methods: dict[str, dict[str, np.ndarray]], model: str) -> list[str]:
    refs = {m: v for m, v in methods.items() if m in CLASSICAL_BASELINES}
    means = {m: {k: float(np.nanmean(v[k])) if np.isfinite(v[k]).any() else float("nan") for k in HEADLINE}
             for m, v in methods.items()}
    lines = ["| method | win rate | " + " | ".join(HEADLINE) + f" | {model} wins of 8 |",
             "|---|---|" + "---|" * len(HEADLINE) + "---|"]
    order = [model] + [m for m in methods if m in CLASSICAL_BASELINES] + [m for m in methods if m in TRIVIAL]
    for m in order:
        if m not in methods:
            continue
        wr = per_image_win_rate(methods[m], refs)
        wins = "" if m == model else f"{len(headline_wins(means[model], means[m]))} ({', '.join(headline_wins(means[model], means[m]))})"
        note = " ¹" if m in TRIVIAL else ""
        lines.append(f"| {m}{note} | {fmt_ci(wr)} | " + " | ".join(fmt_ci(methods[m][k]) for k in HEADLINE)
                     + f" | {wins} |")
    return lines


def verdict_table(methods: dict[str, dict[str, np.ndarray]], model: str) -> tuple[list[str], dict]:
    """Per classical baseline and metric: the paired difference of the means (model - baseline) and whether its
    95% bootstrap CI over the test pairs lies above 0 (+), below 0 (-) or contains 0 (=)."""
    lines = ["| model - baseline | " + " | ".join(HEADLINE) + " | supported wins / losses |",
             "|---|" + "---|" * len(HEADLINE) + "---|"]
    out = {}
    for m in (m for m in methods if m in CLASSICAL_BASELINES):
        v = paired_verdicts(methods[model], methods[m])
        out[m] = {k: {"diff": d, "ci": [lo, hi], "verdict": sign} for k, (d, lo, hi, sign) in v.items()}
        wins = sum(x[3] == "+" for x in v.values())
        losses = sum(x[3] == "-" for x in v.values())
        lines.append(f"| {m} | " + " | ".join(f"{d:+.3g} ({sign})" for d, _, _, sign in v.values())
                     + f" | {wins} / {losses} |")
    return lines, out


def run_to_run(workspaces: list[Path], model: str) -> list[str]:
    """Per workspace and task: the promotion metric and the wins of 8 against each classical baseline (the bar),
    read from each run's evaluate-stage CSV and tune report (nothing is re-fused)."""
    lines = ["## Run to run", "",
             "This run and earlier `make quality` workspaces (`--other-run`) on the same data and test split (the "
             "same test cases; an earlier recipe may have split train and validation differently).  Each run "
             "tunes afresh (Ray Tune with ASHA, two trials at a time), so the chosen config differs between runs; "
             "the recipes of earlier runs may differ too (their tune space and number of trials: the tuned knobs "
             "and trial count are shown).  Win rate = the promotion metric on the test "
             "split; then wins of 8 (means) against each classical baseline.", "",
             "| run | task | trials | tuned p, gradient weight, σ | win rate | " + " | ".join(CLASSICAL_BASELINES)
             + " | bar |", "|---|---|---|---|---|" + "---|" * len(CLASSICAL_BASELINES) + "---|"]
    for ws in workspaces:
        per_image = read_per_image(ws / "reports" / "eval_per_image.csv")
        tune_path = ws / "reports" / "tune.json"
        tuned = json.loads(tune_path.read_text()).get("tasks", {}) if tune_path.exists() else {}
        for t, methods in per_image.items():
            if model not in methods:
                continue
            refs = {m: v for m, v in methods.items() if m in CLASSICAL_BASELINES}
            means = {m: {k: float(np.nanmean(v[k])) for k in HEADLINE} for m, v in methods.items()
                     if m == model or m in refs}
            wins = {m: len(headline_wins(means[model], means[m])) for m in refs}
            cfg = (tuned.get(t) or {}).get("best_config") or {}
            n_trials = len((tuned.get(t) or {}).get("trials") or []) or "-"
            knobs = ", ".join(str(cfg.get(k, "-")) for k in ("overrides.stages.G.generator.p",
                                                             "overrides.stages.G.content.1.weight",
                                                             "overrides.stages.G.generator.detail_sigma"))
            lines.append(f"| `{ws.name}` | {t} | {n_trials} | {knobs} | {per_image_win_rate(methods[model], refs).mean():.3f} | "
                         + " | ".join(str(wins[m]) for m in CLASSICAL_BASELINES if m in wins)
                         + f" | {'met' if min(wins.values()) >= 5 else 'missed'} |")
    return lines + [""]


def critic_weight_keys(spec: dict) -> list[str]:
    """``judges.<name>.weight`` for every critic of the model a spec builds."""
    from pipelines.training.inference import build_system
    return [f"judges.{name}.weight" for name in build_system(spec).judges]


def retrain_ablation(ckpt: Path, out_dir: Path, rule: str):
    """Retrain ``ckpt``'s model with every critic's weight 0: same loop config (data, seed, steps, validation and
    checkpoint cadence) and the same ``train.select`` rule as the shipped model.  -> (selected checkpoint,
    seconds, critic weight keys, the selection)."""
    import shutil

    import torch

    from gan_models.training.checkpoint import read_checkpoint
    from pipelines.training.loop import run_loop
    from pipelines.training.selection import select_checkpoint
    from pipelines.training.session import LocalSession
    meta = read_checkpoint(ckpt)["meta"]
    cfg = dict(meta["loop"])
    keys = critic_weight_keys(meta["model"])
    cfg["overrides"] = {**cfg.get("overrides", {}), **{k: 0.0 for k in keys}}
    cfg.update(tracking_uri=None, run_id=None, sample_dir=None)
    shutil.rmtree(out_dir, ignore_errors=True)           # never resume an earlier ablation
    torch.set_num_threads(2)
    t0 = time.time()
    session = LocalSession(out_dir, keep=1, keep_best=rule == "best_val")
    run_loop(cfg, session)
    chosen = select_checkpoint(rule, session.latest_checkpoint(), session.checkpoints())
    return chosen.path, time.time() - t0, keys, chosen


def starting_point(ckpt: Path):
    """The shipped model's generator before any training step: its spec built afresh, no weights loaded.  For
    ``smoothmax_residual`` (residual last layer zero-initialised) that is exactly its fixed rule P_p with the
    tuned p; for other generators a random initialisation."""
    from gan_models.training.checkpoint import read_checkpoint
    from pipelines.training.inference import FusionModel, build_system
    meta = read_checkpoint(ckpt)["meta"]
    return FusionModel(build_system(meta["model"]).to("cpu").eval(), meta["model"], meta)


def starting_point_lines(model_vals: dict, start_vals: dict, refs: dict, means_model: dict) -> tuple[list[str], dict]:
    """Markdown for the trained model against its untrained generator on the test pairs: win rate with CI, the
    paired difference, the headline means and the wins of 8 of each against every classical baseline."""
    wr_model, wr_start = per_image_win_rate(model_vals, refs), per_image_win_rate(start_vals, refs)
    diff, lo, hi = paired_bootstrap_ci(wr_model, wr_start)
    start_means = {k: float(np.nanmean(start_vals[k])) for k in HEADLINE}
    ref_means = {m: {k: float(np.nanmean(v[k])) for k in HEADLINE} for m, v in refs.items()}
    wins = {name: {m: len(headline_wins(mm, ref_means[m])) for m in refs}
            for name, mm in (("trained", means_model), ("start", start_means))}
    lines = ["| model | win rate | " + " | ".join(HEADLINE) + " | wins of 8 against " + ", ".join(refs) + " |",
             "|---|---|" + "---|" * len(HEADLINE) + "---|",
             f"| trained (shipped) | {fmt_ci(wr_model)} | " + " | ".join(f"{means_model[k]:.3f}" for k in HEADLINE)
             + " | " + ", ".join(str(wins["trained"][m]) for m in refs) + " |",
             f"| untrained generator | {fmt_ci(wr_start)} | " + " | ".join(f"{start_means[k]:.3f}" for k in HEADLINE)
             + " | " + ", ".join(str(wins["start"][m]) for m in refs) + " |",
             "", f"Paired difference of the win rate (trained - untrained): {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] "
             "(95% bootstrap CI over test pairs).", ""]
    return lines, {"win_rate_trained": float(wr_model.mean()), "win_rate_untrained": float(wr_start.mean()),
                   "difference": diff, "ci": [lo, hi], "means_untrained": start_means,
                   "wins_of_8_untrained": wins["start"]}


def inference_ms(ckpt: Path, a: np.ndarray, b: np.ndarray, repeats: int = 30) -> tuple[float, float]:
    """One-thread CPU time to fuse one 256x256 pair (numpy in, numpy out): (min, median) in ms."""
    import torch

    from pipelines.training.inference import FusionModel
    torch.set_num_threads(1)
    model = FusionModel.from_checkpoint(ckpt, device="cpu")
    for _ in range(3):
        model.fuse(a, b)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.fuse(a, b)
        ts.append(1000 * (time.perf_counter() - t0))
    torch.set_num_threads(2)
    return float(np.min(ts)), float(np.median(ts))


def montage(tasks, fused_by_task: dict, best_other: dict, path: Path, rows_per_task: int = 2) -> Path:
    from pipelines.baselines import BASELINES, recolour
    from pipelines.reporting.figures import image_grid
    rows, names = [], []
    for td in tasks:
        idx = np.linspace(0, len(td.a) - 1, rows_per_task + 2).round().astype(int)[1:-1]
        other = best_other[td.task]
        for i in idx:
            cb = None if td.b_cb is None else td.b_cb[i]
            cr = None if td.b_cr is None else td.b_cr[i]
            mx = BASELINES.get("max")(td.a[i], td.b[i])
            ob = BASELINES.get(other)(td.a[i], td.b[i])
            rows.append([td.a[i], recolour(td.b[i], cb, cr), recolour(mx, cb, cr), recolour(ob, cb, cr),
                         recolour(fused_by_task[td.task][i], cb, cr)])
            names.append(f"{td.pair_ids[i]} (2nd: {other})")
    return image_grid(rows, ["A (MRI)", "B", "max", "best other baseline", "model"], names, path,
                      cell_inches=1.9, title="Unseen test pairs: sources, pixel-max, the best other classical "
                                             "baseline (by win rate), the trained model (colour from B's Cb/Cr)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=ROOT / "runs" / "quality")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    ap.add_argument("--model-name", default="model")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--other-run", type=Path, action="append", default=[],
                    help="another `make quality` workspace (repeatable): adds a run-to-run table of the bar")
    args = ap.parse_args(argv)
    ws, model = args.workspace.resolve(), args.model_name
    from pipelines.env import quiet_telemetry
    from pipelines.stages.evaluate import load_tasks
    from pipelines.training.inference import FusionModel
    quiet_telemetry()
    per_image = read_per_image(ws / "reports" / "eval_per_image.csv")
    eval_json = json.loads((ws / "metrics" / "eval.json").read_text())
    train_json = json.loads((ws / "metrics" / "train.json").read_text())
    tune_json = json.loads((ws / "reports" / "tune.json").read_text()) if (ws / "reports/tune.json").exists() else {}
    timing = ws / "reports" / "quality_timing.json"
    tasks = [td for td in load_tasks(ws / "data" / "splits" / "test.parquet") if td.task in per_image]
    conv = eval_json.get("convention", {})
    lines = ["# Fusion quality on unseen real cases", "",
             "Produced by `benchmarks/quality.py` from the workspace of `make quality DATA=<folder>` "
             f"(`{ws}`).  Protocol, the same for every method: the evaluate stage's "
             f"(CDDFuse's `test_MIF.py` conventions: sources rounded to 0..255, fused outputs "
             f"{'min-max stretched per image, ' if conv.get('stretch') else ''}rounded; metrics on the luma; MI in "
             f"nats; SSIM summed over the sources with data_range {conv.get('ssim_data_range')}); the test split "
             "holds whole cases (patients) that neither training nor tuning saw.  Higher is better for all eight "
             "metrics.  The model is trained, tuned and promoted by the pipeline itself; nothing here is "
             "selected on the test split.", ""]
    out_json: dict = {"tasks": {}}
    fused_by_task, best_other = {}, {}
    speeds = {}
    for td in tasks:
        t = td.task
        methods = per_image[t]
        if model not in methods:
            continue
        refs = {m: v for m, v in methods.items() if m in CLASSICAL_BASELINES}
        wr = {m: float(per_image_win_rate(v, refs).mean()) for m, v in methods.items()}
        best_other[t] = max((m for m in refs if m != "max"), key=wr.get)
        ckpt = ws / "models" / "final" / t / "checkpoint.pt"
        selected = json.loads((ckpt.parent / "model.json").read_text()).get("selected") or {}
        fm = FusionModel.from_checkpoint(ckpt, device="cpu")
        fused_by_task[t] = fm.fuse_batch(td.a, td.b)
        speeds[t] = inference_ms(ckpt, td.a[0].astype(np.float32), td.b[0].astype(np.float32))
        means = {m: {k: float(np.nanmean(v[k])) for k in HEADLINE} for m, v in methods.items()}
        wins = {m: headline_wins(means[model], means[m]) for m in methods if m != model}
        promo = (eval_json.get("promotion") or {}).get(t, {})
        tr = (train_json.get("tasks") or {}).get(t, {})
        tuned = ((tune_json.get("tasks") or {}).get(t) or {})
        rec = {"n_test_pairs": len(td.a), "win_rate": wr, "wins_of_8": {m: len(w) for m, w in wins.items()},
               "promotion": {k: promo.get(k) for k in ("promoted", "reason", "challenger", "best_baseline",
                                                       "best_baseline_score")},
               "train_seconds": tr.get("seconds"), "tune_seconds": tuned.get("seconds"),
               "best_config": tuned.get("best_config"), "inference_ms_one_thread": speeds[t],
               "selected": selected}
        lines += [f"## {t}", "",
                  f"{len(td.a)} test pairs from case(s) never seen in training or tuning. Mean over pairs with "
                  f"bootstrap 95% CI (2000 resamples of pairs).  Win rate = the promotion metric (per image, "
                  f"against the six classical baselines on the 8 metrics).", ""]
        lines += task_table(methods, model) + [""]
        verdicts, rec["paired"] = verdict_table(methods, model)
        classical = [m for m in CLASSICAL_BASELINES if m in wins]
        beaten = [m for m in classical if len(wins[m]) >= 5]
        lines += [f"- **Bar (>= 5 of 8 against each classical baseline): {len(beaten)}/{len(classical)} "
                  f"baselines** ({', '.join(f'{m} {len(wins[m])}' for m in classical)}).",
                  "", "Paired comparison with each classical baseline (mean difference over the test pairs; "
                  "(+) its 95% paired bootstrap CI lies above 0, (-) below 0, (=) it contains 0: a difference of the "
                  "means that resampling the pairs can reverse; slices of one patient are correlated, so these "
                  "intervals understate the between-patient uncertainty):", "", *verdicts, "",
                  f"- ¹ return_a / return_b copy one source: VIF and MI favour copying (VIF(A, A) = 1, MI(A, A) "
                  f"= H(A)); wins against them: " + ", ".join(f"{m} {len(wins[m])}/8" for m in TRIVIAL if m in wins)
                  + ".",
                  f"- Promotion: {'**promoted**' if promo.get('promoted') else 'not promoted'} - {promo.get('reason')}.",
                  f"- Tuned config: `{json.dumps(tuned.get('best_config'), sort_keys=True)}`; tune {tuned.get('seconds')} s,"
                  f" train {tr.get('seconds')} s ({tr.get('step')} steps; shipped: step {selected.get('step')} by "
                  f"train.select {selected.get('rule', 'last')}, val_score {selected.get('val_score')}).",
                  f"- Inference, one CPU thread, one 256x256 pair (numpy in/out, colour handling included): "
                  f"min {speeds[t][0]:.1f} ms, median {speeds[t][1]:.1f} ms.", ""]
        start_vals = score_headline(starting_point(ckpt).fuse_batch(td.a, td.b), td.a, td.b)
        start_lines, rec["untrained"] = starting_point_lines(methods[model], start_vals, refs, means[model])
        lines += ["**What training adds**: the shipped model against its generator before any training step (the "
                  "spec built afresh; smoothmax_residual's residual starts at zero, so this is its fixed rule P_p "
                  "with the tuned p), same test pairs and protocol:", "", *start_lines]
        if selected.get("step") == 0:
            lines += ["The shipped checkpoint **is** the untrained generator (step 0): no trained checkpoint "
                      "validated above the starting point, so train.select best_val shipped the starting point "
                      "(training on this task did not improve the promotion metric on the validation cases).", ""]
        if not args.no_ablation:
            t0 = time.time()
            abl_ckpt, abl_s, keys, abl_sel = retrain_ablation(ckpt, ws / "runs_ablation" / t, selected.get("rule", "last"))
            abl = FusionModel.from_checkpoint(abl_ckpt, device="cpu").fuse_batch(td.a, td.b)
            abl_vals = score_headline(abl, td.a, td.b)
            wr_adv = per_image_win_rate(methods[model], refs)
            wr_abl = per_image_win_rate(abl_vals, refs)
            diff, lo, hi = paired_bootstrap_ci(wr_adv, wr_abl)
            abl_means = {k: float(np.nanmean(v)) for k, v in abl_vals.items()}
            lines += [f"**Adversarial ablation** ({', '.join(f'`{k}`' for k in keys)} = 0, same config, data, seed, "
                      f"{tr.get('step')} steps and selection rule ({selected.get('rule', 'last')}: shipped step "
                      f"{abl_sel.step} without the critics, {selected.get('step')} with them); retrained in "
                      f"{abl_s:.0f} s):", "",
                      "| model | win rate | " + " | ".join(HEADLINE) + " |", "|---|---|" + "---|" * len(HEADLINE),
                      f"| with the critic | {fmt_ci(wr_adv)} | " + " | ".join(f"{means[model][k]:.3f}" for k in HEADLINE) + " |",
                      f"| critic weight 0 | {fmt_ci(wr_abl)} | " + " | ".join(f"{abl_means[k]:.3f}" for k in HEADLINE) + " |",
                      "", f"Paired difference of the win rate (with - without): {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] "
                      f"(95% bootstrap CI over test pairs); ablation {time.time() - t0:.0f} s in all.", ""]
            rec["ablation"] = {"win_rate_with": float(wr_adv.mean()), "win_rate_without": float(wr_abl.mean()),
                               "selected_step_without": abl_sel.step,
                               "difference": diff, "ci": [lo, hi], "seconds": abl_s, "means_without": abl_means}
        out_json["tasks"][t] = rec
    args.out.mkdir(parents=True, exist_ok=True)
    mpath = montage(tasks, fused_by_task, best_other, args.out / "quality_montage.png")
    lines += [f"![montage]({mpath.name})", ""]
    if args.other_run:
        lines += run_to_run([ws, *[w.resolve() for w in args.other_run]], model)
    if timing.exists():
        tm = json.loads(timing.read_text())
        lines += [f"Timing of the last `make quality` run (2 CPU cores): {json.dumps(tm)}.", ""]
        out_json["timing"] = tm
    (args.out / "quality.md").write_text("\n".join(lines))
    (args.out / "quality.json").write_text(json.dumps(out_json, indent=2, default=str))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

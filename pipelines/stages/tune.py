"""Tune stage: Ray Tune with ASHA over ``tune.space``, one search per task; writes ``reports/tune.json``.

Every task of ``tune.tasks`` (default: all of ``train.tasks``) is searched on its own (MRI-CT, -PET and -SPECT
want different fusion rules: measured in ``reports/bench/quality.md``).  Each trial trains the model of the
``train`` section with the sampled values applied (loss, preset, generator width, learning rates, content
weights... any train key or ``overrides.<build override>``) for up to ``tune.steps`` steps and reports the
validation objective (``train.objective``, default ``headline_win_rate``: the promotion rule's metric on the val
split; see :mod:`pipelines.training.objective`) every ``train.val_every`` steps; ASHA (time attribute: ``step``)
stops the weak trials early, and the best of the trials that trained longest is kept.  A trial is scored as the
train stage would ship it (:func:`trial_score`): its last validation score under ``train.select: last``, its best
one under ``best_val``.

``reports/tune.json``: ``{"objective", "scheduler", "tasks": {task: {"best_config", "best_score", "best_step",
"trials", "parent_run_id", "seconds"}}, "seconds"}``; the train stage fills each task's open keys from its own
``best_config``.

A trial runs in its Tune worker process (``tune.num_workers: 0``, cheapest on small machines) or as a Ray Train
DDP run driven from the trial (``>= 1``: the Train-V2 "Tune over Train" driver pattern, STACK_NOTES §2).

MLflow: one parent run ``tune-<task>`` in ``medfuse/<task>``; every trial is a child run (tag
``mlflow.parentRunId``) with its sampled params and per-step losses / validation scores; the parent gets the
best config and score.

Space syntax (``tune.space``): ``{choice: [...]}``, ``{uniform: [lo, hi]}``, ``{loguniform: [lo, hi]}``,
``{randint: [lo, hi]}``, ``{grid: [...]}``, and ``{per_preset: {<preset>: <domain>, ...}}`` for values whose
meaning depends on the preset (content weights differ by orders of magnitude between FusionGAN and DDcGAN); a
preset without an entry leaves the key unset (a parameter only some presets have, like ``smoothmax_gan``'s p).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import publish
from pipelines.errors import stage_entry
from pipelines.params import ParamsError, section, stage_main_args, to_dict
from pipelines.training.config import DEFAULT_PRESET, TrainParams, apply_train_updates, from_dict

REPORT = Path("reports/tune.json")


@dataclass
class TuneParams:
    """``tune:`` section."""
    tasks: list[str] | None = None         # null: every task of train.tasks (each searched on its own)
    num_samples: int = 4
    steps: int = 40                        # per trial (ASHA max_t, in training steps)
    grace_steps: int = 20                  # ASHA grace period (steps) before a trial can be stopped
    reduction_factor: int = 2
    max_concurrent: int = 2
    num_workers: int = 0                   # per trial: 0 = in the trial process; >= 1 Ray Train DDP workers
    cpus_per_trial: float = 1.0            # with num_workers >= 1 the driver takes 0.01 and workers take
    seed: int = 0                          # train.resources.cpus_per_worker each
    space: dict[str, Any] = field(default_factory=dict)


_DOMAINS = ("choice", "uniform", "loguniform", "randint", "grid")


def _domain(spec: Any, where: str):
    from ray import tune
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ParamsError(f"{where}: expected one of {{{', '.join(_DOMAINS)}, per_preset}}: ..., got {spec!r}")
    (kind, arg), = spec.items()
    if kind == "choice":
        return tune.choice(list(arg))
    if kind == "grid":
        return tune.grid_search(list(arg))
    if kind in ("uniform", "loguniform", "randint"):
        if not (isinstance(arg, list) and len(arg) == 2):
            raise ParamsError(f"{where}: {kind} needs [low, high], got {arg!r}")
        return getattr(tune, kind)(*arg)
    raise ParamsError(f"{where}: unknown domain {kind!r}; known: {list(_DOMAINS) + ['per_preset']}")


def _sample_plain(spec: dict, rng) -> Any:
    (kind, arg), = spec.items()
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    if kind == "uniform":
        return float(rng.uniform(*arg))
    if kind == "loguniform":
        import math
        return float(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))))
    if kind == "randint":
        return int(rng.integers(arg[0], arg[1]))
    raise ParamsError(f"per_preset values support choice/uniform/loguniform/randint, not {kind!r}")


def search_space(space: dict[str, Any], seed: int, default_preset: str) -> dict[str, Any]:
    """``tune.space`` -> Tune param space (keys kept as the train keys they set)."""
    import numpy as np
    from ray import tune
    out: dict[str, Any] = {}
    for key, spec in space.items():
        where = f"tune.space.{key}"
        if isinstance(spec, dict) and set(spec) == {"per_preset"}:
            per = spec["per_preset"]
            for p, sub in per.items():
                _domain(sub, f"{where}.per_preset.{p}")                 # validate
            rng = np.random.default_rng([seed, abs(hash(key)) % (2 ** 31)])

            def sample(s, per=per, rng=rng, key=key):
                preset = s.config.get("preset") or default_preset
                if preset not in per:             # a key this preset does not have (e.g. smoothmax's p)
                    return None                   # is left unset (apply_train_updates skips nulls)
                return _sample_plain(per[preset], rng)
            out[key] = tune.sample_from(sample)
        else:
            out[key] = _domain(spec, where)
    return out


def trial_train_params(base: dict[str, Any], sampled: dict[str, Any], steps: int) -> TrainParams:
    d = apply_train_updates(base, sampled, "tune.space")
    d["steps"] = steps
    d["checkpoint_every"] = max(d["val_every"], (steps // d["val_every"]) * d["val_every"])
    if d.get("preset") is None:
        d["preset"] = DEFAULT_PRESET
    return from_dict(TrainParams, d, "train")


def trial_score(history: list[tuple[int, float]], select: str) -> tuple[float | None, int | None]:
    """A trial's score as the train stage would ship it, from its ``(step, val_score)`` reports: the last
    one under ``train.select: last``, the best one under ``best_val`` (the checkpoint that rule ships), with its
    step.  Scoring a ``best_val`` trial by its last report ranked the search on a model the train stage does
    not ship (Harvard MRI-CT: the chosen p = 16 trial reported 0.744 at its last step, 400; the train stage then
    shipped step 300 of the same config at 0.793)."""
    seen = [(int(step), float(v)) for step, v in history
            if step is not None and v is not None and math.isfinite(float(v))]
    if not seen:
        return None, None
    if select == "best_val":
        step, v = max(seen, key=lambda sv: (sv[1], -sv[0]))           # the earliest of equal scores
        return v, step
    step, v = max(seen, key=lambda sv: sv[0])
    return v, step


def best_trial(trials: list[dict[str, Any]], select: str) -> dict[str, Any]:
    """The trial whose config the train stage will use, among scored trials (``val_score`` from
    :func:`trial_score`, ``step`` the last step the trial reached).

    * ``train.select: best_val``: the highest score, however far ASHA let the trial run (ties: the trial that
      ran longer).  The train stage retrains the chosen config from the same seed and validates at the same
      steps, so every checkpoint a trial validated is one the train stage can ship: a trial stopped at the
      grace period with the best score is as good a choice as a survivor.  Ranking the survivors first (the
      rule before) made the choice hinge on ASHA's first promotions, which favour the trials that happen to
      reach a rung first (Harvard MRI-PET, quality run 5: a p = 12 trial scored 0.817 at step 100 and was
      stopped there; the rule chose a survivor whose best was 0.802).
    * ``last``: the trials that reached the most steps first (the train stage ships the final step, which an
      early-stopped trial never reported), then the score.
    """
    if not trials:
        raise ValueError("best_trial: no scored trial")
    if select == "best_val":
        return max(trials, key=lambda t: (t["val_score"], t["step"] or 0))
    return max(trials, key=lambda t: (t["step"] or 0, t["val_score"]))


def wait_for_trial_runs(experiment_id: str, parent_run_id: str, timeout_s: float = 60.0,
                        poll_s: float = 0.5) -> list[str]:
    """Wait until no child MLflow run of ``parent_run_id`` is still RUNNING; -> the ids still running at the
    timeout (a warning is printed).  ``Tuner.fit()`` can return while a stopped trial's thread is still in
    ``trial_run``'s ``finally`` (ending its run after Ray's ``sys.exit``), so without the wait the stage could
    report, and a user could read, a finished search with a trial still shown as RUNNING."""
    import mlflow
    deadline = time.time() + timeout_s
    while True:
        running = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list",
                                     filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}' "
                                                   "and attributes.status = 'RUNNING'")
        ids = [r.info.run_id for r in running]
        if not ids or time.time() >= deadline:
            break
        time.sleep(poll_s)
    if ids:
        print(f"[tune] warning: {len(ids)} trial run(s) still RUNNING {timeout_s:.0f} s after the search ended: "
              f"{ids}", flush=True)
    return ids


def _history(result) -> list[tuple[int, float]]:
    """``(step, val_score)`` of every report of a Tune result (its metrics dataframe; the last metrics when
    the dataframe is missing)."""
    df = getattr(result, "metrics_dataframe", None)
    if df is not None and "val_score" in df and "step" in df:
        return list(zip(df["step"].tolist(), df["val_score"].tolist()))
    m = result.metrics or {}
    return [(m.get("step"), m.get("val_score"))]


def trial_func(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """One Tune trial (``config``: the sampled values; ``ctx``: the stage's constants, passed with
    ``tune.with_parameters``): child MLflow run, then the training loop (in-process or Ray Train driver)."""
    import mlflow
    import ray.tune
    import torch
    from pipelines.stages.train import loop_config, run_params
    from pipelines.tracking.trial_run import trial_run
    sampled = dict(config)
    tp = trial_train_params(ctx["train"], sampled, ctx["steps"])
    root = Path(ctx["root"])
    cfg = loop_config(tp, ctx["task"], root)
    trial_id = ray.tune.get_context().get_trial_id()
    mlflow.set_tracking_uri(ctx["tracking_uri"])
    with trial_run(ctx["experiment_id"], f"trial-{trial_id}", steps=tp.steps,   # FINISHED / KILLED (pruned)
                   tags={"mlflow.parentRunId": ctx["parent_run_id"], "medfuse.stage": "tune",
                         "medfuse.task": ctx["task"], **ctx["tags"]}) as run:
        mlflow.log_params(run_params(tp, ctx["task"]))            # train.* names, as the train stage's runs
        mlflow.set_tag("medfuse.sampled", json.dumps(sampled, sort_keys=True, default=str)[:5000])
        cfg.update(tracking_uri=ctx["tracking_uri"], run_id=run.info.run_id, sample_dir=None, **ctx["data"])
        if ctx["num_workers"] >= 1:
            from ray.tune.integration.ray_train import TuneReportCallback
            from pipelines.training.ray_runtime import fit_torch
            res = tp.resources
            res.num_workers = ctx["num_workers"]
            fit_torch(cfg, res, f"train-{trial_id}", ctx["storage"], keep=1,
                      callbacks=[TuneReportCallback()])
        else:
            from pipelines.training.loop import tune_trial_func
            torch.set_num_threads(max(1, int(ctx["cpus_per_trial"])))
            tune_trial_func(cfg)


def tune_task(task: str, p: TuneParams, tp: TrainParams, base: dict[str, Any], root: Path,
              splits: dict[str, Path]) -> dict[str, Any]:
    """One task's search: a parent MLflow run in ``medfuse/<task>``, one child run per trial, ASHA."""
    import mlflow
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from pipelines.tracking.lineage import lineage_tags
    from pipelines.tracking.setup import configure, ensure_experiment, experiment_name
    from pipelines.training.shared_storage import ray_storage, stage_splits

    uri = configure(root)
    exp = ensure_experiment(experiment_name(task), root)
    tags = lineage_tags(root, splits)
    storage = ray_storage(tp.resources.storage_path, root / "ray_results")   # multi-node: shared storage
    data = stage_splits(splits, tp.resources.storage_path) if tp.resources.storage_path else {}
    t0 = time.time()
    with mlflow.start_run(experiment_id=exp, run_name=f"tune-{task}",
                          tags={**tags, "medfuse.stage": "tune", "medfuse.task": task}) as parent:
        mlflow.log_params({f"tune.{k}": json.dumps(v) for k, v in to_dict(p).items() if k != "space"})
        mlflow.log_dict(p.space, "tune_space.json")
        ctx = {"train": base, "steps": p.steps, "task": task, "root": str(root), "tracking_uri": uri,
               "experiment_id": exp, "parent_run_id": parent.info.run_id, "tags": tags,
               "num_workers": p.num_workers, "cpus_per_trial": p.cpus_per_trial, "storage": storage, "data": data}
        space = search_space(p.space, p.seed, tp.preset or DEFAULT_PRESET)
        resources = {"CPU": 0.01} if p.num_workers >= 1 else {"CPU": p.cpus_per_trial}
        scheduler = ASHAScheduler(time_attr="step", max_t=p.steps, grace_period=p.grace_steps,
                                  reduction_factor=p.reduction_factor)
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trial_func, ctx=ctx), resources), param_space=space,
            tune_config=tune.TuneConfig(metric="val_score", mode="max", num_samples=p.num_samples,
                                        max_concurrent_trials=p.max_concurrent, scheduler=scheduler),
            run_config=tune.RunConfig(name=f"tune-{task}-{int(time.time())}", storage_path=str(storage),
                                      verbose=1, checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        grid = tuner.fit()
        wait_for_trial_runs(exp, parent.info.run_id)
        trials = []
        for r in grid:
            cfg = dict(r.config or {})
            m = r.metrics or {}
            score, score_step = trial_score(_history(r), tp.select)
            trials.append({"config": cfg, "val_score": score, "score_step": score_step,
                           "last_val_score": m.get("val_score"), "step": m.get("step"),
                           "error": None if r.error is None else str(r.error).strip().splitlines()[-1][:300]})
        ok = [t for t in trials if t["val_score"] is not None and t["error"] is None]
        if not ok:
            errors = "; ".join(t["error"] or "no score" for t in trials)
            raise RuntimeError(f"tune {task}: no trial reported a validation score ({errors})")
        best = best_trial(ok, tp.select)
        mlflow.log_metric("best_val_score", best["val_score"])
        mlflow.log_dict(best["config"], "best_config.json")
        mlflow.set_tag("medfuse.best_config", json.dumps(best["config"], sort_keys=True)[:5000])
        report = {"best_config": best["config"], "best_score": best["val_score"], "best_step": best["step"],
                  "trials": trials, "parent_run_id": parent.info.run_id, "seconds": round(time.time() - t0, 1)}
    print(f"[tune] {task}: best {best['config']} val_score {best['val_score']:.4f} at step {best['score_step']} "
          f"of {best['step']} (train.select {tp.select}) "
          f"({len(ok)}/{len(trials)} trials scored, {report['seconds']:.0f} s)", flush=True)
    return report


def run(params: dict[str, Any], root: str | Path = ".") -> dict[str, Any]:
    from pipelines.training.ray_runtime import ensure_ray
    from pipelines.stages.train import SPLITS

    root = Path(root).resolve()
    tp = section(params, TrainParams, "train")
    p = section(params, TuneParams, "tune")
    tasks = list(p.tasks) if p.tasks is not None else list(tp.tasks)
    if not tasks:
        raise ParamsError("tune.tasks: empty and train.tasks is empty; name at least one task")
    unknown = [t for t in tasks if t not in tp.tasks]
    if unknown:
        raise ParamsError(f"tune.tasks: {unknown} are not trained (train.tasks: {tp.tasks}); a tuned config "
                          f"is only used by the train stage for its own tasks")
    if not p.space:
        raise ParamsError("tune.space: empty; give at least one key to search (see docs/training.md)")
    if p.steps < tp.val_every:
        raise ParamsError(f"tune.steps ({p.steps}) must be >= train.val_every ({tp.val_every}): trials report "
                          f"only at validation steps")
    base = to_dict(tp)
    apply_train_updates(base, {k: 0 for k in p.space}, "tune.space")      # reject unknown keys early
    splits = {n: root / SPLITS / f"{n}.parquet" for n in ("train", "val")}
    for n, sp in splits.items():
        if not sp.exists():
            raise FileNotFoundError(f"{sp}: {n} split not found (run the split stage first)")
    ensure_ray(address=tp.resources.ray_address)
    t0 = time.time()
    report = {"objective": tp.objective, "metric": "val_score", "mode": "max",
              "scheduler": {"name": "ASHA", "time_attr": "step", "max_t": p.steps, "grace_period": p.grace_steps,
                            "reduction_factor": p.reduction_factor, "num_samples": p.num_samples},
              "tasks": {task: tune_task(task, p, tp, base, root, splits) for task in tasks}}
    report["seconds"] = round(time.time() - t0, 1)
    out = root / REPORT
    with publish.staged("tune", out, root=root) as staged:
        staged[out].write_text(json.dumps(report, indent=2, sort_keys=False, default=str))
    print(f"[tune] {len(tasks)} task(s) in {report['seconds']:.0f} s -> {out}", flush=True)
    return report


@stage_entry("tune")
def main(argv: list[str] | None = None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    _, params = stage_main_args("Tune the fusion GAN with Ray Tune + ASHA; writes reports/tune.json", argv)
    run(params)
    import ray
    if ray.is_initialized():
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

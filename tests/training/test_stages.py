"""The train and tune stages on a toy system: outputs, MLflow runs/registry, crash + rerun resumes."""
from __future__ import annotations

import json
import shutil

import pytest

from training_fixtures import write_split_dir


def toy_params(**train) -> dict:
    t = dict(tasks=["MRI_PET"], preset="toy_fusion", loss="lsgan", overrides={"width": 4},
             plugins=["toy_fusion"], steps=4, batch_size=4, crop=None, val_every=2, checkpoint_every=2,
             log_every=1, sample_every=2, objective="toy_l1")
    t.update(train)
    return {"train": t}


@pytest.fixture()
def project(tmp_path, monkeypatch):
    write_split_dir(tmp_path / "data" / "splits")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield tmp_path
    import mlflow
    mlflow.set_tracking_uri("")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_train_stage_outputs_tracking_and_registry(project):
    import mlflow
    from pipelines.stages import train
    summary = train.run(toy_params(), project)
    info = json.loads((project / "models/final/MRI_PET/model.json").read_text())
    assert (project / "models/final/MRI_PET/checkpoint.pt").exists()
    assert info["registered_model"] == "medfuse-MRI_PET" and info["version"] == "1"
    assert info["spec"]["preset"] == "toy_fusion"
    metrics = json.loads((project / "metrics/train.json").read_text())
    assert metrics == json.loads(json.dumps(summary)) and metrics["tasks"]["MRI_PET"]["step"] == 4
    run = mlflow.get_run(info["run_id"])
    assert run.data.params["train.loss"] == "lsgan" and run.data.params["task"] == "MRI_PET"
    assert run.data.tags["medfuse.data_version"].startswith("md5:")
    assert "val_score" in run.data.metrics and "G/total" in run.data.metrics
    # the untrained generator's validation score: in train.json, as a metric, and the below-start tag
    assert metrics["tasks"]["MRI_PET"]["val_score_untrained"] == pytest.approx(run.data.metrics["val_score_untrained"])
    assert run.data.tags["medfuse.below_untrained"] in ("true", "false")
    assert mlflow.get_experiment(run.info.experiment_id).name == "medfuse/MRI_PET"
    client = mlflow.tracking.MlflowClient()
    assert [m.step for m in client.get_metric_history(info["run_id"], "G/total")] == [1, 2, 3, 4]
    arts = {a.path for a in client.list_artifacts(info["run_id"])}
    assert {"samples", "config"} <= arts
    assert str(client.get_model_version_by_alias("medfuse-MRI_PET", "challenger").version) == "1"


def test_train_stage_ships_the_best_validated_checkpoint_with_best_val(project):
    """train.select best_val: the shipped checkpoint is the step with the highest val_score (ties: later), and
    the choice is in model.json, train.json, the run's tag and metric."""
    import mlflow
    from gan_models.training.checkpoint import read_checkpoint
    from pipelines.stages import train
    summary = train.run(toy_params(steps=8, keep_checkpoints=1, select="best_val",
                                   overrides={"width": 4, "lr": 0.3}), project)
    info = json.loads((project / "models/final/MRI_PET/model.json").read_text())
    run = mlflow.get_run(info["run_id"])
    client = mlflow.tracking.MlflowClient()
    history = {m.step: m.value for m in client.get_metric_history(info["run_id"], "val_score")}
    history[0] = client.get_metric_history(info["run_id"], "val_score_untrained")[0].value   # a candidate too
    best = max(history, key=lambda s: (history[s], s))
    shipped = read_checkpoint(project / "models/final/MRI_PET/checkpoint.pt")
    assert int(shipped["trainer"]["system"]["step_count"]) == best
    assert info["selected"] == {"rule": "best_val", "step": best, "val_score": pytest.approx(history[best])}
    assert summary["tasks"]["MRI_PET"]["selected_step"] == best == run.data.metrics["selected_step"]
    assert json.loads(run.data.tags["medfuse.select"])["step"] == best
    assert run.data.tags["medfuse.shipped_untrained"] == str(best == 0).lower()
    with pytest.raises(Exception, match="must equal train.val_every"):
        train.run(toy_params(select="best_val", checkpoint_every=4), project)


def test_crashed_train_stage_resumes_on_rerun(project):
    import mlflow
    from gan_models.training.checkpoint import read_checkpoint
    from pipelines.stages import train
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.run(toy_params(callbacks=["toy_fusion:fail_at_3"]), project)
    state = next((project / "models/checkpoints").iterdir())
    first_run = (state / "mlflow_run_id").read_text()
    assert sorted(p.name for p in state.glob("step_*")) == ["step_00000000", "step_00000002"]   # 0: untrained
    train.run(toy_params(), project)                       # same config: same state dir, resumes at step 2
    info = json.loads((project / "models/final/MRI_PET/model.json").read_text())
    assert info["run_id"] == first_run
    assert read_checkpoint(project / "models/final/MRI_PET/checkpoint.pt")["trainer"]["system"]["step_count"] == 4
    hist = mlflow.tracking.MlflowClient().get_metric_history(first_run, "G/total")
    assert sorted(m.step for m in hist) == [1, 2, 3, 3, 4]   # step 3 logged by the crashed and the resumed attempt


def test_tuned_config_fills_only_open_keys(project):
    from pipelines.params import ParamsError
    from pipelines.stages.train import tuned_train_params
    from pipelines.training.config import TrainParams, from_dict
    report = project / "tune.json"
    report.write_text(json.dumps({"tasks": {
        "MRI_PET": {"best_config": {"loss": "hinge", "preset": "ddcgan", "overrides.g_optimizer.lr": 1e-4,
                                    "overrides.width": 9}},
        "MRI_CT": {"best_config": {"preset": "smoothmax_gan"}}}}))
    tp = from_dict(TrainParams, {"preset": None, "loss": "lsgan", "overrides": {"width": 4}}, "train")
    got, best = tuned_train_params(tp, report, "MRI_PET")
    assert got.loss == "lsgan" and got.preset == "ddcgan"          # explicit loss wins, open preset filled
    assert got.overrides == {"width": 4, "g_optimizer.lr": 1e-4}
    assert tuned_train_params(tp, report, "MRI_CT")[0].preset == "smoothmax_gan"   # each task its own config
    got, best = tuned_train_params(tp, report, "MRI_SPECT")        # a task the search did not cover
    assert best is None and got.preset == "fusiongan"
    tp.use_tuned = False
    got, best = tuned_train_params(tp, report, "MRI_PET")
    assert best is None and got.preset == "fusiongan"              # the default preset
    tp.use_tuned = True
    report.write_text(json.dumps({"best_config": {"loss": "hinge"}}))
    with pytest.raises(ParamsError, match="per-task 'tasks'"):
        tuned_train_params(tp, report, "MRI_PET")


@pytest.mark.slow
def test_tune_stage_writes_best_config_and_child_runs(project):
    import mlflow
    from pipelines.stages import tune
    params = toy_params()
    params["tune"] = {"num_samples": 1, "steps": 4, "grace_steps": 2, "max_concurrent": 2, "cpus_per_trial": 0.5,
                      "space": {"overrides.content_weight": {"grid": [0.0, 50.0]},
                                "overrides.lr": {"choice": [3e-3]}}}
    import ray
    from training_fixtures import HERE
    from pipelines.training.ray_runtime import ensure_ray
    started_here = not ray.is_initialized()
    ensure_ray(num_cpus=2, extra_paths=[str(HERE)])          # trial workers must import toy_fusion
    try:
        report = tune.run(params, project)
    finally:
        if started_here:
            ray.shutdown()
    saved = json.loads((project / "reports/tune.json").read_text())
    assert list(saved["tasks"]) == ["MRI_PET"] and saved["objective"] == "toy_l1"
    pet = saved["tasks"]["MRI_PET"]
    assert pet["best_config"] == report["tasks"]["MRI_PET"]["best_config"] and len(pet["trials"]) == 2
    scores = {t["config"]["overrides.content_weight"]: t["val_score"] for t in pet["trials"]}
    assert pet["best_score"] == max(scores.values())
    assert pet["best_config"]["overrides.content_weight"] == max(scores, key=scores.get)
    children = mlflow.search_runs(experiment_names=["medfuse/MRI_PET"],
                                  filter_string=f"tags.mlflow.parentRunId = '{pet['parent_run_id']}'")
    # trials log the train stage's param names (train.*), so the comparison view lines them up with train runs
    assert len(children) == 2 and set(children["params.train.overrides.content_weight"]) == {"0.0", "50.0"}
    assert set(children["params.train.steps"]) == {"4"} and set(children["params.task"]) == {"MRI_PET"}
    assert (children["metrics.val_score"].notna()).all()
    # Ray stops trials with sys.exit(0) inside report(): FINISHED at the last step, KILLED (+ why) when pruned
    for _, child in children.iterrows():
        reason = child.get("tags.medfuse.stop_reason")
        if child["status"] == "KILLED":
            assert "ASHA" in reason, child
        else:
            assert child["status"] == "FINISHED" and not isinstance(reason, str), child
    assert "FINISHED" in set(children["status"])     # the best trial ran to the end


def test_trial_score_follows_the_train_selection_rule():
    from pipelines.stages.tune import trial_score
    history = [(100, 0.70), (200, 0.79), (300, 0.79), (400, 0.74)]
    assert trial_score(history, "best_val") == (0.79, 200)          # what best_val ships: the earliest best
    assert trial_score(history, "last") == (0.74, 400)
    assert trial_score([(300, 0.8), (100, 0.6)], "last") == (0.8, 300)   # by step, not report order
    assert trial_score([(100, float("nan")), (200, None), (None, 0.9)], "best_val") == (None, None)
    assert trial_score([(100, float("nan")), (200, 0.5)], "best_val") == (0.5, 200)


def test_best_trial_follows_the_train_selection_rule():
    """best_val: the best score wins wherever ASHA stopped the trial (the train stage retrains the config and can
    ship that checkpoint); last: the trials that ran longest first, since an early-stopped trial never reported
    the final step the train stage ships."""
    from pipelines.stages.tune import best_trial
    stopped = {"name": "stopped", "val_score": 0.817, "step": 100}
    survivor = {"name": "survivor", "val_score": 0.802, "step": 400}
    tie = {"name": "tie-longer", "val_score": 0.817, "step": 200}
    assert best_trial([survivor, stopped], "best_val")["name"] == "stopped"
    assert best_trial([survivor, stopped], "last")["name"] == "survivor"
    assert best_trial([stopped, tie, survivor], "best_val")["name"] == "tie-longer"   # equal score: ran longer
    assert best_trial([{"name": "x", "val_score": 0.5, "step": None}], "last")["name"] == "x"
    with pytest.raises(ValueError, match="no scored trial"):
        best_trial([], "best_val")


def test_wait_for_trial_runs_returns_once_no_child_is_running(tmp_path, monkeypatch):
    """The tune stage waits for every trial's MLflow run to end before it reports (Tuner.fit can return while a
    stopped trial's thread still ends its run); a run that never ends is returned after the timeout."""
    import threading

    import mlflow
    from pipelines.stages.tune import wait_for_trial_runs
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        exp = mlflow.create_experiment("medfuse/MRI_PET")
        client = mlflow.tracking.MlflowClient()
        parent = client.create_run(exp).info.run_id
        child = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
        assert wait_for_trial_runs(exp, parent, timeout_s=0.5, poll_s=0.1) == [child]    # never ended: reported
        threading.Timer(0.5, lambda: client.set_terminated(child, "KILLED")).start()     # ends a moment later
        assert wait_for_trial_runs(exp, parent, timeout_s=20, poll_s=0.1) == []
        assert client.get_run(child).info.status == "KILLED"
    finally:
        mlflow.set_tracking_uri("")

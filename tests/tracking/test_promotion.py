"""The promotion rule: per image, against the best classical baseline AND the champion; never crowns a loser."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pipelines.metrics.comparison import HEADLINE, headline_wins, per_image_win_rate, win_rate
from pipelines.tracking.promotion import RULE_METRICS, check_rule, rule_scores
from pipelines.tracking.registry import PromotionRule, decide

RULE = PromotionRule(metric="headline_win_rate", mode="max", min_delta=0.0)


# ------------------------------------------------------------------ the decision (pure)
def test_a_model_below_the_best_baseline_is_never_promoted_even_without_a_champion():
    d = decide(RULE, 0.55, None, None, {"max": 0.70, "mean": 0.40})
    assert not d.promoted and d.best_baseline == "max" and d.best_baseline_score == 0.70
    assert "does not beat the best classical baseline max" in d.reason


def test_first_model_above_every_baseline_becomes_champion():
    d = decide(RULE, 0.80, None, None, {"max": 0.70, "mean": 0.40})
    assert d.promoted and "no champion yet" in d.reason


def test_beating_the_baselines_is_not_enough_when_the_champion_is_better():
    d = decide(RULE, 0.80, 0.85, "3", {"max": 0.70})
    assert not d.promoted and "not champion v3" in d.reason
    d = decide(RULE, 0.90, 0.85, "3", {"max": 0.70})
    assert d.promoted and "champion v3" in d.reason


def test_margin_direction_and_degenerate_inputs():
    strict = PromotionRule(metric="headline_win_rate", min_delta=0.05)
    assert not decide(strict, 0.74, None, None, {"max": 0.70}).promoted          # within the margin
    assert decide(strict, 0.76, None, None, {"max": 0.70}).promoted
    lower = PromotionRule(metric="MSE", mode="min")
    assert decide(lower, 10.0, None, None, {"max": 12.0, "mean": 11.0}).promoted   # lower is better
    assert decide(lower, 10.0, None, None, {"max": 12.0, "mean": 11.0}).best_baseline == "mean"
    assert not decide(RULE, float("nan"), None, None, {"max": 0.7}).promoted
    assert not decide(RULE, 0.99, None, None, {}).promoted                         # nothing to beat: refuse
    assert not decide(RULE, 0.99, 0.5, None, {"max": 0.7}, already_champion=True).promoted


# ------------------------------------------------------------------ per-image rule metrics
def _vals(**cols):
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def test_win_rate_by_hand():
    # two images; the model beats the baseline on every metric of image 0, ties all of image 1
    base = {k: np.array([1.0, 1.0]) for k in HEADLINE}
    model = {k: np.array([2.0, 1.0]) for k in HEADLINE}
    assert per_image_win_rate(model, {"b": base}).tolist() == [1.0, 0.5]
    assert win_rate(model, {"b": base}) == 0.75
    # NaN loses to a number and ties with NaN (SCD of a copied source)
    nan_model = {**model, "SCD": np.array([np.nan, np.nan])}
    nan_base = {**base, "SCD": np.array([np.nan, 1.0])}
    assert per_image_win_rate(nan_model, {"b": nan_base}).tolist() == [(7 + 0.5) / 8, (7 * 0.5 + 0) / 8]
    # a baseline against a set holding itself and a copy of the model
    assert win_rate(base, {"b": base, "m": model}) == pytest.approx((0.5 + 0.25) / 2)
    with pytest.raises(ValueError, match="values"):
        per_image_win_rate(model, {"b": {k: np.ones(3) for k in HEADLINE}})


def test_rule_metric_is_computed_per_image_not_from_means():
    """qabf_ssim_min = mean_i [Qabf_i + 2 min(SSIM_A_i, SSIM_B_i)]: on two images favouring opposite sources the
    per-image value (1.0) differs from the formula on the means (2.0)."""
    v = _vals(Qabf=[1.0, 1.0], SSIM_A=[1.0, 0.0], SSIM_B=[0.0, 1.0], SSIM=[1.0, 1.0])
    assert rule_scores({"model": v}, "qabf_ssim_min")["model"] == pytest.approx(1.0)
    means = {k: float(np.mean(x)) for k, x in v.items()}
    assert means["Qabf"] + 2 * min(means["SSIM_A"], means["SSIM_B"]) == pytest.approx(2.0)
    assert rule_scores({"model": v}, "qabf_ssim")["model"] == pytest.approx(2.0)
    assert rule_scores({"model": v}, "SSIM_A")["model"] == pytest.approx(0.5)        # any metric column
    with pytest.raises(KeyError, match="not a rule metric"):
        rule_scores({"model": v}, "nope")


def test_win_rate_rule_uses_the_classical_baselines_only():
    ones = {k: np.ones(3) for k in HEADLINE}
    twos = {k: np.full(3, 2.0) for k in HEADLINE}
    scores = rule_scores({"model": twos, "max": ones, "return_a": {k: np.full(3, 9.0) for k in HEADLINE}},
                         "headline_win_rate")
    assert scores["model"] == 1.0 and scores["max"] == 0.5      # return_a is not a reference
    assert scores["return_a"] == 1.0
    assert set(RULE_METRICS) >= {"headline_win_rate", "qabf_ssim_min", "qabf_ssim"}


def test_headline_wins_counts_means():
    assert headline_wins({k: 2.0 for k in HEADLINE}, {k: 1.0 for k in HEADLINE}) == list(HEADLINE)
    assert headline_wins({**{k: 2.0 for k in HEADLINE}, "SCD": float("nan")}, {k: 1.0 for k in HEADLINE}) == \
        [k for k in HEADLINE if k != "SCD"]


def test_a_rule_the_evaluation_cannot_compute_is_refused_up_front():
    from pipelines.params import ParamsError
    with pytest.raises(ParamsError, match="classical baseline"):
        check_rule(RULE, ["return_a", "return_b"], ["Qabf"])
    with pytest.raises(ParamsError, match="neither a rule metric"):
        check_rule(PromotionRule(metric="bogus"), ["max"], ["Qabf"])
    check_rule(PromotionRule(metric="Qabf"), ["max"], ["Qabf"])


# ------------------------------------------------------------------ the evaluate stage end to end (MLflow)
@pytest.fixture()
def stage_project(tmp_path, monkeypatch):
    """A cwd with a test split, params.yaml, an MLflow store with three versions of medfuse-MRI_CT, and
    model loaders that map references to fusers the test chooses."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from pipelines.fusers import MODEL_LOADERS
    from pipelines.tracking.setup import configure, ensure_experiment
    from training_fixtures import make_rows

    from pipelines.schema import write_pairs
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    write_pairs(make_rows("MRI_CT", ["k1", "k2"], 2, 48, 7), tmp_path / "data/splits/test.parquet")
    configure(tmp_path)
    exp = ensure_experiment("medfuse/MRI_CT", tmp_path)
    client = MlflowClient()
    client.create_registered_model("medfuse-MRI_CT")
    runs = []
    for _ in range(3):
        with mlflow.start_run(experiment_id=exp) as run:
            runs.append(run.info.run_id)
        client.create_model_version("medfuse-MRI_CT", str(tmp_path / "src"), run_id=runs[-1])
    fusers = {}

    def loader(ref):
        return fusers["champion" if ref.startswith("models:/") else "model"]
    monkeypatch.setattr("pipelines.fusers.LOADER_MODULES", [])
    monkeypatch.setattr(MODEL_LOADERS, "_items", {"checkpoint": loader, "mlflow": loader})

    def challenger(version, fuser, min_delta=0.0):
        d = tmp_path / "models/final/MRI_CT"
        d.mkdir(parents=True, exist_ok=True)
        (d / "checkpoint.pt").write_bytes(b"x")
        (d / "model.json").write_text(json.dumps({"registered_model": "medfuse-MRI_CT", "version": str(version),
                                                  "run_id": runs[version - 1], "spec": {"preset": "toy"}}))
        fusers["model"] = fuser
        (tmp_path / "params.yaml").write_text(f"mlflow:\n  promotion:\n    metric: headline_win_rate\n"
                                              f"    min_delta: {min_delta}\n")
        from pipelines.stages.evaluate import EvaluateParams, run
        return run(EvaluateParams(model="models/final/{task}", baselines=["return_a", "mean", "max", "guided"],
                                  figure_rows=1))
    yield challenger, fusers, client, runs
    mlflow.set_tracking_uri("")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _blur(a, b):
    from scipy.ndimage import uniform_filter
    return np.stack([uniform_filter(0.5 * (x + y), 9) for x, y in zip(a, b)])


def test_evaluate_promotes_only_a_winner_and_reports_the_decision(stage_project, tmp_path):
    from mlflow.exceptions import MlflowException
    challenger, fusers, client, runs = stage_project
    # 1. a blurry model: worse than the baselines, no champion yet -> still not promoted
    res = challenger(1, _blur)
    rec = res.summary["promotion"]["MRI_CT"]
    assert rec["promoted"] is False and rec["champion_version"] is None
    assert rec["challenger"] < rec["best_baseline_score"] and "does not beat the best classical baseline" in rec["reason"]
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("medfuse-MRI_CT", "champion")
    assert str(client.get_model_version_by_alias("medfuse-MRI_CT", "challenger").version) == "1"
    report = (tmp_path / "reports/eval.md").read_text()
    assert "not promoted" in report and "(best classical baseline)" in report
    assert "Model: `models/final/MRI_CT`" in report and "{task}" not in report
    tags = client.get_model_version("medfuse-MRI_CT", "1").tags
    assert tags["promotion_decision"] == "kept" and float(tags["test_headline_win_rate"]) == rec["challenger"]
    # the comparison on the training run: one metric group per headline metric, table + chart + decision
    run = client.get_run(runs[0])
    assert {"test_SSIM/model", "test_SSIM/max", "promotion_headline_win_rate/model"} <= set(run.data.metrics)
    arts = {a.path for a in client.list_artifacts(runs[0], "evaluation")}
    assert {"evaluation/comparison.csv", "evaluation/comparison.png", "evaluation/decision.json"} <= arts
    # 2. a rule that any model wins (negative margin): version 2 becomes the first champion
    res = challenger(2, _blur, min_delta=-2.0)
    assert res.summary["promotion"]["MRI_CT"]["promoted"] is True
    assert str(client.get_model_version_by_alias("medfuse-MRI_CT", "champion").version) == "2"
    assert "no champion yet" in client.get_model_version("medfuse-MRI_CT", "2").description
    # 3. version 3, the same loser under the real rule: the champion (evaluated now) stays
    fusers["champion"] = _blur
    res = challenger(3, _blur)
    rec = res.summary["promotion"]["MRI_CT"]
    assert rec["promoted"] is False and rec["champion_version"] == "2"
    assert rec["champion"] == pytest.approx(rec["challenger"])         # same fuser, same test pairs
    assert "champion" in res.summary["tasks"]["MRI_CT"]
    assert str(client.get_model_version_by_alias("medfuse-MRI_CT", "champion").version) == "2"
    assert "| champion |" in (tmp_path / "reports/eval.md").read_text()
    assert math.isfinite(json.loads((tmp_path / "metrics/eval.json").read_text())
                         ["promotion"]["MRI_CT"]["best_baseline_score"])

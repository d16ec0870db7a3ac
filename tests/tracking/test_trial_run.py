"""Tune trial runs end with the status of what happened: Ray's sys.exit(0) inside report() is a stop, not a
failure (FINISHED at the last step, KILLED with a reason when ASHA pruned it earlier); other errors FAIL."""
from __future__ import annotations

import pytest


def _trial(steps: int, reached: int | None, raise_exc: BaseException | None):
    import mlflow
    from pipelines.tracking.setup import ensure_experiment
    from pipelines.tracking.trial_run import trial_run
    exp = ensure_experiment("medfuse/TEST")
    holder = {}
    with pytest.raises(type(raise_exc)) if raise_exc is not None else _nothing():
        with trial_run(exp, "trial-x", tags={"medfuse.stage": "tune"}, steps=steps) as run:
            holder["id"] = run.info.run_id
            for step in range(10, (reached or 0) + 1, 10):
                mlflow.log_metric("val_score", 0.1 * step, step=step)
            if raise_exc is not None:
                raise raise_exc
    assert mlflow.active_run() is None, "the trial run must be ended"
    return mlflow.get_run(holder["id"])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_normal_end_is_finished(mlflow_store):
    run = _trial(40, 40, None)
    assert run.info.status == "FINISHED" and "medfuse.stop_reason" not in run.data.tags


def test_ray_stop_at_max_t_is_finished(mlflow_store):
    run = _trial(40, 40, SystemExit(0))
    assert run.info.status == "FINISHED" and "medfuse.stop_reason" not in run.data.tags


def test_asha_pruning_is_killed_with_a_reason(mlflow_store):
    run = _trial(40, 20, SystemExit(0))
    assert run.info.status == "KILLED"
    assert "ASHA" in run.data.tags["medfuse.stop_reason"] and "step 20 of 40" in run.data.tags["medfuse.stop_reason"]


def test_stop_before_any_report_is_killed(mlflow_store):
    run = _trial(40, None, SystemExit(None))
    assert run.info.status == "KILLED" and "before its first report" in run.data.tags["medfuse.stop_reason"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), SystemExit(3)])
def test_errors_and_nonzero_exits_are_failed(mlflow_store, exc):
    run = _trial(40, 20, exc)
    assert run.info.status == "FAILED" and "medfuse.stop_reason" not in run.data.tags

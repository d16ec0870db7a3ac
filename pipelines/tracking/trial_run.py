"""The MLflow run of one Ray Tune trial, ended with the status that tells what happened to the trial.

Ray stops a trial from inside ``report()`` with ``sys.exit(0)`` (``ray.train._internal.session``), both when
ASHA prunes it at a rung and when it reaches ``max_t``.  Inside a plain ``with mlflow.start_run()`` that
``SystemExit`` ends the run as FAILED, so every trial looked failed in the UI.  :func:`trial_run` ends it as

* ``FINISHED`` when the trial reached its last step (ended normally, or stopped by Ray at ``max_t``);
* ``KILLED`` with the tag ``medfuse.stop_reason`` when the scheduler stopped it earlier (pruned by ASHA: the
  only thing that stops a trial before ``max_t`` here, no other stopper is configured);
* ``FAILED`` for any other exception (the exception is re-raised unchanged).

The last step a trial reached is read back from the run's ``<metric>`` history, which rank 0 of the training
loop logs before each report (``pipelines/training/loop.py``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

STOP_REASON_TAG = "medfuse.stop_reason"


def last_step(run_id: str, metric: str) -> int | None:
    from mlflow.tracking import MlflowClient
    history = MlflowClient().get_metric_history(run_id, metric)
    return max((m.step for m in history), default=None)


def stopped_status(run_id: str, steps: int, metric: str) -> tuple[str, str | None]:
    """(status, reason) of a trial that Ray stopped from inside ``report()``."""
    step = last_step(run_id, metric)
    if step is not None and step >= steps:
        return "FINISHED", None
    where = "before its first report" if step is None else f"at step {step} of {steps}"
    return "KILLED", (f"pruned by the ASHA scheduler {where}: its {metric} was not in the top fraction of the "
                      f"trials that reached that rung (tune.reduction_factor)")


@contextmanager
def trial_run(experiment_id: str, run_name: str, tags: dict[str, str], steps: int,
              metric: str = "val_score") -> Iterator:
    """``mlflow.start_run`` for a Tune trial; ends the run FINISHED / KILLED (+ reason tag) / FAILED."""
    import mlflow
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
        status, reason = stopped_status(run.info.run_id, steps, metric)
        if reason:
            mlflow.set_tag(STOP_REASON_TAG, reason)
        raise                                  # Ray expects the exit to end the trial thread
    finally:
        mlflow.end_run(status)

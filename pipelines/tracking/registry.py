"""Registered models and their aliases: ``challenger`` = the latest trained version, ``champion`` = the one
served.  ``champion`` moves only when the challenger beats it on the test split under the promotion rule in
``params.yaml`` (``mlflow.promotion``); every decision is written as tags on the version and returned for the
evaluate stage's report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass
class PromotionRule:
    """``mlflow.promotion`` section: the test-split metric that decides, its direction and the margin."""
    metric: str = "score"                 # key of the evaluate stage's per-model test summary
    mode: Literal["max", "min"] = "max"
    min_delta: float = 0.0                # the challenger must win by more than this

    def beats(self, new: float, old: float | None) -> bool:
        if new is None or (isinstance(new, float) and math.isnan(new)):
            return False
        if old is None or (isinstance(old, float) and math.isnan(old)):
            return True
        return new > old + self.min_delta if self.mode == "max" else new < old - self.min_delta


def _client():
    from mlflow.tracking import MlflowClient
    return MlflowClient()


def version_by_alias(name: str, alias: str):
    from mlflow.exceptions import MlflowException
    try:
        return _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: str | int) -> None:
    _client().set_registered_model_alias(name, alias, str(version))


def decide_promotion(name: str, version: str | int, new_score: float, champion_score: float | None,
                     rule: PromotionRule) -> dict[str, Any]:
    """Move ``champion`` to ``version`` iff it beats the current champion's score on the same test split.

    ``champion_score`` is the current champion evaluated now on this test split (``None`` when there is no
    champion yet).  Tags both versions with the comparison; returns the decision record."""
    client = _client()
    current = version_by_alias(name, CHAMPION)
    cur_version = str(current.version) if current is not None else None
    if cur_version is not None and str(cur_version) == str(version):
        promoted, reason = False, "this version is already the champion"
    elif rule.beats(new_score, champion_score if current is not None else None):
        promoted = True
        reason = ("no champion yet" if current is None else
                  f"{rule.metric} {new_score:.4f} beats champion v{cur_version} {champion_score:.4f} "
                  f"({rule.mode}, min_delta {rule.min_delta})")
    else:
        promoted = False
        reason = (f"{rule.metric} {new_score:.4f} does not beat champion v{cur_version} "
                  f"{champion_score:.4f} ({rule.mode}, min_delta {rule.min_delta})")
    set_alias(name, CHALLENGER, version)
    if promoted:
        set_alias(name, CHAMPION, version)
    record = {"model": name, "version": str(version), "metric": rule.metric, "mode": rule.mode,
              "min_delta": rule.min_delta, "score": new_score, "champion_version": cur_version,
              "champion_score": champion_score, "promoted": promoted, "reason": reason}
    client.set_model_version_tag(name, str(version), f"test_{rule.metric}", str(new_score))
    client.set_model_version_tag(name, str(version), "promotion", reason)
    return record

"""Registered models and their aliases: ``challenger`` = the latest trained version, ``champion`` = the one
served.  ``champion`` moves only when the challenger beats the best classical baseline **and** the current
champion on the test split under the promotion rule in ``params.yaml`` (``mlflow.promotion``); every decision
is written as tags (and a description) on the version and returned for the evaluate stage's report.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass
class PromotionRule:
    """``mlflow.promotion`` section: the test-split metric that decides, its direction and the margin.

    The challenger becomes ``champion`` only if it beats **both** the best classical baseline evaluated on the
    same test split **and** the current champion (when there is one) by more than ``min_delta``: a model that
    loses to a one-line baseline is never crowned, also when there is no champion yet."""
    metric: str = "headline_win_rate"     # pipelines/tracking/promotion.py RULE_METRICS, or any metric column
    mode: Literal["max", "min"] = "max"
    min_delta: float = 0.0                # the challenger must win by more than this

    def beats(self, new: float | None, old: float | None) -> bool:
        if new is None or (isinstance(new, float) and math.isnan(new)):
            return False
        if old is None or (isinstance(old, float) and math.isnan(old)):
            return True
        return new > old + self.min_delta if self.mode == "max" else new < old - self.min_delta


@dataclass
class Decision:
    """What the rule decided for one challenger (pure data: :func:`decide` makes it, :func:`apply_decision`
    moves the aliases and writes it on the model version)."""
    metric: str
    mode: str
    min_delta: float
    challenger: float
    champion: float | None
    champion_version: str | None
    best_baseline: str | None
    best_baseline_score: float | None
    baselines: dict[str, float]
    promoted: bool
    reason: str


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def decide(rule: PromotionRule, challenger: float, champion: float | None, champion_version: str | None,
           baselines: dict[str, float], already_champion: bool = False) -> Decision:
    """The promotion decision for scores on one test split (see :class:`PromotionRule`).

    ``baselines``: the rule metric of every classical baseline (an empty mapping refuses promotion: the rule
    cannot show the model beats them).  ``champion``: the current champion's score, ``None`` when there is none.
    """
    finite = {k: v for k, v in baselines.items() if v is not None and not math.isnan(v)}
    pick = max if rule.mode == "max" else min
    best = pick(finite, key=finite.get) if finite else None
    best_score = finite[best] if best is not None else None
    rel = f"({rule.mode}, min_delta {rule.min_delta:g})"
    if already_champion:
        promoted, reason = False, "this version is already the champion"
    elif best is None:
        promoted, reason = False, (f"no classical baseline was scored on the test split, so {rule.metric} cannot "
                                   f"show the model beats them; not promoted")
    elif not rule.beats(challenger, best_score):
        promoted, reason = False, (f"{rule.metric} {_fmt(challenger)} does not beat the best classical baseline "
                                   f"{best} {_fmt(best_score)} {rel}; not promoted")
    elif champion_version is not None and not rule.beats(challenger, champion):
        promoted, reason = False, (f"{rule.metric} {_fmt(challenger)} beats the best classical baseline {best} "
                                   f"{_fmt(best_score)} but not champion v{champion_version} {_fmt(champion)} {rel}")
    else:
        promoted = True
        reason = (f"{rule.metric} {_fmt(challenger)} beats the best classical baseline {best} {_fmt(best_score)}"
                  + (" and there is no champion yet" if champion_version is None else
                     f" and champion v{champion_version} {_fmt(champion)}") + f" {rel}")
    return Decision(rule.metric, rule.mode, rule.min_delta, challenger, champion, champion_version, best,
                    best_score, dict(baselines), promoted, reason)


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


def apply_decision(name: str, version: str | int, decision: Decision, description: str | None = None
                   ) -> dict[str, Any]:
    """Set ``challenger`` (always) and ``champion`` (if promoted) on ``version`` of ``name``; write the decision
    as version tags (``promotion``, ``promotion_decision``, ``test_<metric>``, ``test_<metric>_champion``,
    ``test_<metric>_best_baseline``) and, when given, the version description.  Returns the decision record."""
    client = _client()
    set_alias(name, CHALLENGER, version)
    if decision.promoted:
        set_alias(name, CHAMPION, version)
    v = str(version)
    m = decision.metric
    tags = {"promotion": decision.reason[:5000], "promotion_decision": "promoted" if decision.promoted else "kept",
            f"test_{m}": str(decision.challenger),
            f"test_{m}_champion": "none" if decision.champion is None else str(decision.champion),
            f"test_{m}_best_baseline": f"{decision.best_baseline}={decision.best_baseline_score}"}
    for k, val in tags.items():
        client.set_model_version_tag(name, v, k, val)
    if description:
        client.update_model_version(name, v, description=description[:5000])
    return {"model": name, "version": v, **asdict(decision)}

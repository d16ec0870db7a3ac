"""Which checkpoint the train stage ships (``train.select``).

* ``last``: the final checkpoint (step = ``train.steps``);
* ``best_val``: the checkpoint with the highest validation objective ``val_score`` (the promotion metric on the
  validation split's first ``val_max_pairs`` pairs, cases disjoint from the test split), ties going to the later
  step.  Model selection on validation, as every training recipe with early stopping does: on real MRI-CT pairs
  the objective peaks early and longer training lowers it (reports/bench/quality.md).  The candidates include
  step 0, the untrained generator (the training loop checkpoints it when there is a val split): a run whose
  every trained checkpoint validates below its starting point ships the starting point (Harvard MRI-CT, quality
  run 7: the closed-form prior validated 0.764, the best trained step 0.744, and the shipped step-100 model
  was worse on the test split too, 0.751 against 0.766).

The scores are read from each checkpoint's ``meta["val"]`` (the training loop writes the validation scores of
the step it saved), so the rule works the same on the in-process session's folders and on Ray Train's
checkpoints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

SCORE_KEY = "val_score"


@dataclass(frozen=True)
class Selected:
    path: Path
    step: int
    score: float | None
    rule: str

    def record(self) -> dict:
        return {"rule": self.rule, "step": self.step, SCORE_KEY: self.score}


def checkpoint_score(path: Path) -> tuple[int, float | None]:
    """(step, val_score) recorded in a checkpoint (score None when that step was not validated)."""
    from gan_models.training.checkpoint import read_checkpoint
    payload = read_checkpoint(path)
    step = int(payload["trainer"]["system"]["step_count"])
    val = ((payload.get("meta") or {}).get("val") or {}).get(SCORE_KEY)
    return step, (float(val) if val is not None and math.isfinite(float(val)) else None)


def best_by_score(entries: Iterable[tuple[int, float | None, Path]]) -> tuple[int, float, Path] | None:
    """The entry with the highest score, the later step among equal scores; None when nothing is scored."""
    scored = [(s, v, p) for s, v, p in entries if v is not None]
    if not scored:
        return None
    return max(scored, key=lambda e: (e[1], e[0]))


def select_checkpoint(rule: str, final: Path, candidates: Iterable[Path]) -> Selected:
    """Apply ``rule`` to the run's ``final`` checkpoint and the other retained ``candidates``."""
    step, score = checkpoint_score(final)
    if rule == "last":
        return Selected(final, step, score, rule)
    if rule != "best_val":
        raise ValueError(f"train.select: unknown rule {rule!r}")
    entries = [(step, score, final)] + [(*checkpoint_score(p), p) for p in candidates if p != final]
    best = best_by_score(entries)
    if best is None:
        raise ValueError(f"{final.parent}: train.select best_val: no checkpoint carries a validation score "
                         f"(is the val split empty, or train.val_every off?)")
    return Selected(best[2], best[0], best[1], rule)


def untrained_score(path: Path) -> float | None:
    """The untrained generator's ``val_score`` that a checkpoint carries (meta ``val_start``, written by the
    training loop before its first step); None for checkpoints written before that or without a val split."""
    from gan_models.training.checkpoint import read_checkpoint
    v = ((read_checkpoint(path).get("meta") or {}).get("val_start") or {}).get(SCORE_KEY)
    return float(v) if v is not None and math.isfinite(float(v)) else None


def below_start_warning(task: str, chosen: Selected, start: float | None) -> str | None:
    """One line when the shipped checkpoint validates below the untrained generator it started from (training
    made the model worse than its starting point), else None."""
    if start is None or chosen.score is None or chosen.score >= start:
        return None
    return (f"[train] {task}: warning: the shipped checkpoint (step {chosen.step}, {SCORE_KEY} {chosen.score:.4f}) "
            f"validates below the untrained generator ({start:.4f}): training made this model worse than its "
            f"starting point")

"""train.select: which checkpoint the train stage ships (last, or the best validation objective)."""
from __future__ import annotations

from pathlib import Path

import pytest

from training_fixtures import toy_loop_config
from pipelines.params import ParamsError
from pipelines.training.config import TrainParams
from pipelines.training.loop import run_loop
from pipelines.training.selection import best_by_score, checkpoint_score, select_checkpoint
from pipelines.training.session import LocalSession
from gan_models.training.checkpoint import read_checkpoint


def test_best_by_score_prefers_the_highest_then_the_later_step():
    p = Path("x")
    assert best_by_score([(100, 0.7, p), (200, 0.8, p), (300, 0.8, p), (400, None, p), (500, 0.6, p)])[0] == 300
    assert best_by_score([(100, None, p)]) is None


def test_train_params_check_the_rule():
    assert TrainParams(select="best_val", val_every=50, checkpoint_every=50).select == "best_val"
    with pytest.raises(ParamsError, match="train.select: expected one of"):
        TrainParams(select="best")
    TrainParams(select="best_val", val_every=50, checkpoint_every=100)      # a tune trial's own cadence: fine
    with pytest.raises(ParamsError, match="checkpoint_every .100. must equal train.val_every .50."):
        TrainParams(select="best_val", val_every=50, checkpoint_every=100).check_selection()


def _scores(session: LocalSession) -> dict[int, float | None]:
    return dict(checkpoint_score(p) for p in session.checkpoints())


def test_checkpoints_carry_their_validation_score_and_keep_best_retains_the_best(split_dir, tmp_path):
    cfg = toy_loop_config(split_dir, steps=8, val_every=2, checkpoint_every=2, sample_dir=None,
                          overrides={"width": 4, "lr": 5e-2})     # a large lr: the val score moves
    session = LocalSession(tmp_path / "ck", keep=1, keep_best=True)
    run_loop(cfg, session)
    reported = {r["step"]: r["val_score"] for r in session.reports}
    kept = _scores(session)
    assert 8 in kept                                             # the final one is always kept
    best_step = max(reported, key=lambda s: (reported[s], s))
    assert best_step in kept and kept[best_step] == pytest.approx(reported[best_step])
    assert len(kept) == (1 if best_step == 8 else 2)
    final = session.latest_checkpoint()
    chosen = select_checkpoint("best_val", final, session.checkpoints())
    assert chosen.step == best_step and chosen.score == pytest.approx(reported[best_step])
    last = select_checkpoint("last", final, session.checkpoints())
    assert last.path == final and last.step == 8


def test_best_val_without_scores_is_an_error(split_dir, tmp_path):
    cfg = toy_loop_config(split_dir, steps=2, val_every=2, checkpoint_every=2, sample_dir=None, val_path=None)
    session = LocalSession(tmp_path / "ck")
    run_loop(cfg, session)
    with pytest.raises(ValueError, match="no checkpoint carries a validation score"):
        select_checkpoint("best_val", session.latest_checkpoint(), session.checkpoints())


def _fake_checkpoint(folder: Path, step: int, score: float | None) -> Path:
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"val": {"val_score": score}} if score is not None else {}
    torch.save({"format": "medfuse-checkpoint/1", "trainer": {"system": {"step_count": step}}, "meta": meta},
               folder / "checkpoint.pt")
    return folder


def test_keep_best_never_prunes_the_best_and_best_val_ships_it(tmp_path):
    """Scores 0.70, 0.80 (best), 0.75, 0.72 at steps 100..400, keep 1: steps 200 and 400 remain; best_val ships
    200, last ships 400."""
    session = LocalSession(tmp_path / "ck", keep=1, keep_best=True)
    for step, score in ((100, 0.70), (200, 0.80), (300, 0.75), (400, 0.72)):
        src = _fake_checkpoint(tmp_path / "src" / str(step), step, score)
        session.report({"step": step, "val_score": score}, src)
    assert [checkpoint_score(p)[0] for p in session.checkpoints()] == [200, 400]
    final = session.latest_checkpoint()
    assert select_checkpoint("best_val", final, session.checkpoints()).step == 200
    assert select_checkpoint("last", final, session.checkpoints()).step == 400
    plain = LocalSession(tmp_path / "plain", keep=1)                 # without keep_best: only the last
    for step, score in ((100, 0.9), (200, 0.1)):
        plain.report({"step": step}, _fake_checkpoint(tmp_path / "src2" / str(step), step, score))
    assert [checkpoint_score(p)[0] for p in plain.checkpoints()] == [200]


def test_checkpoints_carry_the_untrained_score_and_it_does_not_change_training(split_dir, tmp_path):
    """The loop validates the untrained generator once (meta val_start in every checkpoint, kept on resume);
    that extra validation leaves the training trajectory unchanged (same losses as a run without a val split)."""
    from pipelines.training.selection import untrained_score
    cfg = toy_loop_config(split_dir, steps=4, val_every=2, checkpoint_every=2, sample_dir=None)
    session = LocalSession(tmp_path / "ck", keep=10)
    run_loop(cfg, session)
    starts = {untrained_score(p) for p in session.checkpoints()}
    assert len(starts) == 1 and next(iter(starts)) is not None      # one score, the same in every checkpoint
    resumed = LocalSession(tmp_path / "ck", keep=10)
    run_loop(toy_loop_config(split_dir, steps=6, val_every=2, checkpoint_every=2, sample_dir=None), resumed)
    assert untrained_score(resumed.latest_checkpoint()) == next(iter(starts))
    blind = LocalSession(tmp_path / "blind", keep=10)
    run_loop(toy_loop_config(split_dir, steps=4, val_every=2, checkpoint_every=2, sample_dir=None, val_path=None),
             blind)
    assert untrained_score(blind.latest_checkpoint()) is None
    trained = [r for r in session.reports if r["step"] > 0]           # step 0: the untrained generator's report
    assert [r["step"] for r in blind.reports] == [r["step"] for r in trained] == [2, 4]
    assert [r["G/total"] for r in blind.reports] == pytest.approx([r["G/total"] for r in trained], rel=1e-6)


def test_the_starting_point_is_a_best_val_candidate_and_ships_when_training_only_got_worse(split_dir, tmp_path):
    """A fresh run with a val split checkpoints its untrained generator as step 0 (its val score is the
    checkpoints' val_start); best_val ships it when every trained checkpoint validates below it."""
    from pipelines.training.selection import untrained_score
    cfg = toy_loop_config(split_dir, steps=4, val_every=2, checkpoint_every=2, sample_dir=None)
    session = LocalSession(tmp_path / "ck", keep=10, keep_best=True)
    run_loop(cfg, session)
    scores = _scores(session)
    assert sorted(scores) == [0, 2, 4]
    zero = next(p for p in session.checkpoints() if checkpoint_score(p)[0] == 0)
    assert scores[0] == pytest.approx(untrained_score(zero)) and scores[0] == session.reports[0]["val_score"]
    payload = read_checkpoint(zero)
    assert payload["trainer"]["system"]["step_count"] == 0
    # every trained checkpoint below the start: best_val ships step 0, last the final step
    start = scores[0]
    fakes = [_fake_checkpoint(tmp_path / "f" / str(s), s, v) for s, v in ((0, start), (2, start - 0.1),
                                                                         (4, start - 0.01))]
    paths = [f / "checkpoint.pt" for f in fakes]
    assert select_checkpoint("best_val", paths[-1], paths).step == 0
    assert select_checkpoint("last", paths[-1], paths).step == 4
    # one trained checkpoint above the start: that one ships
    better = _fake_checkpoint(tmp_path / "f" / "6", 6, start + 0.01) / "checkpoint.pt"
    assert select_checkpoint("best_val", better, paths + [better]).step == 6
    # a resumed run reports no second step 0 and keeps val_start, also when it resumes from step 0 itself
    import shutil
    resumed = LocalSession(tmp_path / "r", keep=10)
    run_loop(toy_loop_config(split_dir, steps=2, val_every=2, checkpoint_every=2, sample_dir=None), resumed)
    assert [r["step"] for r in resumed.reports] == [0, 2]
    shutil.rmtree(tmp_path / "r" / "step_00000002")              # "crash" right after the step-0 checkpoint
    again = LocalSession(tmp_path / "r", keep=10)
    run_loop(toy_loop_config(split_dir, steps=4, val_every=2, checkpoint_every=2, sample_dir=None), again)
    assert [r["step"] for r in again.reports] == [2, 4]
    assert untrained_score(again.latest_checkpoint()) == pytest.approx(resumed.reports[0]["val_score"])


def test_below_start_warning_names_the_regression():
    from pipelines.training.selection import Selected, below_start_warning
    worse = Selected(Path("c"), 100, 0.744, "best_val")
    msg = below_start_warning("MRI_CT", worse, 0.764)
    assert "MRI_CT" in msg and "step 100" in msg and "0.7440" in msg and "0.7640" in msg and "worse" in msg
    assert below_start_warning("MRI_CT", Selected(Path("c"), 300, 0.79, "best_val"), 0.764) is None
    assert below_start_warning("MRI_CT", worse, None) is None                 # older checkpoint: nothing to say
    assert below_start_warning("MRI_CT", Selected(Path("c"), 6, None, "last"), 0.5) is None

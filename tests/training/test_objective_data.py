"""Validation objectives and per-rank data sharding."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines.training.data import ShardBatches, augment_pair, read_task_rows
from pipelines.training.objective import OBJECTIVES


@pytest.fixture(scope="module")
def sources():
    from training_fixtures import blob_pair
    rng = np.random.default_rng(3)
    pairs = [blob_pair(rng, 48) for _ in range(3)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_objective_penalises_collapse_to_one_source(sources):
    a, b = sources
    obj = OBJECTIVES.get("qabf_ssim_min")
    return_a = obj(a, a, b)
    # returning A: SSIM(F, A) = 1 exactly, so the weaker side is SSIM(F, B) and the score is Qabf + 2 SSIM_B
    assert return_a["ssim_fa"] == pytest.approx(1.0)
    assert return_a["score"] == pytest.approx(return_a["qabf"] + 2 * return_a["ssim_fb"])
    # the plain sum would credit collapse with SSIM(F, A) = 1; the min-form does not
    plain = OBJECTIVES.get("qabf_ssim")(a, a, b)
    assert plain["score"] - return_a["score"] == pytest.approx(1.0 - return_a["ssim_fb"])
    # symmetric in the sources (Qabf is, and so is the min)
    f = np.maximum(a, b)
    assert obj(f, a, b)["score"] == pytest.approx(obj(f, b, a)["score"])
    with pytest.raises(ValueError, match="shapes differ"):
        obj(a[:, :40], a, b)


def test_win_rate_objective_scores_baselines_as_the_promotion_rule_does(sources):
    """headline_win_rate on a baseline's own output: a set holding that baseline gives it 1/2 from its own column,
    so the objective equals the rule's per-image win rate computed from the evaluation's columns."""
    from pipelines.baselines import BASELINES
    from pipelines.metrics.comparison import score_headline, win_rate
    from pipelines.training.objective import CLASSICAL_BASELINES, baseline_scores
    a, b = sources
    obj = OBJECTIVES.get("headline_win_rate")
    refs = {n: score_headline(BASELINES.get(n)(a, b), a, b) for n in CLASSICAL_BASELINES}
    fused = BASELINES.get("max")(a, b)
    got = obj(fused, a, b)
    assert got["score"] == pytest.approx(win_rate(refs["max"], refs))
    assert 0.0 <= got["score"] <= 1.0 and got["ssim"] == pytest.approx(float(np.mean(refs["max"]["SSIM"])))
    assert baseline_scores(a, b) is baseline_scores(a, b)                 # computed once per image set
    # an output beating every baseline on every image and metric would score 1; a constant image scores low
    assert obj(np.full_like(a, 0.5), a, b)["score"] < got["score"]


def test_shards_are_disjoint_and_cover_the_task(split_dir):
    ids_all, a_all, _ = read_task_rows(split_dir / "train.parquet", "MRI_PET")
    assert len(ids_all) == 12 and ids_all == sorted(ids_all)
    for world in (2, 3, 5):
        shards = [read_task_rows(split_dir / "train.parquet", "MRI_PET", r, world)[0] for r in range(world)]
        flat = [i for s in shards for i in s]
        assert sorted(flat) == ids_all and len(set(flat)) == len(flat)
    ids1, a1, _ = read_task_rows(split_dir / "train.parquet", "MRI_PET", 1, 2)
    np.testing.assert_array_equal(a1, a_all[1::2])
    with pytest.raises(ValueError, match="rank 2 outside"):
        read_task_rows(split_dir / "train.parquet", "MRI_PET", 2, 2)
    with pytest.raises(FileNotFoundError, match="split file not found"):
        read_task_rows(split_dir / "nope.parquet", "MRI_PET")


def test_batches_are_a_function_of_step_and_epochs_cover_the_shard():
    a = np.arange(10 * 4 * 4, dtype=np.float32).reshape(10, 4, 4)
    sb = ShardBatches(a, a + 1, batch_size=3, seed=7, augment=False)
    assert sb.steps_per_epoch == 3
    epoch0 = np.concatenate([sb.indices(s) for s in range(3)])
    assert len(set(epoch0.tolist())) == 9                      # no repeats within an epoch
    np.testing.assert_array_equal(sb.batch(4)["a"], ShardBatches(a, a + 1, 3, seed=7, augment=False).batch(4)["a"])
    assert not np.array_equal(sb.indices(0), sb.indices(3))    # a new permutation each epoch
    tiny = ShardBatches(a[:2], a[:2], batch_size=5, augment=False)
    assert len(tiny.indices(0)) == 5


def test_augmentation_moves_a_and_b_together():
    rng = np.random.default_rng(0)
    a = rng.random((6, 8, 8)).astype(np.float32)
    a2, b2 = augment_pair(a, a * 2, np.random.default_rng(1))
    np.testing.assert_allclose(b2, 2 * a2)                     # same transform on both images
    for i in range(6):                                         # each result is one of the 8 dihedral images
        cands = [np.rot90(a[i], k)[:, ::-1] if f else np.rot90(a[i], k) for k in range(4) for f in (0, 1)]
        assert any(np.array_equal(a2[i], c) for c in cands)


def test_crops_cut_the_same_window_from_a_and_b():
    a = np.arange(3 * 10 * 10, dtype=np.float32).reshape(3, 10, 10)
    sb = ShardBatches(a, a * 2, batch_size=2, seed=1, augment=False, crop=4)
    batch = sb.batch(0)
    assert batch["a"].shape == (2, 1, 4, 4)
    np.testing.assert_array_equal(batch["b"].numpy(), 2 * batch["a"].numpy())
    for img in batch["a"][:, 0].numpy():             # a contiguous window of one source image
        i = int(img[0, 0]) // 100
        y, x = divmod(int(img[0, 0]) % 100, 10)
        np.testing.assert_array_equal(img, a[i, y:y + 4, x:x + 4])
    with pytest.raises(ValueError, match="larger than the images"):
        ShardBatches(a, a, batch_size=2, crop=12, augment=False).batch(0)

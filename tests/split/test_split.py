"""Case-level split: determinism, fractions, stability under added cases, the minimum-one rule."""
import json
import random

import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.params import ParamsError, from_dict
from pipelines.schema import make_pair_id, read_pairs, write_pairs
from pipelines.stages.split import SplitParams, case_hash, hash_split, place_cases, run

STRICT = SplitParams(min_one_case_per_split=False)
MIN_ONE = SplitParams()


def _ids(rng: random.Random, n: int) -> list[str]:
    return [f"case{rng.randrange(10 ** 9)}" for _ in range(n)]


def test_hash_is_a_fixed_function_of_salt_and_case():
    assert case_hash("25", "medfuse-split-v1") == case_hash("25", "medfuse-split-v1")
    assert case_hash("25", "medfuse-split-v1") != case_hash("25", "other-salt")
    u = case_hash("25", "s")
    assert 0.0 <= u < 1.0
    assert hash_split(0.0, STRICT) == "train" and hash_split(0.69, STRICT) == "train"
    assert hash_split(0.71, STRICT) == "val" and hash_split(0.86, STRICT) == "test"


def test_fractions_are_respected_for_many_cases():
    cases = [f"p{i}" for i in range(4000)]
    pl = place_cases(cases, STRICT)
    share = {s: sum(p.split == s for p in pl.values()) / len(cases) for s in ("train", "val", "test")}
    assert share["train"] == pytest.approx(0.7, abs=0.025)
    assert share["val"] == pytest.approx(0.15, abs=0.02) and share["test"] == pytest.approx(0.15, abs=0.02)


def test_order_of_cases_does_not_matter():
    rng = random.Random(3)
    cases = _ids(rng, 7)
    shuffled = cases[::-1]
    assert place_cases(cases, MIN_ONE) == place_cases(shuffled, MIN_ONE)


def test_adding_cases_never_moves_an_existing_case_with_the_pure_hash_rule():
    rng = random.Random(0)
    for _ in range(300):
        old = _ids(rng, rng.randint(1, 30))
        new = old + _ids(rng, rng.randint(1, 30))
        a, b = place_cases(old, STRICT), place_cases(new, STRICT)
        assert all(a[c].split == b[c].split for c in old)


def test_adding_cases_never_moves_a_case_once_every_split_is_filled_by_hash():
    rng = random.Random(1)
    checked = 0
    for _ in range(600):
        old = _ids(rng, rng.randint(3, 25))
        a = place_cases(old, MIN_ONE)
        if any(p.rule == "lent" for p in a.values()):
            continue
        checked += 1
        b = place_cases(old + _ids(rng, rng.randint(1, 25)), MIN_ONE)
        assert all(a[c].split == b[c].split for c in old)
        assert not any(p.rule == "lent" for p in b.values())
    assert checked > 100


def test_minimum_one_case_per_split_for_tiny_tasks():
    rng = random.Random(2)
    for _ in range(500):
        cases = _ids(rng, rng.randint(3, 8))
        pl = place_cases(cases, MIN_ONE)
        assert {p.split for p in pl.values()} == {"train", "val", "test"}
        for c, p in pl.items():
            if p.rule == "hash":
                assert p.split == p.hash_split == hash_split(case_hash(c, MIN_ONE.salt), MIN_ONE)
        # lending moves no more cases than there were empty splits
        empty = {"train", "val", "test"} - {p.hash_split for p in pl.values()}
        assert sum(p.rule == "lent" for p in pl.values()) == len(empty)
    two = place_cases(["a", "b"], MIN_ONE)                    # fewer cases than splits: hash rule only
    assert all(p.rule == "hash" for p in two.values())


def test_params_are_checked():
    with pytest.raises(ParamsError, match="sum to 1"):
        from_dict(SplitParams, {"fractions": {"train": 0.8, "val": 0.15, "test": 0.15}})
    with pytest.raises(ParamsError, match="keys must be"):
        from_dict(SplitParams, {"fractions": {"train": 0.8, "test": 0.2}})


def test_stage_splits_by_case_and_reports(tmp_path):
    rows = []
    for task in ("MRI_CT", "MRI_PET"):
        for c in range(5):
            for k in range(3):
                img = np.full((4, 4), 0.5, np.float32)
                rows.append(dict(pair_id=make_pair_id(task, f"{c}", k), task=task, case_id=f"{c}", slice=k,
                                 modality_a="MRI", modality_b=task[4:], height=4, width=4, a=img, b=img,
                                 source_a="x", source_b="y", sha256_a="0", sha256_b="0"))
    write_pairs(rows, tmp_path / "in.parquet")
    res = run(MIN_ONE, tmp_path / "in.parquet", tmp_path / "splits", tmp_path / "split.json")
    seen = {}
    total = 0
    for s, path in res.paths.items():
        t = read_pairs(path)
        total += len(t)
        for task, case in zip(t.column("task").to_pylist(), t.column("case_id").to_pylist()):
            assert seen.setdefault((task, case), s) == s          # all slices of a case in one split
        for task in ("MRI_CT", "MRI_PET"):
            assert pc.sum(pc.equal(t["task"], task)).as_py() > 0  # every task in every split
    assert total == len(rows)                                     # nothing dropped
    report = json.loads((tmp_path / "split.json").read_text())
    assert report["summary"]["pairs"] == 30
    assert sum(len(v["splits"][s]["cases"]) for v in report["per_task"].values() for s in res.paths) == 10


def test_moving_cases_from_train_to_val_never_changes_the_test_split():
    """The quality recipe validates on more cases (train 0.55, val 0.30) than the default (0.70, 0.15) with the
    same test fraction: test is the last interval of the cumulative fractions, so under the hash rule no case
    enters or leaves it, and val only gains cases from train."""
    rng = random.Random(5)
    default = STRICT
    recipe = SplitParams(fractions={"train": 0.55, "val": 0.30, "test": 0.15}, min_one_case_per_split=False)
    moved_to_val = 0
    for _ in range(300):
        cases = _ids(rng, rng.randint(1, 40))
        a, b = place_cases(cases, default), place_cases(cases, recipe)
        assert {c for c in cases if a[c].split == "test"} == {c for c in cases if b[c].split == "test"}
        assert all(b[c].split == "val" for c in cases if a[c].split == "val")      # val only grows
        moved_to_val += sum(a[c].split == "train" and b[c].split == "val" for c in cases)
    assert moved_to_val > 0

"""train.resources.storage_path: where Ray keeps runs and where the workers read the splits from."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.training.shared_storage import is_uri, join, ray_storage, stage_splits


def test_ray_storage_paths(tmp_path):
    assert ray_storage(None, tmp_path / "ray_results") == str((tmp_path / "ray_results").resolve())
    assert ray_storage("s3://bucket/runs/", tmp_path) == "s3://bucket/runs/ray_results"
    assert ray_storage(str(tmp_path / "mnt"), tmp_path) == str((tmp_path / "mnt").resolve() / "ray_results")
    assert is_uri("s3://b/k") and not is_uri("/mnt/x") and not is_uri(None)
    assert join("s3://b/", "data", "x.parquet") == "s3://b/data/x.parquet"


def test_splits_are_staged_once_by_content(tmp_path, split_dir):
    from pipelines.training.data import read_task_rows
    splits = {"train": split_dir / "train.parquet", "val": split_dir / "val.parquet"}
    shared = tmp_path / "shared"
    staged = stage_splits(splits, str(shared))
    assert set(staged) == {"train_path", "val_path"}
    train = Path(staged["train_path"])
    assert train.parent == shared.resolve() / "data" and train.name.endswith("-train.parquet")
    assert train.read_bytes() == splits["train"].read_bytes()
    mtime = train.stat().st_mtime_ns
    assert stage_splits(splits, str(shared)) == staged and train.stat().st_mtime_ns == mtime   # not copied again
    ids, a, _ = read_task_rows(staged["train_path"], "MRI_PET")
    assert len(ids) == len(read_task_rows(splits["train"], "MRI_PET")[0]) and a.ndim == 3
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        stage_splits({"train": tmp_path / "nope.parquet"}, str(shared))

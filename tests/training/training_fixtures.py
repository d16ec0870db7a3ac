"""Shared test helpers for training/tracking tests: tiny pair tables and a toy loop config."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))          # makes ``toy_fusion`` importable (in-process and Ray workers)

import toy_fusion  # noqa: E402,F401  (registers the test-only system and objective)

from pipelines.schema import make_pair_id, write_pairs  # noqa: E402


def blob_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A structural image (A) and a blobby functional image (B) in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.3, 0.7, 2)
    head = ((xx - cx) ** 2 + (yy - cy) ** 2 < 0.12).astype(np.float32)
    a = np.clip(head * (0.5 + 0.3 * np.sin(12 * xx + rng.uniform(0, 3))), 0, 1)
    bx, by = rng.uniform(0.35, 0.65, 2)
    b = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / 0.01) * head
    return a.astype(np.float32), b.astype(np.float32)


def make_rows(task: str, cases: list[str], slices: int, size: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for case in cases:
        for s in range(slices):
            a, b = blob_pair(rng, size)
            rows.append(dict(pair_id=make_pair_id(task, case, s), task=task, case_id=case, slice=s,
                             modality_a="MRI", modality_b=task.split("_")[1], height=size, width=size,
                             a=a, b=b, source_a=f"{case}/a{s}.png", source_b=f"{case}/b{s}.png",
                             sha256_a="0" * 64, sha256_b="0" * 64))
    return rows


def toy_loop_config(split_dir: Path, **kw) -> dict:
    cfg = dict(task="MRI_PET", preset="toy_fusion", loss="lsgan", overrides={"width": 4},
               train_path=str(split_dir / "train.parquet"), val_path=str(split_dir / "val.parquet"),
               steps=6, batch_size=4, val_every=2, checkpoint_every=2, log_every=1, sample_every=2,
               objective="toy_l1", plugins=["toy_fusion"], keep_checkpoints=10)
    cfg.update(kw)
    return cfg


def write_split_dir(d: Path, size: int = 32) -> Path:
    """train / val / test Parquet splits with MRI_PET and MRI_CT pairs, split by case."""
    write_pairs(make_rows("MRI_PET", ["c1", "c2", "c3"], 4, size, 1)
                + make_rows("MRI_CT", ["k1", "k2"], 4, size, 2), d / "train.parquet")
    write_pairs(make_rows("MRI_PET", ["c4"], 4, size, 3) + make_rows("MRI_CT", ["k3"], 4, size, 4),
                d / "val.parquet")
    write_pairs(make_rows("MRI_PET", ["c5"], 4, size, 5) + make_rows("MRI_CT", ["k4"], 4, size, 6),
                d / "test.parquet")
    return d



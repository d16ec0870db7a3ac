"""Per-rank training data: one task's rows of a Parquet split, sharded by rank with pyarrow (no Ray Data:
STACK_NOTES §2/§6, it hangs without spare CPUs on 2 cores), batched and jointly augmented.

* Sharding: rank ``r`` of ``w`` takes rows ``r, r+w, r+2w, ...`` of the task's rows sorted by ``pair_id``, so the
  shards are disjoint and together cover the split whatever order the file was written in.
* Colour: the pair table stores a pseudo-colour B as its BT.601 luma in ``b`` (chroma in ``b_cb``/``b_cr``);
  training uses the luma only, and the chroma is put back at inference (``pipelines/imaging/color.py``).
* Multi-resolution pairs (``b_scale`` r > 1): B stays at its native (H/r, W/r); a crop of A at (y, x) takes B's
  crop at (y/r, x/r) of size crop/r (y, x multiples of r), and the flips / rotations act on both alike.  The
  fusion system gets B at 1/r (``FusionSystem.prepare``: its ``b_lowres``, upsampled for generators that need it).
* Determinism: the batch of step ``s`` is a pure function of (seed, rank, s): an epoch permutation seeded by
  (seed, rank, epoch) and an augmentation seeded by (seed, rank, s).  A run resumed at step ``s`` therefore
  sees exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from pipelines.imaging.multires import scale_factor
from pipelines.schema import table_images

_COLUMNS = ["pair_id", "task", "height", "width", "a", "b"]


def read_task_rows(path: str | Path, task: str, rank: int = 0, world_size: int = 1,
                   max_rows: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(pair_ids, A, B) of ``task``'s rows in this rank's shard; A is (N, H, W), B (N, H/r, W/r) for the task's
    ``b_scale`` r (1: B on A's grid); float32 in [0, 1]."""
    if "://" not in str(path):                   # URIs (train.resources.storage_path) are opened by pyarrow
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: split file not found (run the split stage first)")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    stored = pq.read_schema(str(path)).names
    table = pq.read_table(path, columns=_COLUMNS + (["b_scale"] if "b_scale" in stored else []),
                          filters=[("task", "=", task)])
    if len(table) == 0:
        tasks = sorted(set(pq.read_table(path, columns=["task"]).column("task").to_pylist()))
        raise ValueError(f"{path}: no rows for task {task!r}; tasks present: {tasks}")
    table = table.take(pc.sort_indices(table, sort_keys=[("pair_id", "ascending")]))
    if max_rows is not None:
        table = table.slice(0, max_rows)
    table = table.take(np.arange(rank, len(table), world_size))
    return table.column("pair_id").to_pylist(), table_images(table, "a"), table_images(table, "b")


def epoch_batches(path: str | Path, task: str, world_size: int, batch_size: int) -> int:
    """Batches per epoch, the same on every DDP rank (the smallest shard, N // world_size rows, once): what a
    learning-rate schedule counted in epochs (``scheduler.steps_per_epoch: data``) steps by."""
    n = pq.read_table(path, columns=["task"], filters=[("task", "=", task)]).num_rows
    return max(1, (n // world_size) // batch_size)


def crop_pair(a: np.ndarray, b: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random ``size`` x ``size`` window cut from both images of each pair (patch training, as
    FusionGAN's 120-px and DDcGAN's 84-px patches).  A B at 1/r of A's resolution gives its window of
    ``size / r`` at ``(y / r, x / r)``: the window's corner is drawn on multiples of r."""
    n, h, w = a.shape
    r = h // b.shape[1]
    if size > h or size > w:
        raise ValueError(f"crop {size} is larger than the images ({h}x{w})")
    if size % r:
        raise ValueError(f"crop {size} is not a multiple of b_scale {r} (B is 1/{r} of A)")
    ys = rng.integers(0, (h - size) // r + 1, n) * r
    xs = rng.integers(0, (w - size) // r + 1, n) * r
    sb = size // r
    ca = np.stack([a[i, y:y + size, x:x + size] for i, (y, x) in enumerate(zip(ys, xs))])
    cb = np.stack([b[i, y // r:y // r + sb, x // r:x // r + sb] for i, (y, x) in enumerate(zip(ys, xs))])
    return ca, cb


def augment_pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random flip / 90-degree rotation applied to both (registered) images of each pair, (N, H, W)."""
    a = a.copy()
    b = b.copy()
    for i in range(a.shape[0]):
        k = int(rng.integers(4))
        flip = bool(rng.integers(2))
        for arr in (a, b):
            img = np.rot90(arr[i], k)
            arr[i] = img[:, ::-1] if flip else img
    return a, b


@dataclass
class ShardBatches:
    """Deterministic batches of one rank's shard: ``batch(step) -> {"a": (B,1,H,W), "b": (B,1,H/r,W/r)}``."""
    a: np.ndarray
    b: np.ndarray
    batch_size: int
    seed: int = 0
    rank: int = 0
    augment: bool = True
    crop: int | None = None

    def __post_init__(self) -> None:
        if len(self.a) == 0:
            raise ValueError(f"rank {self.rank} received an empty shard (more workers than training pairs?)")
        r = scale_factor(self.a.shape[1:], self.b.shape[1:])
        if len(self.a) != len(self.b) or r is None:
            raise ValueError(f"A {self.a.shape} and B {self.b.shape}: B must be A's size or 1/r of it")
        if self.crop is not None and self.crop % r:
            raise ValueError(f"crop {self.crop} is not a multiple of b_scale {r} (B is 1/{r} of A)")
        if self.crop is None and self.a.shape[1] != self.a.shape[2]:
            raise ValueError(f"rotation augmentation needs square images, got {self.a.shape[1:]}")

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.a) // self.batch_size)

    def indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, self.rank, epoch]).permutation(len(self.a))
        if len(perm) < self.batch_size:                       # tiny shards: repeat the permutation
            perm = np.resize(perm, self.batch_size)
        return perm[pos * self.batch_size:(pos + 1) * self.batch_size]

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        idx = self.indices(step)
        a, b = self.a[idx], self.b[idx]
        rng = np.random.default_rng([self.seed, self.rank, step, 1])
        if self.crop is not None:
            a, b = crop_pair(a, b, self.crop, rng)
        if self.augment:
            a, b = augment_pair(a, b, rng)
        return {"a": torch.from_numpy(np.ascontiguousarray(a))[:, None],
                "b": torch.from_numpy(np.ascontiguousarray(b))[:, None]}

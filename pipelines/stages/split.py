"""Split stage: put every case (never a slice) into train, val or test, deterministically.

``python -m pipelines.stages.split`` reads ``data/validated/pairs.parquet`` (the registered pairs that passed the
validate stage's contract) and writes
``data/splits/{train,val,test}.parquet`` (all rows, each in exactly one split) and ``reports/split.json``.

Rule (per task):

1. **Hash split.**  ``u = sha256(salt + "\\0" + case_id)`` read as a number in [0, 1); the case goes to the
   split whose interval of the cumulative ``split.fractions`` (in the order train, val, test) holds ``u``.
   A case's hash split depends on nothing but its id and the salt: adding, removing or reordering other
   cases never changes it, and a case id shared by two tasks gets the same hash split in both.
2. **Minimum one case per split** (``split.min_one_case_per_split``, for tiny tasks such as the phantom
   demo).  When a task has at least as many cases as there are splits with a positive fraction but some
   such split got no case by hash, it is filled, in the order train, val, test, with the case whose hash is
   nearest to that split's interval, taken from a split that keeps at least one case (ties: smaller case
   id).  Such cases are *lent* and listed in ``reports/split.json``.

Stability, and its limit: a task whose splits are all filled by hash lends nothing, and adding cases can
only add to its splits, so no existing case ever moves.  While a task still has an empty hash split, the
lent cases are chosen among the current cases and can change when cases are added (only lent cases and
the cases nearest to an empty split's interval are affected); with ``min_one_case_per_split: false`` no
case ever moves, at the price of possibly empty splits for tiny tasks.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines import publish
from pipelines.errors import InputError, stage_entry
from pipelines.params import ParamsError, section, stage_main_args, to_dict
from pipelines.schema import read_pairs, write_pairs

SPLITS = ("train", "val", "test")
PAIRS_IN = Path("data/validated/pairs.parquet")       # the registered pairs that passed the data contract
SPLIT_DIR = Path("data/splits")
REPORT = Path("reports/split.json")


@dataclass(frozen=True)
class SplitParams:
    fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15})
    salt: str = "medfuse-split-v1"
    min_one_case_per_split: bool = True

    def __post_init__(self) -> None:
        if list(self.fractions) != list(SPLITS):
            raise ParamsError(f"split.fractions: keys must be {list(SPLITS)} in this order, got {list(self.fractions)}")
        if any(f < 0 for f in self.fractions.values()) or abs(sum(self.fractions.values()) - 1.0) > 1e-6:
            raise ParamsError(f"split.fractions: must be >= 0 and sum to 1, got {self.fractions}")
        if self.fractions["train"] <= 0:
            raise ParamsError("split.fractions.train must be > 0")

    @property
    def active(self) -> list[str]:
        """Splits with a positive fraction (the ones every task must reach)."""
        return [s for s in SPLITS if self.fractions[s] > 0]

    def intervals(self) -> dict[str, tuple[float, float]]:
        out, lo = {}, 0.0
        for s in SPLITS:
            out[s] = (lo, lo + self.fractions[s])
            lo += self.fractions[s]
        return out


@dataclass(frozen=True)
class Placement:
    split: str
    rule: str          # "hash" | "lent"
    u: float
    hash_split: str


def case_hash(case_id: str, salt: str) -> float:
    """Position of a case in [0, 1): the first 8 bytes of sha256(salt NUL case_id) / 2**64."""
    digest = hashlib.sha256(f"{salt}\0{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def hash_split(u: float, cfg: SplitParams) -> str:
    for s, (lo, hi) in cfg.intervals().items():
        if lo <= u < hi and hi > lo:
            return s
    return cfg.active[-1]          # u at the (floating-point) top end


def _distance(u: float, interval: tuple[float, float]) -> float:
    lo, hi = interval
    return lo - u if u < lo else (u - hi if u >= hi else 0.0)


def place_cases(case_ids: list[str], cfg: SplitParams) -> dict[str, Placement]:
    """Split placement of one task's cases (order of ``case_ids`` does not matter)."""
    cases = sorted(set(case_ids))
    u = {c: case_hash(c, cfg.salt) for c in cases}
    natural = {c: hash_split(u[c], cfg) for c in cases}
    split_of = dict(natural)
    lent: set[str] = set()
    if cfg.min_one_case_per_split and len(cases) >= len(cfg.active):
        intervals = cfg.intervals()
        for s in cfg.active:
            if any(v == s for v in split_of.values()):
                continue
            counts = defaultdict(int)
            for v in split_of.values():
                counts[v] += 1
            donors = [c for c in cases if c not in lent and counts[split_of[c]] >= 2]
            pick = min(donors, key=lambda c: (_distance(u[c], intervals[s]), c))
            split_of[pick] = s
            lent.add(pick)
    return {c: Placement(split_of[c], "lent" if c in lent else "hash", u[c], natural[c]) for c in cases}


@dataclass
class SplitResult:
    paths: dict[str, Path]
    report: Path
    summary: dict


def run(cfg: SplitParams, pairs_in: str | Path = PAIRS_IN, split_dir: str | Path = SPLIT_DIR,
        report: str | Path = REPORT) -> SplitResult:
    table = read_pairs(pairs_in)
    if len(table) == 0:
        raise InputError(f"{pairs_in}: the pair table has no rows; nothing to split (the previous outputs stay)")
    tasks = table.column("task").to_pylist()
    cases = table.column("case_id").to_pylist()
    by_task: dict[str, set[str]] = defaultdict(set)
    for t, c in zip(tasks, cases):
        by_task[t].add(c)
    placement = {t: place_cases(sorted(cs), cfg) for t, cs in sorted(by_task.items())}
    labels = pa.array([placement[t][c].split for t, c in zip(tasks, cases)], pa.string())
    split_dir = Path(split_dir)
    paths = {s: split_dir / f"{s}.parquet" for s in SPLITS}
    per_task = {}
    for t, pl in placement.items():
        rows_per_case = defaultdict(int)
        for tt, c in zip(tasks, cases):
            if tt == t:
                rows_per_case[c] += 1
        per_task[t] = {
            "cases": len(pl),
            "splits": {s: {"cases": sorted(c for c, p in pl.items() if p.split == s),
                           "pairs": sum(rows_per_case[c] for c, p in pl.items() if p.split == s)} for s in SPLITS},
            "lent": [{"case_id": c, "hash_split": p.hash_split, "split": p.split, "u": round(p.u, 6)}
                     for c, p in sorted(pl.items()) if p.rule == "lent"],
            "empty_splits": [s for s in cfg.active if not any(p.split == s for p in pl.values())],
        }
    summary = {"pairs": len(table),
               "pairs_per_split": {s: int(pc.sum(pc.equal(labels, s)).as_py() or 0) for s in SPLITS},
               "cases_per_split": {s: sum(len(v["splits"][s]["cases"]) for v in per_task.values()) for s in SPLITS},
               "lent_cases": sum(len(v["lent"]) for v in per_task.values())}
    report = Path(report)
    with publish.staged("split", *paths.values(), report) as staged:   # the three splits and the report together
        for s in SPLITS:
            write_pairs(table.filter(pc.equal(labels, s)), staged[paths[s]])
        staged[report].write_text(json.dumps({"input": str(pairs_in), "params": to_dict(cfg), "rule": _RULE,
                                              "summary": summary, "per_task": per_task}, indent=1) + "\n")
    return SplitResult(paths, report, summary)


_RULE = ("per task: hash split by sha256(salt NUL case_id) against cumulative fractions; if "
         "min_one_case_per_split and the task has >= one case per active split, each empty split is filled "
         "with the nearest-hash case from a split that keeps >= 1 case ('lent')")


@stage_entry("split")
def main(argv: list[str] | None = None) -> int:
    args, params = stage_main_args("Split registered pairs into train/val/test by case.", argv)
    cfg = section(params, SplitParams, "split")
    res = run(cfg)
    s = res.summary
    print(f"split: {s['pairs']} pairs -> " + ", ".join(
        f"{k} {s['pairs_per_split'][k]} pairs / {s['cases_per_split'][k]} cases" for k in SPLITS)
        + f"; {s['lent_cases']} case(s) lent to fill empty splits; wrote {SPLIT_DIR}/ and {res.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

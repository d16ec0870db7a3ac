"""What the zoo benchmarks share: run independent jobs in processes, write the markdown and JSON report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence


def map_jobs(fn: Callable[[tuple], Any], jobs: Sequence[tuple], n_procs: int) -> list[Any]:
    """``[fn(job) for job in jobs]``, in ``n_procs`` spawned processes when ``n_procs`` > 1 (results in job
    order).  ``fn`` must be a module-level function (picklable)."""
    if n_procs <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(n_procs, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(fn, jobs))


def write_report(out: Path, name: str, markdown: str, result: dict) -> None:
    """``out/<name>.md`` and ``out/<name>.json``; prints the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(markdown)

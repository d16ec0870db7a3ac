"""Ingestion throughput: pairs/s for AANLIB PNG, NIfTI and DICOM ingestion of the same phantom, plus the
phantom's generation time and (when present) the real Harvard AANLIB folder.

    .venv/bin/python benchmarks/ingest.py [--cases 4] [--slices 10] [--size 128] [--repeats 3] [--out reports/bench]

The phantom (default: the demo setting, 4 cases x 10 slices x 4 tasks = 160 pairs) is simulated once and
written in the three formats; each reader is then timed ``--repeats`` times (wall clock and CPU time of this
process).  The min over repeats is the least disturbed run on a shared machine.  Writes
reports/bench/ingest.json and ingest.md.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.phantom.anatomy import load_anatomy  # noqa: E402
from pipelines.phantom.generate import PhantomParams, generate_formats  # noqa: E402
from pipelines.readers import ReaderOptions, get_reader  # noqa: E402

HARVARD = ROOT.parent / "shared" / "data" / "harvard_dev"


def time_reader(kind: str, folder: Path, options: ReaderOptions, repeats: int) -> dict:
    walls, cpus, pairs = [], [], 0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = get_reader(kind)(folder, options)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        result.check_accounting()
        pairs = len(result.rows)
    return {"pairs": pairs, "quarantined": len(result.quarantine), "wall_s_min": min(walls),
            "wall_s_median": sorted(walls)[len(walls) // 2], "cpu_s_min": min(cpus),
            "pairs_per_s_wall": pairs / min(walls), "pairs_per_s_cpu": pairs / min(cpus)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=4)
    p.add_argument("--slices", type=int, default=10)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--harvard", type=Path, default=HARVARD, help="real AANLIB folder to time too (if present)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    load_anatomy()
    anatomy_s = time.perf_counter() - t0
    params = PhantomParams(cases=args.cases, slices=args.slices)
    options = ReaderOptions(size=args.size, progress=False)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="medfuse-bench-") as tmp:
        outs = {f: Path(tmp) / f for f in ("aanlib", "nifti", "dicom")}
        w0, c0 = time.perf_counter(), time.process_time()
        generate_formats(outs, params, progress=False)
        gen = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
               "cases": args.cases, "slices": args.slices, "tasks": params.tasks, "formats": list(outs)}
        for kind in ("aanlib", "nifti", "dicom"):
            results[f"phantom_{kind}"] = time_reader(kind, outs[kind], options, args.repeats)
    if args.harvard.is_dir():
        results["harvard_aanlib"] = time_reader("aanlib", args.harvard, options, max(1, args.repeats - 1))

    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0], "size": args.size, "anatomy_load_s": anatomy_s,
            "phantom_generation": gen,
            "note": "wall = min over repeats; cpu = CPU time of this process; the machine may be shared"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    lines = ["| input | pairs | pairs/s (wall) | pairs/s (CPU) | wall s |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['pairs']} | {r['pairs_per_s_wall']:.1f} | {r['pairs_per_s_cpu']:.1f} | "
                     f"{r['wall_s_min']:.2f} |")
    table = "\n".join(lines)
    head = (f"Ingestion to {args.size}x{args.size} pairs; phantom {args.cases} cases x {args.slices} slices x "
            f"{len(params.tasks)} tasks generated (3 formats) in {gen['wall_s']:.1f} s wall / {gen['cpu_s']:.1f} s "
            f"CPU; anatomy load {anatomy_s:.1f} s; load average {meta['load_avg_1m']:.1f} on {os.cpu_count()} CPUs.")
    (args.out / "ingest.md").write_text(head + "\n\n" + table + "\n")
    print(head)
    print(table)
    print(f"wrote {args.out / 'ingest.json'} and {args.out / 'ingest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

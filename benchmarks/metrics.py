"""Metric throughput: ours (pipelines.metrics, batched) vs a straightforward per-image numpy/scipy/sklearn
loop of the same formulas (tests/metrics/reference_impl.py), on one thread, 256x256 pairs.

    .venv/bin/python benchmarks/metrics.py [--pairs 16] [--repeats 7] [--out reports/bench]

Prints ms per pair for every metric and for the full 12-metric set, min and median over repeats (the
machine may be shared: the min is the least disturbed run), checks that the values agree (max relative
difference), and writes reports/bench/metrics.json and metrics.md.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "metrics"))
sys.path.insert(0, str(ROOT))

import reference_impl as ref  # noqa: E402

from pipelines.imaging.io import read_gray_255  # noqa: E402
from pipelines.metrics import CORE_COLUMNS, METRICS, score_batch  # noqa: E402

DATA = ROOT / "tests" / "data" / "fusion_metrics"


def load_pairs(n: int):
    import csv
    rows = list(csv.DictReader((DATA / "expected.csv").open()))
    trip = []
    for r in rows:
        trip.append([read_gray_255(DATA / f"{r['pair']}_{s}.png").astype(np.float64)
                     for s in (f"F_{r['fusion']}", "A", "B")])
    trip = (trip * ((n + len(trip) - 1) // len(trip)))[:n]
    return (np.stack([t[k] for t in trip]) for k in range(3))


CLOCK = time.perf_counter


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        out.append(CLOCK() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--ref-pairs", type=int, default=2, help="pairs timed with the (slow) reference loop")
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    ap.add_argument("--clock", choices=["wall", "cpu"], default="cpu",
                    help="cpu = process CPU time (one thread, so less disturbed by other processes on a "
                         "shared machine); wall = elapsed time")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)
    F, A, B = load_pairs(args.pairs)
    n = F.shape[0]
    results = {}
    with threadpool_limits(limits=1):
        score_batch(F[:2], A[:2], B[:2])                      # warm caches (windows, log tables)
        for name in CORE_COLUMNS:
            fn = METRICS.get(name).fn
            ours = timed(lambda: [fn(F[i:i + 1], A[i:i + 1], B[i:i + 1]) for i in range(n)], args.repeats)
            single = timed(lambda: fn(F[:1], A[:1], B[:1]), args.repeats)
            reff = ref.METRICS[name]
            rt = timed(lambda: [reff(F[i], A[i], B[i]) for i in range(args.ref_pairs)], 1 if name == "VIF" else 3)
            ours_vals = fn(F, A, B)[name]
            ref_vals = np.array([reff(F[i], A[i], B[i]) for i in range(min(n, 4))])
            with np.errstate(invalid="ignore"):
                rel = np.nanmax(np.abs(ours_vals[:len(ref_vals)] - ref_vals) / np.abs(ref_vals)) \
                    if np.isfinite(ref_vals).any() else 0.0
            results[name] = {
                "ours_ms_per_pair_min": 1000 * min(ours) / n,
                "ours_ms_per_pair_median": 1000 * float(np.median(ours)) / n,
                "ours_single_pair_ms_min": 1000 * min(single),
                "reference_ms_per_pair_min": 1000 * min(rt) / args.ref_pairs,
                "max_rel_diff": float(rel),
            }
        full = timed(lambda: score_batch(F, A, B, metrics=list(CORE_COLUMNS)), args.repeats)
        full_single = timed(lambda: score_batch(F[:1], A[:1], B[:1], metrics=list(CORE_COLUMNS)), args.repeats)
        with_nabf = timed(lambda: score_batch(F, A, B), args.repeats)
        fmi = timed(lambda: score_batch(F[:1], A[:1], B[:1], metrics=["FMI_pixel", "FMI_dct", "FMI_w"]), 1)
    ref_full = sum(r["reference_ms_per_pair_min"] for r in results.values())
    results["FULL_SET_12"] = {
        "ours_ms_per_pair_min": 1000 * min(full) / n,
        "ours_ms_per_pair_median": 1000 * float(np.median(full)) / n,
        "ours_single_pair_ms_min": 1000 * min(full_single),
        "reference_ms_per_pair_min": ref_full,
        "max_rel_diff": max(r["max_rel_diff"] for r in results.values()),
    }
    extras = {"full_set_plus_Nabf_ms_per_pair_min": 1000 * min(with_nabf) / n,
              "FMI_pixel_dct_w_ms_per_pair": 1000 * min(fmi)}
    meta = {"pairs": n, "size": list(F.shape[1:]), "threads": 1, "repeats": args.repeats, "clock": args.clock,
            "machine": platform.processor() or platform.machine(), "load_avg": os.getloadavg(),
            "note": "shared machine: min is the least disturbed run; median shows the noise"}
    lines = [f"# Fusion metrics benchmark ({n} pairs of {F.shape[1]}x{F.shape[2]}, one thread, {args.clock} time)", "",
             f"load average at the end: {meta['load_avg']}", "",
             "| metric | ours ms/pair (min) | ours (median) | ours single pair (min) | reference loop ms/pair | speed-up | max rel diff |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for k, r in results.items():
        lines.append(f"| {k} | {r['ours_ms_per_pair_min']:.2f} | {r['ours_ms_per_pair_median']:.2f} | "
                     f"{r['ours_single_pair_ms_min']:.2f} | {r['reference_ms_per_pair_min']:.1f} | "
                     f"{r['reference_ms_per_pair_min'] / r['ours_ms_per_pair_min']:.0f}x | {r['max_rel_diff']:.1e} |")
    lines += ["", f"12 metrics + Nabf: {extras['full_set_plus_Nabf_ms_per_pair_min']:.2f} ms/pair; "
              f"FMI (pixel+dct+wavelet): {extras['FMI_pixel_dct_w_ms_per_pair']:.0f} ms/pair."]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"meta": meta, "metrics": results, "extras": extras}, indent=2))
    (out / "metrics.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Metric throughput: ours (pipelines.metrics: numba kernels for VIF, SSIM, MI and Qabf on the CPU, torch
for the rest and on GPUs) vs a straightforward per-image numpy/scipy/sklearn loop of the same formulas
(tests/metrics/reference_impl.py), on one CPU thread, 256x256 pairs; plus the CUDA figure when a GPU is present.

    .venv/bin/python benchmarks/metrics.py [--pairs 16] [--repeats 7] [--out reports/bench]

Prints ms per pair for every metric and for the full 12-metric set, min and median over repeats (the
machine may be shared: the min is the least disturbed run), checks that the values agree (max relative
difference to the reference loop and to tests/data/fusion_metrics/expected.csv), and writes
reports/bench/metrics.json and metrics.md.  CPU figures are process CPU time by default (--clock wall for
elapsed time); the CUDA figure is wall time with synchronisation, for a batch of --cuda-pairs pairs.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
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
from pipelines.metrics.batch import Triplet  # noqa: E402

DATA = ROOT / "tests" / "data" / "fusion_metrics"


def load_rows():
    rows = list(csv.DictReader((DATA / "expected.csv").open()))
    trip = [[read_gray_255(DATA / f"{r['pair']}_{s}.png").astype(np.float64) for s in (f"F_{r['fusion']}", "A", "B")]
            for r in rows]
    return rows, trip


def stack(trip, n):
    trip = (trip * ((n + len(trip) - 1) // len(trip)))[:n]
    return tuple(np.stack([t[k] for t in trip]) for k in range(3))


CLOCK = time.process_time


def timed(fn, repeats: int, setup=None) -> list[float]:
    out = []
    for _ in range(repeats):
        arg = setup() if setup else None
        t0 = CLOCK()
        fn(arg) if setup else fn()
        out.append(CLOCK() - t0)
    return out


def rel_diff(ours: np.ndarray, exp: np.ndarray) -> float:
    ok = np.isfinite(exp)
    if not ok.any():
        return 0.0
    assert np.array_equal(np.isnan(ours), np.isnan(exp)), "NaN pattern differs"
    return float(np.max(np.abs(ours[ok] - exp[ok]) / np.maximum(np.abs(exp[ok]), 1e-300)))


def fresh_batches(F, A, B):
    """One Triplet per pair with the generic conversions done (stack, levels, float32 copy), so that a
    family's timing covers its own work and the intermediates it computes (nothing is memoised yet)."""
    out = []
    for i in range(F.shape[0]):
        b = Triplet(F[i:i + 1], A[i:i + 1], B[i:i + 1])
        _ = b.levels, b.work
        out.append(b)
    return out


def cuda_figures(F, A, B, n_pairs: int, repeats: int, cpu_vals: dict) -> dict | None:
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    reps = -(-n_pairs // F.shape[0])
    Fc, Ac, Bc = (torch.from_numpy(np.concatenate([x] * reps)[:n_pairs]).to(dev) for x in (F, A, B))
    names = list(CORE_COLUMNS)
    score_batch(Fc[:4], Ac[:4], Bc[:4], metrics=names, chunk=4)                   # warm up kernels, caches
    ts = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        vals = score_batch(Fc, Ac, Bc, metrics=names, chunk=n_pairs)
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    m = F.shape[0]
    diff = max(rel_diff(vals[c][:m], cpu_vals[c]) for c in names)
    return {"device": torch.cuda.get_device_name(dev), "pairs_per_batch": n_pairs,
            "ms_per_pair_min": 1000 * min(ts) / n_pairs, "ms_per_pair_median": 1000 * float(np.median(ts)) / n_pairs,
            "max_rel_diff_vs_cpu": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--ref-pairs", type=int, default=2, help="pairs timed with the (slow) reference loop")
    ap.add_argument("--cuda-pairs", type=int, default=256, help="batch size of the CUDA figure")
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    ap.add_argument("--clock", choices=["wall", "cpu"], default="cpu",
                    help="cpu = process CPU time (one thread, so less disturbed by other processes on a "
                         "shared machine); wall = elapsed time")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)
    rows, trip = load_rows()
    F, A, B = stack(trip, args.pairs)
    Ft, At, Bt = (torch.from_numpy(x) for x in (F, A, B))
    n = F.shape[0]
    results = {}
    with threadpool_limits(limits=1), torch.inference_mode():
        score_batch(F[:2], A[:2], B[:2])                                       # warm caches (bands, windows)
        setup = timed(lambda: fresh_batches(Ft, At, Bt), args.repeats)
        for name in CORE_COLUMNS:
            fn = METRICS.get(name).fn
            ours = timed(lambda bs: [fn(b) for b in bs], args.repeats, setup=lambda: fresh_batches(Ft, At, Bt))
            reff = ref.METRICS[name]
            rt = timed(lambda: [reff(F[i], A[i], B[i]) for i in range(args.ref_pairs)], 1 if name == "VIF" else 3)
            m = min(n, 4)
            ref_vals = np.array([reff(F[i], A[i], B[i]) for i in range(m)])
            results[name] = {
                "ours_ms_per_pair_min": 1000 * min(ours) / n,
                "ours_ms_per_pair_median": 1000 * float(np.median(ours)) / n,
                "reference_ms_per_pair_min": 1000 * min(rt) / args.ref_pairs,
                "max_rel_diff": rel_diff(score_batch(F[:m], A[:m], B[:m], metrics=[name])[name], ref_vals),
            }
        results["batch setup"] = {"ours_ms_per_pair_min": 1000 * min(setup) / n,
                                  "ours_ms_per_pair_median": 1000 * float(np.median(setup)) / n,
                                  "reference_ms_per_pair_min": 0.0, "max_rel_diff": 0.0}
        names = list(CORE_COLUMNS)
        full = timed(lambda: score_batch(F, A, B, metrics=names), args.repeats)
        full_t = timed(lambda: score_batch(Ft, At, Bt, metrics=names), args.repeats)
        with_nabf = timed(lambda: score_batch(F, A, B), args.repeats)
        fmi = timed(lambda: score_batch(F[:1], A[:1], B[:1], metrics=["FMI_pixel", "FMI_dct", "FMI_w"]), 1)
        F16, A16, B16 = stack(trip, len(rows))
        ours16 = score_batch(F16, A16, B16, metrics=names)
    vs_expected = max(rel_diff(ours16[c], np.array([float(r[c]) for r in rows])) for c in names)
    ref_full = sum(r["reference_ms_per_pair_min"] for k, r in results.items() if k in CORE_COLUMNS)
    results["FULL_SET_12"] = {
        "ours_ms_per_pair_min": 1000 * min(full) / n,
        "ours_ms_per_pair_median": 1000 * float(np.median(full)) / n,
        "reference_ms_per_pair_min": ref_full,
        "max_rel_diff": max(r["max_rel_diff"] for r in results.values()),
    }
    extras = {"full_set_torch_input_ms_per_pair_min": 1000 * min(full_t) / n,
              "full_set_plus_Nabf_ms_per_pair_min": 1000 * min(with_nabf) / n,
              "FMI_pixel_dct_w_ms_per_pair": 1000 * min(fmi),
              "max_rel_diff_vs_expected_csv": vs_expected}
    cuda = cuda_figures(F16, A16, B16, args.cuda_pairs, args.repeats, ours16)
    meta = {"pairs": n, "size": list(F.shape[1:]), "threads": 1, "repeats": args.repeats, "clock": args.clock,
            "machine": platform.processor() or platform.machine(), "load_avg": os.getloadavg(),
            "torch": torch.__version__,
            "note": "shared machine: min is the least disturbed run; median shows the noise"}
    lines = [f"# Fusion metrics benchmark ({n} pairs of {F.shape[1]}x{F.shape[2]}, one thread, {args.clock} time)", "",
             f"load average at the end: {tuple(round(x, 2) for x in meta['load_avg'])}", "",
             "| metric | ours ms/pair (min) | ours (median) | reference loop ms/pair | speed-up | max rel diff |",
             "|---|---:|---:|---:|---:|---:|"]
    for k, r in results.items():
        base = r["reference_ms_per_pair_min"]
        ratio = base / r["ours_ms_per_pair_min"] if base else math.nan
        lines.append(f"| {k} | {r['ours_ms_per_pair_min']:.2f} | {r['ours_ms_per_pair_median']:.2f} | "
                     f"{r['reference_ms_per_pair_min']:.1f} | {ratio:.0f}x | {r['max_rel_diff']:.1e} |")
    lines += ["", "Per-metric rows start from a prepared batch (the shared conversions are the 'batch setup' row); "
              "FULL_SET_12 is `score_batch` end to end.",
              f"Full set from torch tensors: {extras['full_set_torch_input_ms_per_pair_min']:.2f} ms/pair; "
              f"12 metrics + Nabf: {extras['full_set_plus_Nabf_ms_per_pair_min']:.2f} ms/pair; "
              f"FMI (pixel+dct+wavelet): {extras['FMI_pixel_dct_w_ms_per_pair']:.0f} ms/pair.",
              f"Max relative difference to expected.csv (16 rows x 12 metrics): {vs_expected:.1e}."]
    if cuda:
        lines.append(f"CUDA ({cuda['device']}, batches of {cuda['pairs_per_batch']} pairs, wall time): "
                     f"{cuda['ms_per_pair_min']:.3f} ms/pair (median {cuda['ms_per_pair_median']:.3f}); "
                     f"max rel diff to CPU {cuda['max_rel_diff_vs_cpu']:.1e}.")
    else:
        lines.append("CUDA: no GPU on this machine (the figure is printed when torch.cuda.is_available()).")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"meta": meta, "metrics": results, "extras": extras, "cuda": cuda},
                                                 indent=2))
    (out / "metrics.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

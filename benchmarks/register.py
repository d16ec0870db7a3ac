"""Registration speed: seconds per 2-D pair and per volume on the phantom.

Generates a small phantom twice through the project's ingest (AANLIB PNG -> 2-D path, NIfTI -> 3-D path) in a
scratch folder, runs the register stage with the params.yaml ``register:`` section, and prints seconds per
2-D pair, per volume and per volume slice, plus the recovery error against the phantom's known misalignment.
Writes ``reports/bench/register.json``.  Timings depend on machine load; run on an idle machine.

    python benchmarks/register.py [--cases 4] [--slices 10] [--size 128] [--tasks MRI_CT MRI_PET MRI_SPECT MRI_T2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from pipelines.params import load_params, section
from pipelines.registration.config import RegisterParams

ROOT = Path(__file__).resolve().parents[1]


def bench(fmt: str, args, cfg: RegisterParams) -> dict:
    from pipelines.stages import ingest, register

    with tempfile.TemporaryDirectory(prefix=f"bench_register_{fmt}_") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            params = load_params(ROOT / "params.yaml", [
                f"phantom.format={fmt}", f"phantom.cases={args.cases}", f"phantom.slices={args.slices}",
                f"data.size={args.size}", f"phantom.tasks={json.dumps(args.tasks)}", "ingest.progress=false"])
            ingest.run(params)
            t0 = time.perf_counter()
            res = register.run(cfg, progress=False)
            wall = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    s = res.summary
    out = {"format": fmt, "pairs": s["pairs"], "units": s["units"], "wall_seconds": wall,
           "seconds_per_2d_pair": s["seconds_per_2d_pair"], "seconds_per_volume": s["seconds_per_volume"],
           "status": s["status"], "nmi_before_mean": s["nmi_before_mean"], "nmi_after_mean": s["nmi_after_mean"],
           "truth": s.get("truth")}
    if s["seconds_per_volume"]:
        out["seconds_per_volume_slice"] = s["seconds_per_volume"] / args.slices
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=4)
    p.add_argument("--slices", type=int, default=10)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--tasks", nargs="+", default=["MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2"])
    p.add_argument("--out", default=str(ROOT / "reports" / "bench" / "register.json"))
    args = p.parse_args()
    cfg = section(load_params(ROOT / "params.yaml"), RegisterParams, "register")
    results = {"machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "python": platform.python_version()},
               "args": vars(args), "register": {"transform": cfg.transform, "threads": cfg.threads}}
    for fmt in ("aanlib", "nifti"):
        r = bench(fmt, args, cfg)
        results[fmt] = r
        tr = r["truth"] or {}
        per = (f"{r['seconds_per_2d_pair']:.3f} s per 2-D pair" if fmt == "aanlib"
               else f"{r['seconds_per_volume']:.2f} s per volume ({r['seconds_per_volume_slice']:.3f} s per slice)")
        print(f"{fmt:6s}: {r['pairs']} pairs, {per}; wall {r['wall_seconds']:.1f} s; "
              f"NMI {r['nmi_before_mean']:.4f} -> {r['nmi_after_mean']:.4f}; "
              f"rotation error mean/max {tr.get('rotation_error_deg', {}).get('mean', float('nan')):.3f}/"
              f"{tr.get('rotation_error_deg', {}).get('max', float('nan')):.3f} deg, "
              f"shift error mean/max {tr.get('shift_error_vox', {}).get('mean', float('nan')):.3f}/"
              f"{tr.get('shift_error_vox', {}).get('max', float('nan')):.3f} voxel")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out} (machine load {results['machine']['load_1min']:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Registration speed: seconds per 2-D pair and per volume on the phantom.

Generates a small phantom twice through the project's ingest (AANLIB PNG -> 2-D path, NIfTI -> 3-D path) in a
scratch folder, runs the register stage with the params.yaml ``register:`` section, and prints seconds per
2-D pair, per volume and per volume slice (wall and CPU: the CPU figure is the process time of the register stage, which runs on one
thread), plus the recovery error against the phantom's known misalignment (per task: max error, units out of
the 1 degree / 1 voxel spec).  Writes ``reports/bench/register.json`` and ``reports/bench/register.md``.
Wall timings depend on machine load (reported); CPU time much less.

    python benchmarks/register.py [--cases 4] [--slices 10] [--size 128] [--tasks MRI_CT MRI_PET MRI_SPECT MRI_T2]
                                  [--formats aanlib nifti] [--set register.case_consensus=false ...]

The 2-D rows also count the slices whose applied transform is the case consensus (``consensus``).
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
FORMATS = ("aanlib", "nifti")


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
            t0, c0 = time.perf_counter(), time.process_time()
            res = register.run(cfg, progress=False)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            units = json.loads(res.report.read_text())["units"]
        finally:
            os.chdir(cwd)
    s = res.summary
    n_units = len(units)
    out = {"format": fmt, "pairs": s["pairs"], "units": s["units"], "wall_seconds": wall, "cpu_seconds": cpu,
           "cpu_seconds_per_unit": cpu / n_units, "per_task": per_task_errors(units),
           "seconds_per_2d_pair": s["seconds_per_2d_pair"], "seconds_per_volume": s["seconds_per_volume"],
           "status": s["status"], "nmi_before_mean": s["nmi_before_mean"], "nmi_after_mean": s["nmi_after_mean"],
           "truth": s.get("truth")}
    if s["seconds_per_volume"]:
        out["seconds_per_volume_slice"] = s["seconds_per_volume"] / args.slices
    return out


def per_task_errors(units: list[dict]) -> dict:
    """Per task: units, max rotation / shift error against the truth, units out of spec, kept_original count."""
    out: dict = {}
    for u in units:
        if not u.get("truth"):
            continue
        t = out.setdefault(u["key"].split("/")[0], {"units": 0, "rotation_error_max_deg": 0.0,
                                                     "shift_error_max_vox": 0.0, "out_of_spec": 0, "kept": 0})
        t["units"] += 1
        t["rotation_error_max_deg"] = max(t["rotation_error_max_deg"], u["truth"]["rotation_error_deg"])
        t["shift_error_max_vox"] = max(t["shift_error_max_vox"], u["truth"]["shift_error_vox"])
        t["out_of_spec"] += u["truth"]["rotation_error_deg"] >= 1.0 or u["truth"]["shift_error_vox"] >= 1.0
        t["kept"] += u["status"] == "kept_original"
        t["consensus"] = t.get("consensus", 0) + (u.get("source") == "case_consensus")
    return out


def markdown(results: dict) -> str:
    m, a = results["machine"], results["args"]
    lines = [f"Registration on the phantom ({a['cases']} cases x {a['slices']} slices x {len(a['tasks'])} tasks, "
             f"{a['size']} px), `python benchmarks/register.py`; {m['cpus']} CPUs, load average "
             f"{m['load_1min']:.1f} at start; ITK threads {results['register']['threads']}.", "",
             "| path | units | CPU s / unit | wall s / unit | NMI before -> after |", "|---|---|---|---|---|"]
    for fmt, label in (("aanlib", "2-D (AANLIB PNG, per slice)"), ("nifti", "3-D (NIfTI, per case)")):
        if fmt not in results:
            continue
        r = results[fmt]
        n = r["units"]["slice"] + r["units"]["volume"]
        lines.append(f"| {label} | {n} | {r['cpu_seconds_per_unit']:.3f} | {r['wall_seconds'] / n:.3f} | "
                     f"{r['nmi_before_mean']:.4f} -> {r['nmi_after_mean']:.4f} |")
    lines += ["", "Error against the recorded misalignment (spec: < 1 degree and < 1 voxel per unit):", "",
              "| path | task | units | max rotation error (deg) | max shift error (voxel) | out of spec "
              "| kept original | case consensus |",
              "|---|---|---|---|---|---|---|---|"]
    for fmt in FORMATS:
        for task, t in sorted(results.get(fmt, {}).get("per_task", {}).items()):
            lines.append(f"| {'2-D' if fmt == 'aanlib' else '3-D'} | {task} | {t['units']} | "
                         f"{t['rotation_error_max_deg']:.2f} | {t['shift_error_max_vox']:.2f} | {t['out_of_spec']} | "
                         f"{t['kept']} | {t['consensus']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=4)
    p.add_argument("--slices", type=int, default=10)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--tasks", nargs="+", default=["MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2"])
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="register.KEY=VALUE",
                   help="params.yaml override of the register section (repeatable), e.g. register.case_consensus=false")
    p.add_argument("--out", default=str(ROOT / "reports" / "bench" / "register.json"))
    args = p.parse_args()
    bad = [o for o in args.overrides if not o.startswith("register.")]
    if bad:
        p.error(f"--set only takes register.* keys, got {bad}")
    cfg = section(load_params(ROOT / "params.yaml", args.overrides), RegisterParams, "register")
    results = {"machine": {"cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "python": platform.python_version()},
               "args": vars(args), "register": {"transform": cfg.transform, "threads": cfg.threads,
                                                "case_consensus": cfg.case_consensus}}
    for fmt in args.formats:
        r = bench(fmt, args, cfg)
        results[fmt] = r
        tr = r["truth"] or {}
        per = (f"{r['seconds_per_2d_pair']:.3f} s per 2-D pair (CPU {r['cpu_seconds_per_unit']:.3f})" if fmt == "aanlib"
               else f"{r['seconds_per_volume']:.2f} s per volume (CPU {r['cpu_seconds_per_unit']:.2f}, "
                    f"{r['seconds_per_volume_slice']:.3f} s per slice)")
        print(f"{fmt:6s}: {r['pairs']} pairs, {per}; wall {r['wall_seconds']:.1f} s; "
              f"NMI {r['nmi_before_mean']:.4f} -> {r['nmi_after_mean']:.4f}; "
              f"rotation error mean/max {tr.get('rotation_error_deg', {}).get('mean', float('nan')):.3f}/"
              f"{tr.get('rotation_error_deg', {}).get('max', float('nan')):.3f} deg, "
              f"shift error mean/max {tr.get('shift_error_vox', {}).get('mean', float('nan')):.3f}/"
              f"{tr.get('shift_error_vox', {}).get('max', float('nan')):.3f} voxel")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    print(f"wrote {out} and {out.with_suffix('.md')} (machine load {results['machine']['load_1min']:.1f} on "
          f"{os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

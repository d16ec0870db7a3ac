"""Training throughput: a plain PyTorch loop vs the medfuse loop in-process vs Ray Train with 1 and 2 CPU workers.

All variants train the same model (``--preset``, default ``fusiongan``) on the same batch size and patch size for
``--steps`` steps on synthetic pairs (a Parquet split written to a temp dir, so data reading is the real path).

* ``plain``: ``Trainer.train_step`` in a bare Python loop on pre-made tensors (no data pipeline, no Ray),
  with ``--threads`` torch threads (default 1, what Ray gives each CPU worker; compare like with like).
* ``in_process``: ``run_loop`` with a ``LocalSession`` (``train.resources.num_workers: 0``).
* ``ray_1`` / ``ray_2``: Ray Train ``TorchTrainer`` with 1 / 2 CPU workers (gloo DDP; 0.5 CPU each).

Reported: steady-state steps/s and samples/s (from the loop's own timing between its last two reports, so start-up
is excluded), the Ray overhead as the ratio plain / variant per worker, and the fit's wall seconds including
start-up.  ``--demo`` also times ``make demo``'s pipeline (``python -m pipelines.demo`` in a scratch copy).
Writes ``reports/bench/train_throughput.json`` and ``.md``.  Figures depend on machine load: run on an idle box.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_split(d: Path, n: int, size: int) -> Path:
    from pipelines.schema import make_pair_id, write_pairs
    rng = np.random.default_rng(0)
    rows = []
    for split, count in (("train", n), ("val", 8)):
        rows = []
        for i in range(count):
            yy, xx = np.mgrid[0:size, 0:size] / size
            a = (0.5 + 0.4 * np.sin(8 * xx + rng.uniform(0, 3)) * np.cos(5 * yy)).astype(np.float32)
            b = np.exp(-((xx - rng.uniform(.3, .7)) ** 2 + (yy - .5) ** 2) / 0.02).astype(np.float32)
            case = f"c{i // 4}"
            rows.append(dict(pair_id=make_pair_id("MRI_PET", f"{split}{case}", i), task="MRI_PET",
                             case_id=case, slice=i, modality_a="MRI", modality_b="PET", height=size,
                             width=size, a=a, b=b, source_a="syn", source_b="syn", sha256_a="0" * 64,
                             sha256_b="0" * 64))
        write_pairs(rows, d / f"{split}.parquet")
    return d


def loop_cfg(args, split: Path) -> dict:
    return dict(task="MRI_PET", preset=args.preset, loss=args.loss, overrides=json.loads(args.overrides),
                train_path=str(split / "train.parquet"), val_path=None, steps=args.steps,
                batch_size=args.batch_size, crop=args.crop, augment=True, val_every=args.steps // 2,
                checkpoint_every=args.steps, log_every=args.steps, sample_every=args.steps)


def bench_plain(args) -> dict:
    import torch
    from gan_models.training.trainer import Trainer
    from pipelines.training.inference import build_system
    torch.manual_seed(0)
    system = build_system({"preset": args.preset, "loss": args.loss, "overrides": json.loads(args.overrides)})
    system.setup(steps_per_epoch=max(1, args.steps))     # one nominal epoch (ddcgan's lr schedule counts epochs)
    trainer = Trainer(system)
    batch = {"a": torch.rand(args.batch_size, 1, args.crop, args.crop),
             "b": torch.rand(args.batch_size, 1, args.crop, args.crop)}
    warm = max(2, args.steps // 5)
    for _ in range(warm):
        trainer.train_step(batch)
    t0 = time.perf_counter()
    n = args.steps - warm
    for _ in range(n):
        trainer.train_step(batch)
    dt = time.perf_counter() - t0
    return {"steps_per_s": n / dt, "samples_per_s": n * args.batch_size / dt, "wall_s": dt, "workers": 1}


def bench_in_process(args, split: Path) -> dict:
    from pipelines.training.loop import run_loop
    from pipelines.training.session import LocalSession
    with tempfile.TemporaryDirectory() as ck:
        s = LocalSession(ck)
        t0 = time.perf_counter()
        run_loop(loop_cfg(args, split), s)
        wall = time.perf_counter() - t0
    last = s.reports[-1]                      # second half of the run: steady state
    return {"steps_per_s": last["steps_per_s"], "samples_per_s": last["samples_per_s"], "wall_s": wall,
            "workers": 1}


def bench_ray(args, split: Path, workers: int, storage: Path) -> dict:
    from pipelines.training.config import ResourcesParams
    from pipelines.training.ray_runtime import fit_torch
    res = ResourcesParams(num_workers=workers, use_gpu=False, cpus_per_worker=0.5, max_failures=0)
    t0 = time.perf_counter()
    _, m = fit_torch(loop_cfg(args, split), res, f"bench-{workers}-{int(time.time())}", storage)
    wall = time.perf_counter() - t0
    return {"steps_per_s": m["steps_per_s"], "samples_per_s": m["samples_per_s"], "wall_s": wall,
            "workers": workers}


def bench_demo() -> dict:
    """``python -m pipelines.demo`` (dvc repro of the whole pipeline) in a scratch copy of the project."""
    with tempfile.TemporaryDirectory(prefix="medfuse-demo-") as d:
        ignore = shutil.ignore_patterns(".venv", "data", "models", "mlruns", "ray_results", "reports", "metrics",
                                        "__pycache__", ".dvc", "dvc.lock")
        shutil.copytree(ROOT, d, dirs_exist_ok=True, ignore=ignore)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(["git", "init", "-q"], cwd=d, check=True)
        subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=d, check=True, env=env)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", "pipelines.demo"], cwd=d, env=env)
        return {"demo_pipeline_s": time.perf_counter() - t0, "rc": rc}


def main(argv: list[str] | None = None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fusiongan")
    ap.add_argument("--loss", default=None)
    ap.add_argument("--overrides", default='{"stages.G.generator.width": 4}', help="JSON build overrides")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of the plain / in-process variants (Ray CPU workers run with 1: "
                         "OMP_NUM_THREADS=1); 0 = torch default")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--demo", action="store_true", help="also time the demo pipeline (minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    results: dict = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="medfuse-bench-") as tmp:
        split = synthetic_split(Path(tmp) / "splits", args.pairs, max(args.crop, 64))
        print("plain PyTorch loop ...", flush=True)
        results["plain"] = bench_plain(args)
        print("medfuse loop in-process ...", flush=True)
        results["in_process"] = bench_in_process(args, split)
        if not args.no_ray:
            from pipelines.training.ray_runtime import ensure_ray
            ray = ensure_ray(num_cpus=2)
            for w in (1, 2):
                print(f"Ray Train, {w} CPU worker(s) ...", flush=True)
                results[f"ray_{w}"] = bench_ray(args, split, w, Path(tmp) / "ray")
            ray.shutdown()
    base = results["plain"]["steps_per_s"]
    for k in ("in_process", "ray_1", "ray_2"):
        if k in results:
            r = results[k]
            r["overhead_ratio_per_worker"] = base / (r["steps_per_s"])     # >1: slower per step than plain
            r["speedup_samples_vs_plain"] = r["samples_per_s"] / results["plain"]["samples_per_s"]
    if args.demo:
        print("demo pipeline (dvc repro in a scratch copy) ...", flush=True)
        results["demo"] = bench_demo()
    results["load_avg_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_throughput.json").write_text(json.dumps(results, indent=2))
    lines = ["| variant | workers | steps/s | samples/s | plain/variant (per step) | wall s |", "|---|---|---|---|---|---|"]
    for k in ("plain", "in_process", "ray_1", "ray_2"):
        if k in results:
            r = results[k]
            lines.append(f"| {k} | {r['workers']} | {r['steps_per_s']:.3f} | {r['samples_per_s']:.2f} | "
                         f"{r.get('overhead_ratio_per_worker', 1.0):.2f} | {r['wall_s']:.1f} |")
    if "demo" in results:
        lines.append(f"\ndemo pipeline: {results['demo']['demo_pipeline_s']:.0f} s (rc {results['demo']['rc']})")
    lines.append(f"\nload average start/end: {results['load_avg_start']} / {results['load_avg_end']}")
    md = "\n".join(lines)
    (args.out / "train_throughput.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

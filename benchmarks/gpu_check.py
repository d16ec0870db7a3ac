"""GPU check for the Ray Train path: NCCL DDP over all local GPUs (2 workers when there are 2+, else 1),
bf16 autocast, checkpoint + resume on GPU, and steps/s.  ``--cpu`` runs the same checks on CPU workers
(gloo, no bf16) as a dry run of the script itself.

Phase 1 trains to ``--steps/2`` (checkpoint at the end); phase 2 reruns the same Ray run name to ``--steps``,
which must resume from that checkpoint (first step logged by phase 2 = steps/2 + 1).  A step hook records, per
rank, the process group backend, world size, device and whether bf16 autocast is active.  Exit code 0 only if
every check passes; the summary is printed and written to reports/bench/gpu_check.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def record_env(step, session, cfg) -> None:
    """Step hook (runs in every worker): rank 0 logs steps, every rank logs its DDP environment once."""
    import torch
    import torch.distributed as dist
    d = Path(cfg.sample_dir)
    d.mkdir(parents=True, exist_ok=True)
    if session.world_rank == 0:
        with open(d / "steps.log", "a") as fh:
            fh.write(f"{os.getpid()} {step}\n")
    f = d / f"env_rank{session.world_rank}_{os.getpid()}.json"
    if not f.exists():
        dev = session.device()
        bf16_ok = False
        if dev.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                bf16_ok = (torch.ones(4, 4, device=dev) @ torch.ones(4, 4, device=dev)).dtype == torch.bfloat16
        f.write_text(json.dumps({
            "rank": session.world_rank, "world_size": session.world_size, "device": str(dev),
            "backend": dist.get_backend() if dist.is_available() and dist.is_initialized() else None,
            "bf16_autocast": bf16_ok, "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}))


def main(argv=None) -> int:
    from pipelines.env import quiet_telemetry
    quiet_telemetry()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="dry run on CPU workers (gloo, no bf16)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--preset", default="fusiongan")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = ap.parse_args(argv)
    import torch
    from pipelines.training.config import ResourcesParams
    from pipelines.training.ray_runtime import ensure_ray, fit_torch
    from train_throughput import synthetic_split

    n_gpu = 0 if args.cpu else torch.cuda.device_count()
    if not args.cpu and n_gpu == 0:
        print("gpu_check: no CUDA device visible; use --cpu for the dry run", file=sys.stderr)
        return 2
    workers = 2 if (args.cpu or n_gpu >= 2) else 1
    ray = ensure_ray(num_cpus=None if not args.cpu else 2, extra_paths=[str(HERE)])
    res = ResourcesParams(num_workers=workers, use_gpu=not args.cpu, cpus_per_worker=0.5 if args.cpu else 2.0,
                          gpus_per_worker=1.0, bf16=not args.cpu, max_failures=0)
    summary: dict = {"mode": "cpu-dry-run" if args.cpu else "gpu", "workers": workers, "gpus_visible": n_gpu}
    ok = True
    with tempfile.TemporaryDirectory(prefix="medfuse-gpucheck-") as tmp:
        tmp = Path(tmp)
        split = synthetic_split(tmp / "splits", max(32, 4 * workers * args.batch_size // 4), args.crop)
        half = args.steps // 2
        base = dict(task="MRI_PET", preset=args.preset, loss=None,
                    overrides={"stages.G.generator.width": 8}, train_path=str(split / "train.parquet"),
                    val_path=None, batch_size=args.batch_size, crop=None, augment=True,
                    val_every=max(1, half // 2), checkpoint_every=half, log_every=half, sample_every=half,
                    bf16=not args.cpu, sample_dir=str(tmp / "hook"), callbacks=["gpu_check:record_env"])
        t0 = time.perf_counter()
        _, m1 = fit_torch({**base, "steps": half}, res, "gpucheck", tmp / "ray")
        t1 = time.perf_counter()
        _, m2 = fit_torch({**base, "steps": args.steps}, res, "gpucheck", tmp / "ray")   # same name: resume
        t2 = time.perf_counter()
        lines = [tuple(map(int, ln.split())) for ln in (tmp / "hook" / "steps.log").read_text().splitlines()]
        pids = list(dict.fromkeys(p for p, _ in lines))
        phase2 = [s for p, s in lines if p == pids[-1]]
        envs = [json.loads(f.read_text()) for f in sorted((tmp / "hook").glob("env_rank*.json"))]
    want_backend = "gloo" if args.cpu else "nccl"
    checks = {
        "ddp_backend": all(e["backend"] == want_backend for e in envs) and
                       {e["world_size"] for e in envs} == {workers} and
                       (workers == 1 or {e["rank"] for e in envs} == set(range(workers))),
        "devices": args.cpu or all(e["device"].startswith("cuda") for e in envs),
        "bf16_autocast": args.cpu or all(e["bf16_autocast"] for e in envs),
        "resume_from_checkpoint": m1.get("step") == half and m2.get("step") == args.steps
                                  and len(pids) == 2 and phase2[:1] == [half + 1],
        "finite_losses": all(v == v and abs(v) < float("inf") for k, v in m2.items() if k.endswith("total")),
    }
    ok = all(checks.values())
    summary.update(checks=checks, envs=envs, steps_per_s=m2.get("steps_per_s"),
                   samples_per_s=m2.get("samples_per_s"), phase1_fit_s=t1 - t0, phase2_fit_s=t2 - t1,
                   batch_size_per_worker=args.batch_size, image=args.crop, preset=args.preset)
    ray.shutdown()
    args.out.mkdir(parents=True, exist_ok=True)
    name = "gpu_check_cpu.json" if args.cpu else "gpu_check.json"
    (args.out / name).write_text(json.dumps(summary, indent=2))
    for k, v in checks.items():
        print(f"  {'PASS' if v else 'FAIL'}  {k}")
    print(f"{summary['mode']}: {workers} worker(s), {summary['steps_per_s']:.2f} steps/s, "
          f"{summary['samples_per_s']:.1f} samples/s (batch {args.batch_size}/worker, {args.crop} px)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Do the trainer's stability monitors fire on runs known to fail and stay quiet on runs known to work?

Configurations (the ring of 8 Gaussians, one generator, MLP nets, batch 256: exactly the setting of
``benchmarks/mode_coverage.py``, whose report ``reports/bench/mode_coverage.md`` says which fail):

* known to fail: f-GAN **TV** and f-GAN **Pearson** at their paper constants (0 modes in that report), and
  **WGAN at a too-high learning rate** (RMSProp ``--wgan-lr``, default 5e-3 = 100× the paper's 5e-5, weight
  clipping 0.01, n_critic 5);
* known to work: **hinge** and **WGAN-div** (8/8 modes, 32-45 % HQ in that report).

Every run trains with ``monitors: {action: record, mode_collapse: {}, vanishing_gradient: {},
critic_overpowering: {}}`` (the detectors' defaults) for ``--steps`` generator steps, per seed; the table gives,
per configuration and seed, the events (kind @ first step), the diagnostics at the end (diversity, G's
gradient norm relative to its reference, critic accuracies) and the mode-coverage score of the final generator
(modes / HQ %) as the ground truth.

Usage: ``python benchmarks/stability_monitors.py [--steps 2000] [--seeds 2] [--jobs 2]``; writes
``reports/bench/stability_monitors.{md,json}``.  Seconds depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gan_models  # noqa: E402
import mode_coverage as mc  # noqa: E402
from parallel import map_jobs, write_report  # noqa: E402
from gan_models.training import Trainer  # noqa: E402

POLICY = {"action": "record", "mode_collapse": {}, "vanishing_gradient": {}, "critic_overpowering": {}}
FAILING = ("fgan_tv", "fgan_pearson", "wgan_high_lr")
WORKING = ("hinge", "wgan_div")


def setups(wgan_lr: float) -> dict[str, dict]:
    out = {k: mc.LOSS_SETUPS[k] for k in ("fgan_tv", "fgan_pearson", "hinge", "wgan_div")}
    out["wgan_high_lr"] = {"loss": "wgan", "optimizer": {"lr": wgan_lr}}
    return out


def run(name: str, setup: dict, steps: int, seed: int, batch: int) -> dict:
    gan_models.load_all()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mix = mc.MIXTURES["ring"]
    system = mc.build_toy("gan", setup).configure_training(monitors=POLICY)
    trainer = Trainer(system)
    t0 = time.perf_counter()
    tail: list[dict] = []
    for _ in range(steps):
        logs = trainer.train_step({"x": torch.from_numpy(mix.sample(batch, rng))})
        tail = (tail + [logs])[-50:]
    modes, hq, med = mc.score(system, mix)
    det = system.training_options.monitors.detectors["vanishing_gradient"]
    ref = statistics.median(det.reference) if det.reference else float("nan")

    def last(key: str) -> float:
        vals = [t[key] for t in tail if key in t]
        return float(statistics.median(vals)) if vals else float("nan")
    first: dict[str, int] = {}
    for e in trainer.events:
        first.setdefault(e["kind"], e["step"])
    return {"config": name, "seed": seed, "steps": steps, "events": trainer.events, "first": first,
            "n_events": {k: sum(e["kind"] == k for e in trainer.events) for k in first},
            "diversity": last("monitor/diversity"), "g_grad_ratio": last("monitor/G/grad_norm") / ref,
            "acc_real": last("monitor/D/acc_real"), "acc_fake": last("monitor/D/acc_fake"),
            "modes": modes, "hq": hq, "median_sigma": med, "seconds": time.perf_counter() - t0}


def _job(args: tuple) -> dict:
    torch.set_num_threads(1)
    return run(*args)


def render(res: dict) -> str:
    lines = [f"# Stability monitors on known failing and known working runs ({res['steps']} steps)", "",
             f"Ring of 8 Gaussians, one generator (`sgsd`), MLP 3 × 128 nets, batch {res['batch']}, "
             f"{res['steps']} generator steps, seeds 0..{res['seeds'] - 1}; WGAN's too-high learning rate: "
             f"RMSProp {res['wgan_lr']:g} (paper 5e-5).  Policy: `{json.dumps(POLICY)}` (detector defaults, each on the "
             "median over the last 100 steps: mode collapse = diversity < 0.5; vanishing gradient = G's gradient "
             "norm < 0.01 × its median over the 25 steps after warm-up, or < 1e-3; critic overpowering = both "
             "critic accuracies > 0.99; warm-up 50 steps).  Diagnostics: medians of the last 50 steps.  "
             f"{res['note']}", "",
             "| configuration | expected | seed | events (first step) | diversity | G grad / ref | D acc real / fake "
             "| modes /8 | HQ % | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(res["runs"], key=lambda r: ((FAILING + WORKING).index(r["config"]), r["seed"])):
        expected = "fails" if r["config"] in FAILING else "works"
        events = ", ".join(f"{k} @ {v}" for k, v in r["first"].items()) or "none"
        fired = bool(r["first"])
        verdict = "correct" if fired == (expected == "fails") else ("MISSED" if expected == "fails" else "FALSE ALARM")
        lines.append(f"| {r['config']} | {expected} | {r['seed']} | {events} | {r['diversity']:.2f} | "
                     f"{r['g_grad_ratio']:.3g} | {r['acc_real']:.2f} / {r['acc_fake']:.2f} | {r['modes']} | "
                     f"{100 * r['hq']:.1f} | {verdict} |")
    n_ok = sum((bool(r["first"])) == (r["config"] in FAILING) for r in res["runs"])
    lines += ["", f"{n_ok} of {len(res['runs'])} runs classified correctly.  Total time "
              f"{res['seconds'] / 60:.1f} min with {res['jobs']} process(es) × 1 torch thread.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--wgan-lr", type=float, default=5e-3)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--configs", nargs="+", choices=FAILING + WORKING, default=list(FAILING + WORKING))
    p.add_argument("--note", default="Run on this project's shared 2-core CPU box.")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    a = p.parse_args(argv)
    gan_models.load_all()
    table = setups(a.wgan_lr)
    jobs = [(c, table[c], a.steps, s, a.batch) for c in a.configs for s in range(a.seeds)]
    t0 = time.perf_counter()
    runs = map_jobs(_job, jobs, a.jobs)
    for r in runs:
        print(f"{r['config']:14s} seed {r['seed']}: events {r['first'] or 'none'}, modes {r['modes']}, "
              f"HQ {100 * r['hq']:.1f} %, {r['seconds']:.0f} s", flush=True)
    res = {"steps": a.steps, "seeds": a.seeds, "batch": a.batch, "wgan_lr": a.wgan_lr, "jobs": a.jobs,
           "note": a.note, "seconds": time.perf_counter() - t0, "runs": runs}
    write_report(a.out, "stability_monitors", render(res), res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Data-efficient GAN training on a small data set: do DiffAugment and ADA reduce critic overfitting?

Data: scikit-learn's bundled 8×8 digits (no download), scaled to [−1, 1]; the GAN trains on **100** digits (10 per
class); 500 other digits are held out.  System: ``sgsd`` with the non-saturating loss at its paper optimiser
(Adam 2e-4, β1 0.5), MLP generator (3 × 256, BatchNorm, tanh) and MLP critic (3 × 256, LeakyReLU 0.2, no
normalisation) — the conditional-digits setting of ``benchmarks/mode_coverage.py`` without labels — batches of
64 drawn from the 100 training digits, ``--steps`` generator steps.  Configurations:

* ``none``: no augmentation;
* ``diffaugment``: ``{name: diffaugment, policy: "color,translation,cutout"}`` (the paper's policy);
* ``ada``: ``{name: ada, kimg: <--ada-kimg>}`` (adaptive p, target r_t 0.6, every 4 steps); the paper's kimg = 500
  (p from 0 to 1 in 500k real images) is far beyond this budget (3 000 steps × 64 = 192k images), so p may rise
  at most 5× faster here (``--ada-kimg 100``);
* ``ada_fixed``: the same 'bgc' pipeline at a fixed p = 0.3 (``adaptive: false``): the augmentation without
  the heuristic.

Measured every ``--every`` steps with the critic in eval mode (no augmentation) on the 100 training digits, the
500 held-out digits and 500 fresh fakes (ADA paper, Fig. 1: the critic's outputs on training and validation
reals part ways when it overfits):

* **overfitting gap** = mean D(training reals) − mean D(held-out reals), in logits: 0 for a critic that judges
  the data distribution, positive when it memorises the training set;
* **held-out accuracy** = the fraction of held-out reals the critic calls real (σ(D) > ½), next to the same on
  the training reals and the fraction of fakes it calls fake;
* sample quality: **MMD²** (Gaussian kernel, median-heuristic bandwidth, biased estimator) between 500 fakes and
  the 500 held-out digits, and the **classes covered** (of 10) by the fakes under a logistic-regression
  classifier trained on the 1 197 digits that are neither training nor held out (its accuracy on the held-out
  digits is reported as the ceiling).

Usage: ``python benchmarks/data_efficient.py [--steps 3000] [--seeds 2] [--jobs 2]``; writes
``reports/bench/data_efficient.{md,json}``.  Seconds depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import gan_models  # noqa: E402
from parallel import map_jobs, write_report  # noqa: E402
from gan_models.losses.kernels import median_heuristic_sigma, rbf_mmd2  # noqa: E402
from gan_models.registry import SYSTEMS  # noqa: E402
from gan_models.training import Trainer  # noqa: E402

N_TRAIN, N_HELD, N_FAKE = 100, 500, 500
FIXED_P = 0.3
CONFIGS = ("none", "diffaugment", "ada", "ada_fixed")


def digits_split(seed: int = 0):
    """(train 100: 10 per class, held-out 500, classifier set: the rest), images (N, 1, 8, 8) in [−1, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0 * 2 - 1).astype(np.float32)[:, None]
    y = d.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    train = np.concatenate([order[y[order] == c][:N_TRAIN // 10] for c in range(10)])
    rest = np.setdiff1d(order, train)
    rest = rng.permutation(rest)
    held, clf = rest[:N_HELD], rest[N_HELD:]
    return (x[train], y[train]), (x[held], y[held]), (x[clf], y[clf])


def build(config: str, ada_kimg: float):
    g = {"name": "mlp", "width": 256, "depth": 3, "norm": "batch", "out_act": "tanh", "out_shape": [1, 8, 8]}
    d = {"name": "mlp", "width": 256, "depth": 3, "in_shape": [1, 8, 8], "act": "lrelu", "norm": "none"}
    options = {"none": {}, "diffaugment": {"augment": {"name": "diffaugment", "policy": "color,translation,cutout"}},
               "ada": {"augment": {"name": "ada", "kimg": ada_kimg}},
               "ada_fixed": {"augment": {"name": "ada", "adaptive": False, "p": FIXED_P}}}[config]
    return SYSTEMS.build("sgsd", loss="nonsaturating", data_shape=[1, 8, 8], latent_dim=32, generator=g,
                         discriminator=d, **options).setup()


@torch.no_grad()
def measure(system, train: torch.Tensor, held: torch.Tensor, clf, held_y) -> dict:
    state = torch.get_rng_state()
    system.eval()
    d = system.discriminators["D"]
    fakes = system.generate(N_FAKE, torch.device("cpu"))
    d_train, d_held, d_fake = d(train).float(), d(held).float(), d(fakes).float()
    flat_fake, flat_held = fakes.flatten(1).double(), held.flatten(1).double()
    sigma = median_heuristic_sigma(flat_fake, flat_held)
    mmd = float(rbf_mmd2(flat_fake, flat_held, sigmas=[sigma]))
    pred = clf.predict(((fakes.flatten(1).numpy() + 1) / 2 * 16).clip(0, 16))
    system.train()
    torch.set_rng_state(state)
    return {"gap": float(d_train.mean() - d_held.mean()), "acc_train": float((d_train > 0).float().mean()),
            "acc_held": float((d_held > 0).float().mean()), "acc_fake": float((d_fake < 0).float().mean()),
            "mmd2": mmd, "classes": int(len(np.unique(pred)))}


def run(config: str, seed: int, steps: int, every: int, ada_kimg: float) -> dict:
    from sklearn.linear_model import LogisticRegression
    torch.set_num_threads(1)
    gan_models.load_all()
    (xt, _), (xh, yh), (xc, yc) = digits_split(0)               # the same split for every run
    clf = LogisticRegression(max_iter=3000).fit(((xc.reshape(len(xc), -1) + 1) / 2 * 16), yc)
    clf_acc = float(clf.score(((xh.reshape(len(xh), -1) + 1) / 2 * 16), yh))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    system = build(config, ada_kimg)
    trainer = Trainer(system, diagnostics=False)
    train, held = torch.from_numpy(xt), torch.from_numpy(xh)
    trace = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        logs = trainer.train_step({"x": train[torch.from_numpy(rng.integers(0, N_TRAIN, 64))]})
        if step % every == 0:
            m = measure(system, train, held, clf, yh)
            m.update(step=step, p=float(logs.get("augment/p", 0.0)))
            trace.append(m)
    return {"config": config, "seed": seed, "trace": trace, "classifier_accuracy": clf_acc,
            "seconds": time.perf_counter() - t0}


def _job(args: tuple) -> dict:
    return run(*args)


def _mean(rows: list[dict], key: str, last: int = 2) -> float:
    return float(np.mean([np.mean([p[key] for p in r["trace"][-last:]]) for r in rows]))


def render(res: dict) -> str:
    runs = res["runs"]
    lines = [f"# Data-efficient training: 100 digits, {res['steps']} steps, seeds 0..{res['seeds'] - 1}", "",
             "sklearn 8×8 digits in [−1, 1]; 100 training digits (10 per class), 500 held out; `sgsd`, "
             "non-saturating loss, MLP G/D (3 × 256), batch 64.  Critic measured in eval mode (no augmentation).  "
             f"ADA with kimg = {res['ada_kimg']:g} (the paper's 500 is beyond this budget); ada_fixed: the same "
             f"pipeline at p = {FIXED_P} without the heuristic.  Values: mean over "
             "the seeds of the mean of the last two measurements.  The classifier that counts the classes "
             f"covered scores {100 * runs[0]['classifier_accuracy']:.1f} % on the held-out digits.  {res['note']}",
             "", "| augmentation | overfitting gap (logits) | D acc. train reals | D acc. held-out reals | "
             "D acc. fakes | MMD² to held-out (×1e3) | classes covered /10 | ADA p at the end |",
             "|---|---|---|---|---|---|---|---|"]
    for c in CONFIGS:
        rows = [r for r in runs if r["config"] == c]
        if not rows:
            continue
        lines.append(f"| {c} | {_mean(rows, 'gap'):.2f} | {100 * _mean(rows, 'acc_train'):.0f} % | "
                     f"{100 * _mean(rows, 'acc_held'):.0f} % | {100 * _mean(rows, 'acc_fake'):.0f} % | "
                     f"{1e3 * _mean(rows, 'mmd2'):.2f} | {_mean(rows, 'classes'):.1f} | "
                     f"{_mean(rows, 'p', 1):.3f} |")
    steps = sorted({p["step"] for r in runs for p in r["trace"]})
    lines += ["", "Overfitting gap over training (mean over seeds):", "",
              "| augmentation | " + " | ".join(f"step {s}" for s in steps) + " |",
              "|---|" + "---|" * len(steps)]
    for c in CONFIGS:
        rows = [r for r in runs if r["config"] == c]
        if rows:
            cells = [f"{np.mean([p['gap'] for r in rows for p in r['trace'] if p['step'] == s]):.2f}" for s in steps]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", f"Total {res['seconds'] / 60:.1f} min with {res['jobs']} process(es) × 1 torch thread.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--ada-kimg", type=float, default=100.0)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--note", default="Run on this project's shared 2-core CPU box.")
    p.add_argument("--merge-from", type=Path, help="a previous result JSON (same steps and seeds): its runs of "
                   "the configurations not run now are kept in the report")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    a = p.parse_args(argv)
    jobs = [(c, s, a.steps, a.every, a.ada_kimg) for c in a.configs for s in range(a.seeds)]
    t0 = time.perf_counter()
    runs = map_jobs(_job, jobs, a.jobs)
    for r in runs:
        last = r["trace"][-1]
        print(f"{r['config']:12s} seed {r['seed']}: gap {last['gap']:.2f}, held-out acc {last['acc_held']:.2f}, "
              f"MMD² {last['mmd2']:.4f}, classes {last['classes']}, p {last['p']:.3f}, {r['seconds']:.0f} s",
              flush=True)
    seconds = time.perf_counter() - t0
    if a.merge_from:
        import json
        prev = json.loads(a.merge_from.read_text())
        if (prev["steps"], prev["seeds"], prev["ada_kimg"]) != (a.steps, a.seeds, a.ada_kimg):
            raise SystemExit(f"{a.merge_from}: steps/seeds/ada_kimg differ from this run; cannot share a table")
        runs = [r for r in prev["runs"] if r["config"] not in a.configs] + runs
        seconds += prev["seconds"]
    res = {"steps": a.steps, "seeds": a.seeds, "ada_kimg": a.ada_kimg, "jobs": a.jobs, "note": a.note,
           "seconds": seconds, "runs": runs}
    write_report(a.out, "data_efficient", render(res), res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

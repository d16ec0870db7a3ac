"""Mode coverage of the zoo's losses and generative topologies, and class fidelity of its conditional systems.

Part 1, 2-D mixtures (the mode-collapse benchmark of VEEGAN, Srivastava et al. NeurIPS 2017, reused by PacGAN,
Lin et al. NeurIPS 2018):

* ``ring``: 8 Gaussians, means (cos 2πi/8, sin 2πi/8) (radius 1), σ = 0.01;
* ``grid``: 25 Gaussians, means {−4, −2, 0, 2, 4}², σ = 0.05.

The constants and the metric follow the PacGAN authors' code for those experiments (fjxmlzn/PacGAN
``synthetic_data_experiments/2DRing_GAN&PacGAN/config.py``, ``2DGrid_.../config.py`` and
``PacGAN/pacgan/extensions.py`` ``MetricLogger``, checked): draw 2 500 samples; a sample is
**high quality** when its distance to the nearest mode is below 3σ (standardised per coordinate); a mode is
**covered** when at least one high-quality sample falls on it.  Not re-read: the VEEGAN paper's own text
(the PacGAN paper states it uses VEEGAN's setting); the MGAN paper's synthetic ring (radius 2, σ 0.02 after
Metz et al.'s unrolled GAN) is a different variant and is not used here.

Each (dataset, topology, loss) trains for a fixed number of **generator** steps (critic steps follow the loss's
n_critic) on fresh mixture samples, z ∈ R² ~ N(0, I) (PacGAN's latent size), MLP nets (3 × 128), and is
averaged over seeds.  Topologies: ``gan`` (``sgsd``, one G one D), ``mad_gan`` and ``mgan`` (8 generators,
presets' constants; MAD-GAN with its joint generator update, ``g_update: joint``, to keep the budget).  Losses: their paper constants from ``LOSSES``; ``sngan_hinge`` = hinge loss with a
spectrally normalised critic.

Part 2, conditional systems on scikit-learn's bundled 8×8 digits (``load_digits``, no download): a logistic
regression classifier trained on real digits (its accuracy on held-out real digits is the ceiling) is applied
to samples generated per class by ``cgan`` and ``acgan``; ``infogan``'s categorical code is unsupervised, so its
10 code values are mapped to classes by Hungarian matching (scipy ``linear_sum_assignment``) on the
classifier's predictions before computing accuracy.

Usage: ``python benchmarks/mode_coverage.py [--quick] [--steps N] [--seeds S] ...``; writes
``reports/bench/mode_coverage.{md,json}``.  Figures depend on the machine load (a shared 2-core box here).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.env import quiet_telemetry  # noqa: E402

quiet_telemetry()

import gan_models  # noqa: E402
from gan_models.registry import SYSTEMS  # noqa: E402
from gan_models.training import Trainer  # noqa: E402

N_EVAL = 2500
MLP = {"name": "mlp", "width": 128, "depth": 3}


@dataclass(frozen=True)
class Mixture:
    means: np.ndarray          # (K, 2)
    sigma: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = rng.integers(0, len(self.means), n)
        return (self.means[idx] + rng.normal(0.0, self.sigma, (n, 2))).astype(np.float32)


MIXTURES = {
    "ring": Mixture(np.array([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)]), 0.01),
    "grid": Mixture(np.array([[i, j] for i in range(-4, 5, 2) for j in range(-4, 5, 2)], dtype=float), 0.05),
}


def coverage(samples: np.ndarray, mix: Mixture) -> tuple[int, float, float]:
    """(modes covered, fraction of high-quality samples) with the 3σ rule, and the median distance to the
    nearest mode in units of σ (a diagnostic: tells "near the modes but not sharp yet" from "elsewhere")."""
    d = np.linalg.norm(samples[:, None, :] - mix.means[None], axis=2) / mix.sigma     # (n, K) in units of σ
    nearest, dist = d.argmin(axis=1), d.min(axis=1)
    good = dist < 3.0
    return int(len(np.unique(nearest[good]))), float(good.mean()), float(np.median(dist))


TOPOLOGIES = {
    "gan": ("sgsd", {}),
    "mad_gan": ("mad_gan", {"n_generators": 8, "g_update": "joint"}),   # one G phase: 8x cheaper per step
    "mgan": ("mgan", {"n_generators": 8}),
}
LOSS_SETUPS = {
    "vanilla": {"loss": "vanilla"},
    "nonsaturating": {"loss": "nonsaturating"},
    "lsgan": {"loss": "lsgan"},
    "wgan": {"loss": "wgan"},
    "wgan_gp": {"loss": "wgan_gp"},
    "sngan_hinge": {"loss": "hinge", "sn": True},
    "ragan": {"loss": "ragan"},
}


def build_toy(topology: str, setup: dict) -> object:
    system, extra = TOPOLOGIES[topology]
    # the critic's norm is the zoo's automatic choice (resolve_critic_norm): BatchNorm for the logistic /
    # least-squares losses, LayerNorm for the gradient-penalty family, none with spectral norm
    disc = dict(MLP, sn=bool(setup.get("sn", False)))
    params = dict(extra, loss=setup["loss"], latent_dim=2, data_shape=[2], generator=dict(MLP), discriminator=disc)
    if system == "mgan":
        params["generator"] = dict(MLP, norm="batch")             # MGAN's generators use BatchNorm
    return SYSTEMS.build(system, **params).setup()


def run_toy(dataset: str, topology: str, loss: str, steps: int, seed: int, batch: int) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mix = MIXTURES[dataset]
    system = build_toy(topology, LOSS_SETUPS[loss])
    trainer = Trainer(system)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step({"x": torch.from_numpy(mix.sample(batch, rng))})
    seconds = time.perf_counter() - t0
    system.eval()
    with torch.no_grad():
        x = system.generate(N_EVAL, torch.device("cpu")).numpy()
    modes, hq, med = coverage(x, mix) if np.isfinite(x).all() else (0, 0.0, float("inf"))
    return {"dataset": dataset, "topology": topology, "loss": loss, "seed": seed, "modes": modes,
            "hq": hq, "median_sigma": med, "seconds": seconds}


# ------------------------------------------------------------------------------------------- digits
def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)              # [0, 1]
    return train_test_split(x, d.target, test_size=0.3, random_state=0, stratify=d.target)


def digits_classifier(x_train, y_train):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(max_iter=3000).fit(x_train.reshape(len(x_train), -1), y_train)


def build_conditional(name: str) -> object:
    g = {"name": "mlp", "width": 256, "depth": 3, "norm": "batch", "out_act": "tanh", "out_shape": [1, 8, 8]}
    d = {"name": "mlp", "width": 256, "depth": 3, "in_shape": [1, 8, 8], "act": "lrelu"}
    params = dict(loss="nonsaturating", data_shape=[1, 8, 8], latent_dim=32, generator=g, discriminator=d)
    if name == "cgan":
        params["conditioning"] = "projection"
    if name == "infogan":
        params.update(n_categorical=[10], n_continuous=2)
    else:
        params["n_classes"] = 10
    return SYSTEMS.build(name, **params).setup()


def run_digits(name: str, steps: int, seed: int, batch: int, data, clf) -> dict:
    from scipy.optimize import linear_sum_assignment
    x_train, _, y_train, _ = data
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    system = build_conditional(name)
    trainer = Trainer(system)
    xt = torch.from_numpy(x_train[:, None] * 2 - 1)
    yt = torch.from_numpy(y_train).long()
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(xt), batch))
        trainer.train_step({"x": xt[idx], "y": yt[idx]})
    seconds = time.perf_counter() - t0
    system.eval()
    per_class, classes = 200, torch.arange(10).repeat_interleave(200)
    with torch.no_grad():
        if name == "infogan":
            cont = torch.rand(len(classes), system.n_continuous) * 2 - 1
            x = system.generate(len(classes), torch.device("cpu"), codes=([classes], cont))
        else:
            x = system.generate(len(classes), torch.device("cpu"), y=classes)
    pred = clf.predict(((x.numpy().reshape(len(classes), -1) + 1) / 2).clip(0, 1))
    target = classes.numpy()
    mapping = "labels"
    if name == "infogan":                                  # code value -> class by Hungarian matching
        counts = np.zeros((10, 10))
        for c, p in zip(target, pred):
            counts[c, p] += 1
        rows, cols = linear_sum_assignment(-counts)
        target = cols[np.argsort(rows)][target]
        mapping = "hungarian"
    return {"system": name, "seed": seed, "accuracy": float((pred == target).mean()), "mapping": mapping,
            "seconds": seconds, "per_class": per_class}


# ------------------------------------------------------------------------------------------- report
def mean(xs):
    return float(np.mean(xs)) if xs else float("nan")


def toy_table(rows: list[dict], dataset: str, topologies, losses) -> str:
    k = len(MIXTURES[dataset].means)
    head = "| loss | " + " | ".join(f"{t}: modes /{k} | {t}: HQ % | {t}: median d/σ" for t in topologies) + " |"
    sep = "|---|" + "---|---|---|" * len(topologies)
    lines = [head, sep]
    for loss in losses:
        cells = []
        for t in topologies:
            sel = [r for r in rows if r["dataset"] == dataset and r["topology"] == t and r["loss"] == loss]
            cells += [f"{mean([r['modes'] for r in sel]):.1f}", f"{100 * mean([r['hq'] for r in sel]):.1f}",
                      f"{mean([r['median_sigma'] for r in sel]):.1f}"]
        lines.append(f"| {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small budget (~1-2 min on 2 idle cores)")
    p.add_argument("--steps", type=int, help="generator steps per toy run (default 2000, quick 300)")
    p.add_argument("--seeds", type=int, help="seeds per configuration (default 2, quick 1)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--datasets", nargs="+", choices=sorted(MIXTURES))
    p.add_argument("--topologies", nargs="+", choices=sorted(TOPOLOGIES))
    p.add_argument("--losses", nargs="+", choices=list(LOSS_SETUPS))
    p.add_argument("--digits-steps", type=int, help="steps per conditional run (default 2000, quick 300)")
    p.add_argument("--no-digits", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the box is shared)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    gan_models.load_all()
    steps = a.steps or (300 if a.quick else 2000)
    seeds = a.seeds or (1 if a.quick else 2)
    datasets = a.datasets or (["ring"] if a.quick else ["ring", "grid"])
    topologies = a.topologies or ["gan", "mad_gan", "mgan"]
    losses = a.losses or (["nonsaturating", "wgan_gp", "sngan_hinge"] if a.quick else
                          ["vanilla", "nonsaturating", "lsgan", "wgan_gp", "sngan_hinge"])
    digits_steps = a.digits_steps or (300 if a.quick else 2000)

    rows: list[dict] = []
    runs = [(d, t, l, s) for d in datasets for t in topologies for l in losses for s in range(seeds)]
    t_start = time.perf_counter()
    for i, (d, t, l, s) in enumerate(runs, 1):
        r = run_toy(d, t, l, steps, s, a.batch)
        rows.append(r)
        print(f"[{i}/{len(runs)}] {d:4s} {t:8s} {l:14s} seed {s}: modes {r['modes']:2d}, HQ {100 * r['hq']:5.1f} %, "
              f"median distance {r['median_sigma']:.1f} σ, {r['seconds']:.1f} s", flush=True)

    digit_rows: list[dict] = []
    real_acc = None
    if not a.no_digits:
        data = digits_data()
        clf = digits_classifier(data[0], data[2])
        real_acc = float(clf.score(data[1].reshape(len(data[1]), -1), data[3]))
        for name in ("cgan", "acgan", "infogan"):
            for s in range(seeds):
                r = run_digits(name, digits_steps, s, 128, data, clf)
                digit_rows.append(r)
                print(f"digits {name:8s} seed {s}: accuracy {100 * r['accuracy']:.1f} % ({r['mapping']}), "
                      f"{r['seconds']:.1f} s", flush=True)

    total = time.perf_counter() - t_start
    md = [f"# Mode coverage benchmark ({'quick' if a.quick else 'default'} budget)", "",
          f"{steps} generator steps per run, batch {a.batch}, {seeds} seed(s), {N_EVAL} samples scored, "
          f"torch threads {a.threads}; total {total / 60:.1f} min on a shared 2-core CPU box.", ""]
    for d in datasets:
        mix = MIXTURES[d]
        md += [f"## {d}: {len(mix.means)} Gaussians, σ = {mix.sigma} (HQ = within 3σ of a mode)", "",
               toy_table(rows, d, topologies, losses), ""]
    if digit_rows:
        md += ["## Conditional systems on sklearn 8×8 digits", "",
               f"Classifier (logistic regression) accuracy on held-out real digits: {100 * real_acc:.1f} %. "
               f"{digits_steps} steps per run; 200 samples per class.", "",
               "| system | accuracy % | class mapping |", "|---|---|---|"]
        for name in ("cgan", "acgan", "infogan"):
            sel = [r for r in digit_rows if r["system"] == name]
            md.append(f"| {name} | {100 * mean([r['accuracy'] for r in sel]):.1f} | {sel[0]['mapping']} |")
        md.append("")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "mode_coverage.md").write_text("\n".join(md))
    (a.out / "mode_coverage.json").write_text(json.dumps(
        {"steps": steps, "seeds": seeds, "batch": a.batch, "toy": rows, "digits": digit_rows,
         "digits_real_accuracy": real_acc, "total_seconds": total}, indent=1))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

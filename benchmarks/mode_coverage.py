"""Mode coverage of the zoo's losses and generative topologies, and class fidelity of its conditional systems.

Part 1, 2-D mixtures (the mode-collapse benchmark of VEEGAN, Srivastava et al. NeurIPS 2017, reused by PacGAN,
Lin et al. NeurIPS 2018):

* ``ring``: 8 Gaussians, means (cos 2πi/8, sin 2πi/8) (radius 1), σ = 0.01;
* ``grid``: 25 Gaussians, means {−4, −2, 0, 2, 4}², σ = 0.05.

Sources of the constants (GAN_NOTES tags: [V] read in code, [P] paper text not re-read):

* [V] PacGAN authors' code for exactly these experiments (fjxmlzn/PacGAN ``synthetic_data_experiments/
  2DRing_GAN&PacGAN/config.py``: ``MEANS`` = (cos, sin)(2πi/8), ``VARIANCES`` = 0.01²·I; ``2DGrid_GAN&PacGAN/
  config.py``: means ``range(-4, 5, 2)``², variances 0.05²·I) and its metric (``PacGAN/pacgan/extensions.py``
  ``MetricLogger``, ``dis_thre=3``, 2 500 samples per evaluation): a sample is **high quality** when its
  σ-standardised distance to the nearest mode is below 3; a mode is **covered** when at least one
  high-quality sample falls on it.  The PacGAN paper states it uses VEEGAN's setting [P].
* [V] The same ring (σ 0.01, radius 1) and grid (σ 0.05, spacing 2) are the defaults of the widely copied TF
  helpers ``ring_mog`` / ``grid_mog`` (and Ben Poole's unrolled-GAN notebook ``sample_mog``, whose
  ``linspace`` without ``endpoint=False`` silently gives 7 distinct modes).
* [V] Metz et al.'s unrolled GAN and the WGAN-GP authors' toy code (igul222/improved_wgan_training
  ``gan_toy.py``: ``scale = 2.``, noise ``randn*.02``, then the data divided by 1.414) use radius 2, σ 0.02:
  the **same geometry scaled** (σ/radius = 0.01, mode spacing 0.765·radius = 76.5σ); the 3σ rule is scale
  invariant, networks and learning rates are not.  The ring/grid of the MGAN paper (Hoang et al. 2018) was
  not re-read [?]; MAD-GAN's synthetic experiments are 1-D mixtures.

Each (dataset, topology, loss) trains for a fixed number of **generator** steps (critic steps follow the loss's
n_critic) on fresh mixture samples, z ∈ R² ~ N(0, I) (PacGAN's latent size), MLP nets (3 × 128), and is
averaged over seeds.  Topologies: ``gan`` (``sgsd``, one G one D), ``mad_gan`` and ``mgan`` (8 generators,
presets' constants; MAD-GAN with its joint generator update, ``g_update: joint``, to keep the budget).  Losses:
every registered loss (the review's §2) at its paper constants from ``LOSSES`` (``LOSS_SETUPS``; EBGAN and MMD-GAN
get the zoo's ``mlp_autoencoder`` critic, GMMN no critic; pairs a topology cannot train are reported n/a with
the system's reason); ``gmmn_median`` = GMMN with median-heuristic bandwidths; ``sngan_hinge`` = hinge loss with
a spectrally normalised critic;
``wgan_gp_toy`` = WGAN-GP with the constants of its authors' *toy* code (``gan_toy.py`` [V]: λ = 0.1 —
"smaller lambda makes things faster for toy tasks" —, Adam(1e-4, β = (0.5, 0.9)), critic without
normalisation) instead of the paper's image constants (λ = 10, β = (0, 0.9)) that ``wgan_gp`` uses.
Critics have **no normalisation** by default (``--critic-norm none``), like the toy papers' own critics
(PacGAN's maxout MLP, ``gan_toy.py``'s ReLU MLP); ``--critic-norm auto`` is the zoo's image-model choice
(BatchNorm / LayerNorm), which stalls every loss on these mixtures (docs/benchmarks_mode_coverage.md).
``--trace K`` also scores the generator every K steps (the RNG state is restored, so the final numbers do not
change); ``--jobs N`` runs the configurations in N processes (one torch thread each); ``--render-from`` merges
result files of one budget and rewrites the report without training.

Part 2, conditional systems on scikit-learn's bundled 8×8 digits (``load_digits``, no download): a logistic
regression classifier trained on real digits (its accuracy on held-out real digits is the ceiling) is applied
to samples generated per class by ``cgan`` and ``acgan``; ``infogan``'s categorical code is unsupervised, so its
10 code values are mapped to classes by Hungarian matching (scipy ``linear_sum_assignment``) on the
classifier's predictions before computing accuracy.

Usage: ``python benchmarks/mode_coverage.py [--quick] [--steps N] [--seeds S] [--jobs J] ...``; writes
``reports/bench/mode_coverage.{md,json}``.  Seconds depend on the machine and its load.
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
from gan_models.registry import LOSSES, SYSTEMS  # noqa: E402
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
# Every loss of the review's §2 at its paper constants (``LOSSES`` defaults), in the order, plus the
# variants that tell "the loss" from "its constants" (suffixes _toy / _median / sngan_):
LOSS_SETUPS = {
    "vanilla": {"loss": "vanilla"},
    "nonsaturating": {"loss": "nonsaturating"},
    "fgan_kl": {"loss": "fgan_kl"},
    "fgan_reverse_kl": {"loss": "fgan_reverse_kl"},
    "fgan_pearson": {"loss": "fgan_pearson"},
    "fgan_hellinger": {"loss": "fgan_hellinger"},
    "fgan_js": {"loss": "fgan_js"},
    "fgan_tv": {"loss": "fgan_tv"},
    "lsgan": {"loss": "lsgan"},
    # EBGAN's margin follows the per-sample L2 energy, which grows like sqrt(dimension): the paper's MNIST
    # m = 10 for 784 pixels scales to 10 * sqrt(2 / 784) = 0.5 for 2-D points (GAN_NOTES §5.3: m must match
    # the energy's scale); λ_PT = 0.1 as the paper
    "ebgan": {"loss": {"name": "ebgan", "margin": 0.5}},
    "wgan": {"loss": "wgan"},
    "wgan_gp": {"loss": "wgan_gp"},
    # WGAN-GP with its authors' toy-data constants (igul222/improved_wgan_training gan_toy.py, checked):
    # LAMBDA = .1, Adam(1e-4, beta1 0.5, beta2 0.9), plain ReLU critic (no normalisation)
    "wgan_gp_toy": {"loss": {"name": "wgan_gp", "gp_weight": 0.1}, "critic_norm": "none",
                    "optimizer": {"betas": (0.5, 0.9)}},
    "wgan_lp": {"loss": "wgan_lp"},
    "wgan_div": {"loss": "wgan_div"},
    "hinge": {"loss": "hinge"},
    "sngan_hinge": {"loss": "hinge", "sn": True},
    "mcgan_mean": {"loss": "mcgan_mean"},
    "mcgan_cov": {"loss": "mcgan_cov"},
    "gmmn": {"loss": "gmmn"},
    # GMMN's pixel-space bandwidths {2, ..., 80} were chosen for 784-D MNIST; on 2-D points the loss's
    # median-heuristic option (bandwidths = median pairwise distance x {1/4, 1/2, 1, 2, 4}) is the data-scaled
    # equivalent
    "gmmn_median": {"loss": {"name": "gmmn", "median_heuristic": True}},
    "mmd_gan": {"loss": "mmd_gan"},
    "fisher": {"loss": "fisher"},
    "rsgan": {"loss": "rsgan"},
    "ragan": {"loss": "ragan"},
    "ralsgan": {"loss": "ralsgan"},
}
QUICK_LOSSES = ["nonsaturating", "wgan_gp", "sngan_hinge"]
SESSION2_LOSSES = ["vanilla", "nonsaturating", "lsgan", "wgan_gp", "wgan_gp_toy", "sngan_hinge"]


def incompatibility(topology: str, setup: dict) -> str | None:
    """Why ``topology`` cannot train ``setup``'s loss (the system's own ``check_loss`` message), or None."""
    system = SYSTEMS.get(TOPOLOGIES[topology][0])
    try:
        system.check_loss(setup["loss"])
    except ValueError as e:
        return str(e)
    return None


CRITIC_NORMS = ("none", "auto", "layer", "batch")


def build_toy(topology: str, setup: dict, critic_norm: str = "none") -> object:
    """The system for one (topology, loss setup).  ``setup``: ``loss`` (a name or ``{"name", **constants}``),
    optional ``sn`` (spectrally normalised critic), ``critic_norm`` and ``optimizer`` (keys replacing the
    loss's paper optimiser for both nets).  The critic's normalisation is ``setup["critic_norm"]``, else
    ``critic_norm``: ``"none"`` (default: the toy-mixture papers' critics — PacGAN's maxout MLP, the WGAN-GP
    authors' ``gan_toy.py`` ReLU MLP — have none) or ``"auto"`` (the zoo's image-model choice,
    ``resolve_critic_norm``: BatchNorm for the logistic / least-squares losses, LayerNorm for the
    gradient-penalty family, none with spectral norm; see docs/benchmarks_mode_coverage.md for what it does
    on these mixtures)."""
    system, extra = TOPOLOGIES[topology]
    loss = setup["loss"]
    loss_cls = LOSSES.get(loss if isinstance(loss, str) else loss["name"])
    # no network name: the system picks the vector critic the loss reads (``mlp``, or ``mlp_autoencoder`` for
    # EBGAN's energy and MMD-GAN's auto-encoder features)
    disc = {k: v for k, v in MLP.items() if k != "name"}
    disc.update(setup.get("critic", {}), sn=bool(setup.get("sn", False)))
    norm = setup.get("critic_norm", critic_norm)
    if norm != "auto":
        disc["norm"] = norm
    if system != "sgsd":
        disc["name"] = "mlp"                                       # multi-generator systems read a score critic
    params = dict(extra, loss=loss, latent_dim=2, data_shape=[2], generator=dict(MLP))
    if loss_cls.uses_discriminator:                                # GMMN has none
        params["discriminator"] = disc
    if "optimizer" in setup:
        params.update(g_optimizer=dict(setup["optimizer"]), d_optimizer=dict(setup["optimizer"]))
    if system == "mgan":
        params["generator"] = dict(MLP, norm="batch")             # MGAN's generators use BatchNorm
    return SYSTEMS.build(system, **params).setup()


def score(system, mix: Mixture) -> tuple[int, float, float]:
    """Coverage of ``N_EVAL`` samples in eval mode; the global torch RNG state is restored afterwards, so
    scoring in the middle of training (``--trace``) does not change the rest of the run."""
    state = torch.get_rng_state()
    system.eval()
    with torch.no_grad():
        x = system.generate(N_EVAL, torch.device("cpu")).numpy()
    torch.set_rng_state(state)
    return coverage(x, mix) if np.isfinite(x).all() else (0, 0.0, float("inf"))


def run_toy(dataset: str, topology: str, loss: str, steps: int, seed: int, batch: int, trace: int = 0,
            critic_norm: str = "none") -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mix = MIXTURES[dataset]
    system = build_toy(topology, LOSS_SETUPS[loss], critic_norm)
    trainer = Trainer(system)
    points: list[dict] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        trainer.train_step({"x": torch.from_numpy(mix.sample(batch, rng))})
        if trace and step % trace == 0 and step < steps:
            m, h, d = score(system, mix)
            points.append({"step": step, "modes": m, "hq": h, "median_sigma": d})
    seconds = time.perf_counter() - t0
    modes, hq, med = score(system, mix)
    row = {"dataset": dataset, "topology": topology, "loss": loss, "seed": seed, "modes": modes,
           "hq": hq, "median_sigma": med, "seconds": seconds,
           "critic_norm": LOSS_SETUPS[loss].get("critic_norm", critic_norm)}
    if trace:
        row["trace"] = points + [{"step": steps, "modes": modes, "hq": hq, "median_sigma": med}]
    return row


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


def uniform_box(mix: Mixture) -> tuple[float, float]:
    """The means' bounding box widened by half the smallest distance between two modes (a square)."""
    d = np.linalg.norm(mix.means[:, None] - mix.means[None], axis=2)
    margin = 0.5 * d[d > 0].min()
    return float(mix.means.min() - margin), float(mix.means.max() + margin)


def uniform_reference(mix: Mixture, seed: int = 0) -> tuple[int, float, float]:
    """Coverage of ``N_EVAL`` samples drawn uniformly over :func:`uniform_box` (no training): what a sampler
    that merely spreads over the data's region scores with the 3σ rule."""
    lo, hi = uniform_box(mix)
    x = np.random.default_rng(seed).uniform(lo, hi, (N_EVAL, 2))
    return coverage(x, mix)


def toy_table(rows: list[dict], dataset: str, topologies, losses) -> str:
    k = len(MIXTURES[dataset].means)
    head = "| loss | " + " | ".join(f"{t}: modes /{k} | {t}: HQ % | {t}: median d/σ" for t in topologies) + " |"
    sep = "|---|" + "---|---|---|" * len(topologies)
    lines = [head, sep]
    for loss in losses:
        cells = []
        for t in topologies:
            sel = [r for r in rows if r["dataset"] == dataset and r["topology"] == t and r["loss"] == loss]
            if not sel:
                mark = "n/a" if incompatibility(t, LOSS_SETUPS[loss]) else "–"   # cannot run / not run
                cells += [mark, mark, mark]
                continue
            per_seed = ", ".join(str(r["modes"]) for r in sorted(sel, key=lambda r: r["seed"]))
            modes = f"{mean([r['modes'] for r in sel]):.1f}" + (f" ({per_seed})" if len(sel) > 1 else "")
            cells += [modes, f"{100 * mean([r['hq'] for r in sel]):.1f}", f"{mean([r['median_sigma'] for r in sel]):.1f}"]
        lines.append(f"| {loss} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def trace_table(rows: list[dict]) -> str:
    """One line per traced run: modes / HQ % / median d/σ at each scored step."""
    traced = [r for r in rows if r.get("trace")]
    steps = sorted({p["step"] for r in traced for p in r["trace"]})
    lines = ["| dataset | topology | loss | seed | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|---|---|" + "---|" * len(steps)]
    for r in traced:
        at = {p["step"]: p for p in r["trace"]}
        cells = [f"{at[s]['modes']} / {100 * at[s]['hq']:.1f} / {at[s]['median_sigma']:.1f}" if s in at else ""
                 for s in steps]
        lines.append(f"| {r['dataset']} | {r['topology']} | {r['loss']} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ORDER = {"dataset": list(MIXTURES), "topology": list(TOPOLOGIES), "loss": list(LOSS_SETUPS)}


def _present(rows: list[dict], key: str) -> list[str]:
    return [v for v in ORDER[key] if any(r[key] == v for r in rows)]


def render(res: dict) -> str:
    """The markdown report of a result dict (what ``main`` writes to mode_coverage.json)."""
    rows, digit_rows = res["toy"], res["digits"]
    steps, seeds = res["steps"], res["seeds"]
    budget = "default" if steps == 2000 else f"{steps}-step"
    md = [f"# Mode coverage benchmark ({budget} budget)", "",
          f"{steps} generator steps per run, batch {res['batch']}, {seeds} seed(s) (seeds 0..{seeds - 1}; the modes "
          f"column shows the mean and, in brackets, each seed), {N_EVAL} samples scored; critic normalisation: "
          f"{res['critic_norm']} (wgan_gp_toy: none).", ""]
    for run in res["runs"]:
        md.append(f"* {run['what']}: {run['jobs']} process(es) × {run['threads']} torch thread(s), "
                  f"{run['total_seconds'] / 60:.1f} min on {run['note']}.")
    md.append("")
    for d in _present(rows, "dataset"):
        mix = MIXTURES[d]
        lo, hi = uniform_box(mix)
        um, uh, ud = uniform_reference(mix)
        md += [f"## {d}: {len(mix.means)} Gaussians, σ = {mix.sigma} (HQ = within 3σ of a mode)", "",
               toy_table([r for r in rows if r["dataset"] == d], d, _present(rows, "topology"),
                         _present(rows, "loss")), "",
               f"Untrained reference: {N_EVAL} samples uniform over [{lo:.2f}, {hi:.2f}]² score {um} modes, "
               f"{100 * uh:.1f} % HQ, median {ud:.1f} σ.", ""]
    na = {(t, l): incompatibility(t, LOSS_SETUPS[l])
          for t in _present(rows, "topology") for l in _present(rows, "loss")}
    if any(na.values()):
        md += ["n/a: the topology cannot train that loss (the system's own check):", ""]
        md += [f"* {t} × {l}: {why}" for (t, l), why in na.items() if why]
        md.append("")
    if res.get("failed"):
        md += ["Runs that raised (not in the tables):", ""] + [f"* {r}" for r in res["failed"]] + [""]
    traced = [r for r in rows if r.get("trace")]
    if traced:
        md += ["## Traces (modes / HQ % / median d/σ at each scored step)", "", trace_table(traced), ""]
    if digit_rows:
        md += ["## Conditional systems on sklearn 8×8 digits", "",
               f"Classifier (logistic regression) accuracy on held-out real digits: "
               f"{100 * res['digits_real_accuracy']:.1f} %. {res['digits_steps']} steps per run; 200 samples per "
               f"class.", "", "| system | accuracy % (mean) | per seed | class mapping |", "|---|---|---|---|"]
        for name in ("cgan", "acgan", "infogan"):
            sel = sorted((r for r in digit_rows if r["system"] == name), key=lambda r: r["seed"])
            if not sel:
                continue
            accs = [100 * r["accuracy"] for r in sel]
            md.append(f"| {name} | {mean(accs):.1f} | {', '.join(f'{x:.1f}' for x in accs)} | {sel[0]['mapping']} |")
        md.append("")
    return "\n".join(md)


def merge_results(paths: list[Path]) -> dict:
    """Results of several runs in one dict (later files replace the runs of the same configuration).

    All files must share steps, seeds, batch and critic normalisation: a table compares equal budgets.
    """
    merged: dict | None = None
    toy: dict[tuple, dict] = {}
    digits: dict[tuple, dict] = {}
    failed: list[dict] = []
    for path in paths:
        res = json.loads(Path(path).read_text())
        if merged is None:
            merged = {k: res.get(k) for k in ("steps", "seeds", "batch", "critic_norm", "digits_steps",
                                              "digits_real_accuracy")}
            merged["runs"] = []
        for key in ("steps", "seeds", "batch", "critic_norm"):
            if res.get(key) != merged[key]:
                raise ValueError(f"{path}: {key} = {res.get(key)!r} differs from the first file's "
                                 f"{merged[key]!r}; only runs at the same budget can share a table")
        if res.get("digits"):
            if merged["digits_steps"] not in (None, res.get("digits_steps")):
                raise ValueError(f"{path}: digits_steps differ between the merged files")
            merged["digits_steps"] = res.get("digits_steps")
            merged["digits_real_accuracy"] = res.get("digits_real_accuracy")
        merged["runs"] += [dict(run, what=f"{Path(path).parent.name}/{Path(path).name}: {run['what']}")
                           for run in res["runs"]]
        toy.update({(r["dataset"], r["topology"], r["loss"], r["seed"]): r for r in res["toy"]})
        digits.update({(r["system"], r["seed"]): r for r in res["digits"]})
        failed += res.get("failed", [])
    if merged is None:
        raise ValueError("--render-from needs at least one JSON file")
    merged["toy"], merged["digits"] = list(toy.values()), list(digits.values())
    merged["failed"] = [r for r in failed if (r.get("dataset"), r.get("topology"), r.get("loss"), r.get("seed"))
                        not in toy and (r.get("system"), r.get("seed")) not in digits]
    return merged


# ------------------------------------------------------------------------------------------- execution
def job_cost(job: tuple) -> float:
    """A rough relative cost of a toy job (network passes per generator step), to start the long ones first."""
    kind, args = job
    if kind != "toy":
        return 3.0
    _, topology, loss, *_ = args
    spec = LOSS_SETUPS[loss]["loss"]
    cls = LOSSES.get(spec if isinstance(spec, str) else spec["name"])
    cost = 1.0 + 1.5 * cls.n_critic * (2.0 if cls.critic_output in ("energy", "features") else 1.0)
    return cost * (1.0 if topology == "gan" else 1.3)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    gan_models.load_all()


def _run(job: tuple) -> dict:
    """One job's result row; a job that raises gives a row with ``error`` (reported, kept out of the tables)
    instead of stopping the other jobs."""
    kind, args = job
    try:
        return run_toy(*args) if kind == "toy" else run_digits(*args)
    except Exception as e:                            # noqa: BLE001 - reported in the row and the report
        keys = ("dataset", "topology", "loss", "steps", "seed") if kind == "toy" else ("system", "steps", "seed")
        return dict(zip(keys, args), kind=kind, error=f"{type(e).__name__}: {e}")


def run_jobs(jobs: list[tuple], n_procs: int, threads: int, on_done) -> list[dict]:
    """Run ``("toy", args)`` / ``("digits", args)`` jobs in order (``n_procs`` = 1) or in a spawn pool; each
    result is passed to ``on_done(index, result)`` as it arrives.  Results come back in job order."""
    out: list[dict | None] = [None] * len(jobs)
    if n_procs <= 1:
        for i, job in enumerate(jobs):
            out[i] = _run(job)
            on_done(i, out[i])
        return out                                    # type: ignore[return-value]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    with ProcessPoolExecutor(n_procs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(_run, job): i for i, job in enumerate(jobs)}
        for f in as_completed(futures):
            i = futures[f]
            out[i] = f.result()
            on_done(i, out[i])
    return out                                        # type: ignore[return-value]


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
    p.add_argument("--critic-norm", default="none", choices=CRITIC_NORMS,
                   help="critic normalisation for every loss without its own (default none, as the toy papers)")
    p.add_argument("--trace", type=int, default=0, metavar="K", help="also score every K generator steps")
    p.add_argument("--jobs", type=int, default=1, help="processes (default 1); each uses --threads threads")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1: shared box)")
    p.add_argument("--note", default="a shared 2-core CPU box", help="where it ran (for the report header)")
    p.add_argument("--rows-log", type=Path, help="append each finished run as a JSON line (partial results)")
    p.add_argument("--render-from", type=Path, nargs="+", metavar="JSON",
                   help="train nothing: merge these result files (same budget; later files win) and write the report")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    a = p.parse_args(argv)
    if a.jobs < 1 or a.threads < 1 or a.trace < 0:
        p.error("--jobs and --threads must be >= 1, --trace >= 0")
    if a.render_from:
        gan_models.load_all()                        # the report names incompatible cells (system checks)
        res = merge_results(a.render_from)
    else:
        res = run_benchmark(a)
    md = render(res)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "mode_coverage.md").write_text(md)
    (a.out / "mode_coverage.json").write_text(json.dumps(res, indent=1))
    print(md)
    return 0


def run_benchmark(a: argparse.Namespace) -> dict:
    torch.set_num_threads(a.threads)
    gan_models.load_all()
    steps = a.steps or (300 if a.quick else 2000)
    seeds = a.seeds or (1 if a.quick else 2)
    datasets = a.datasets or (["ring"] if a.quick else ["ring", "grid"])
    topologies = a.topologies or ["gan", "mad_gan", "mgan"]
    losses = a.losses or (QUICK_LOSSES if a.quick else list(LOSS_SETUPS))
    digits_steps = a.digits_steps or (300 if a.quick else 2000)

    runnable = [(t, l) for t in topologies for l in losses if not incompatibility(t, LOSS_SETUPS[l])]
    jobs: list[tuple] = [("toy", (d, t, l, steps, s, a.batch, a.trace, a.critic_norm))
                         for d in datasets for t, l in runnable for s in range(seeds)]
    jobs.sort(key=job_cost, reverse=True)             # longest first: the pool's tail is short jobs
    real_acc = None
    if not a.no_digits:
        data = digits_data()
        clf = digits_classifier(data[0], data[2])
        real_acc = float(clf.score(data[1].reshape(len(data[1]), -1), data[3]))
        jobs += [("digits", (name, digits_steps, s, 128, data, clf))
                 for name in ("cgan", "acgan", "infogan") for s in range(seeds)]
    done = [0]

    def on_done(i: int, r: dict) -> None:
        done[0] += 1
        if "error" in r:
            print(f"[{done[0]}/{len(jobs)}] FAILED {r}", flush=True)
        elif "dataset" in r:
            print(f"[{done[0]}/{len(jobs)}] {r['dataset']:4s} {r['topology']:8s} {r['loss']:14s} seed {r['seed']}: "
                  f"modes {r['modes']:2d}, HQ {100 * r['hq']:5.1f} %, median distance {r['median_sigma']:.1f} σ, "
                  f"{r['seconds']:.1f} s", flush=True)
        else:
            print(f"[{done[0]}/{len(jobs)}] digits {r['system']:8s} seed {r['seed']}: accuracy "
                  f"{100 * r['accuracy']:.1f} % ({r['mapping']}), {r['seconds']:.1f} s", flush=True)
        if a.rows_log:
            with a.rows_log.open("a") as f:
                f.write(json.dumps(r) + "\n")

    if a.rows_log:
        a.rows_log.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results = run_jobs(jobs, a.jobs, a.threads, on_done)
    total = time.perf_counter() - t_start
    what = (f"{'+'.join(datasets)} × {'+'.join(topologies)} × {len(losses)} losses"
            + ("" if a.no_digits else " + digits"))
    return {"steps": steps, "seeds": seeds, "batch": a.batch, "critic_norm": a.critic_norm,
            "digits_steps": None if a.no_digits else digits_steps, "digits_real_accuracy": real_acc,
            "runs": [{"what": what, "jobs": a.jobs, "threads": a.threads, "note": a.note, "total_seconds": total}],
            "toy": [r for r in results if "dataset" in r and "error" not in r],
            "digits": [r for r in results if "system" in r and "error" not in r],
            "failed": [r for r in results if "error" in r]}


if __name__ == "__main__":
    raise SystemExit(main())

"""benchmarks/quality.py's tables, on a constructed workspace: the paired verdicts and the run-to-run table of the
bar (wins of 8 against each classical baseline) count what the per-image values say."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np

from pipelines.metrics.comparison import HEADLINE
from pipelines.tracking.promotion import CLASSICAL_BASELINES

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("quality_bench", ROOT / "benchmarks" / "quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _workspace(root: Path, model_losses: int) -> Path:
    """One task, 20 pairs: every baseline at 10 + noise; the model 1 above each baseline on every metric except
    the first ``model_losses`` ones, where it is 1 below ``guided``."""
    rng = np.random.default_rng(0)
    ws = root / f"run_{model_losses}"
    (ws / "reports").mkdir(parents=True)
    base = {m: {k: 10 + rng.normal(0, 0.1, 20) for k in HEADLINE} for m in CLASSICAL_BASELINES}
    top = {k: np.max([base[m][k] for m in CLASSICAL_BASELINES], axis=0) for k in HEADLINE}
    model = {k: top[k] + 1.0 for k in HEADLINE}
    for k in HEADLINE[:model_losses]:
        model[k] = base["guided"][k] - 1.0
    with (ws / "reports" / "eval_per_image.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "pair_id", "method", *HEADLINE])
        for name, vals in {"model": model, **base}.items():
            for i in range(20):
                w.writerow(["MRI_PET", f"MRI_PET/1/{i:02d}", name, *(vals[k][i] for k in HEADLINE)])
    (ws / "reports" / "tune.json").write_text(json.dumps({"tasks": {"MRI_PET": {
        "best_config": {"overrides.stages.G.generator.p": 8.0}, "trials": [{}, {}, {}]}}}))
    return ws


def test_run_to_run_counts_the_bar_per_run(tmp_path):
    bench = _bench()
    rows = [r for r in bench.run_to_run([_workspace(tmp_path, 2), _workspace(tmp_path, 4)], "model")
            if r.startswith("| `run_")]
    assert len(rows) == 2
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    assert cells[0][2] == "3" and cells[0][3].startswith("8.0")                 # trials, tuned p
    assert cells[0][-2] == "6" and cells[0][-1] == "met"                        # 6 of 8 against guided
    assert cells[1][-2] == "4" and cells[1][-1] == "missed"                     # 4 of 8: the bar is missed
    assert cells[1][5:-2] == ["4"] * (len(CLASSICAL_BASELINES) - 1)              # the lost metrics lose to all


def test_verdict_table_marks_supported_wins_and_losses(tmp_path):
    bench = _bench()
    methods = bench.read_per_image(_workspace(tmp_path, 2) / "reports" / "eval_per_image.csv")["MRI_PET"]
    lines, rec = bench.verdict_table(methods, "model")
    guided = rec["guided"]
    assert [guided[k]["verdict"] for k in HEADLINE] == ["-", "-"] + ["+"] * 6
    assert guided["SF"]["diff"] > 0.9 and guided["EN"]["ci"][1] < 0
    assert any(l.startswith("| guided |") and l.endswith("| 6 / 2 |") for l in lines)


def test_starting_point_is_the_untrained_generator_and_its_row_counts_wins(tmp_path):
    """The 'what training adds' row: the untrained smoothmax model is exactly its capped prior P_p (whatever the
    checkpoint's trained weights), and the table compares trained and untrained on the same test pairs."""
    import torch

    import gan_models
    from gan_models.networks.fusion_smoothmax import smooth_max
    from gan_models.training.checkpoint import save_checkpoint
    from gan_models.training.trainer import Trainer
    bench = _bench()
    spec = {"preset": "smoothmax_gan", "loss": None, "plugins": [],
            "overrides": {"stages.G.generator.p": 4.0, "stages.G.generator.width": 4}}
    system = gan_models.build("smoothmax_gan", **spec["overrides"])
    with torch.no_grad():
        system.generators["G"].last.bias.fill_(0.3)                # "trained": the output moves off the prior
    ckpt = save_checkpoint(tmp_path / "checkpoint.pt", Trainer(system), meta={"model": spec})
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 0.9, (2, 32, 32)), rng.uniform(0, 0.9, (2, 32, 32))
    untrained = bench.starting_point(ckpt).fuse_batch(a, b)
    ta, tb = torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None]
    top = torch.maximum(ta, tb).amax(dim=(-2, -1), keepdim=True)
    expected = torch.minimum(smooth_max(ta, tb, 4.0), top)[:, 0].numpy()
    assert np.allclose(untrained, expected, atol=1e-5)
    methods = bench.read_per_image(_workspace(tmp_path, 2) / "reports" / "eval_per_image.csv")["MRI_PET"]
    refs = {m: methods[m] for m in CLASSICAL_BASELINES}
    means = {k: float(np.nanmean(methods["model"][k])) for k in HEADLINE}
    lines, rec = bench.starting_point_lines(methods["model"], methods["guided"], refs, means)
    assert rec["difference"] > 0 and rec["ci"][0] > 0                # the model beats guided on 6 of 8 per image
    assert rec["wins_of_8_untrained"]["guided"] == 0                  # guided against itself: no strict win
    assert any(l.startswith("| trained (shipped) |") and l.rstrip(" |").endswith("6, 6, 6, 6, 6, 6")
               for l in lines)

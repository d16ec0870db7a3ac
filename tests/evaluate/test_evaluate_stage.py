"""The evaluate stage on a small synthetic split: every output written, consistent, protocol recorded."""
import csv
import json

import numpy as np
import pytest

from pipelines.fusers import MODEL_LOADERS, load_model_fuser
from pipelines.imaging.color import rgb_to_ycbcr
from pipelines.schema import make_pair_id, write_pairs
from pipelines.stages.evaluate import EvaluateParams, main, run


def _rows(task, n, rng, colour=False, size=40):
    from scipy.ndimage import gaussian_filter
    rows = []
    for i in range(n):
        a = np.clip(gaussian_filter(rng.random((size, size)), 2) * 3 - 1, 0, 1).astype(np.float32)
        b = np.clip(gaussian_filter(rng.random((size, size)), 1) * 3 - 1, 0, 1).astype(np.float32)
        row = dict(pair_id=make_pair_id(task, f"c{i}", 0), task=task, case_id=f"c{i}", slice=0, modality_a="MRI",
                   modality_b=task.split("_")[1], height=size, width=size, a=a, b=b,
                   source_a=f"a{i}.png", source_b=f"b{i}.png", sha256_a="0" * 64, sha256_b="1" * 64,
                   spacing_mm=[1.0, 1.0])
        if colour:
            y, cb, cr = rgb_to_ycbcr(np.stack([b, b * 0.3, 1 - b], axis=-1))
            row.update(b=y.astype(np.float32), b_cb=cb.astype(np.float32), b_cr=cr.astype(np.float32))
        rows.append(row)
    return rows


@pytest.fixture
def split(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data" / "splits" / "test.parquet"
    write_pairs(_rows("MRI_CT", 3, rng) + _rows("MRI_SPECT", 2, rng, colour=True), path)
    return path


def _params(tmp_path, split, **kw):
    return EvaluateParams(test_split=str(split), baselines=["return_a", "mean", "guided"], figure_rows=2,
                          metrics_json=str(tmp_path / "metrics/eval.json"),
                          per_method_csv=str(tmp_path / "metrics/eval_per_method.csv"),
                          per_image_csv=str(tmp_path / "reports/eval_per_image.csv"),
                          report=str(tmp_path / "reports/eval.md"), figures_dir=str(tmp_path / "reports/figures"),
                          **kw)


def test_baselines_only_writes_every_output(tmp_path, split):
    p = _params(tmp_path, split)
    res = run(p)
    for o in res.outputs:
        assert o.exists() and o.stat().st_size > 0, o
    summary = json.loads((tmp_path / "metrics/eval.json").read_text())
    assert summary["convention"]["stretch"] is True and summary["convention"]["ssim_data_range"] == 2.0
    assert set(summary["tasks"]) == {"MRI_CT", "MRI_SPECT"}
    assert set(summary["tasks"]["MRI_CT"]) == {"return_a", "mean", "guided"}
    ct = summary["tasks"]["MRI_CT"]
    assert ct["mean"]["n_images"] == 3
    # return_a: F == A exactly when A already spans [0, 1] -> MSE_A == 0 iff the stretch is a no-op
    per_image = list(csv.DictReader((tmp_path / "reports/eval_per_image.csv").open()))
    assert len(per_image) == 5 * 3
    per_method = list(csv.DictReader((tmp_path / "metrics/eval_per_method.csv").open()))
    assert len(per_method) == 2 * 3 and {"task", "method", "Qabf", "SSIM"} <= set(per_method[0])
    vals = [float(r["Qabf"]) for r in per_image if r["task"] == "MRI_CT" and r["method"] == "mean"]
    assert ct["mean"]["Qabf"] == pytest.approx(np.mean(vals))
    report = (tmp_path / "reports/eval.md").read_text()
    assert "## MRI_CT" in report and "## MRI_SPECT" in report and "min-max stretched" in report
    assert "CDDFuse_MIF [published: cddfuse_readme]" in report and "baselines only" in report
    assert (tmp_path / "reports/figures/eval_MRI_SPECT.png").exists()


def test_return_a_scd_nan_is_counted_when_not_stretched(tmp_path, split):
    p = _params(tmp_path, split, stretch=False)
    res = run(p)
    ra = res.summary["tasks"]["MRI_CT"]["return_a"]
    assert ra["SCD_nan_count"] == 3 and ra["MSE_A"] == 0.0
    assert "(3 NaN)" in (tmp_path / "reports/eval.md").read_text()


def test_model_fuser_through_the_loader_hook(tmp_path, split, monkeypatch):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_text("weights")
    seen = []

    def loader(ref):
        seen.append(ref)
        return lambda a, b: np.maximum(a, b)

    monkeypatch.setattr("pipelines.fusers.LOADER_MODULES", [])
    monkeypatch.setattr(MODEL_LOADERS, "_items", {"checkpoint": loader})
    res = run(_params(tmp_path, split, model=str(ckpt), model_name="gan"))
    assert seen == [str(ckpt)]
    assert list(res.summary["tasks"]["MRI_CT"])[0] == "gan"
    assert "`" + str(ckpt) + "`" in (tmp_path / "reports/eval.md").read_text()


def test_model_reference_errors_name_the_reference(tmp_path, monkeypatch):
    monkeypatch.setattr("pipelines.fusers.LOADER_MODULES", [])
    monkeypatch.setattr(MODEL_LOADERS, "_items", {})
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        load_model_fuser(str(tmp_path / "nope.ckpt"))
    with pytest.raises(ValueError, match="no model loader registered"):
        load_model_fuser("models:/medfuse-MRI_CT@champion")


def test_stage_main_reads_params_file(tmp_path, split, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        f"evaluate:\n  test_split: {split}\n  baselines: [mean]\n  figure_rows: 1\n")
    assert main(["--params", "params.yaml", "--set", "evaluate.ssim_data_range=255"]) == 0
    summary = json.loads((tmp_path / "metrics/eval.json").read_text())
    assert summary["convention"]["ssim_data_range"] == 255.0
    capsys.readouterr()
    assert main(["--params", "params.yaml", "--set", "evaluate.bogus=1"]) == 2      # one line, no traceback
    assert capsys.readouterr().err.strip() == ("evaluate: error: evaluate: unknown key(s) ['bogus']; allowed: "
                                               + str(sorted(EvaluateParams.__dataclass_fields__)))

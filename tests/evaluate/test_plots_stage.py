"""The plots stage: one static SVG per task with a bar for every (method, metric) that has a value, rendered by
`dvc plots show` as images with no script and no remote URL (offline)."""
from __future__ import annotations

import csv
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_contracts.offline_docs import remote_references

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("model", "champion", "mean", "return_a")


def _write_csv(path: Path, nan_at: tuple[str, str, str] | None = None) -> dict:
    from pipelines.metrics import CORE_COLUMNS
    cols = [*CORE_COLUMNS, "Nabf"]
    rows, values = [], {}
    for t, task in enumerate(("MRI_CT", "MRI_PET")):
        for m, method in enumerate(METHODS):
            vals = {c: round(1.0 + 0.1 * t + 0.01 * m + 0.001 * i, 4) for i, c in enumerate(cols)}
            if nan_at and (task, method) == nan_at[:2]:
                vals[nan_at[2]] = math.nan
            values[(task, method)] = vals
            rows.append({"task": task, "method": method, **vals, "n_images": 3})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return values


def test_one_chart_per_task_with_every_bar(tmp_path, monkeypatch):
    from pipelines.stages import plots
    monkeypatch.chdir(tmp_path)
    values = _write_csv(tmp_path / "metrics/eval_per_method.csv", nan_at=("MRI_PET", "mean", "SCD"))
    written = plots.run(Path("metrics/eval_per_method.csv"), "model")
    assert [p.name for p in written] == ["eval_MRI_CT.svg", "eval_MRI_PET.svg"]
    for task in ("MRI_CT", "MRI_PET"):
        svg = (tmp_path / "reports/plots" / f"eval_{task}.svg").read_text()
        assert remote_references(svg) == []
        bars = set(re.findall(r'id="bar:([^:"]+):([^"]+)"', svg))
        expected = {(c, m) for (t, m), vals in values.items() if t == task
                    for c, v in vals.items() if math.isfinite(v)}
        assert bars == expected, (task, expected ^ bars)     # every finite value drawn, the NaN one not
        assert "n_images" not in {c for c, _ in bars}


def test_a_metric_without_any_value_is_an_error(tmp_path):
    from pipelines.reporting.charts import method_bars
    with pytest.raises(ValueError, match="no finite value"):
        method_bars({"a": {"Qabf": math.nan}, "b": {"Qabf": math.inf}}, ["Qabf"], tmp_path / "x.svg")


def test_missing_table_names_the_file(tmp_path):
    from pipelines.stages import plots
    with pytest.raises(FileNotFoundError, match="eval_per_method.csv"):
        plots.run(tmp_path / "metrics/eval_per_method.csv", "model", tmp_path / "out")


def test_dvc_plots_show_renders_offline(tmp_path, monkeypatch):
    """The project's dvc.yaml plot definitions through `dvc plots show`: images only, nothing remote."""
    from pipelines.stages import plots
    monkeypatch.chdir(tmp_path)
    _write_csv(tmp_path / "metrics/eval_per_method.csv")
    plots.run(Path("metrics/eval_per_method.csv"), "model")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "CI": "true"}
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q", "--no-scm"], cwd=tmp_path, env=env, check=True, timeout=120)
    res = subprocess.run([*dvc, "plots", "show", "-o", "dvc_plots"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    html = (tmp_path / "dvc_plots/index.html").read_text()
    assert remote_references(html) == [] and "<script" not in html and "vega" not in html.lower()
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) == 2 and all((tmp_path / "dvc_plots" / i).is_file() for i in imgs), imgs

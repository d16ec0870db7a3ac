"""The demo end to end with ``phantom.b_scale: 4`` (CT/PET/SPECT from a 4-mm detector): ``python -m pipelines.demo``
(dvc repro: ingest -> register -> validate -> split -> tune -> train -> evaluate) in a temporary git + DVC copy of
the project, on a smaller phantom and search than the default demo; then ``medfuse fuse`` with the trained model
on a full-resolution MRI and a quarter-resolution PET."""
import json
import sys

import pyarrow.parquet as pq
import pytest

from dvc_repo import VENV_BIN, make_repo, project_params, run


@pytest.mark.slow
def test_demo_with_b_scale_4_runs_end_to_end(tmp_path):
    repo = tmp_path / "repo"
    params = project_params()
    params["phantom"].update(b_scale=4, cases=3, slices=4, tasks=["MRI_PET"])
    params["ingest"]["progress"] = False
    params["tune"].update(num_samples=2, steps=20, grace_steps=20)
    params["train"].update(steps=20)
    env = make_repo(repo, params)

    out = run([sys.executable, "-m", "pipelines.demo"], repo, env, timeout=1200).stdout
    assert "pipeline finished" in out, out[-3000:]
    pairs = pq.read_table(repo / "data/registered/pairs.parquet", columns=["b_scale", "height", "b"])
    size = params["data"]["size"]
    assert set(pairs.column("b_scale").to_pylist()) == {4}
    assert {len(b) for b in pairs.column("b").to_pylist()} == {4 * (size // 4) ** 2}   # float32 B at 1/4
    spec = json.loads((repo / "models/final/MRI_PET/model.json").read_text())["spec"]
    assert spec["overrides"]["b_scale"] == 4                       # r read from the data by tune / train
    report = (repo / "reports/eval.md").read_text()
    assert "**Multi-resolution pairs.** MRI_PET (B at 1/4 of A)" in report
    summary = json.loads((repo / "metrics/eval.json").read_text())
    assert "model" in summary["tasks"]["MRI_PET"] and summary["convention"]["b_scale"] == {"MRI_PET": 4}

    mri = repo / "data/phantom/aanlib/MRI_PET/MRI/ph01001.png"
    pet = repo / "data/phantom/aanlib/MRI_PET/PET/ph01001.png"
    from PIL import Image
    w, h = Image.open(mri).size
    assert Image.open(pet).size == (w // 4, h // 4)
    fused = tmp_path / "fused.png"
    run([str(VENV_BIN / "medfuse"), "fuse", "--model", "models/final/MRI_PET", "--a", str(mri), "--b", str(pet),
          "-o", str(fused)], repo, env)
    img = Image.open(fused)
    assert img.size == (w, h) and img.mode == "RGB"               # A's size, PET's colour back

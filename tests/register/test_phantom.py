"""The phantom's recorded misalignment is recovered (rotation < 1 deg, translation < 1 voxel) by the 3-D path
(NIfTI) per case, and by the 2-D path (AANLIB PNG) per slice for an information-rich task and per case
(median over its slices) for every task.  Generates a small phantom with the project's ingest (slow)."""
import json
import statistics

import pytest

from pipelines.params import load_params
from pipelines.registration.config import RegisterParams
from pipelines.stages import ingest
from pipelines.stages import register as stage

ROOT_PARAMS = __import__("pathlib").Path(__file__).resolve().parents[2] / "params.yaml"


def _ingest(tmp_path, monkeypatch, fmt: str, tasks: list[str]):
    monkeypatch.chdir(tmp_path)
    params = load_params(ROOT_PARAMS, [f"phantom.format={fmt}", "phantom.cases=2", "phantom.slices=5",
                                       f"phantom.tasks={json.dumps(tasks)}", "ingest.progress=false"])
    ingest.run(params)
    res = stage.run(RegisterParams(), progress=False)
    return json.loads(res.report.read_text())


@pytest.mark.slow
def test_3d_path_recovers_the_phantom_misalignment(tmp_path, monkeypatch):
    report = _ingest(tmp_path, monkeypatch, "nifti", ["MRI_CT", "MRI_SPECT"])
    units = report["units"]
    assert {u["kind"] for u in units} == {"volume"} and len(units) == 4
    for u in units:
        assert u["status"] == "registered", u["key"]
        assert u["truth"]["rotation_error_deg"] < 1.0, (u["key"], u["truth"])
        assert u["truth"]["shift_error_vox"] < 1.0, (u["key"], u["truth"])
        assert "meta slice_spacing_mm" in u["spacing_source"]


@pytest.mark.slow
def test_2d_path_recovers_the_phantom_misalignment(tmp_path, monkeypatch):
    report = _ingest(tmp_path, monkeypatch, "aanlib", ["MRI_T2", "MRI_SPECT"])
    units = report["units"]
    assert {u["kind"] for u in units} == {"slice"} and len(units) == 20
    for u in units:
        if u["key"].startswith("MRI_T2/"):
            assert u["truth"]["rotation_error_deg"] < 1.0 and u["truth"]["shift_error_vox"] < 1.0, u["key"]
    by_case: dict[str, list] = {}
    for u in units:
        by_case.setdefault(u["key"].rsplit("/", 1)[0], []).append(u["truth"])
    for case, truths in by_case.items():
        assert statistics.median(t["rotation_error_deg"] for t in truths) < 1.0, case
        assert statistics.median(t["shift_error_vox"] for t in truths) < 1.0, case
    assert report["summary"]["nmi_after_mean"] > report["summary"]["nmi_before_mean"]

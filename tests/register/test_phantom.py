"""The phantom's recorded misalignment is recovered (rotation < 1 deg, translation < 1 voxel) on every unit:
per slice by the 2-D path (AANLIB PNG) for every default task, and per case by the 3-D path (NIfTI) for CT and
SPECT.  Generates a small phantom (2 cases x 5 slices, 128 px) with the project's ingest (slow).

Not covered here, measured instead (docs/data_pipeline.md): 2-D on the larger phantom (4 cases x 10 slices)
registered slice by slice alone misses by up to 3 degrees on a few top-of-head SPECT slices, where the SPECT
noise alone moves even an oracle fit (to the noise-free SPECT) by up to 0.9 degree; with the case consensus
(default) all 160 slices are within the spec (max 0.78 degree).  3-D PET and T2 on these 5 slices of 27 mm
miss by up to 1.8 degrees (also before), while on 10 slices of 12 mm every task is within the spec."""
import json

import pytest

from pipelines.params import load_params
from pipelines.registration.config import RegisterParams
from pipelines.stages import ingest
from pipelines.stages import register as stage

ROOT_PARAMS = __import__("pathlib").Path(__file__).resolve().parents[2] / "params.yaml"
TASKS = ["MRI_CT", "MRI_PET", "MRI_SPECT", "MRI_T2"]


def _ingest(tmp_path, monkeypatch, fmt: str, tasks: list[str]):
    monkeypatch.chdir(tmp_path)
    params = load_params(ROOT_PARAMS, [f"phantom.format={fmt}", "phantom.cases=2", "phantom.slices=5",
                                       f"phantom.tasks={json.dumps(tasks)}", "ingest.progress=false"])
    ingest.run(params)
    res = stage.run(RegisterParams(), progress=False)
    return json.loads(res.report.read_text())


def _within_spec(units: list[dict]) -> list[str]:
    """Units whose applied transform misses the truth by 1 deg or 1 voxel or more (empty when all pass)."""
    return [f"{u['key']}: {u['status']}, rotation error {u['truth']['rotation_error_deg']:.2f} deg, "
            f"shift error {u['truth']['shift_error_vox']:.2f} voxel"
            for u in units if u["truth"]["rotation_error_deg"] >= 1.0 or u["truth"]["shift_error_vox"] >= 1.0]


@pytest.mark.slow
def test_3d_path_recovers_the_phantom_misalignment(tmp_path, monkeypatch):
    report = _ingest(tmp_path, monkeypatch, "nifti", ["MRI_CT", "MRI_SPECT"])
    units = report["units"]
    assert {u["kind"] for u in units} == {"volume"} and len(units) == 4
    assert _within_spec(units) == []
    for u in units:
        assert u["status"] == "registered", u["key"]          # every case is misaligned by more than the spec
        assert "meta slice_spacing_mm" in u["spacing_source"]


@pytest.mark.slow
def test_2d_path_recovers_the_phantom_misalignment_on_every_slice(tmp_path, monkeypatch):
    report = _ingest(tmp_path, monkeypatch, "aanlib", TASKS)
    units = report["units"]
    assert {u["kind"] for u in units} == {"slice"} and len(units) == 40
    assert {u["key"].split("/")[0] for u in units} == set(TASKS)
    assert _within_spec(units) == []
    assert all(u["status"] == "registered" for u in units)   # both cases are misaligned beyond the spec
    # the accept/reject NMI never drops, and every registered slice gained more than min_nmi_gain
    for u in units:
        assert u["accept_nmi_after"] - u["accept_nmi_before"] > RegisterParams().min_nmi_gain, u["key"]
    assert report["summary"]["nmi_after_mean"] > report["summary"]["nmi_before_mean"]
    # every case (5 slices, one misalignment) went through the case consensus pass with a non-identity median
    assert all(u["consensus"]["status"] == "applied" and u["source"] in ("own", "case_consensus") for u in units)

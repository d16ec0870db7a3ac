"""`dvc repro validate_splits` of ingest -> register -> validate -> split -> validate_splits on a tiny phantom, in a temporary
git + DVC repository holding a copy of the project code: first run builds everything, a second run does
nothing, and changing a registration parameter reruns register and the stages after it only."""
import pytest
import yaml

from dvc_repo import VENV_BIN, make_repo, project_params
from dvc_repo import run as _run

STAGES = ("ingest", "register", "validate", "split", "validate_splits")


def _ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


@pytest.mark.slow
def test_dvc_repro_runs_then_noops_then_reruns_from_register(tmp_path):
    dvc = str(VENV_BIN / "dvc")
    repo = tmp_path / "repo"
    params = project_params()
    params["data"]["size"] = 64
    params["phantom"].update(cases=3, slices=4, tasks=["MRI_CT", "MRI_SPECT"], format="nifti")
    params["ingest"]["progress"] = False
    env = make_repo(repo, params)

    target = "validate_splits"          # the data stages only (training stages of dvc.yaml follow it)
    first = _run([dvc, "repro", target], repo, env)
    assert _ran(first.stdout) == set(STAGES), first.stdout[-2000:]
    for out in ("data/registered/pairs.parquet", "reports/registration.json", "reports/validation.json",
                "reports/data_docs/pairs/index.html", "data/splits/test.parquet", "reports/split.json",
                "reports/validation_splits.json"):
        assert (repo / out).exists(), out

    second = _run([dvc, "repro", target], repo, env)
    assert _ran(second.stdout) == set(), second.stdout
    assert "up to date" in second.stdout

    params["register"]["histogram_bins"] = 24
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _run([dvc, "status", "--with-deps", target], repo, env).stdout
    assert "register" in status and "ingest" not in status
    third = _run([dvc, "repro", target], repo, env)
    assert "ingest" not in _ran(third.stdout)
    assert {"register", "validate"} <= _ran(third.stdout), third.stdout[-2000:]

    # a changed DVC-tracked source folder (datasets/, ingest's dependency) reruns ingest
    (repo / "datasets" / "new_cases.txt").write_text("a new delivery\n")
    status = _run([dvc, "status", "--with-deps", target], repo, env).stdout
    assert "ingest" in status and "datasets" in status, status

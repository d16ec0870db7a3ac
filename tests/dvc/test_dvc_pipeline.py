"""`dvc repro validate_splits` of ingest -> register -> validate -> split -> validate_splits on a tiny phantom, in a temporary
git + DVC repository holding a copy of the project code: first run builds everything, a second run does
nothing, and changing a registration parameter reruns register and the stages after it only."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
STAGES = ("ingest", "register", "validate", "split", "validate_splits")


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


@pytest.mark.slow
def test_dvc_repro_runs_then_noops_then_reruns_from_register(tmp_path):
    dvc = str(VENV_BIN / "dvc")
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pipelines", "data_contracts", "gan_models", "datasets"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["size"] = 64
    params["phantom"].update(cases=3, slices=4, tasks=["MRI_CT", "MRI_SPECT"], format="nifti")
    params["ingest"]["progress"] = False
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1", "CI": "true", "PYTHONPATH": str(repo)}
    _run(["git", "init", "-q"], repo, env)
    _run([dvc, "init", "-q"], repo, env)
    _run([dvc, "config", "core.analytics", "false"], repo, env)
    _run([dvc, "config", "core.check_update", "false"], repo, env)

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

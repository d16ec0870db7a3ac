"""A temporary git + DVC repository holding a copy of the project's code and a given params.yaml, for the
end-to-end ``dvc repro`` tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def project_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def make_repo(repo: Path, params: dict) -> dict:
    """Copy the code DVC's stages need into ``repo``, write ``params``, ``git init`` and ``dvc init`` there (no
    analytics, no update check); returns the environment to run commands with (the venv first on PATH)."""
    repo.mkdir(parents=True)
    for name in ("pipelines", "data_contracts", "gan_models", "datasets"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1", "CI": "true", "PYTHONPATH": str(repo)}
    dvc = str(VENV_BIN / "dvc")
    run(["git", "init", "-q"], repo, env)
    run([dvc, "init", "-q"], repo, env)
    run([dvc, "config", "core.analytics", "false"], repo, env)
    run([dvc, "config", "core.check_update", "false"], repo, env)
    return env

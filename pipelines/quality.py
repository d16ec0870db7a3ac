"""The quality recipe: the whole pipeline on a real AANLIB-style folder, then the quality benchmark.

``make quality DATA=<folder>`` (``python -m pipelines.quality --data <folder>``):

1. builds a workspace ``runs/quality/`` (git-ignored): a copy of the project's files (what ``git ls-files``
   lists, committed or not) whose ``params.yaml`` is the project's with ``recipes/quality.yaml`` on top
   (``data.source.path`` set to the folder) and DVC set to run without git (``core.no_scm``), so the user's own ``params.yaml``, ``data/``,
   ``models/`` and MLflow store are never touched;
2. runs ``dvc repro`` there: ingest -> register -> validate -> split -> validate_splits -> tune -> train ->
   evaluate -> plots for MRI_CT, MRI_PET and MRI_SPECT (a second run is a no-op; a changed recipe or folder
   reruns what depends on it);
3. runs ``benchmarks/quality.py`` on the workspace: ``reports/bench/quality.md`` (model vs every baseline with
   bootstrap CIs, wins of 8, the adversarial ablation, timings) and ``reports/bench/quality_montage.png``.

Each step's wall time is printed and written to ``runs/quality/reports/quality_timing.json``.
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipelines.errors import InputError, OneLineArgumentParser, command_entry

RECIPE = Path("recipes/quality.yaml")
WORKSPACE = Path("runs/quality")
#: copied into the workspace even when git does not list them (a checkout without .git)
_SKIP_DIRS = {".git", ".venv", "runs", "data", "models", "mlruns", "ray_results", ".medfuse", "__pycache__",
              ".pytest_cache", "metrics"}


def project_files(repo: Path) -> list[Path]:
    """The project's files relative to ``repo``: ``git ls-files`` (tracked + untracked, not ignored), or a walk
    that skips outputs and environments when ``repo`` is not a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=repo, check=True,
                             capture_output=True).stdout.decode()
        files = [Path(p) for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(repo) for p in repo.rglob("*")
                 if p.is_file() and not (set(p.relative_to(repo).parts) & _SKIP_DIRS)]
    return [f for f in files if f.parts and f.parts[0] not in ("runs",) and (repo / f).is_file()]


def sync_workspace(repo: Path, ws: Path) -> int:
    """Copy the project's files into ``ws`` (only those that changed, so DVC's stage hashes stay valid);
    returns how many were copied."""
    copied = 0
    for rel in project_files(repo):
        src, dst = repo / rel, ws / rel
        if dst.exists() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied += 1
    return copied


#: recipe mappings that replace the base's instead of merging into it (a search space is a whole)
REPLACED = ("space", "overrides")


def merged(base: dict, recipe: dict) -> dict:
    """``base`` with ``recipe``'s values: mappings merge key by key (except :data:`REPLACED`), the rest replace."""
    out = dict(base)
    for k, v in recipe.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in REPLACED:
            out[k] = merged(out[k], v)
        else:
            out[k] = v
    return out


def recipe_params(base: Path, recipe: Path, data: Path) -> dict:
    """The workspace's params.yaml: the project's ``params.yaml`` (every section DVC tracks) with the recipe
    on top and ``data.source`` pointing at ``data``."""
    rec = yaml.safe_load(recipe.read_text())
    if not isinstance(rec, dict) or "data" not in rec:
        raise InputError(f"{recipe}: not a params file with a data: section")
    params = merged(yaml.safe_load(base.read_text()), rec)
    params["data"]["source"] = {"kind": "aanlib", "path": str(data)}
    return params


def check_data(data: Path) -> None:
    if not data.is_dir():
        raise InputError(f"{data}: DATA must be an AANLIB-style folder <TASK>/<MODALITY>/<name>.png")
    tasks = [t for t in ("MRI_CT", "MRI_PET", "MRI_SPECT") if (data / t).is_dir()]
    if not tasks:
        raise InputError(f"{data}: no MRI_CT, MRI_PET or MRI_SPECT folder inside (expected "
                         f"<TASK>/<MODALITY>/<name>.png)")


def _run(cmd: list[str], cwd: Path, env: dict, label: str, timings: dict) -> None:
    print(f"[quality] {label}: {' '.join(cmd)}", flush=True)
    t0 = time.time()
    rc = subprocess.call(cmd, cwd=cwd, env=env)
    timings[label] = round(time.time() - t0, 1)
    print(f"[quality] {label}: {timings[label]:.0f} s (exit {rc})", flush=True)
    if rc != 0:
        raise SystemExit(rc)


@command_entry("medfuse-quality")
def main(argv: list[str] | None = None) -> int:
    ap = OneLineArgumentParser(prog="medfuse-quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="AANLIB-style folder <TASK>/<MODALITY>/<name>.png")
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    ap.add_argument("--workspace", type=Path, default=WORKSPACE)
    ap.add_argument("--skip-benchmark", action="store_true", help="run the pipeline only")
    args = ap.parse_args(argv)
    repo = Path.cwd()
    data = args.data.expanduser().resolve()
    check_data(data)
    if not args.recipe.is_file():
        raise InputError(f"{args.recipe}: recipe not found")
    ws = args.workspace.resolve()
    ws.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    n = sync_workspace(repo, ws)
    (ws / "params.yaml").write_text(yaml.safe_dump(recipe_params(repo / "params.yaml", args.recipe, data),
                                                   sort_keys=False))
    (ws / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    print(f"[quality] workspace {ws}: {n} file(s) updated; data {data}", flush=True)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("MLFLOW_TRACKING_URI", None)              # the workspace's own embedded store
    timings: dict[str, float] = {}
    _run([sys.executable, "-m", "dvc", "repro"], ws, env, "pipeline", timings)
    (ws / "reports" / "quality_timing.json").write_text(json.dumps(timings, indent=2))   # the benchmark reports it
    if not args.skip_benchmark:
        _run([sys.executable, str(repo / "benchmarks" / "quality.py"), "--workspace", str(ws),
              "--out", str(repo / "reports" / "bench")], repo, env, "benchmark", timings)
    timings["total"] = round(time.time() - t0, 1)
    (ws / "reports" / "quality_timing.json").write_text(json.dumps(timings, indent=2))
    print(f"[quality] done: {json.dumps(timings)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

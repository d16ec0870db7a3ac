"""Retraining entry point for a cluster job (KubeRay RayJob, `ray job submit`, cron on a `ray up` head).

    python -m pipelines.retrain [--dvc-pull] [--set key=value ...] [--allow-phantom]

1. applies the ``--set`` overrides to ``params.yaml`` of the job's working copy (e.g. more Ray workers, GPUs);
2. checks that the job trains on versioned data: ``data.source`` must be a folder under ``datasets/`` (tracked by
   ``datasets/<name>.dvc``, pulled from the DVC remote, a dependency of the ingest stage), never the built-in
   phantom unless ``--allow-phantom`` says so;
3. outside a git work tree (a container image carries no ``.git``) sets ``core.no_scm`` in
   ``.dvc/config.local`` so DVC runs without git;
4. ``dvc pull`` when asked: the datasets (``datasets/*.dvc``, all required), then the cached outputs of the last
   committed run that ``dvc.lock`` names (where the remote has them);
5. ``dvc repro``: ingest -> ... -> train registers the new version (alias ``challenger``); evaluate moves
   ``champion`` only when the challenger beats it on the held-out test split (rule in params.yaml).
Every step that fails stops the job with its exit code and a one-line reason (2 for bad input).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePosixPath

import yaml

from pipelines.errors import OneLineArgumentParser, command_entry
from pipelines.params import ParamsError, apply_overrides, load_params

DATASETS = "datasets"


def write_overrides(params_path: Path, overrides: list[str]) -> dict:
    """Apply ``key=value`` overrides to the params file in place (comments are not preserved)."""
    params = load_params(params_path)
    updated = apply_overrides(params, overrides)
    if overrides:
        params_path.write_text(yaml.safe_dump(updated, sort_keys=False))
    return updated


def check_source(params: dict, allow_phantom: bool) -> str:
    """The data the job trains on must be versioned by DVC: a folder under ``datasets/``; returns a summary."""
    source = ((params.get("data") or {}).get("source") or {})
    kind, path = source.get("kind", "phantom"), source.get("path")
    if kind == "phantom":
        if not allow_phantom:
            raise ParamsError("data.source.kind: phantom: a retraining job trains on the versioned data; set "
                              f"data.source.kind/path to a folder under {DATASETS}/ (tracked by "
                              f"{DATASETS}/<name>.dvc, see infra/README.md) or pass --allow-phantom")
        return "the built-in phantom (--allow-phantom)"
    rel = PurePosixPath(str(path or ""))
    if not path or rel.is_absolute() or ".." in rel.parts or rel.parts[:1] != (DATASETS,) or len(rel.parts) < 2:
        raise ParamsError(f"data.source.path: {path!r} is not a folder under {DATASETS}/: DVC versions only "
                          f"{DATASETS}/ (the ingest stage's dependency), so the job would not train on versioned "
                          f"data; `dvc add` the folder there (infra/README.md)")
    return f"{kind} folder {path}"


def inside_git(root: Path) -> bool:
    try:
        res = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return res.returncode == 0 and res.stdout.strip() == "true"


def plan(dvc_pull: bool, no_scm: bool = False, datasets: list[str] | None = None,
         has_lock: bool = False) -> list[list[str]]:
    """The DVC commands of the job.  ``--dvc-pull``: the datasets (``datasets/*.dvc``) must all come back; the
    outputs of the last committed run (``dvc.lock``, when the image has one) are pulled where the remote has
    them (``--allow-missing``: uncached outputs are recomputed by ``dvc repro``)."""
    dvc = [sys.executable, "-m", "dvc"]
    steps = []
    if no_scm:
        steps.append([*dvc, "config", "--local", "core.no_scm", "true"])
    if dvc_pull and datasets:
        steps.append([*dvc, "pull", *datasets])
    if dvc_pull and has_lock:
        steps.append([*dvc, "pull", "--allow-missing"])
    steps.append([*dvc, "repro"])
    return steps


@command_entry("retrain")
def main(argv: list[str] | None = None) -> int:
    p = OneLineArgumentParser(prog="retrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dvc-pull", action="store_true", help="pull data from the DVC remote first")
    p.add_argument("--allow-phantom", action="store_true",
                   help="allow data.source.kind=phantom (demos and tests; a real job trains on datasets/)")
    args = p.parse_args(argv)
    what = check_source(apply_overrides(load_params(args.params), args.overrides), args.allow_phantom)
    write_overrides(Path(args.params), args.overrides)
    print(f"retrain: training data: {what}", flush=True)
    root = Path.cwd()
    datasets = sorted(p.relative_to(root).as_posix() for p in (root / DATASETS).glob("*.dvc"))
    if args.dvc_pull and not datasets and not args.allow_phantom:
        print(f"retrain: error: --dvc-pull: no {DATASETS}/*.dvc in {root}: nothing versioned to pull "
              f"(`dvc add` the data under {DATASETS}/, commit the .dvc file, rebuild the image)", file=sys.stderr)
        return 2
    for cmd in plan(args.dvc_pull, not inside_git(root), datasets, (root / "dvc.lock").exists()):
        print("retrain:", " ".join(cmd[2:]), flush=True)
        rc = subprocess.call(cmd)
        if rc != 0:
            print(f"retrain: `{' '.join(cmd[2:])}` failed with exit code {rc}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())

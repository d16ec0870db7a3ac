"""Retraining entry point for a cluster job (KubeRay RayJob, `ray job submit`, cron on a `ray up` head).

    python -m pipelines.retrain [--dvc-pull] [--set key=value ...]

1. applies the ``--set`` overrides to ``params.yaml`` of the job's working copy (e.g. more Ray workers, GPUs),
2. ``dvc pull`` when asked (data and caches from the DVC remote),
3. ``dvc repro``: ingest -> ... -> train registers the new version (alias ``challenger``); evaluate moves
   ``champion`` only when the challenger beats it on the held-out test split (rule in params.yaml).
Every step that fails stops the job with its exit code and a one-line reason.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from pipelines.env import quiet_telemetry
from pipelines.params import apply_overrides, load_params


def write_overrides(params_path: Path, overrides: list[str]) -> dict:
    """Apply ``key=value`` overrides to the params file in place (comments are not preserved)."""
    params = load_params(params_path)
    updated = apply_overrides(params, overrides)
    if overrides:
        params_path.write_text(yaml.safe_dump(updated, sort_keys=False))
    return updated


def plan(dvc_pull: bool) -> list[list[str]]:
    steps = []
    if dvc_pull:
        steps.append([sys.executable, "-m", "dvc", "pull"])
    steps.append([sys.executable, "-m", "dvc", "repro"])
    return steps


def main(argv: list[str] | None = None) -> int:
    quiet_telemetry()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--dvc-pull", action="store_true", help="pull data from the DVC remote first")
    args = p.parse_args(argv)
    write_overrides(Path(args.params), args.overrides)
    for cmd in plan(args.dvc_pull):
        print("retrain:", " ".join(cmd[2:]), flush=True)
        rc = subprocess.call(cmd)
        if rc != 0:
            print(f"retrain: `{' '.join(cmd[2:])}` failed with exit code {rc}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())

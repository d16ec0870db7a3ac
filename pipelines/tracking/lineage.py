"""Lineage tags put on every run: the git commit of the code and the DVC version of the data split.

* ``mlflow.source.git.commit`` (MLflow's own tag, shown in the UI) and ``medfuse.git_dirty`` (uncommitted
  changes to tracked files).
* ``medfuse.data_version``: the DVC md5 of the split the run read.  Taken from ``dvc.lock`` (the ``outs`` entry
  covering the split file: a file md5, or a directory's ``.dir`` md5) when the pipeline produced it, else the
  md5 of the file's bytes, which is what DVC 3 records for a file output.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml


def git_commit(root: str | Path = ".") -> tuple[str | None, bool]:
    """(HEAD sha or None outside git, whether tracked files have uncommitted changes)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=20).stdout.strip() != ""
        return sha, dirty
    except (OSError, subprocess.SubprocessError):
        return None, False


def file_md5(path: str | Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dvc_lock_md5(path: str | Path, root: str | Path = ".") -> str | None:
    """The md5 ``dvc.lock`` records for ``path`` (or for the output directory containing it)."""
    root = Path(root).resolve()
    lock = root / "dvc.lock"
    if not lock.exists():
        return None
    try:
        rel = Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    data = yaml.safe_load(lock.read_text()) or {}
    best: tuple[int, str] | None = None
    for stage in (data.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            p = str(out.get("path", "")).rstrip("/")
            if (rel == p or rel.startswith(p + "/")) and out.get("md5"):
                if best is None or len(p) > best[0]:
                    best = (len(p), out["md5"])
    return best[1] if best else None


def data_version(path: str | Path, root: str | Path = ".") -> str:
    """DVC hash of a split file: from dvc.lock when it tracks it, else the file's md5 (prefixed ``md5:``)."""
    locked = dvc_lock_md5(path, root)
    return locked if locked else f"md5:{file_md5(path)}"


def lineage_tags(root: str | Path, split_paths: dict[str, str | Path]) -> dict[str, str]:
    sha, dirty = git_commit(root)
    tags = {"medfuse.git_dirty": str(dirty).lower()}
    if sha:
        tags["mlflow.source.git.commit"] = sha
    for name, p in split_paths.items():
        if p and Path(p).exists():
            tags[f"medfuse.data_version.{name}"] = data_version(p, root)
    if "train" in split_paths and f"medfuse.data_version.train" in tags:
        tags["medfuse.data_version"] = tags["medfuse.data_version.train"]
    return tags

"""A stage's outputs appear all together or not at all.

A stage names its outputs (files or folders) and writes each into a staging copy instead of the real path::

    with publish.staged("ingest", PAIRS, QUARANTINE, SUMMARY) as out:
        write_pairs(rows, out[PAIRS])           # out[target] is the staging path of that output
        ...

When the block ends without an exception the set is *committed*:

1. a manifest of the new set (sha256 and size of every output, ``.medfuse/published/<stage>.json``) is staged too;
2. the journal ``.medfuse/publish/<stage>.json`` (staged path -> real path for each output) is written
   atomically: this is the commit point;
3. each staged copy is renamed over its real path (a folder: the old one is moved aside first), then the
   journal is removed.

A kill before step 2 leaves the old set (the staging copies are debris, removed when the stage runs again); a
kill after it leaves a journal whose renames :func:`recover` finishes.  Every stage calls :func:`recover` before
it starts (``pipelines.errors.stage_entry``), so what any stage reads is always one whole set, the old or the
new.  An exception inside the block discards the staging copies: the old set stays.

The state lives in ``<root>/.medfuse/``: ``root`` is the working directory when an output is under it (what the
stages do), else the outputs' common folder (a ``run()`` called with explicit paths elsewhere).  Staging is
``.medfuse/staging/<stage>.<pid>/`` (renames are atomic only within one file system: an output on another one is
staged beside itself); a lock file serialises commits and recovery between processes.  :func:`verify` checks a
published set against its manifest.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STATE = Path(".medfuse")
JOURNALS = STATE / "publish"
MANIFESTS = STATE / "published"
STAGING = STATE / "staging"
TRASH = STATE / "trash"
LOCK = STATE / "publish.lock"


def _root(root: str | Path | None) -> Path:
    return Path(root or ".").resolve()


def _root_of(targets: list[Path]) -> Path:
    """The working directory, unless no output is under it: then the outputs' common folder (not ``/``)."""
    cwd = Path.cwd().resolve()
    full = [(cwd / t).resolve() for t in targets]
    if any(f.is_relative_to(cwd) for f in full):
        return cwd
    common = Path(os.path.commonpath([str(f.parent) for f in full]))
    return common if common != Path(common.anchor) else full[0].parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    (root / STATE).mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _fsync_tree(path: Path) -> None:
    """Flush the staged bytes to disk before the journal says they are the new set."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's (relative path, file sha256) list."""
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{digest(f)}\n".encode())
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _apply(entry: dict, root: Path, stage: str) -> None:
    """Move one staged output into place (idempotent: a finished entry is a no-op)."""
    staged, target = Path(entry["staged"]), root / entry["target"]
    if not staged.exists():
        return                                     # already moved (or never written: see Staging.commit)
    target.parent.mkdir(parents=True, exist_ok=True)
    if (target.is_dir() and not target.is_symlink()) or (staged.is_dir() and target.exists()):
        trash = root / TRASH / stage / f"{entry['index']}-{uuid.uuid4().hex[:8]}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, trash)
    os.replace(staged, target)


def _finish(journal: Path, root: Path) -> None:
    data = json.loads(journal.read_text())
    stage = data["stage"]
    for entry in data["entries"]:
        if entry.get("remove"):
            _remove(root / entry["target"])
        else:
            _apply(entry, root, stage)
    journal.unlink()
    shutil.rmtree(root / TRASH / stage, ignore_errors=True)
    if data.get("staging"):
        shutil.rmtree(data["staging"], ignore_errors=True)


def recover(root: str | Path | None = None) -> list[str]:
    """Finish every committed but interrupted publish under ``root``; returns the stages it completed."""
    root = _root(root)
    if not (root / JOURNALS).is_dir():
        return []
    done = []
    with _locked(root):
        for journal in sorted((root / JOURNALS).glob("*.json")):
            try:
                _finish(journal, root)
            except json.JSONDecodeError:           # a journal is written atomically: this is not ours
                raise ValueError(f"{journal}: unreadable publish journal; remove it and rerun the stage") from None
            done.append(journal.stem)
    return done


class Staging:
    """Staging paths of one stage's outputs (see the module docstring); use :func:`staged`."""

    def __init__(self, stage: str, targets: tuple[str | Path, ...], root: str | Path | None = None):
        if not stage or "/" in stage:
            raise ValueError(f"stage name {stage!r}: one non-empty path component")
        self.stage = stage
        self.targets = [Path(t) for t in targets]
        cwd = Path.cwd()
        self.full = [(cwd / t).resolve() for t in self.targets]
        self.root = _root(root) if root is not None else _root_of(self.targets)
        self.dir = self.root / STAGING / f"{stage}.{os.getpid()}"
        self._paths: dict[Path, Path] = {}

    def _rel(self, full: Path) -> str:
        try:
            return full.relative_to(self.root).as_posix()
        except ValueError:
            return str(full)

    def begin(self) -> "Staging":
        for old in (self.root / STAGING).glob(f"{self.stage}.*"):   # debris of uncommitted earlier attempts
            pid = old.name.rsplit(".", 1)[-1]
            if not (pid.isdigit() and _alive(int(pid))) or old == self.dir:
                _remove(old)
        self.dir.mkdir(parents=True, exist_ok=True)
        for i, (target, full) in enumerate(zip(self.targets, self.full)):
            for tmp in (full.with_name(full.name + ".tmp"),):   # stale atomic-write temporaries
                _remove(tmp)
            full.parent.mkdir(parents=True, exist_ok=True)
            if os.stat(full.parent).st_dev == os.stat(self.dir).st_dev:
                path = self.dir / str(i) / full.name
            else:                                  # another file system: stage beside the target
                path = full.with_name(f".{full.name}.staged-{self.stage}")
                _remove(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._paths[target] = path
        return self

    def __getitem__(self, target: str | Path) -> Path:
        try:
            return self._paths[Path(target)]
        except KeyError:
            raise KeyError(f"{target} is not an output of stage {self.stage!r} "
                           f"({[str(t) for t in self.targets]})") from None

    def discard(self) -> None:
        for path in self._paths.values():
            if not path.is_relative_to(self.dir):
                _remove(path)
        _remove(self.dir)

    def commit(self) -> dict:
        """Publish the staged outputs as one set; returns the manifest.  A declared output that was not written
        is removed from the real tree too (the new set does not have it)."""
        entries, files = [], {}
        for i, (target, full) in enumerate(zip(self.targets, self.full)):
            staged_path = self._paths[target]
            rel = self._rel(full)
            if staged_path.exists():
                _fsync_tree(staged_path)
                files[rel] = {"sha256": digest(staged_path), "kind": "dir" if staged_path.is_dir() else "file"}
                entries.append({"index": i, "staged": str(staged_path), "target": rel})
            else:
                entries.append({"index": i, "target": rel, "remove": True})
        manifest = {"stage": self.stage, "id": uuid.uuid4().hex, "published_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "outputs": files}
        staged_manifest = self.dir / "manifest.json"
        _write_json_atomic(staged_manifest, manifest)
        entries.append({"index": len(entries), "staged": str(staged_manifest),
                        "target": (MANIFESTS / f"{self.stage}.json").as_posix()})
        with _locked(self.root):
            journal = self.root / JOURNALS / f"{self.stage}.json"
            _write_json_atomic(journal, {"stage": self.stage, "entries": entries,       # the commit point
                                         "staging": str(self.dir)})
            _finish(journal, self.root)
        return manifest


@contextmanager
def staged(stage: str, *targets: str | Path, root: str | Path | None = None) -> Iterator[Staging]:
    """Context manager: stage ``targets`` (paths relative to the working directory, or absolute), commit them
    together on success, discard them on an exception (the old outputs stay).  ``root``: where ``.medfuse/`` is
    (default: see the module docstring)."""
    s = Staging(stage, targets, root).begin()
    try:
        yield s
    except BaseException:
        s.discard()
        raise
    s.commit()


def verify(stage: str, root: str | Path | None = None) -> dict:
    """The stage's manifest after checking that every output on disk matches it (``ValueError`` otherwise)."""
    root = _root(root)
    path = root / MANIFESTS / f"{stage}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: stage {stage!r} has published nothing here")
    manifest = json.loads(path.read_text())
    for rel, info in manifest["outputs"].items():
        target = root / rel
        if not target.exists():
            raise ValueError(f"{rel}: missing, but the last publish of stage {stage!r} wrote it")
        if digest(target) != info["sha256"]:
            raise ValueError(f"{rel}: differs from the last publish of stage {stage!r} (changed by something else, "
                             "or a mixed set)")
    return manifest

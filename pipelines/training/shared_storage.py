"""Storage every node of a Ray cluster can reach: ``train.resources.storage_path``.

On one machine Ray keeps checkpoints in ``<repo>/ray_results`` and the workers read the split files from the
head's ``data/splits``.  On a multi-node cluster neither works: another node has no such paths (and Ray refuses a
head-local ``storage_path`` once a worker on another node reports a checkpoint).  With ``storage_path`` set to an
S3 URI (``s3://bucket/prefix``; any S3-compatible store: MinIO, Ceph, moto, via ``AWS_ENDPOINT_URL``) or to a
shared filesystem mounted at the same path on every node (NFS, CephFS, a ReadWriteMany volume):

* Ray Train / Tune keep their runs and checkpoints under ``<storage_path>/ray_results``;
* the train and val splits are copied once to ``<storage_path>/data/<md5>-<name>.parquet`` (content-addressed:
  a rerun on the same data uploads nothing) and the workers read them from there (pyarrow opens the URI).
"""
from __future__ import annotations

from pathlib import Path

from pipelines.tracking.lineage import file_md5

RAY_RESULTS = "ray_results"
DATA = "data"


def is_uri(path: str | Path | None) -> bool:
    return path is not None and "://" in str(path)


def join(base: str, *parts: str) -> str:
    """``base`` (URI or path) joined with ``parts`` by '/' (pathlib would collapse a URI's '//')."""
    return "/".join([str(base).rstrip("/"), *parts])


def ray_storage(storage_path: str | None, local_default: str | Path) -> str:
    """Where Ray Train / Tune keep runs: ``<storage_path>/ray_results``, or the absolute local default."""
    if storage_path:
        return join(storage_path, RAY_RESULTS) if is_uri(storage_path) else \
            str(Path(storage_path).resolve() / RAY_RESULTS)
    return str(Path(local_default).resolve())


def _filesystem(target: str):
    """(pyarrow filesystem, path inside it) for a URI or a local path."""
    import pyarrow.fs as pafs
    if is_uri(target):
        return pafs.FileSystem.from_uri(target)
    return pafs.LocalFileSystem(), str(Path(target).resolve())


def upload_file(local: Path, target: str) -> str:
    """Copy ``local`` to ``target`` (URI or path) unless a file of the same size is already there."""
    import pyarrow.fs as pafs
    fs, path = _filesystem(target)
    info = fs.get_file_info(path)
    size = local.stat().st_size
    if info.type == pafs.FileType.File and info.size == size:
        return target
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    with open(local, "rb") as src, fs.open_output_stream(path) as dst:
        for chunk in iter(lambda: src.read(1 << 22), b""):
            dst.write(chunk)
    return target


def stage_splits(splits: dict[str, Path], storage_path: str) -> dict[str, str]:
    """Upload the split files to the shared storage; returns ``{"<name>_path": where the workers read it}``."""
    out = {}
    for name, local in splits.items():
        local = Path(local)
        if not local.exists():
            raise FileNotFoundError(f"{local}: {name} split not found (run the split stage first)")
        target = join(storage_path, DATA, f"{file_md5(local)}-{name}.parquet") if is_uri(storage_path) else \
            str(Path(storage_path).resolve() / DATA / f"{file_md5(local)}-{name}.parquet")
        out[f"{name}_path"] = upload_file(local, target)
    return out

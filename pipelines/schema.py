"""The pair table and the quarantine table (DESIGN §2): pyarrow schemas, encoding, read/write.

One row per registered 2-D slice pair.  Images are stored as ``binary`` holding float32 little-endian,
row-major ``height*width`` values in [0, 1].  Pseudo-colour B is stored as its BT.601 luma in ``b`` plus
``b_cb`` / ``b_cr`` (same encoding, null for grey B).  ``reg_*`` columns are null until the register stage
fills them.  ``meta`` is a JSON string for source-specific facts (e.g. the phantom's known misalignment).

Writes always go through :func:`write_pairs` / :func:`write_quarantine`, which cast to the schema, so a
stage can never write a table of another shape.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REG_COLUMNS = (
    "reg_nmi_before", "reg_nmi_after", "reg_ncc_before", "reg_ncc_after", "reg_seconds",
)

PAIR_SCHEMA = pa.schema([
    pa.field("pair_id", pa.string(), nullable=False),
    pa.field("task", pa.string(), nullable=False),
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("slice", pa.int32(), nullable=False),
    pa.field("modality_a", pa.string(), nullable=False),
    pa.field("modality_b", pa.string(), nullable=False),
    pa.field("height", pa.int32(), nullable=False),
    pa.field("width", pa.int32(), nullable=False),
    pa.field("a", pa.binary(), nullable=False),
    pa.field("b", pa.binary(), nullable=False),
    pa.field("b_cb", pa.binary(), nullable=True),
    pa.field("b_cr", pa.binary(), nullable=True),
    pa.field("spacing_mm", pa.list_(pa.float32(), 2), nullable=True),
    pa.field("source_a", pa.string(), nullable=False),
    pa.field("source_b", pa.string(), nullable=False),
    pa.field("sha256_a", pa.string(), nullable=False),
    pa.field("sha256_b", pa.string(), nullable=False),
    *[pa.field(c, pa.float32(), nullable=True) for c in REG_COLUMNS],
    pa.field("reg_transform", pa.string(), nullable=True),   # JSON: {"type": "rigid", "parameters": [...], ...}
    pa.field("reg_status", pa.string(), nullable=True),      # "registered" | "kept_original" | "skipped"
    pa.field("meta", pa.string(), nullable=True),            # JSON, source-specific
])

QUARANTINE_SCHEMA = pa.schema([
    pa.field("source_a", pa.string(), nullable=True),
    pa.field("source_b", pa.string(), nullable=True),
    pa.field("task", pa.string(), nullable=True),
    pa.field("case_id", pa.string(), nullable=True),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
])


def encode_image(img: np.ndarray) -> bytes:
    """HxW array -> float32 little-endian bytes (row-major)."""
    arr = np.ascontiguousarray(np.asarray(img, dtype="<f4"))
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    return arr.tobytes()


def decode_image(buf: bytes | None, height: int, width: int) -> np.ndarray | None:
    """Inverse of :func:`encode_image` (``None`` stays ``None``)."""
    if buf is None:
        return None
    arr = np.frombuffer(buf, dtype="<f4")
    if arr.size != height * width:
        raise ValueError(f"image buffer holds {arr.size} values, expected {height}x{width}")
    return arr.reshape(height, width)


def make_pair_id(task: str, case_id: str, slice_index: int) -> str:
    return f"{task}/{case_id}/{int(slice_index)}"


def _complete(row: Mapping[str, Any], schema: pa.Schema) -> dict:
    out = {}
    for f in schema:
        v = row.get(f.name)
        if f.name in ("a", "b", "b_cb", "b_cr") and isinstance(v, np.ndarray):
            v = encode_image(v)
        elif f.name == "meta" and isinstance(v, dict):
            v = json.dumps(v, sort_keys=True)
        out[f.name] = v
    extra = set(row) - set(schema.names)
    if extra:
        raise ValueError(f"unknown column(s) {sorted(extra)} for schema; allowed: {schema.names}")
    return out


def rows_to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema = PAIR_SCHEMA) -> pa.Table:
    """Rows (dicts; images may be numpy arrays) -> table with exactly ``schema``."""
    rows = [_complete(r, schema) for r in rows]
    return pa.Table.from_pylist(rows, schema=schema)


# Parquet in pyarrow 25 writes null fixed-size lists but cannot read them back (apache/arrow#35692), so
# spacing_mm (null where the spacing is unknown) is stored on disk as a variable-length list and cast back
# to the schema's fixed-size list by read_pairs.
_STORAGE_TYPES = {"spacing_mm": pa.list_(pa.float32())}


def _to_storage(table: pa.Table) -> pa.Table:
    for name, typ in _STORAGE_TYPES.items():
        if name in table.column_names:
            i = table.column_names.index(name)
            field = table.schema.field(name)
            table = table.set_column(i, pa.field(name, typ, field.nullable), table.column(name).cast(typ))
    return table


def _from_storage(table: pa.Table, schema: pa.Schema) -> pa.Table:
    for name in _STORAGE_TYPES:
        if name in table.column_names and name in schema.names:
            i = table.column_names.index(name)
            field = schema.field(name)
            table = table.set_column(i, field, table.column(name).cast(field.type))
    return table


def _write(table: pa.Table, path: str | Path, schema: pa.Schema) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _to_storage(table.select(schema.names).cast(schema))
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def write_pairs(table_or_rows: pa.Table | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    table = table_or_rows if isinstance(table_or_rows, pa.Table) else rows_to_table(table_or_rows)
    return _write(table, path, PAIR_SCHEMA)


def write_quarantine(table_or_rows: pa.Table | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    table = (table_or_rows if isinstance(table_or_rows, pa.Table)
             else rows_to_table(table_or_rows, QUARANTINE_SCHEMA))
    return _write(table, path, QUARANTINE_SCHEMA)


def read_pairs(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: pair table not found (run the previous stage first)")
    try:
        table = _from_storage(pq.read_table(path, columns=columns), PAIR_SCHEMA)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable pair table ({' '.join(str(exc).split())})") from None
    if columns is None and table.schema.names != PAIR_SCHEMA.names:
        raise ValueError(f"{path}: columns {table.schema.names} do not match the pair table schema")
    return table


def read_quarantine(path: str | Path) -> pa.Table:
    return pq.read_table(path)


def table_images(table: pa.Table, column: str) -> np.ndarray:
    """Stack one image column into an (N, H, W) float32 array (all rows must share H, W)."""
    h = table.column("height").to_numpy()
    w = table.column("width").to_numpy()
    if len(table) == 0:
        return np.zeros((0, 0, 0), np.float32)
    if (h != h[0]).any() or (w != w[0]).any():
        raise ValueError("rows have different image sizes; resample to data.size first")
    bufs = table.column(column).to_pylist()
    return np.stack([decode_image(b, int(h[0]), int(w[0])) for b in bufs]).astype(np.float32, copy=False)

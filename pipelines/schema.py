"""The pair table and the quarantine table (DESIGN §2): pyarrow schemas, encoding, read/write.

One row per registered 2-D slice pair.  Images are stored as ``binary`` holding float32 little-endian,
row-major ``height*width`` values in [0, 1].  Pseudo-colour B is stored as its BT.601 luma in ``b`` plus
``b_cb`` / ``b_cr`` (same encoding, null for grey B).  ``b_scale`` is r for a multi-resolution pair (B kept at
its native ``1/r`` of A's resolution, DDcGAN-style): ``b``, ``b_cb``, ``b_cr`` then hold ``(height/r) x
(width/r)`` values (:mod:`pipelines.imaging.multires`); 1 for a pair on one grid.  ``reg_*`` columns are null
until the register stage fills them.  ``meta`` is a JSON string for source-specific facts (e.g. the phantom's
known misalignment).

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
    pa.field("b_scale", pa.int32(), nullable=False),        # r: B (and Cb/Cr) at (height/r) x (width/r)
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


#: the columns stored at B's resolution (``1/b_scale`` of A's)
B_COLUMNS = ("b", "b_cb", "b_cr")


def column_shape(column: str, height: int, width: int, b_scale: int = 1) -> tuple[int, int]:
    """(rows, columns) of an image column: A's ``height x width``, or ``1/b_scale`` of it for B's columns."""
    r = int(b_scale) if column in B_COLUMNS else 1
    return int(height) // r, int(width) // r


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
        elif f.name == "b_scale" and v is None:
            v = 1                                 # rows built without the key: B on A's grid
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


def _with_b_scale(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table written before multi-resolution pairs existed has no ``b_scale``: every B is on A's grid (r = 1)."""
    if "b_scale" in table.column_names or "b_scale" not in schema.names:
        return table
    i = table.column_names.index("width") + 1 if "width" in table.column_names else table.num_columns
    return table.add_column(i, schema.field("b_scale"), pa.array(np.ones(len(table), np.int32)))


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
        stored = pq.read_schema(path).names
        read = None if columns is None else [c for c in columns if c != "b_scale" or c in stored]
        table = pq.read_table(path, columns=read)
        if columns is None or ("b_scale" in columns and "b_scale" not in stored):
            table = _with_b_scale(table, PAIR_SCHEMA)
        table = _from_storage(table, PAIR_SCHEMA)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable pair table ({' '.join(str(exc).split())})") from None
    if columns is None and table.schema.names != PAIR_SCHEMA.names:
        raise ValueError(f"{path}: columns {table.schema.names} do not match the pair table schema")
    return table


def read_quarantine(path: str | Path) -> pa.Table:
    return pq.read_table(path)


def table_images(table: pa.Table, column: str) -> np.ndarray:
    """Stack one image column into an (N, H, W) float32 array (all rows must share H, W and, for B's columns,
    ``b_scale``: B's arrays are (N, H/r, W/r))."""
    h = table.column("height").to_numpy()
    w = table.column("width").to_numpy()
    if len(table) == 0:
        return np.zeros((0, 0, 0), np.float32)
    if (h != h[0]).any() or (w != w[0]).any():
        raise ValueError("rows have different image sizes; resample to data.size first")
    r = table_b_scale(table) if column in B_COLUMNS else 1
    shape = column_shape(column, int(h[0]), int(w[0]), r)
    bufs = table.column(column).to_pylist()
    return np.stack([decode_image(b, *shape) for b in bufs]).astype(np.float32, copy=False)


def table_b_scale(table: pa.Table) -> int:
    """The one ``b_scale`` of a table's rows (1 for a table without the column); rows at different B
    resolutions raise, naming the values (a task's pairs must share r)."""
    if "b_scale" not in table.column_names or len(table) == 0:
        return 1
    values = sorted({int(v) for v in table.column("b_scale").to_pylist()})
    if len(values) != 1:
        raise ValueError(f"rows have B at different resolutions (b_scale {values}); the pairs of one task must "
                         "share one B resolution")
    return values[0]

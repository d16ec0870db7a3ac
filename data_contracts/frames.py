"""Turn a pair table into the flat frame the expectations run on.

GX expectations work on scalar columns, so each binary image column ``X`` (a, b, b_cb, b_cr) is replaced by
per-row facts derived from its float32 buffer:

``X_present`` (bool), ``X_n_values`` (number of float32 values, -1 if the byte length is not a multiple of
4), ``X_min`` / ``X_max`` (over the finite values), ``X_finite`` (every value finite), ``X_std``.
Table-wide helpers: ``n_pixels = height * width``, ``b_n_pixels = (height / b_scale) * (width / b_scale)``
(the values B, Cb and Cr hold; -1 when b_scale does not divide the size or is not positive), ``task_n_b_scales``
(number of distinct ``b_scale`` values among the row's task), ``pair_id_expected = task/case_id/slice``,
``b_chroma_dev = max |Cb - 0.5|, |Cr - 0.5|``, ``spacing_min_mm``, ``reg_unit_nmi_before/after`` (NMI of the
row's registration unit, the pair or its whole volume, from ``reg_transform``).  For split tables, ``split`` is kept and
``case_n_splits`` (number of splits holding the row's (task, case_id)) and ``task_split`` (``task:split``)
express the cross-split rules.  Every other column is passed through unchanged, so a column added to or
missing from the table shows up in the schema expectation.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

IMAGE_COLUMNS = ("a", "b", "b_cb", "b_cr")
FACTS = ("present", "n_values", "min", "max", "finite", "std")


def _facts(buffers: list[bytes | None]) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in FACTS}
    for buf in buffers:
        if buf is None:
            out["present"].append(False)
            for k in FACTS[1:]:
                out[k].append(None)
            continue
        out["present"].append(True)
        if len(buf) % 4:
            out["n_values"].append(-1)
            for k in FACTS[2:]:
                out[k].append(None)
            continue
        v = np.frombuffer(buf, dtype="<f4")
        finite = np.isfinite(v)
        fv = v[finite]
        out["n_values"].append(int(v.size))
        out["min"].append(float(fv.min()) if fv.size else None)
        out["max"].append(float(fv.max()) if fv.size else None)
        out["finite"].append(bool(finite.all()))
        out["std"].append(float(fv.std()) if fv.size else None)
    return out


def _chroma_dev(cb: list[bytes | None], cr: list[bytes | None]) -> list[float | None]:
    out = []
    for x, y in zip(cb, cr):
        if x is None or y is None or len(x) % 4 or len(y) % 4:
            out.append(None)
            continue
        dev = [np.abs(np.frombuffer(b, dtype="<f4") - 0.5) for b in (x, y)]
        dev = [d[np.isfinite(d)] for d in dev]
        out.append(float(max(d.max() if d.size else 0.0 for d in dev)))
    return out


def _unit_nmi(text: str | None) -> tuple[float | None, float | None]:
    """NMI before/after of the row's registration unit (the pair, or its whole volume) from reg_transform."""
    try:
        d = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return None, None
    if not isinstance(d, dict):
        return None, None
    vals = [d.get("unit_nmi_before"), d.get("unit_nmi_after")]
    return tuple(float(v) if isinstance(v, (int, float)) else None for v in vals)  # type: ignore[return-value]


def pair_frame(table: pa.Table) -> pd.DataFrame:
    """The validation frame of a pair table (or of concatenated split tables with a ``split`` column)."""
    names = table.schema.names
    scalar = [n for n in names if n not in IMAGE_COLUMNS and n != "spacing_mm"]
    df = table.select(scalar).to_pandas()
    n = len(table)
    for col in IMAGE_COLUMNS:
        if col not in names:
            continue
        for k, values in _facts(table.column(col).to_pylist()).items():
            dtype = {"present": "bool", "finite": "boolean", "n_values": "Int64"}.get(k, "Float64")
            df[f"{col}_{k}"] = pd.array(values, dtype=dtype)
    if "height" in names and "width" in names:
        h = table.column("height").to_numpy().astype(np.int64)
        w = table.column("width").to_numpy().astype(np.int64)
        df["n_pixels"] = h * w
        if "b_scale" in names:
            r = table.column("b_scale").to_numpy().astype(np.int64)
            ok = (r >= 1) & (h % np.maximum(r, 1) == 0) & (w % np.maximum(r, 1) == 0)
            df["b_n_pixels"] = np.where(ok, (h // np.maximum(r, 1)) * (w // np.maximum(r, 1)), -1)
    if "b_scale" in names and "task" in names:
        df["task_n_b_scales"] = df["task"].map(df.groupby("task")["b_scale"].nunique()).astype("int64")
    if {"task", "case_id", "slice"} <= set(names):
        df["pair_id_expected"] = [f"{t}/{c}/{s}" for t, c, s in zip(
            table.column("task").to_pylist(), table.column("case_id").to_pylist(), table.column("slice").to_pylist())]
    if {"b_cb", "b_cr"} <= set(names):
        df["b_chroma_dev"] = pd.array(_chroma_dev(table.column("b_cb").to_pylist(),
                                                  table.column("b_cr").to_pylist()), dtype="Float64")
    if "spacing_mm" in names:
        df["spacing_min_mm"] = pd.array([None if s is None else float(min(s)) if len(s) else None
                                         for s in table.column("spacing_mm").to_pylist()], dtype="Float64")
    if "reg_transform" in names:
        unit = [_unit_nmi(t) for t in table.column("reg_transform").to_pylist()]
        df["reg_unit_nmi_before"] = pd.array([u[0] for u in unit], dtype="Float64")
        df["reg_unit_nmi_after"] = pd.array([u[1] for u in unit], dtype="Float64")
    if "split" in names and {"task", "case_id"} <= set(names):
        key = df["task"].astype(str) + "/" + df["case_id"].astype(str)
        df["case_n_splits"] = key.map(df.groupby(key)["split"].nunique()).astype("int64")
        df["task_split"] = df["task"].astype(str) + ":" + df["split"].astype(str)
    return df


def derived_columns(with_split: bool) -> list[str]:
    cols = [f"{c}_{k}" for c in IMAGE_COLUMNS for k in FACTS]
    cols += ["n_pixels", "b_n_pixels", "task_n_b_scales", "pair_id_expected", "b_chroma_dev", "spacing_min_mm",
             "reg_unit_nmi_before", "reg_unit_nmi_after"]
    if with_split:
        cols += ["case_n_splits", "task_split"]
    return cols

"""Register stage: align every B onto its A and record how well it worked.

``python -m pipelines.stages.register`` reads ``data/ingested/pairs.parquet``, registers each unit (a 2-D
pair, or a whole volume case for NIfTI/DICOM sources, see :mod:`pipelines.registration.units`) with
SimpleITK (Mattes MI, multi-resolution, rigid or affine from ``register.transform``), and writes

* ``data/registered/pairs.parquet``: the same rows with B (and Cb/Cr) resampled onto A's grid and the
  ``reg_*`` columns filled (NMI / NCC before and after, seconds, transform JSON, status); a multi-resolution
  pair (``b_scale`` r > 1) keeps B at its own resolution: B is moved onto A's field of view at ``1/r`` of A's
  pixel size and its metrics compare it with A box-averaged to that grid (:mod:`pipelines.registration.align`);
* ``reports/registration.json``: per unit and per pair the metrics, applied and candidate transforms,
  recovered in-plane motion, time and status, plus a summary (per task, per status, seconds per 2-D pair
  and per volume).

A result that does not raise the accept/reject NMI (A and B blurred by ``accept_sigma_vox``) above the
identity's by more than ``min_nmi_gain`` is discarded (status ``kept_original``, B unchanged).

Case consensus (``register.case_consensus``, default on): the 2-D slice units of one (task, case), at least 3
of one size and spacing, are aligned one by one and then re-decided together
(:mod:`pipelines.registration.consensus`): the element-wise median of their applied transforms may replace a
slice's own result when their accept NMI do not differ by more than ``min_nmi_gain``.  Each unit records
``source`` (``identity`` | ``own`` | ``case_consensus``) and its ``consensus`` record (transform, accept NMI,
decision); ``reg_transform`` carries ``source`` and ``case_consensus``.  On the 4-case benchmark phantom this
brings the 5 out-of-spec top-of-head SPECT slices back within 1 degree / 1 voxel (docs/data_pipeline.md).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from pipelines import publish
from pipelines.errors import InputError, stage_entry
from pipelines.params import section, stage_main_args, to_dict
from pipelines.registration import metrics
from pipelines.registration.align import UnitImages, UnitOutcome, align_unit
from pipelines.registration.config import RegisterParams
from pipelines.registration.consensus import refine_group
from pipelines.registration.truth import truth_error
from pipelines.registration.units import Unit, build_units, parse_meta, slice_step_mm
from pipelines.schema import column_shape, decode_image, encode_image, read_pairs, write_pairs

PAIRS_IN = Path("data/ingested/pairs.parquet")
PAIRS_OUT = Path("data/registered/pairs.parquet")
REPORT = Path("reports/registration.json")


@dataclass
class RegisterResult:
    pairs_out: Path
    report: Path
    summary: dict


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


class _Table:
    """Column access to the input table without materialising every image at once."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.col = {n: table.column(n).to_pylist() for n in table.schema.names if n not in ("a", "b", "b_cb", "b_cr")}
        self.meta = [parse_meta(m) for m in self.col["meta"]]

    def image(self, column: str, i: int) -> np.ndarray | None:
        buf = self.table.column(column)[i].as_py()
        return decode_image(buf, *column_shape(column, self.col["height"][i], self.col["width"][i],
                                               self.col["b_scale"][i]))

    def in_plane_spacing(self, i: int) -> tuple[float, float]:
        sp = self.col["spacing_mm"][i]
        return (float(sp[0]), float(sp[1])) if sp else (1.0, 1.0)


def _unit_images(t: _Table, unit: Unit, cfg: RegisterParams) -> tuple[UnitImages, dict]:
    rows = list(unit.rows)
    chroma = t.table.column("b_cb")[rows[0]].as_py() is not None
    if unit.kind == "slice":
        i = rows[0]
        return UnitImages(t.image("a", i), t.image("b", i),
                          t.image("b_cb", i) if chroma else None, t.image("b_cr", i) if chroma else None,
                          t.in_plane_spacing(i), t.col["b_scale"][i]), {
                              "spacing_source": "spacing_mm" if t.col["spacing_mm"][i] else
                              "assumed 1 mm (spacing_mm is null)"}
    shapes = {(t.col["height"][i], t.col["width"][i], t.col["b_scale"][i]) for i in rows}
    if len(shapes) != 1:
        raise ValueError(f"volume {unit.key}: slices have different sizes {sorted(shapes)}")
    if len({t.table.column("b_cb")[i].as_py() is None for i in rows}) != 1:
        raise ValueError(f"volume {unit.key}: some slices carry Cb/Cr and others do not")
    in_plane = t.in_plane_spacing(rows[0])
    dz, dz_source = slice_step_mm([t.meta[i] for i in rows], [t.col["slice"][i] for i in rows], in_plane,
                                  cfg.slice_thickness_mm)

    def stack(column: str) -> np.ndarray:
        return np.stack([t.image(column, i) for i in rows])

    images = UnitImages(stack("a"), stack("b"), stack("b_cb") if chroma else None,
                        stack("b_cr") if chroma else None, (dz, *in_plane), t.col["b_scale"][rows[0]])
    return images, {"spacing_source": f"in-plane spacing_mm, z: {dz_source}", "spacing_mm": [dz, *in_plane]}


def _row_metrics(images: UnitImages, out: UnitOutcome, k: int | None, bins: int) -> dict:
    """Per-row metrics: the unit's own for a 2-D unit, the slice's for a volume."""
    if k is None:
        return {"nmi_before": out.nmi_before, "nmi_after": out.nmi_after,
                "ncc_before": out.ncc_before, "ncc_after": out.ncc_after}
    a, b0, b1 = images.a_low[k], images.b[k], out.b[k]
    before = (metrics.nmi(a, b0, bins), metrics.ncc(a, b0))
    after = before if out.status == "kept_original" else (metrics.nmi(a, b1, bins), metrics.ncc(a, b1))
    return {"nmi_before": before[0], "nmi_after": after[0], "ncc_before": before[1], "ncc_after": after[1]}


def _summary(units: list[dict], pairs: list[dict], tasks: list[str], seconds: float) -> dict:
    status: dict[str, int] = {}
    for p in pairs:
        status[p["status"]] = status.get(p["status"], 0) + 1
    source: dict[str, int] = {}
    for u in units:
        source[u["source"]] = source.get(u["source"], 0) + 1
    per_task = {}
    for task in sorted(set(tasks)):
        tp = [p for p, t in zip(pairs, tasks) if t == task]
        per_task[task] = {
            "pairs": len(tp),
            "registered": sum(p["status"] == "registered" for p in tp),
            "kept_original": sum(p["status"] == "kept_original" for p in tp),
            "nmi_before_mean": _mean(p["nmi_before"] for p in tp),
            "nmi_after_mean": _mean(p["nmi_after"] for p in tp),
            "ncc_before_mean": _mean(p["ncc_before"] for p in tp),
            "ncc_after_mean": _mean(p["ncc_after"] for p in tp),
        }
    rot = [abs(u["motion"]["rotation_deg"]) for u in units if u["motion"]]
    shift = [float(np.hypot(u["motion"]["shift_x_vox"], u["motion"]["shift_y_vox"])) for u in units if u["motion"]]
    truth = [u["truth"] for u in units if u.get("truth")]
    slice_units = [u for u in units if u["kind"] == "slice"]
    volume_units = [u for u in units if u["kind"] == "volume"]
    return {
        "pairs": len(pairs),
        "units": {"slice": len(slice_units), "volume": len(volume_units)},
        "status": status,
        "units_by_source": source,
        "nmi_before_mean": _mean(p["nmi_before"] for p in pairs),
        "nmi_after_mean": _mean(p["nmi_after"] for p in pairs),
        "ncc_before_mean": _mean(p["ncc_before"] for p in pairs),
        "ncc_after_mean": _mean(p["ncc_after"] for p in pairs),
        "candidate_rotation_deg_abs": {"mean": _mean(rot), "max": max(rot) if rot else None},
        "candidate_centre_shift_vox": {"mean": _mean(shift), "max": max(shift) if shift else None},
        "seconds_total": seconds,
        "seconds_per_2d_pair": _mean(u["seconds"] for u in slice_units),
        "seconds_per_volume": _mean(u["seconds"] for u in volume_units),
        "per_task": per_task,
        **({"truth": {
            "units": len(truth),
            "rotation_error_deg": {"mean": _mean(x["rotation_error_deg"] for x in truth),
                                   "max": max(x["rotation_error_deg"] for x in truth)},
            "shift_error_vox": {"mean": _mean(x["shift_error_vox"] for x in truth),
                                "max": max(x["shift_error_vox"] for x in truth)},
        }} if truth else {}),
    }


def _batches(units: list[Unit], task: list[str], case_id: list[str], consensus: bool
             ) -> list[tuple[str | None, list[int]]]:
    """Processing order: each volume alone; with ``consensus`` the 2-D slice units of one (task, case) together
    (key ``task/case``, refined by :func:`refine_group` after all are aligned), else each slice alone."""
    batches: list[tuple[str | None, list[int]]] = []
    groups: dict[str, list[int]] = {}
    for j, u in enumerate(units):
        if u.kind == "slice" and consensus:
            key = f"{task[u.rows[0]]}/{case_id[u.rows[0]]}"
            if key not in groups:
                groups[key] = []
                batches.append((key, groups[key]))
            groups[key].append(j)
        else:
            batches.append((None, [j]))
    return batches


def _consensus_json(c: dict | None) -> dict:
    """The slice's consensus record for reg_transform (parameters and accept NMI, without the long reason)."""
    if c is None:
        return {}
    keep = {k: c[k] for k in ("group", "slices", "status", "note", "accept_nmi", "chosen") if k in c}
    if "transform" in c:
        keep["parameters"] = c["transform"]["parameters"]
        keep["angles_deg"] = c["transform"].get("angles_deg")
    return {"case_consensus": keep}


def _record(t: _Table, unit: Unit, images: UnitImages, info: dict, out: UnitOutcome, cfg: RegisterParams,
            new_images: tuple[list, list, list], row_out: list) -> dict:
    """Write the unit's rows (new B / Cb / Cr where registered, metrics, transform JSON); return its report."""
    new_b, new_cb, new_cr = new_images
    per_row_seconds = out.seconds / len(unit.rows)
    pair_ids = [t.col["pair_id"][i] for i in unit.rows]
    # unit_nmi_*: the accept/reject NMI (A and B blurred by unit_nmi_blur_vox), which never drops;
    # unit_raw_nmi_*: the plain NMI, which interpolation of a noisy B may lower a little (align.py)
    applied = {**out.applied, "unit": unit.key, "unit_kind": unit.kind, "source": out.source,
               "unit_nmi_before": out.accept_nmi_before, "unit_nmi_after": out.accept_nmi_after,
               "unit_nmi_blur_vox": cfg.accept_sigma_vox,
               "unit_raw_nmi_before": out.nmi_before, "unit_raw_nmi_after": out.nmi_after,
               **_consensus_json(out.consensus)}
    if out.status == "kept_original":
        applied["kept_original_reason"] = out.reason
    elif out.source != "own":
        applied["reason"] = out.reason
    applied_json = json.dumps(_finite(applied), sort_keys=True)
    for k, i in enumerate(unit.rows):
        kk = k if unit.kind == "volume" else None
        m = _row_metrics(images, out, kk, cfg.nmi_bins)
        pick = (lambda arr: None if arr is None else (arr[k] if kk is not None else arr))
        if out.status == "registered":
            new_b[i] = encode_image(pick(out.b))
            new_cb[i] = None if out.b_cb is None else encode_image(pick(out.b_cb))
            new_cr[i] = None if out.b_cr is None else encode_image(pick(out.b_cr))
        row_out[i] = {"pair_id": pair_ids[k], "unit": unit.key, "status": out.status, **m,
                      "seconds": per_row_seconds, "transform": applied_json}
    i0 = unit.rows[0]
    dy, dx = t.in_plane_spacing(i0)
    centre_xy = ((t.col["width"][i0] - 1) / 2.0 * dx, (t.col["height"][i0] - 1) / 2.0 * dy)
    truth = truth_error(out.applied_motion, t.meta[i0], centre_xy, (dx, dy))
    return {
        "key": unit.key, "kind": unit.kind, "pairs": pair_ids, "note": unit.note, **info,
        "status": out.status, "source": out.source, "reason": out.reason,
        "nmi_before": out.nmi_before, "nmi_after": out.nmi_after, "candidate_nmi": out.candidate_nmi,
        "accept_nmi_before": out.accept_nmi_before, "accept_nmi_after": out.accept_nmi_after,
        "accept_nmi_candidate": out.accept_nmi_candidate,
        "ncc_before": out.ncc_before, "ncc_after": out.ncc_after,
        "transform": out.applied, "candidate": out.candidate, "motion": out.motion,
        "applied_motion": out.applied_motion, "consensus": out.consensus,
        "max_displacement_vox": out.max_displacement_vox, "optimiser": out.optimiser,
        "seconds": out.seconds, **({"truth": truth} if truth else {}),
    }


#: what a worker process aligns from (set before the pool forks, so the table is shared, not pickled)
_WORK: dict = {}


def _align_batch(batch: tuple[str | None, list[int]]) -> tuple[list[int], list, list[UnitOutcome]]:
    """Align one batch (a volume, a slice, or a (task, case) group refined by case consensus)."""
    group, members = batch
    t, units, cfg = _WORK["table"], _WORK["units"], _WORK["cfg"]
    loaded = [_unit_images(t, units[j], cfg) for j in members]
    outs = [align_unit(images, cfg) for images, _ in loaded]
    if group is not None:
        outs = refine_group(group, [im for im, _ in loaded], outs, cfg)
    return members, loaded, outs


def _aligned_batches(t: _Table, units: list[Unit], batches: list[tuple[str | None, list[int]]],
                     cfg: RegisterParams):
    """Yield ``(members, loaded, outcomes)`` per batch, in order, from ``cfg.workers`` processes.  Every unit
    is deterministic (fixed metric seed, one ITK thread), so the output does not depend on the worker count."""
    _WORK.update(table=t, units=units, cfg=cfg)
    try:
        workers = min(cfg.workers, len(batches))
        if workers <= 1:
            yield from map(_align_batch, batches)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        # largest batches first would balance better, but order keeps the progress bar and memory simple;
        # groups are at most one case (tens of slices), so the tail is short
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            yield from pool.map(_align_batch, batches, chunksize=1)
    finally:
        _WORK.clear()


def run(cfg: RegisterParams, pairs_in: str | Path = PAIRS_IN, pairs_out: str | Path = PAIRS_OUT,
        report: str | Path = REPORT, progress: bool = True) -> RegisterResult:
    t_start = time.perf_counter()
    table = read_pairs(pairs_in)
    if len(table) == 0:
        raise InputError(f"{pairs_in}: the pair table has no rows; nothing to register (the previous outputs stay)")
    t = _Table(table)
    n = len(table)
    units = build_units(t.col["task"], t.col["case_id"], t.col["slice"], t.col["source_a"], t.meta, cfg.mode)
    new_b: list = [None] * n
    new_cb: list = [None] * n
    new_cr: list = [None] * n
    row_out: list[dict | None] = [None] * n
    unit_reports: list[dict | None] = [None] * len(units)
    bar = tqdm(total=len(units), desc="register", unit="unit", disable=not progress, mininterval=2.0)
    batches = _batches(units, t.col["task"], t.col["case_id"], cfg.case_consensus)
    for members, loaded, outs in _aligned_batches(t, units, batches, cfg):
        bar.update(len(members))
        bar.set_postfix(status=outs[-1].status[:4], nmi=f"{outs[-1].nmi_after:.3f}")
        for j, (images, info), out in zip(members, loaded, outs):
            unit_reports[j] = _record(t, units[j], images, info, out, cfg, (new_b, new_cb, new_cr), row_out)
    bar.close()

    def replaced(column: str, new: list) -> pa.Array:
        old = table.column(column).to_pylist()
        return pa.array([nv if (row_out[i]["status"] == "registered") else old[i] for i, nv in enumerate(new)],
                        pa.binary())

    cols = {"b": replaced("b", new_b), "b_cb": replaced("b_cb", new_cb), "b_cr": replaced("b_cr", new_cr)}
    for key, name in (("nmi_before", "reg_nmi_before"), ("nmi_after", "reg_nmi_after"),
                      ("ncc_before", "reg_ncc_before"), ("ncc_after", "reg_ncc_after"),
                      ("seconds", "reg_seconds")):
        cols[name] = pa.array([r[key] for r in row_out], pa.float32())
    cols["reg_transform"] = pa.array([r["transform"] for r in row_out], pa.string())
    cols["reg_status"] = pa.array([r["status"] for r in row_out], pa.string())
    for name, arr in cols.items():
        table = table.set_column(table.schema.get_field_index(name), name, arr)
    pairs = [{k: v for k, v in r.items() if k != "transform"} | {"transform": json.loads(r["transform"])}
             for r in row_out]
    summary = _summary(unit_reports, pairs, t.col["task"], time.perf_counter() - t_start)
    report = Path(report)
    with publish.staged("register", pairs_out, report) as staged:       # both files or neither
        write_pairs(table, staged[pairs_out])
        staged[report].write_text(json.dumps(_finite({"input": str(pairs_in), "output": str(pairs_out),
                                                      "params": to_dict(cfg), "summary": summary,
                                                      "units": unit_reports, "pairs": pairs}),
                                             indent=1, allow_nan=False, default=_json_default) + "\n")
    return RegisterResult(Path(pairs_out), report, summary)


def _finite(value):
    """NaN/inf -> None so the report is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


@stage_entry("register")
def main(argv: list[str] | None = None) -> int:
    args, params = stage_main_args("Register B onto A for every pair (SimpleITK, Mattes MI).", argv)
    cfg = section(params, RegisterParams, "register")
    res = run(cfg)
    s = res.summary
    nmi = ("" if s["nmi_before_mean"] is None
           else f"; mean NMI {s['nmi_before_mean']:.4f} -> {s['nmi_after_mean']:.4f}")
    if "truth" in s:
        tr = s["truth"]
        nmi += (f"; vs known misalignment: rotation error max {tr['rotation_error_deg']['max']:.3f} deg, "
                f"shift error max {tr['shift_error_vox']['max']:.3f} voxel")
    print(f"register: {s['pairs']} pairs in {s['units']['slice']} 2-D units and {s['units']['volume']} volumes; "
          f"status {s['status']}{nmi}; wrote {res.pairs_out} and {res.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

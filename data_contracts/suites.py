"""The expectation suites, defined in code, one per table.

``SUITES`` maps a table name to a builder ``(frame, ValidateParams, size, context) -> list[Expectation]``;
``context`` carries facts from outside the table (split names, tasks and row count of the registered table):

* ``registered_pairs``: ``data/registered/pairs.parquet``: schema and types, ids, allowed tasks and
  modalities, image sizes (B at ``1/b_scale`` of A, one ``b_scale`` per task) and intensities, finiteness,
  non-constant images, chroma rules, registration quality;
* ``split_tables``: the train/val/test tables concatenated with a ``split`` column: the same row contract
  plus the split labels, no case in two splits, every task in every split, and no pair lost or duplicated
  relative to the registered table.

Every expectation carries a ``description`` (the rule in words; Data Docs shows it) so a failure message can
say what was broken.
"""
from __future__ import annotations

from typing import Callable

import great_expectations as gx
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from data_contracts.config import ValidateParams
from data_contracts.frames import IMAGE_COLUMNS, derived_columns
from pipelines.schema import B_COLUMNS, PAIR_SCHEMA

E = gx.expectations
#: ``meta`` of a row-level expectation: each row is judged on its own, and the registered table's failing rows are
#: quarantined (data_contracts.quarantine) rather than stopping the pipeline; every other expectation is
#: table-level (schema, types, ids, allowed tasks, sizes, split rules) and fails the contract
ROW = {"scope": "row"}
NON_NULL = ("pair_id", "task", "case_id", "slice", "modality_a", "modality_b", "height", "width", "b_scale",
            "source_a", "source_b", "sha256_a", "sha256_b")
REG_NON_NULL = ("reg_nmi_before", "reg_nmi_after", "reg_ncc_before", "reg_ncc_after", "reg_seconds",
                "reg_transform", "reg_status")


def expected_columns(with_split: bool) -> list[str]:
    base = [n for n in PAIR_SCHEMA.names if n not in IMAGE_COLUMNS and n != "spacing_mm"]
    return base + (["split"] if with_split else []) + derived_columns(with_split)


def expected_dtypes() -> dict[str, str]:
    """pandas dtype names the pair schema's scalar columns convert to (pyarrow -> pandas)."""
    cols = [n for n in PAIR_SCHEMA.names if n not in IMAGE_COLUMNS and n != "spacing_mm"]
    empty = PAIR_SCHEMA.empty_table().select(cols).to_pandas()
    return {c: str(t) for c, t in empty.dtypes.items()}


def _present(col: str):
    return Column(f"{col}_present") == True  # noqa: E712  (a GX condition object, not a Python comparison)


def row_contract(p: ValidateParams, size: int, with_split: bool) -> list:
    ex = [
        E.ExpectTableRowCountToBeBetween(min_value=1, description="the table has at least one pair"),
        E.ExpectTableColumnsToMatchSet(column_set=expected_columns(with_split), exact_match=True,
                                       description="schema: exactly the pair-table columns (images as derived "
                                                   "facts), nothing missing, nothing extra"),
    ]
    ex += [E.ExpectColumnValuesToBeOfType(column=c, type_=t, description=f"type: {c} is {t}")
           for c, t in expected_dtypes().items()]
    ex += [E.ExpectColumnValuesToNotBeNull(column=c, description=f"{c} is always set")
           for c in NON_NULL + REG_NON_NULL]
    ex += [
        E.ExpectColumnValuesToBeUnique(column="pair_id", description="pair_id is unique"),
        E.ExpectColumnPairValuesToBeEqual(column_A="pair_id", column_B="pair_id_expected",
                                          description="pair_id is <task>/<case_id>/<slice>"),
        E.ExpectColumnValuesToBeInSet(column="task", value_set=list(p.tasks),
                                      description=f"task is one of {list(p.tasks)}"),
        E.ExpectColumnValuesToBeInSet(column="modality_a", value_set=list(p.modalities_a),
                                      description=f"modality A is one of {list(p.modalities_a)}"),
        E.ExpectColumnValuesToBeInSet(column="modality_b", value_set=list(p.modalities_b),
                                      description=f"modality B is one of {list(p.modalities_b)}"),
        E.ExpectColumnValuesToBeInSet(column="height", value_set=[size], description=f"height == data.size ({size})"),
        E.ExpectColumnValuesToBeInSet(column="width", value_set=[size], description=f"width == data.size ({size})"),
        E.ExpectColumnValuesToBeBetween(column="b_n_pixels", min_value=1,
                                        description="b_scale r >= 1 divides height and width (B, Cb, Cr at "
                                                    "(height/r) x (width/r): multi-resolution pairs)"),
        E.ExpectColumnValuesToBeBetween(column="task_n_b_scales", min_value=1, max_value=1,
                                        description="one B resolution (b_scale) per task: a model is trained "
                                                    "for one r"),
        E.ExpectColumnValuesToBeBetween(column="spacing_min_mm", min_value=0, strict_min=True, meta=ROW,
                                        description="pixel spacing, where known, is positive"),
    ]
    for col in ("a", "b"):
        ex += [E.ExpectColumnValuesToBeInSet(column=f"{col}_present", value_set=[True],
                                             description=f"image {col} is present")]
    for col in IMAGE_COLUMNS:
        cond = None if col in ("a", "b") else _present(col)
        where = "" if cond is None else " (where present)"
        at_b = col in B_COLUMNS
        ex += [
            E.ExpectColumnPairValuesToBeEqual(column_A=f"{col}_n_values", column_B="b_n_pixels" if at_b else "n_pixels",
                                              row_condition=cond,
                                              description=f"{col} holds "
                                                          + ("(height/b_scale)*(width/b_scale)" if at_b
                                                             else "height*width") + f" float32 values{where}",
                                              meta=ROW),
            E.ExpectColumnValuesToBeInSet(column=f"{col}_finite", value_set=[True], row_condition=cond,
                                          description=f"{col} has no NaN or inf{where}", meta=ROW),
            E.ExpectColumnValuesToBeBetween(column=f"{col}_min", min_value=0.0,
                                            description=f"{col} intensities >= 0{where}", meta=ROW),
            E.ExpectColumnValuesToBeBetween(column=f"{col}_max", max_value=1.0,
                                            description=f"{col} intensities <= 1{where}", meta=ROW),
        ]
    ex += [E.ExpectColumnValuesToBeBetween(column=f"{col}_std", min_value=p.min_std,
                                           description=f"{col} is not constant (std >= {p.min_std:g})", meta=ROW)
           for col in ("a", "b")]
    ex += [
        E.ExpectColumnPairValuesToBeEqual(column_A="b_cb_present", column_B="b_cr_present",
                                          description="Cb and Cr are both present or both absent", meta=ROW),
        E.ExpectColumnValuesToBeInSet(column="modality_b", value_set=list(p.colour_modalities),
                                      row_condition=_present("b_cb"),
                                      description=f"only pseudo-colour modalities {list(p.colour_modalities)} "
                                                  "carry Cb/Cr", meta=ROW),
        E.ExpectColumnValuesToBeBetween(column="b_chroma_dev", min_value=p.min_chroma,
                                        description="stored Cb/Cr carry colour (max |C - 0.5| >= "
                                                    f"{p.min_chroma:g}): grey B keeps no chroma", meta=ROW),
        E.ExpectColumnValuesToBeInSet(column="reg_status", value_set=list(p.reg_status),
                                      description=f"registration status is one of {list(p.reg_status)}", meta=ROW),
        E.ExpectColumnValuesToBeBetween(column="reg_nmi_after", min_value=p.min_nmi_after,
                                        description=f"registered NMI(A, B) >= validate.min_nmi_after "
                                                    f"({p.min_nmi_after:g})", meta=ROW),
        E.ExpectColumnValuesToBeBetween(column="reg_ncc_after", min_value=p.min_ncc_after,
                                        description=f"registered NCC(A, B) >= validate.min_ncc_after "
                                                    f"({p.min_ncc_after:g})", meta=ROW),
        E.ExpectColumnValuesToNotBeNull(column="reg_unit_nmi_after",
                                        description="reg_transform records the NMI of the registration unit",
                                        meta=ROW),
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="reg_unit_nmi_after", column_B="reg_unit_nmi_before",
                                                  or_equal=True,
                                                  description="registration never lowers NMI (of its unit: the "
                                                              "pair, or the whole volume for a 3-D case)",
                                                  meta=ROW),
        E.ExpectColumnValuesToBeBetween(column="reg_seconds", min_value=0.0,
                                        description="registration time is recorded and non-negative", meta=ROW),
        E.ExpectColumnValuesToBeJsonParseable(column="reg_transform", description="reg_transform is JSON",
                                              meta=ROW),
    ]
    return ex


def registered_pairs(frame: pd.DataFrame, p: ValidateParams, size: int, context: dict) -> list:
    return row_contract(p, size, with_split=False)


def split_tables(frame: pd.DataFrame, p: ValidateParams, size: int, context: dict) -> list:
    tasks = sorted(context.get("tasks") or (set(frame["task"].dropna()) if "task" in frame else set()))
    splits = list(context.get("splits") or ["train", "val", "test"])
    required = list(context.get("required_splits") or splits)
    ex = row_contract(p, size, with_split=True)
    ex += [
        E.ExpectColumnValuesToBeInSet(column="split", value_set=splits, description=f"split is one of {splits}"),
        E.ExpectColumnValuesToBeBetween(column="case_n_splits", min_value=1, max_value=1,
                                        description="no case in two splits (rows whose (task, case_id) "
                                                    "appears in more than one split)"),
        E.ExpectColumnDistinctValuesToContainSet(column="task_split",
                                                 value_set=[f"{t}:{s}" for t in tasks for s in required],
                                                 description="every task is present in every split with a "
                                                             f"positive fraction {required} (task:split pairs)"),
    ]
    if context.get("registered_rows") is not None:
        ex.append(E.ExpectTableRowCountToEqual(value=int(context["registered_rows"]),
                                               description="the splits hold exactly the registered pairs "
                                                           "(nothing lost or duplicated)"))
    return ex


SUITES: dict[str, Callable[[pd.DataFrame, ValidateParams, int, dict], list]] = {
    "registered_pairs": registered_pairs,
    "split_tables": split_tables,
}

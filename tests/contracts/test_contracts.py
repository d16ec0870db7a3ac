"""Data contracts (great-expectations): a clean table passes; each kind of violation is caught, named, and
shown with the offending row's pair_id.  Each GX run costs ~4 s of CPU, so tests with several runs are
marked slow."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_contracts import ValidateParams, check
from pipelines.schema import make_pair_id, rows_to_table, write_pairs
from pipelines.stages import validate as stage

SIZE = 16
P = ValidateParams()


def _img(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((SIZE, SIZE)).astype(np.float32)


def _row(task: str, case: str, k: int, colour: bool = False, **over) -> dict:
    mod_b = task.split("_")[1]
    row = dict(pair_id=make_pair_id(task, case, k), task=task, case_id=case, slice=k, modality_a="MRI",
               modality_b=mod_b, height=SIZE, width=SIZE, a=_img(k), b=_img(100 + k),
               b_cb=np.full((SIZE, SIZE), 0.7, np.float32) if colour else None,
               b_cr=np.full((SIZE, SIZE), 0.4, np.float32) if colour else None,
               spacing_mm=[1.0, 1.0], source_a=f"/x/{case}{k:03d}.png", source_b=f"/y/{case}{k:03d}.png",
               sha256_a="a" * 64, sha256_b="b" * 64, reg_nmi_before=1.1, reg_nmi_after=1.2, reg_ncc_before=0.3,
               reg_ncc_after=0.4, reg_seconds=0.1, reg_status="registered", meta={"format": "aanlib"},
               reg_transform='{"type": "rigid", "unit_nmi_after": 1.2, "unit_nmi_before": 1.1}')
    row.update(over)
    return row


def clean_rows() -> list[dict]:
    rows = []
    for task, colour in (("MRI_CT", False), ("MRI_PET", True)):
        for case in ("c1", "c2", "c3"):
            rows += [_row(task, case, k, colour) for k in range(2)]
    return rows


def _failures(result) -> dict[str, list]:
    """expectation description -> example pair_ids."""
    out = {}
    for e in result.report["expectations"]:
        if not e["success"]:
            out[e["rule"]] = [x.get("pair_id") if isinstance(x, dict) else x for x in e.get("examples", [])]
    return out


def test_clean_table_passes(tmp_path):
    res = check(rows_to_table(clean_rows()), "registered_pairs", P, SIZE, docs_dir=tmp_path / "docs")
    assert res.success, res.message
    assert res.report["statistics"]["evaluated_expectations"] > 40
    html = (tmp_path / "docs" / "index.html")
    assert html.exists()
    # every expectation is a real GX expectation that appears in the Data Docs
    pages = "".join(p.read_text(errors="ignore") for p in (tmp_path / "docs").rglob("*.html"))
    for rule in ("registration never lowers NMI", "a has no NaN or inf", "pair_id is unique", "b is not constant"):
        assert rule in pages, rule


def test_each_kind_of_row_violation_is_caught_with_its_pair_id():
    rows = clean_rows()
    bad = {}

    def inject(i: int, rule_fragment: str, **change):
        rows[i].update(change)
        bad[rule_fragment] = rows[i]["pair_id"] if "pair_id" not in change else change["pair_id"]

    a_nan = _img(1)
    a_nan[3, 3] = np.nan
    inject(0, "a has no NaN or inf", a=a_nan)
    inject(1, "b intensities <= 1", b=_img(2) * 1.5)
    inject(2, "a intensities >= 0", a=_img(3) - 0.5)
    inject(3, "task is one of", task="MRI_XX", pair_id="MRI_XX/c2/1")
    inject(4, "modality B is one of", modality_b="US")
    inject(5, "b is not constant", b=np.full((SIZE, SIZE), 0.5, np.float32))
    inject(6, "Cb and Cr are both present", b_cr=None)               # MRI_PET row: Cr dropped
    inject(7, "registered NMI(A, B) >=", reg_nmi_after=1.0, reg_nmi_before=0.9)
    inject(8, "registration never lowers NMI",
           reg_transform='{"type": "rigid", "unit_nmi_after": 1.05, "unit_nmi_before": 1.3}')
    inject(9, "registration status is one of", reg_status="failed")
    inject(10, "stored Cb/Cr carry colour", b_cb=np.full((SIZE, SIZE), 0.5, np.float32),
           b_cr=np.full((SIZE, SIZE), 0.5, np.float32))
    rows.append(_row("MRI_CT", "c9", 0, colour=True))                 # chroma on a grey modality
    bad["only pseudo-colour modalities"] = rows[-1]["pair_id"]
    rows.append(dict(rows[0], a=_img(5)))                             # duplicated pair_id
    bad["pair_id is unique"] = rows[0]["pair_id"]
    small = _row("MRI_CT", "c8", 0, a=np.zeros((4, 4), np.float32) + 0.3)
    rows.append(small)
    bad["a holds height*width float32 values"] = small["pair_id"]
    rows.append(_row("MRI_CT", "c7", 0, reg_status=None))
    bad["reg_status is always set"] = rows[-1]["pair_id"]
    res = check(rows_to_table(rows), "registered_pairs", P, SIZE)
    assert not res.success
    failures = _failures(res)
    for fragment, pair_id in bad.items():
        hits = [rule for rule in failures if fragment in rule]
        assert hits, f"violation '{fragment}' not caught; failures: {list(failures)}"
        assert any(pair_id in failures[r] for r in hits), (fragment, pair_id, [failures[r] for r in hits])
        assert fragment in res.message
    assert "pair_id=" in res.message                                  # example rows shown


@pytest.mark.slow
def test_size_and_schema_violations(tmp_path):
    table = rows_to_table(clean_rows())
    res = check(table, "registered_pairs", P, SIZE * 2)               # data.size changed, table not rebuilt
    assert not res.success and "height == data.size (32)" in res.message
    extra = table.append_column("foo", pa.array([1] * len(table)))
    res = check(extra, "registered_pairs", P, SIZE)
    assert "schema: exactly the pair-table columns" in res.message and "foo" in json.dumps(res.report)
    retyped = table.set_column(table.schema.get_field_index("slice"), "slice",
                               table.column("slice").cast(pa.int64()))
    res = check(retyped, "registered_pairs", P, SIZE)
    assert "type: slice is int32" in res.message
    missing = table.drop_columns(["b_cr"])
    res = check(missing, "registered_pairs", P, SIZE)
    assert "schema" in res.message and not res.success


def _split_tables(rows, assign):
    return {s: [r for r in rows if assign(r) == s] for s in ("train", "val", "test")}


def _write_splits(tmp_path, parts):
    for s, rows in parts.items():
        write_pairs(rows_to_table(rows) if rows else rows_to_table([]), tmp_path / "splits" / f"{s}.parquet")


def _run_splits(tmp_path, registered_rows):
    write_pairs(registered_rows, tmp_path / "registered.parquet")
    params = {"data": {"size": SIZE}}
    return stage.run("splits", params, registered=tmp_path / "registered.parquet", split_dir=tmp_path / "splits",
                     report=tmp_path / "validation_splits.json", docs_dir=tmp_path / "docs")


@pytest.mark.slow
def test_split_contract_clean_and_violations(tmp_path):
    rows = clean_rows()
    by_case = {"c1": "train", "c2": "val", "c3": "test"}
    _write_splits(tmp_path, _split_tables(rows, lambda r: by_case[r["case_id"]]))
    res = _run_splits(tmp_path, rows)
    assert res.success, res.message
    assert json.loads((tmp_path / "validation_splits.json").read_text())["success"] is True

    # a case in two splits: slice 1 of MRI_CT/c1 goes to test
    parts = _split_tables(rows, lambda r: "test" if r["pair_id"] == "MRI_CT/c1/1" else by_case[r["case_id"]])
    _write_splits(tmp_path, parts)
    res = _run_splits(tmp_path, rows)
    assert "no case in two splits" in res.message and "MRI_CT/c1/0" in res.message

    # a task missing from a split, and a row lost
    parts = _split_tables(rows, lambda r: by_case[r["case_id"]])
    parts["val"] = [r for r in parts["val"] if r["task"] != "MRI_PET"]
    _write_splits(tmp_path, parts)
    res = _run_splits(tmp_path, rows)
    assert "every task is present in every split" in res.message and "MRI_PET:val" in res.message
    assert "nothing lost or duplicated" in res.message


@pytest.mark.slow
def test_validate_stage_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"data: {{size: {SIZE}}}\n")
    assert stage.main([]) == 2
    assert "data/registered/pairs.parquet: table not found" in capsys.readouterr().err
    write_pairs(clean_rows(), tmp_path / "data/registered/pairs.parquet")
    assert stage.main([]) == 0
    assert json.loads((tmp_path / "reports/validation.json").read_text())["success"] is True
    assert (tmp_path / "reports/data_docs/pairs/index.html").exists()
    rows = clean_rows()
    rows[0]["b"] = _img(9) + 2.0
    write_pairs(rows, tmp_path / "data/registered/pairs.parquet")
    assert stage.main([]) == 1
    err = capsys.readouterr().err
    assert "expect_column_values_to_be_between(column=b_max" in err and "pair_id=MRI_CT/c1/0" in err
    assert json.loads((tmp_path / "reports/validation.json").read_text())["success"] is False

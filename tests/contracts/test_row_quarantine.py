"""Row-level expectations quarantine the rows that miss them (issue 13 §5): one real Harvard pair with
reg_nmi_after 1.0158 < 1.02 used to stop the whole pipeline.  Now the row goes to data/validated/quarantine.parquet
with the rule it broke and its value, the rest goes on to the split stage, and the contract fails only when more
than ``validate.max_quarantine_fraction`` of a task's rows are quarantined, or a table-level rule fails."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.schema import read_pairs, write_pairs
from pipelines.stages import split as split_stage
from pipelines.stages import validate as stage
from test_contracts import SIZE, _row

ROOT = Path(__file__).resolve().parents[2]
HARVARD = ROOT.parent / "shared" / "data" / "harvard_dev"


def _table(bad: int) -> list[dict]:
    """24 MRI_CT pairs (4 cases x 6) and 6 MRI_PET pairs; ``bad`` MRI_CT pairs end below min_nmi_after."""
    rows = [_row("MRI_CT", f"c{c}", k) for c in range(4) for k in range(6)]
    rows += [_row("MRI_PET", f"p{c}", k, colour=True) for c in range(3) for k in range(2)]
    for i in range(bad):
        rows[5 * i + 1].update(reg_nmi_after=1.0, reg_nmi_before=1.0)
    return rows


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"data: {{size: {SIZE}}}\nvalidate: {{max_quarantine_fraction: 0.05}}\n")
    return tmp_path


def test_one_bad_row_is_quarantined_and_the_rest_goes_on(workdir, capsys):
    write_pairs(_table(bad=1), workdir / "data/registered/pairs.parquet")
    assert stage.main([]) == 0                                      # 1 of 24 MRI_CT rows: 4.2 % <= 5 %
    out = capsys.readouterr().out
    assert "1 of 30 pairs quarantined" in out and "MRI_CT/c0/1" in out
    held = pq.read_table(workdir / "data/validated/quarantine.parquet").to_pylist()
    assert len(held) == 1 and held[0]["stage"] == "validate" and held[0]["task"] == "MRI_CT"
    assert held[0]["reason"].startswith("MRI_CT/c0/1: registered NMI(A, B) >= validate.min_nmi_after (1.02)")
    assert "reg_nmi_after=1.0" in held[0]["reason"] and held[0]["source_a"] == "/x/c0001.png"
    validated = read_pairs(workdir / "data/validated/pairs.parquet")
    assert len(validated) == 29 and "MRI_CT/c0/1" not in validated.column("pair_id").to_pylist()
    report = json.loads((workdir / "reports/validation.json").read_text())
    assert report["success"] and report["quarantine"]["pairs"] == 1
    assert report["quarantine"]["per_task"]["MRI_CT"] == {"quarantined": 1, "rows": 24, "fraction": round(1 / 24, 6)}
    assert report["data_docs"] == "reports/data_docs/pairs/index.html"
    res = split_stage.run(split_stage.SplitParams())                # the split stage reads the validated table
    assert res.summary["pairs"] == 29


@pytest.mark.slow
def test_more_than_the_allowed_fraction_fails_and_removes_the_validated_table(workdir, capsys):
    write_pairs(_table(bad=0), workdir / "data/registered/pairs.parquet")
    assert stage.main([]) == 0 and (workdir / "data/validated/pairs.parquet").exists()
    write_pairs(_table(bad=2), workdir / "data/registered/pairs.parquet")
    assert stage.main([]) == 1                                      # 2 of 24: 8.3 % > 5 %
    err = capsys.readouterr().err
    assert "fail 2 of 24 MRI_CT pairs (8.3% > validate.max_quarantine_fraction 5.0%)" in err
    assert "registered NMI(A, B) >= validate.min_nmi_after" in err
    assert not (workdir / "data/validated/pairs.parquet").exists()  # split cannot run on a failed table
    assert len(pq.read_table(workdir / "data/validated/quarantine.parquet")) == 2
    assert stage.main(["--set", "validate.max_quarantine_fraction=0.1"]) == 0


@pytest.mark.slow
@pytest.mark.skipif(not HARVARD.is_dir(), reason=f"real Harvard data not here ({HARVARD}); CI has none")
@pytest.mark.parametrize("size, quarantined", [(256, ["MRI_PET/25/110"]), (128, [])])
def test_real_harvard_pair_below_the_nmi_floor_is_quarantined(tmp_path, monkeypatch, size, quarantined):
    """The slice that stopped the 256 px pipeline (case 25, slice 110 of MRI_PET: NMI 1.0158) with its 4
    neighbours, through ingest -> register -> validate.  Five slices instead of the task's 269, so the allowed
    fraction is raised to 25 % (the whole 711-pair run passes at the default 5 %: see docs/data_pipeline.md)."""
    from pipelines.stages import ingest, register
    src = tmp_path / "src" / "MRI_PET"
    for mod in ("MRI", "PET"):
        (src / mod).mkdir(parents=True)
        for k in range(106, 111):
            shutil.copy(HARVARD / "MRI_PET" / mod / f"25{k}.png", src / mod)
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    common = ["--set", f"data.size={size}"]
    assert ingest.main([*common, "--set", "data.source.kind=aanlib", "--set", f"data.source.path={src.parent}",
                        "--set", "ingest.progress=false"]) == 0
    assert register.main(["--set", "register.workers=1"]) == 0
    assert stage.main([*common, "--set", "validate.max_quarantine_fraction=0.25"]) == 0
    held = pq.read_table(tmp_path / "data/validated/quarantine.parquet").to_pylist()
    assert [h["reason"].split(":")[0] for h in held] == quarantined
    for h in held:
        assert "validate.min_nmi_after" in h["reason"] and "reg_nmi_after=1.015" in h["reason"]
    assert len(read_pairs(tmp_path / "data/validated/pairs.parquet")) == 5 - len(quarantined)

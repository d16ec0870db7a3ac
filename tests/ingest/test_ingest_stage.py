"""The ingest stage: outputs and schema, --set overrides, errors, the CLI, and the real Harvard data."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines import cli
from pipelines.schema import PAIR_SCHEMA, QUARANTINE_SCHEMA, read_pairs, read_quarantine, table_images
from pipelines.stages import ingest

ROOT = Path(__file__).resolve().parents[2]
HARVARD = ROOT.parent / "shared" / "data" / "harvard_dev"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stage_on_an_aanlib_folder_writes_the_schema(workdir, phantom_sets, small, capsys):
    rc = ingest.main(["--set", "data.source.kind=aanlib", "--set", f"data.source.path={phantom_sets['aanlib']}",
                      "--set", "data.size=32", "--set", "ingest.progress=false"])
    assert rc == 0
    table = read_pairs(workdir / "data/ingested/pairs.parquet")
    assert table.schema.equals(PAIR_SCHEMA, check_metadata=False)
    assert len(table) == small.cases * small.slices * len(small.tasks)
    imgs = table_images(table, "b")
    assert imgs.shape[1:] == (32, 32) and imgs.min() >= 0.0 and imgs.max() <= 1.0
    assert set(table.column("height").to_pylist()) == {32}
    chroma = table.column("b_cb").is_null().to_pylist()
    assert [c for c, m in zip(chroma, table.column("modality_b").to_pylist()) if m in ("PET", "SPECT")] == \
        [False] * (2 * small.cases * small.slices)
    q = read_quarantine(workdir / "data/ingested/quarantine.parquet")
    assert len(q) == 0 and q.schema.equals(QUARANTINE_SCHEMA, check_metadata=False)
    summary = json.loads((workdir / "data/ingested/summary.json").read_text())
    assert summary["pairs"] == len(table) and summary["quarantined"] == 0
    out = capsys.readouterr().out
    assert "MRI_CT" in out and "quarantine" in out


def test_stage_writes_the_quarantine_with_reasons(workdir, phantom_copy, small):
    root = phantom_copy("aanlib")
    (root / "MRI_CT" / "CT" / "junk.txt").write_text("x")
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["data"]["source"] = {"kind": "aanlib", "path": str(root)}
    params["ingest"]["progress"] = False
    result = ingest.run(params)
    assert result.n_quarantined == 1 and result.inputs == result.n_pairs + 1
    q = pq.read_table(result.quarantine_path).to_pylist()
    assert q[0]["stage"] == "ingest" and "junk.txt" in q[0]["reason"] and q[0]["task"] == "MRI_CT"


def test_phantom_source_generates_then_reads_through_the_real_reader(workdir, small):
    rc = ingest.main(["--set", "phantom.cases=1", "--set", "phantom.slices=2", "--set", "phantom.format=nifti",
                      "--set", "phantom.tasks=[MRI_CT]", "--set", "data.size=32", "--set", "ingest.progress=false"])
    assert rc == 0
    assert (workdir / "data/phantom/nifti/ph01/CT.nii.gz").exists()
    table = read_pairs(workdir / "data/ingested/pairs.parquet")
    assert table.column("pair_id").to_pylist() == ["MRI_CT/ph01/0", "MRI_CT/ph01/1"]
    meta = json.loads(table.column("meta")[0].as_py())
    assert meta["format"] == "nifti" and "true_rotation_deg" in meta


@pytest.mark.parametrize("override, message", [
    ("data.source.kind=tiff", "data.source.kind"),
    ("ingest.colour=1", "unknown key"),
    ("data.size=abc", "data.size"),
    ("data.source.path=/some/where", "only read for kind"),
])
def test_bad_settings_exit_2_with_a_message(workdir, override, message, capsys):
    assert ingest.main(["--set", override]) == 2
    assert message in capsys.readouterr().err


def test_missing_source_folder_exits_2(workdir, capsys):
    assert ingest.main(["--set", "data.source.kind=dicom", "--set", "data.source.path=/no/such/dir"]) == 2
    assert "/no/such/dir" in capsys.readouterr().err


def test_cli_phantom_command(tmp_path, capsys):
    out = tmp_path / "ph"
    assert cli.main(["phantom", "--out", str(out), "--format", "aanlib", "--cases", "1", "--slices", "1",
                     "--tasks", "MRI_PET", "--color", "off"]) == 0
    png = out / "MRI_PET" / "PET" / "ph01000.png"
    from PIL import Image
    assert Image.open(png).mode == "L"                       # --color off: grey PET
    assert json.loads((out / "truth.json").read_text())["cases"]["ph01"]["misalignment"]["center_mm"]
    assert cli.main(["phantom", "--out", str(out), "--cases", "1"]) == 2    # not empty, no --overwrite
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HARVARD.is_dir(), reason=f"{HARVARD} (real Harvard pairs, not shipped) is not present")
def test_harvard_dev_ingests_with_nothing_quarantined(workdir):
    rc = ingest.main(["--set", "data.source.kind=aanlib", "--set", f"data.source.path={HARVARD}",
                      "--set", "ingest.progress=false"])
    assert rc == 0
    table = read_pairs(workdir / "data/ingested/pairs.parquet")
    assert len(table) == 711 and len(read_quarantine(workdir / "data/ingested/quarantine.parquet")) == 0
    manifest = {(r["task"], r["name"]): r for r in csv.DictReader(open(HARVARD / "manifest.csv"))}
    rows = table.select(["task", "case_id", "slice", "meta", "sha256_a", "sha256_b", "b_cb"]).to_pylist()
    for row in rows:
        m = manifest[(row["task"], json.loads(row["meta"])["name"])]
        assert (row["case_id"], row["slice"]) == (m["case_id"], int(m["slice"]))
        assert (row["sha256_a"], row["sha256_b"]) == (m["sha256_mri"], m["sha256_func"])
        assert (row["b_cb"] is not None) == (row["task"] != "MRI_CT")
    cases = {t: len({r["case_id"] for r in rows if r["task"] == t}) for t in ("MRI_CT", "MRI_PET", "MRI_SPECT")}
    assert cases == {"MRI_CT": 8, "MRI_PET": 3, "MRI_SPECT": 13}
    assert np.isfinite(table_images(table.slice(0, 5), "a")).all()

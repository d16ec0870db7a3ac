"""Every row of the bad-input table (tests/reliability/bad_inputs.py) behaves as the table says, and
docs/bad_input.md shows that table.

stderr cases: the exit code is 2 and stderr is exactly one line, ``<prog>: error: ...``, holding the fragment
(never a traceback).  quarantine cases: ingest exits 0 and a row of data/ingested/quarantine.parquet carries the
fragment.  validated cases: validate exits 0 and data/validated/quarantine.parquet carries it.  Each case runs the
stage's or the CLI's ``main`` in a fresh working directory (what ``python -m`` / the console script call).
"""
from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).resolve().parent
TRAINING_TESTS = HERE.parent / "training"
for p in (HERE, TRAINING_TESTS):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import bad_inputs  # noqa: E402
from training_fixtures import blob_pair, toy_loop_config, write_split_dir  # noqa: E402


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict:
    from pipelines.imaging.io import write_png
    from pipelines.phantom.generate import PhantomParams, generate_formats
    from pipelines.training.loop import run_in_process
    d = tmp_path_factory.mktemp("bad_input_assets")
    out = {f: d / f for f in ("aanlib", "dicom", "nifti")}
    generate_formats(out, PhantomParams(cases=1, seed=3, slices=3, tasks=["MRI_CT", "MRI_PET"]), progress=False)
    out["splits"] = write_split_dir(d / "splits")
    run_in_process(toy_loop_config(out["splits"], steps=2, val_every=2, checkpoint_every=2), d / "ck")
    out["ckpt"] = d / "ck" / "step_00000002" / "checkpoint.pt"
    data = out["ckpt"].read_bytes()
    out["damaged"] = d / "damaged.pt"
    out["damaged"].write_bytes(data[: len(data) // 2])
    a, b = blob_pair(np.random.default_rng(0), 32)
    out["pngs"] = d / "pngs"
    for sub, img in (("a", a), ("b", b), ("colour", np.stack([b, 0.5 * b, a], -1))):
        write_png(out["pngs"] / sub / "s1.png", img)
    out["a"], out["b"], out["colour"] = (out["pngs"] / s / "s1.png" for s in ("a", "b", "colour"))
    return out


def _main(entry: str):
    if entry == "medfuse":
        return importlib.import_module("pipelines.cli").main
    if "." in entry:
        return importlib.import_module(entry).main
    return importlib.import_module(f"pipelines.stages.{entry}").main


def _run(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:                   # argparse's own errors end the process (exit code 2)
        return int(exc.code)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else [])
                                  for c in bad_inputs.CASES])
def test_bad_input(case, assets, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = case.setup(work, assets)
    capsys.readouterr()
    rc = _run(_main(case.entry), argv)
    err = capsys.readouterr().err
    assert rc == case.exit_code, (rc, err)
    assert "Traceback" not in err
    if case.where == "stderr":
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert ": error: " in lines[0] and case.fragment in lines[0], lines[0]
        return
    table = {"quarantine": "data/ingested/quarantine.parquet",
             "validated": "data/validated/quarantine.parquet"}[case.where]
    reasons = pq.read_table(work / table).column("reason").to_pylist()
    assert any(case.fragment in r for r in reasons), reasons


def test_docs_page_shows_the_table():
    text = bad_inputs.DOC.read_text()
    assert bad_inputs.doc_table(text) == bad_inputs.render(), (
        "docs/bad_input.md is out of date: run .venv/bin/python tests/reliability/bad_inputs.py --write")


def test_every_case_id_is_unique():
    ids = [c.id for c in bad_inputs.CASES]
    assert len(ids) == len(set(ids))

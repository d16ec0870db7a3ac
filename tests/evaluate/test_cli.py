"""medfuse score / medfuse baseline: outputs, CSV columns, bad input -> exit 2 naming the file."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "fusion_metrics"
CORE = ["EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "CC", "PSNR", "MSE"]


@pytest.fixture
def folders(tmp_path):
    d = {k: tmp_path / k for k in ("fused", "a", "b")}
    for p in d.values():
        p.mkdir()
    for pair in ("phantom_edges", "dark_sparse"):
        shutil.copy(DATA / f"{pair}_A.png", d["a"] / f"{pair}.png")
        shutil.copy(DATA / f"{pair}_B.png", d["b"] / f"{pair}.png")
        shutil.copy(DATA / f"{pair}_F_mean.png", d["fused"] / f"{pair}.png")
    return d


def test_score_prints_means_and_writes_csv_in_exact_column_order(folders, tmp_path, capsys):
    out = tmp_path / "s.csv"
    rc = main(["score", "--fused", str(folders["fused"]), "--a", str(folders["a"]), "--b", str(folders["b"]),
               "--csv", str(out)])
    assert rc == 0
    rows = list(csv.reader(out.open()))
    header = rows[0]
    assert header[:13] == ["name", *CORE]
    assert header[13] == "Nabf" and "MI_A" in header and "VIF_B" in header
    expected = {r["pair"]: r for r in csv.DictReader((DATA / "expected.csv").open()) if r["fusion"] == "mean"}
    for r in rows[1:]:
        for i, col in enumerate(CORE, start=1):
            assert float(r[i]) == pytest.approx(float(expected[r[0]][col]), rel=1e-5)
    text = capsys.readouterr().out
    printed = dict(line.split() for line in text.splitlines()[1:] if len(line.split()) == 2)
    for col in CORE:
        mean = np.mean([float(expected[p][col]) for p in ("phantom_edges", "dark_sparse")])
        assert printed[col] == f"{mean:.2f}", col


def test_score_reports_nan_scd_explicitly(folders, capsys):
    shutil.copy(DATA / "dark_sparse_A.png", folders["fused"] / "dark_sparse.png")    # F == A
    assert main(["score", "--fused", str(folders["fused"]), "--a", str(folders["a"]), "--b", str(folders["b"])]) == 0
    out = capsys.readouterr().out
    assert "SCD: 1 of 2 images gave NaN" in out


def test_score_missing_partner_exit_2_names_file(folders, capsys):
    (folders["b"] / "dark_sparse.png").unlink()
    rc = main(["score", "--fused", str(folders["fused"]), "--a", str(folders["a"]), "--b", str(folders["b"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "dark_sparse.png" in err[0] and "no partner" in err[0]


def test_score_size_mismatch_and_unreadable_exit_2(folders, capsys):
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(folders["a"] / "dark_sparse.png")
    rc = main(["score", "--fused", str(folders["fused"]), "--a", str(folders["a"]), "--b", str(folders["b"])])
    err = capsys.readouterr().err
    assert rc == 2 and "dark_sparse.png" in err and "differs" in err
    (folders["a"] / "dark_sparse.png").write_bytes(b"garbage")
    rc = main(["score", "--fused", str(folders["fused"]), "--a", str(folders["a"]), "--b", str(folders["b"])])
    err = capsys.readouterr().err
    assert rc == 2 and "dark_sparse.png" in err and "not a readable image" in err


def test_baseline_writes_pngs_grey_and_colour(folders, tmp_path):
    rgb = np.zeros((256, 256, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[64:128, 64:128, 2] = 255
    Image.fromarray(rgb).save(folders["b"] / "dark_sparse.png")
    out = tmp_path / "out"
    assert main(["baseline", "--method", "max", "--a-dir", str(folders["a"]), "--b-dir", str(folders["b"]),
                 "--out-dir", str(out)]) == 0
    grey = np.asarray(Image.open(out / "phantom_edges.png"))
    a = np.asarray(Image.open(folders["a"] / "phantom_edges.png")).astype(float)
    b = np.asarray(Image.open(folders["b"] / "phantom_edges.png")).astype(float)
    np.testing.assert_array_equal(grey, np.maximum(a, b))
    colour = Image.open(out / "dark_sparse.png")
    assert colour.mode == "RGB"


def test_baseline_bad_method_and_missing_partner_exit_2(folders, tmp_path, capsys):
    assert main(["baseline", "--method", "nope", "--a-dir", str(folders["a"]), "--b-dir", str(folders["b"]),
                 "--out-dir", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
    (folders["b"] / "phantom_edges.png").unlink()
    assert main(["baseline", "--method", "mean", "--a-dir", str(folders["a"]), "--b-dir", str(folders["b"]),
                 "--out-dir", str(tmp_path / "o")]) == 2
    assert "phantom_edges.png" in capsys.readouterr().err

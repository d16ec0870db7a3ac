"""Our metrics vs the reference evaluator's values (tests/data/fusion_metrics/expected.csv, 16 rows)."""
import math

import numpy as np
import pytest
import torch

from pipelines.metrics import CORE_COLUMNS, aggregate, score_batch, score_pair

REL_TOL = 1e-5
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="needs a CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
def test_all_rows_all_metrics_match_expected(expected_rows, device):
    F, A, B = (torch.from_numpy(np.stack([r[k] for r in expected_rows])).to(device) for k in (1, 2, 3))
    got = score_batch(F, A, B, metrics=list(CORE_COLUMNS))
    checked = 0
    for i, (row, *_imgs) in enumerate(expected_rows):
        for col in CORE_COLUMNS:
            exp = float(row[col])
            val = got[col][i]
            if math.isnan(exp):
                assert math.isnan(val), f"{row['pair']}/{row['fusion']} {col}: expected NaN, got {val}"
                continue
            assert abs(val - exp) <= REL_TOL * abs(exp), f"{row['pair']}/{row['fusion']} {col}: {val} vs {exp}"
            checked += 1
    assert checked == 16 * 12 - 4            # the four a_only rows have NaN SCD


def test_scd_nan_rows_are_exactly_the_a_only_rows(expected_rows):
    for row, F, A, B in expected_rows:
        v = score_pair(F, A, B, metrics=["SCD"])["SCD"]
        assert math.isnan(v) == (row["fusion"] == "a_only")


def test_aggregate_reports_scd_nan_explicitly(expected_rows):
    F = np.stack([r[1] for r in expected_rows])
    A = np.stack([r[2] for r in expected_rows])
    B = np.stack([r[3] for r in expected_rows])
    summary = aggregate(score_batch(F, A, B, metrics=["SCD", "EN"]))
    assert summary["SCD_nan_count"] == 4
    assert summary["n_images"] == 16
    finite = [float(r[0]["SCD"]) for r in expected_rows if r[0]["fusion"] != "a_only"]
    assert summary["SCD"] == pytest.approx(np.mean(finite), rel=1e-6)
    assert "EN_nan_count" not in summary

"""The data contract knows multi-resolution pairs: ``b_scale`` r, B / Cb / Cr at (height/r) x (width/r), one r
per task.  One GX run per test (~4 s each)."""
import numpy as np

from data_contracts import ValidateParams, check
from pipelines.schema import rows_to_table
from test_contracts import SIZE, _failures, clean_rows

R = 4


def _low(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((SIZE // R, SIZE // R)).astype(np.float32)


def multires_rows() -> list[dict]:
    rows = clean_rows()
    for i, row in enumerate(rows):
        if row["task"] == "MRI_PET":                      # the PET task at 1/4: B, Cb, Cr all at 4x4
            row.update(b_scale=R, b=_low(200 + i), b_cb=np.full((SIZE // R,) * 2, 0.7, np.float32),
                       b_cr=np.full((SIZE // R,) * 2, 0.4, np.float32))
    return rows


def test_multires_table_passes_and_each_violation_is_named(tmp_path):
    ok = check(rows_to_table(multires_rows()), "registered_pairs", ValidateParams(), SIZE)
    assert ok.success, ok.message
    rows = multires_rows()
    pet = [i for i, r in enumerate(rows) if r["task"] == "MRI_PET"]
    rows[pet[0]]["b"] = np.random.default_rng(1).random((SIZE, SIZE)).astype(np.float32)  # B at A's size, r = 4
    rows[pet[1]]["b_scale"] = 3                                                            # 3 does not divide 16
    ct = next(i for i, r in enumerate(rows) if r["task"] == "MRI_CT")
    rows[ct].update(b_scale=2, b=np.random.default_rng(2).random((SIZE // 2,) * 2).astype(np.float32))
    res = check(rows_to_table(rows), "registered_pairs", ValidateParams(), SIZE)
    assert not res.success
    failures = _failures(res)

    def caught(fragment: str, pair_id: str | None = None) -> None:
        hits = [rule for rule in failures if fragment in rule]
        assert hits, (fragment, list(failures))
        if pair_id is not None:
            assert any(pair_id in failures[r] for r in hits), (fragment, pair_id, [failures[r] for r in hits])

    caught("b holds (height/b_scale)*(width/b_scale) float32 values", rows[pet[0]]["pair_id"])
    caught("b_scale r >= 1 divides height and width", rows[pet[1]]["pair_id"])
    caught("one B resolution (b_scale) per task", rows[ct]["pair_id"])

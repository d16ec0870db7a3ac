"""The fast batched metrics vs the literal per-image reference loop (tests/metrics/reference_impl.py)."""
import numpy as np
import pytest
from conftest import random_triplet

import reference_impl as ref
from pipelines.metrics import score_batch, score_pair

REL_TOL = 1e-5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_core_metrics_and_nabf_match_reference_loop(seed):
    rng = np.random.default_rng(seed)
    F, A, B = random_triplet(rng, (64, 72))
    got = score_pair(F, A, B)
    for name, fn in {**ref.METRICS, "Nabf": ref.Nabf}.items():
        exp = fn(F, A, B)
        assert got[name] == pytest.approx(exp, rel=REL_TOL, abs=1e-12), name


def test_fmi_matches_reference_loop_pixel_feature():
    rng = np.random.default_rng(3)
    F, A, B = random_triplet(rng, (14, 13))
    A[:, :5] = F[:, :5]                             # identical windows -> the fmi = 1 branch
    got = score_pair(F, A, B, metrics=["FMI_pixel"])
    assert got["FMI_pixel"] == pytest.approx(ref.FMI(F, A, B), rel=REL_TOL)
    assert got["FMI_pixel"] == pytest.approx((got["FMI_pixel_A"] + got["FMI_pixel_B"]) / 2)


def test_fmi_dct_and_wavelet_are_bounded_and_one_for_identical_images():
    rng = np.random.default_rng(4)
    F, A, B = random_triplet(rng, (24, 24))
    res = score_pair(F, A, B, metrics=["FMI_dct", "FMI_w"])
    for k in ("FMI_dct", "FMI_w"):
        assert 0.0 < res[k] <= 1.0
    same = score_pair(F, F, F, metrics=["FMI_dct", "FMI_pixel"])
    assert same["FMI_dct"] == 1.0 and same["FMI_pixel"] == 1.0


def test_batched_equals_per_pair():
    rng = np.random.default_rng(5)
    trip = [random_triplet(rng, (48, 48)) for _ in range(3)]
    F, A, B = (np.stack([t[k] for t in trip]) for k in range(3))
    batched = score_batch(F, A, B)
    for i, (f, a, b) in enumerate(trip):
        single = score_pair(f, a, b)
        for k, v in single.items():
            assert batched[k][i] == pytest.approx(v, rel=1e-12, abs=1e-12), k


def test_ssim_255_variant_matches_skimage():
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(6)
    F, A, B = random_triplet(rng)
    got = score_pair(F, A, B, metrics=["SSIM"], options={"SSIM": {"data_range": 255}})
    exp = structural_similarity(F, A, data_range=255) + structural_similarity(F, B, data_range=255)
    assert got["SSIM"] == pytest.approx(exp, rel=1e-9)
    assert got["SSIM"] != pytest.approx(score_pair(F, A, B, metrics=["SSIM"])["SSIM"], rel=1e-3)


def test_unknown_option_is_rejected():
    z = np.zeros((16, 16))
    with pytest.raises(ValueError, match="unknown option"):
        score_batch(z, z, z, metrics=["SSIM"], options={"SSIM": {"window": 11}})

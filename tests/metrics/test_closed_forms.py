"""Closed-form and property checks of single metrics."""
import math

import numpy as np
import pytest
import torch
from conftest import random_triplet

from pipelines.metrics import fused_to_255, nrmse, quantize_255, score_pair
from pipelines.metrics.filters import box_sum_valid, filter_valid, gaussian_1d


def test_entropy_of_constant_is_zero_and_of_two_equal_halves_is_one_bit():
    z = np.zeros((32, 32))
    assert score_pair(z + 77, z, z, metrics=["EN"])["EN"] == 0.0
    half = np.zeros((32, 32))
    half[:, 16:] = 255
    assert score_pair(half, z, z, metrics=["EN"])["EN"] == pytest.approx(1.0)


def test_sd_sf_ag_known_values():
    z = np.zeros((32, 32))
    half = np.zeros((32, 32))
    half[:, 16:] = 255
    r = score_pair(half, z, z, metrics=["SD", "SF", "AG"])
    assert r["SD"] == pytest.approx(127.5)
    # one column step of 255 in each of 32 rows: row-diff mean = 32*255^2/(32*31)
    assert r["SF"] == pytest.approx(math.sqrt(255 ** 2 / 31))
    # np.gradient: columns 15 and 16 get 127.5 -> sqrt(127.5^2/2) in 2 of 32 columns
    assert r["AG"] == pytest.approx(2 / 32 * 127.5 / math.sqrt(2))


def test_identical_fused_and_source_gives_ssim_part_one_and_mi_symmetry():
    rng = np.random.default_rng(0)
    F, A, B = random_triplet(rng)
    r = score_pair(F, F, B, metrics=["SSIM", "MI", "CC", "MSE"])
    assert r["SSIM_A"] == pytest.approx(1.0, abs=1e-12)
    assert r["CC_A"] == pytest.approx(1.0)
    assert r["MSE_A"] == 0.0
    swapped = score_pair(B, F, F, metrics=["MI"])
    assert swapped["MI_A"] == pytest.approx(r["MI_B"], rel=1e-12)      # MI(F,B) == MI(B,F)
    # MI(F, F) is the entropy of F in nats
    en_bits = score_pair(F, F, F, metrics=["EN"])["EN"]
    assert r["MI_A"] == pytest.approx(en_bits * math.log(2), rel=1e-9)


def test_scd_nan_when_fused_equals_a_source():
    rng = np.random.default_rng(1)
    F, A, B = random_triplet(rng)
    assert math.isnan(score_pair(B, A, B, metrics=["SCD"])["SCD"])
    assert not math.isnan(score_pair(F, A, B, metrics=["SCD"])["SCD"])


def test_vif_of_copying_a_source_is_at_least_one():
    rng = np.random.default_rng(2)
    F, A, B = random_triplet(rng)
    r = score_pair(A, A, B, metrics=["VIF"])
    assert r["VIF_A"] == pytest.approx(1.0)
    assert r["VIF"] >= 1.0


def test_psnr_uses_max_of_fused_image():
    A = np.full((16, 16), 100.0)
    F = A + 10.0
    r = score_pair(F, A, A, metrics=["PSNR", "MSE"])
    assert r["MSE"] == pytest.approx(100.0)
    assert r["PSNR"] == pytest.approx(10 * math.log10(110.0 ** 2 / 100.0))


def test_nrmse_matches_skimage():
    from skimage.metrics import normalized_root_mse
    rng = np.random.default_rng(3)
    t = rng.random((20, 30))
    p = t + rng.normal(0, 0.1, t.shape)
    for norm in ("euclidean", "min-max", "mean"):
        assert nrmse(p, t, norm) == pytest.approx(normalized_root_mse(t, p, normalization=norm), rel=1e-12)
    with pytest.raises(ValueError, match="normalization"):
        nrmse(p, t, "bogus")


def test_filters_equal_scipy_convolve2d():
    from scipy.signal import convolve2d
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, (2, 70, 90)).astype(np.float64)
    Xt = torch.from_numpy(X)
    for n in (17, 9, 5, 3):
        g = gaussian_1d(n, n / 5)
        for step in (1, 2):
            exp = np.stack([convolve2d(x, np.outer(g, g), mode="valid")[::step, ::step] for x in X])
            got = filter_valid(Xt, g, step)
            assert got.shape == exp.shape
            np.testing.assert_allclose(got.numpy(), exp, rtol=1e-12, atol=1e-9)
    exp = np.stack([convolve2d(x, np.ones((7, 7)), mode="valid") for x in X])
    np.testing.assert_array_equal(box_sum_valid(Xt, 7).numpy(), exp)                  # exact on integers
    np.testing.assert_array_equal(box_sum_valid(Xt.float(), 7).double().numpy(), exp)  # float32 too


def test_blocked_separable_pads_with_zeros_zeroes_the_tail_and_stays_exact():
    """Odd sizes need padded rows/columns; the padding is zero (a NaN there would poison every output of a
    band product, 0 * nan = nan), the blocked result holds every valid output exactly once with every other
    position exactly 0, and the step-2 result equals scipy's filter-then-subsample."""
    from scipy.signal import convolve2d

    from pipelines.metrics.filters import BlockedSeparable
    rng = np.random.default_rng(7)
    X = torch.from_numpy(rng.random((2, 3, 37, 53)) * 255)
    g = gaussian_1d(9, 9 / 5)
    sb = BlockedSeparable(2, 3, 37, 53, 9, 2, torch.float64, X.device)
    sb.buf.view(-1)[:1] = 0                                          # touch: nothing below relies on empty()
    jf, rem = divmod(37, sb.R)
    assert sb.buf.shape[-1] > 53 and (sb.buf[..., 53:] == 0).all()
    assert (sb.buf[:, rem:, jf] == 0).all() and (sb.buf[:, :, jf + 1:] == 0).all()
    sb.write_images(X)
    out = sb.filter(g)
    assert torch.isfinite(out).all()
    exp = np.stack([[convolve2d(x, np.outer(g, g), mode="valid")[::2, ::2] for x in img] for img in X.numpy()])
    nat = sb.natural(out)
    assert nat.shape == exp.shape
    np.testing.assert_allclose(nat.numpy(), exp, rtol=1e-12)
    assert out.abs().sum().item() == pytest.approx(np.abs(exp).sum(), rel=1e-12)   # the rest is exactly 0
    assert int((out != 0).sum()) == exp.size
    np.testing.assert_array_equal(sb.filter(g, per_image=False).numpy(), out.numpy())   # the GPU layout of work
    with pytest.raises(ValueError, match="smaller than"):
        BlockedSeparable(1, 1, 8, 40, 9, 1, torch.float64, X.device)
    with pytest.raises(ValueError, match="taps"):
        sb.filter(gaussian_1d(5, 1.0))


def test_fused_to_255_stretch_and_rounding():
    f = np.array([[0.2, 0.4], [0.6, 0.3]])
    out = fused_to_255(f, stretch=True)
    np.testing.assert_array_equal(out, [[0.0, 128.0], [255.0, 64.0]])     # 127.5 -> 128, 63.75 -> 64
    np.testing.assert_array_equal(quantize_255(np.array([0.5, 1.5, 2.5, -3.0, 300.0])), [0, 2, 2, 0, 255])
    np.testing.assert_array_equal(fused_to_255(np.array([[0.5, 1.2]]), stretch=False), [[128.0, 255.0]])
    np.testing.assert_array_equal(fused_to_255(np.full((2, 2), 0.3)), np.zeros((2, 2)))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shapes differ"):
        score_pair(np.zeros((16, 16)), np.zeros((16, 17)), np.zeros((16, 16)))
    with pytest.raises(ValueError, match="H, W"):
        score_pair(np.zeros(16), np.zeros(16), np.zeros(16))


def test_vif_of_small_images_follows_scipy_and_impossible_shapes_raise():
    """Under 41x41 the coarse scales are smaller than their window; scipy's 'valid' convolution then swaps
    its inputs, and the reference's VIF includes those terms, so ours must too."""
    import reference_impl as ref
    rng = np.random.default_rng(8)
    for shape in ((40, 40), (33, 35), (24, 24)):
        x = [np.round(rng.random(shape) * 255) for _ in range(3)]
        assert score_pair(*x, metrics=["VIF"])["VIF"] == pytest.approx(ref.VIF(*x), rel=1e-10)
    x = [np.round(rng.random((20, 50)) * 255) for _ in range(3)]
    with pytest.raises(ValueError, match="do not fit inside each other"):
        score_pair(*x, metrics=["VIF"])


def test_integer_pixel_moments_are_exact():
    """On integer images the centred sums come from exact integer arithmetic: compare with Python integers."""
    from fractions import Fraction

    from pipelines.metrics.batch import Triplet
    from pipelines.metrics.moments import A_, F_, F_MINUS_B, pixel_moments
    rng = np.random.default_rng(12)
    F, A, B = (rng.integers(0, 256, (40, 50)) for _ in range(3))
    m = pixel_moments(Triplet(F.astype(float), A.astype(float), B.astype(float)))
    P = F.size

    def centred(x, y):            # sum((x - mean x)(y - mean y)) as an exact fraction
        return Fraction(int((x * y).sum()) * P - int(x.sum()) * int(y.sum()), P)
    assert float(m.gram[0, F_, F_]) == float(centred(F, F))
    assert float(m.gram[0, A_, F_MINUS_B]) == float(centred(A, F - B))
    assert float(m.gram[0, F_MINUS_B, F_MINUS_B]) == float(centred(F - B, F - B))
    assert float(m.mean[0, F_MINUS_B]) == float(Fraction(int((F - B).sum()), P))
    same = pixel_moments(Triplet(B.astype(float), A.astype(float), B.astype(float)))
    assert float(same.gram[0, F_MINUS_B, F_MINUS_B]) == 0.0                   # F == B: SCD's exact 0/0


def test_vif_sum_log_equals_the_sum_of_logs_padded_or_not_and_falls_back_out_of_range():
    from pipelines.metrics.vif import sum_log
    rng = np.random.default_rng(5)
    for n in (7, 16, 100, 57600):                              # below one group, exact groups, padded groups
        t = torch.from_numpy(1.0 + rng.random((2, 2, n)) * 8128.0)
        np.testing.assert_allclose(sum_log(t).numpy(), t.log().sum(dim=-1).numpy(), rtol=1e-13)
    big = torch.full((1, 1, 32), 2.0 ** 70, dtype=torch.float64)  # 16 such factors would overflow float64
    assert torch.isfinite(sum_log(big)).all()
    np.testing.assert_allclose(sum_log(big).numpy(), big.log().sum(dim=-1).numpy(), rtol=1e-13)

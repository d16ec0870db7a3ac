"""VIF's fused CPU kernel (numba) against the torch path and the reference loop (tests/metrics/reference_impl)."""
import numpy as np
import pytest
import torch

import reference_impl as ref
from conftest import random_triplet
from pipelines.metrics import kernels
from pipelines.metrics.batch import Triplet
from pipelines.metrics.vif import WINDOWS, vifp_mscale, vifp_mscale_torch


def _both(F, A, B):
    t = Triplet(np.stack(F), np.stack(A), np.stack(B))
    return kernels.vifp_mscale(t.A.numpy(), t.B.numpy(), t.F.numpy(), WINDOWS), vifp_mscale_torch(t).numpy()


def test_kernel_equals_torch_path_and_reference_on_the_reference_pairs(expected_rows):
    F, A, B = zip(*[(f, a, b) for _, f, a, b in expected_rows])
    kernel, torch_path = _both(F, A, B)
    np.testing.assert_allclose(kernel, torch_path, rtol=1e-9, atol=1e-12)
    for (row, f, a, b), k in zip(expected_rows, kernel):
        assert k[0] + k[1] == pytest.approx(float(row["VIF"]), rel=1e-5)
        assert k[0] == pytest.approx(ref.vifp_mscale(a, f), rel=1e-9)


@pytest.mark.parametrize("shape", [(61, 75), (256, 256), (97, 45)])
def test_kernel_equals_torch_path_on_odd_sizes_and_non_integer_images(shape):
    rng = np.random.default_rng(sum(shape))
    F, A, B = random_triplet(rng, shape)
    A = A + rng.random(shape) * 0.5                    # non-integer values
    kernel, torch_path = _both([F], [A], [B])
    np.testing.assert_allclose(kernel, torch_path, rtol=1e-9, atol=1e-12)
    assert kernel[0, 1] == pytest.approx(ref.vifp_mscale(B, F), rel=1e-9)


def test_constant_images_give_the_references_nan_to_one_and_zero_terms():
    z = np.zeros((64, 64))
    ramp = np.tile(np.arange(64.0) * 4, (64, 1))
    kernel, torch_path = _both([z, ramp], [z, z], [ramp, ramp])
    np.testing.assert_array_equal(kernel[0], [1.0, 0.0])      # A = F = 0: 0/0 -> 1.0; F flat under B: 0
    np.testing.assert_allclose(kernel, torch_path, rtol=1e-9, atol=1e-12)


def test_large_values_flush_the_log_products_instead_of_overflowing():
    rng = np.random.default_rng(3)
    F, A, B = (x * 1e6 for x in random_triplet(rng, (64, 64)))   # factors up to ~1e22: products would overflow
    kernel, torch_path = _both([F], [A], [B])
    assert np.isfinite(kernel).all()
    np.testing.assert_allclose(kernel, torch_path, rtol=1e-9)


def test_small_images_use_the_torch_path_and_the_kernel_refuses_them():
    assert kernels.fits(61, 75, WINDOWS) and not kernels.fits(40, 40, WINDOWS)
    rng = np.random.default_rng(4)
    F, A, B = random_triplet(rng, (40, 40))
    t = Triplet(F[None], A[None], B[None])
    np.testing.assert_array_equal(vifp_mscale(t).numpy(), vifp_mscale_torch(t).numpy())
    with pytest.raises(ValueError, match="smaller than a scale's window"):
        kernels.vifp_mscale(A[None], B[None], F[None], WINDOWS)
    with pytest.raises(ValueError, match="must be equal"):
        kernels.vifp_mscale(A[None], B[None], F[None, :, :30], WINDOWS)


def test_cpu_batches_use_the_kernel_unless_switched_off(monkeypatch):
    rng = np.random.default_rng(5)
    F, A, B = random_triplet(rng, (64, 64))
    t = Triplet(F[None], A[None], B[None])
    expected = kernels.vifp_mscale(A[None], B[None], F[None], WINDOWS)
    np.testing.assert_array_equal(vifp_mscale(t).numpy(), expected)
    assert vifp_mscale(t).dtype == torch.float64
    monkeypatch.setattr(kernels, "ENABLED", False)
    np.testing.assert_array_equal(vifp_mscale(t).numpy(), vifp_mscale_torch(t).numpy())


@pytest.mark.parametrize("data_range", [2.0, 255.0])
def test_ssim_kernel_equals_torch_path_and_reference(expected_rows, data_range):
    from pipelines.metrics.ssim import _constants, ssim_pairs, ssim_pairs_torch
    rows = expected_rows[:6]
    F, A, B = (np.stack(x) for x in zip(*[(f, a, b) for _, f, a, b in rows]))
    t = Triplet(F, A, B)
    kernel = kernels.ssim_pairs(A, B, F, *_constants(data_range))
    np.testing.assert_allclose(kernel, ssim_pairs_torch(t, data_range).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(ssim_pairs(t, data_range).numpy(), kernel)        # the CPU uses the kernel
    for (row, f, a, b), k in zip(rows, kernel):
        if data_range == 2.0:
            assert k[0] + k[1] == pytest.approx(float(row["SSIM"]), rel=1e-5)
        assert k[0] + k[1] == pytest.approx(ref.SSIM(f, a, b, data_range=data_range), rel=1e-9)


def test_ssim_kernel_on_non_integer_odd_images_and_small_inputs():
    from pipelines.metrics.ssim import _constants, ssim_pairs, ssim_pairs_torch
    rng = np.random.default_rng(7)
    F, A, B = random_triplet(rng, (23, 31))
    A = A + rng.random(A.shape) * 0.3
    t = Triplet(F[None], A[None], B[None])
    np.testing.assert_allclose(kernels.ssim_pairs(A[None], B[None], F[None], *_constants(2.0)),
                               ssim_pairs_torch(t).numpy(), rtol=1e-9)
    np.testing.assert_array_equal(ssim_pairs(t).numpy(), kernels.ssim_pairs(A[None], B[None], F[None],
                                                                           *_constants(2.0)))
    with pytest.raises(ValueError, match="7x7"):                             # (Triplet needs >= 8x8 anyway)
        kernels.ssim_pairs(A[None, :6, :9], B[None, :6, :9], F[None, :6, :9], 1.0, 1.0)


def test_mi_kernel_equals_torch_path_and_sklearn(expected_rows):
    from sklearn.metrics import mutual_info_score
    from pipelines.metrics.information import mi
    rows = expected_rows[:6]
    F, A, B = (np.stack(x) for x in zip(*[(f, a, b) for _, f, a, b in rows]))
    t = Triplet(F, A, B)
    kernel = kernels.mutual_information(t.levels.numpy())
    np.testing.assert_array_equal(mi(t)["MI_A"].numpy(), kernel[:, 0])      # the CPU uses the kernel
    for (row, f, a, b), k in zip(rows, kernel):
        assert k[0] == pytest.approx(mutual_info_score(f.ravel(), a.ravel()), rel=1e-12)
        assert k[0] + k[1] == pytest.approx(float(row["MI"]), rel=1e-5)


def test_mi_kernel_edge_cases(monkeypatch):
    from pipelines.metrics.information import mi
    rng = np.random.default_rng(9)
    F, A, B = random_triplet(rng, (40, 50))
    const = np.full((40, 50), 7.0)
    t = Triplet(np.stack([F, const]), np.stack([A, const]), np.stack([F, B]))   # B = F; all-constant triplet
    kernel = kernels.mutual_information(t.levels.numpy())
    monkeypatch.setattr(kernels, "ENABLED", False)
    torch_path = mi(t)
    np.testing.assert_allclose(kernel[:, 0], torch_path["MI_A"].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kernel[:, 1], torch_path["MI_B"].numpy(), rtol=1e-12, atol=1e-12)
    assert kernel[1, 0] == 0.0 and kernel[0, 1] > kernel[0, 0]               # MI(F, F) = H(F) is the largest
    with pytest.raises(ValueError, match="0..255"):
        kernels.mutual_information(np.full((1, 3, 4), 256))


def test_qabf_kernel_equals_torch_path_and_reference(expected_rows, monkeypatch):
    """Same float32 operations in the same order, except arctan and exp: numpy's float32 ufuncs in the kernel
    (the reference evaluator's own calls), torch's in the torch path; they differ by up to 2 ulp on some
    elements: 1e-7 relative (the reference target is 1e-5)."""
    from pipelines.metrics.gradient import qabf
    F, A, B = (np.stack(x) for x in zip(*[(f, a, b) for _, f, a, b in expected_rows]))
    t = Triplet(F, A, B)
    kernel = qabf(t)["Qabf"].numpy()
    np.testing.assert_array_equal(kernel, kernels.qabf(t.work.numpy()))               # integer images: the kernel
    monkeypatch.setattr(kernels, "ENABLED", False)
    np.testing.assert_allclose(kernel, qabf(Triplet(F, A, B))["Qabf"].numpy(), rtol=1e-7)
    for (row, f, a, b), k in zip(expected_rows, kernel):
        assert k == pytest.approx(float(row["Qabf"]), rel=1e-5)
        assert k == pytest.approx(ref.Qabf(f, a, b), rel=1e-7)


def test_qabf_kernel_on_edge_cases_and_non_integer_images_use_torch(monkeypatch):
    from pipelines.metrics.gradient import qabf
    rng = np.random.default_rng(12)
    F, A, B = random_triplet(rng, (33, 47))
    flat = np.full_like(F, 9.0)
    t = Triplet(np.stack([F, flat, F]), np.stack([A, flat, flat]), np.stack([B, flat, F]))
    kernel = kernels.qabf(t.work.numpy())
    monkeypatch.setattr(kernels, "ENABLED", False)
    torch_path = qabf(t)["Qabf"].numpy()
    np.testing.assert_allclose(kernel, torch_path, rtol=1e-7, equal_nan=True)   # flat: 0/0, as the reference
    monkeypatch.setattr(kernels, "ENABLED", True)
    frac = Triplet(F[None] + 0.25, A[None], B[None])                           # not integral: torch path
    monkeypatch.setattr(kernels, "qabf", lambda *a: pytest.fail("kernel used on non-integer images"))
    assert np.isfinite(qabf(frac)["Qabf"].numpy()).all()

"""Torch inputs: the metrics run on the tensors' device without numpy, batched, with the same values as for
numpy input."""
import numpy as np
import pytest
import torch
from conftest import random_triplet

from pipelines.metrics import CORE_COLUMNS, METRICS, score_batch, score_pair
from pipelines.metrics.arrays import check_same_shape
from pipelines.metrics.batch import Triplet

DEFAULT_SET = [*CORE_COLUMNS, "Nabf"]


@pytest.fixture(scope="module")
def stacks(expected_rows):
    return tuple(np.stack([r[k] for r in expected_rows[:6]]) for k in (1, 2, 3))


def _assert_same(a: dict, b: dict, rel=1e-12, atol=1e-12):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rel, atol=atol, equal_nan=True, err_msg=k)


def test_tensor_input_gives_the_numpy_values(stacks):
    ref = score_batch(*stacks)
    got = score_batch(*(torch.from_numpy(x) for x in stacks))
    _assert_same(got, ref)
    for v in got.values():
        assert isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == (6,)


def test_float32_uint8_and_requires_grad_tensors_are_accepted(stacks):
    ref = score_batch(*stacks)
    _assert_same(score_batch(*(torch.from_numpy(x).float() for x in stacks)), ref)
    _assert_same(score_batch(*(torch.from_numpy(x).to(torch.uint8) for x in stacks)), ref)
    grad = [torch.from_numpy(x).float().requires_grad_(True) for x in stacks]
    _assert_same(score_batch(*grad), ref)


def test_batched_tensor_input_equals_per_pair():
    rng = np.random.default_rng(11)
    trip = [random_triplet(rng, (48, 56)) for _ in range(3)]
    F, A, B = (torch.from_numpy(np.stack([t[k] for t in trip])) for k in range(3))
    batched = score_batch(F, A, B, chunk=3)
    for i in range(3):
        single = score_pair(F[i], A[i], B[i])
        for k, v in single.items():
            assert batched[k][i] == pytest.approx(v, rel=1e-12, abs=1e-12, nan_ok=True), k


class _NoNumpy(torch.Tensor):
    """A tensor that refuses conversion to numpy for anything but the final per-image values (1-D)."""

    def numpy(self, *args, **kwargs):
        if self.ndim > 1:
            raise AssertionError(f"image data of shape {tuple(self.shape)} was converted to numpy")
        return super().numpy(*args, **kwargs)

    def __array__(self, *args, **kwargs):
        raise AssertionError("image data went through np.asarray")


def test_no_numpy_conversion_of_image_data(stacks, monkeypatch):
    """Every default family's torch path runs on the tensors themselves: only the (N,) results may reach
    numpy.  (The CPU kernels of VIF and SSIM, pipelines.metrics.kernels, read zero-copy numpy views of CPU
    tensors by design; they are switched off here so that the torch paths, the ones GPUs run, are checked.)"""
    from pipelines.metrics import kernels
    monkeypatch.setattr(kernels, "ENABLED", False)
    F, A, B = (torch.from_numpy(x).as_subclass(_NoNumpy) for x in stacks)
    with pytest.raises(AssertionError, match="converted to numpy"):
        F.numpy()                                                  # the guard itself works
    got = score_batch(F, A, B, metrics=DEFAULT_SET)
    _assert_same(got, score_batch(*stacks, metrics=DEFAULT_SET))


def test_families_return_float64_tensors_on_the_input_device(stacks):
    batch = Triplet(*(torch.from_numpy(x[:2]).float() for x in stacks))
    for name in DEFAULT_SET:
        out = METRICS.get(name).fn(batch)
        for col, v in out.items():
            assert isinstance(v, torch.Tensor), (name, col)
            assert v.device == batch.device and v.dtype == torch.float64 and v.shape == (2,), (name, col)


def test_meta_and_mixed_device_tensors_are_rejected():
    z = torch.zeros(2, 16, 16)
    meta = torch.zeros(2, 16, 16, device="meta")
    with pytest.raises(ValueError, match="'meta' device"):
        score_batch(meta, meta, meta)
    with pytest.raises(ValueError, match="different devices"):
        check_same_shape(z, z, meta)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_give_the_cpu_values(stacks):
    """rel 1e-8 / abs 1e-10: Qabf and Nabf evaluate arctan and exp in float32, as the reference does, and
    CUDA's float32 libm differs from the CPU's (SLEEF) by an ulp on some pixels: on an H200, Qabf differed by
    1.8e-9 relative and a near-zero Nabf (1.4e-4) by 6.6e-12 absolute; every other metric agreed to 1e-9."""
    ref = score_batch(*stacks)
    got = score_batch(*(torch.from_numpy(x).cuda() for x in stacks))
    _assert_same(got, ref, rel=1e-8, atol=1e-10)
    got32 = score_batch(*(torch.from_numpy(x).float().cuda() for x in stacks))
    _assert_same(got32, ref, rel=1e-8, atol=1e-10)

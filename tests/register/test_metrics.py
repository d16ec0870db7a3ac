"""NMI / NCC against closed forms."""
import math

import numpy as np
import pytest

from pipelines.registration.metrics import joint_histogram, ncc, nmi


def _levels(k: int, n: int = 64) -> np.ndarray:
    """k equally frequent grey levels, each in its own NMI bin (bin centres of a 64-bin histogram)."""
    idx = np.arange(n * n) % k
    return ((idx * (64 // k) + 0.5) / 64).reshape(n, n)


def test_nmi_of_an_image_with_itself_is_two():
    a = _levels(8)
    assert nmi(a, a) == pytest.approx(2.0, abs=1e-12)


def test_nmi_of_independent_images_is_one():
    # A varies along rows, B along columns: the joint histogram is the product of the marginals
    n = 64
    a = np.repeat(((np.arange(n) % 4) * 16 + 0.5)[:, None] / 64, n, axis=1)
    b = np.repeat(((np.arange(n) % 8) * 8 + 0.5)[None, :] / 64, n, axis=0)
    assert nmi(a, b) == pytest.approx(1.0, abs=1e-12)


def test_nmi_value_for_a_known_joint_distribution():
    # two binary images agreeing on 3/4 of the pixels: p = [[3/8, 1/8], [1/8, 3/8]]
    a = np.array([0.1] * 4 + [0.9] * 4)
    b = np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1])
    h = -(2 * 3 / 8 * math.log(3 / 8) + 2 * 1 / 8 * math.log(1 / 8))
    assert nmi(a.reshape(2, 4), b.reshape(2, 4), bins=2) == pytest.approx(2 * math.log(2) / h, rel=1e-12)


def test_nmi_ignores_a_bijective_relabelling_of_intensities():
    a = _levels(4)
    relabelled = 1.0 - a                     # different contrast, same information
    assert nmi(a, relabelled) == pytest.approx(2.0, abs=1e-12)


def test_mask_restricts_the_pixels():
    a = _levels(4)
    b = a.copy()
    b[:, 32:] = np.random.default_rng(0).random((64, 32))
    mask = np.zeros_like(a, bool)
    mask[:, :32] = True
    assert nmi(a, b, mask=mask) == pytest.approx(2.0, abs=1e-12)
    assert nmi(a, b) < 2.0


def test_joint_histogram_sums_to_one_and_clips_out_of_range_values():
    p = joint_histogram(np.array([[-0.5, 1.5]]), np.array([[0.0, 1.0]]), bins=4)
    assert p.sum() == pytest.approx(1.0)
    assert p[0, 0] == 0.5 and p[3, 3] == 0.5


def test_ncc_closed_forms():
    rng = np.random.default_rng(1)
    a = rng.random((32, 32))
    assert ncc(a, 0.3 * a + 0.2) == pytest.approx(1.0, abs=1e-12)
    assert ncc(a, 1.0 - a) == pytest.approx(-1.0, abs=1e-12)
    assert ncc(a, np.full_like(a, 0.5)) == 0.0
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 3.0, 2.0, 4.0])
    assert ncc(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="different shapes"):
        nmi(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="bins"):
        nmi(np.zeros((4, 4)), np.zeros((4, 4)), bins=1)
    with pytest.raises(ValueError, match="mask shape"):
        ncc(np.zeros((4, 4)), np.zeros((4, 4)), mask=np.ones((2, 2), bool))


def test_blurred_keeps_constants_and_sums_and_leaves_zero_sigma_axes_alone():
    from pipelines.registration.metrics import blurred
    assert np.allclose(blurred(np.full((9, 11), 0.3), 1.0), 0.3, atol=1e-12)
    impulse = np.zeros((41, 41))
    impulse[20, 20] = 1.0
    g = blurred(impulse, 2.0)
    assert g.sum() == pytest.approx(1.0, abs=1e-9)              # mass preserved (far from the edges)
    # separable Gaussian: the centre row is the 1-D kernel times its centre value, whose variance is sigma^2
    x = np.arange(41) - 20.0
    row = g[20] / g[20].sum()
    assert (row * x * x).sum() == pytest.approx(4.0, rel=0.02)
    stack = np.stack([np.full((8, 8), v) for v in (0.1, 0.5, 0.9)])
    assert np.array_equal(blurred(stack, (0.0, 1.5, 1.5)), stack)   # no blur across slices with sigma_z = 0
    assert np.array_equal(blurred(stack, 0.0), stack)
    with pytest.raises(ValueError, match="sigma_vox must be >= 0"):
        blurred(stack, (-1.0, 1.0, 1.0))

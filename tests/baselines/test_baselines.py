"""Classical baselines: exact cases, reconstruction properties, colour handling."""
import numpy as np
import pytest

from pipelines.baselines import BASELINES, fuse_colour
from pipelines.baselines.pca import pca_weights
from pipelines.imaging.color import rgb_to_ycbcr


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    from scipy.ndimage import gaussian_filter
    a = np.clip(gaussian_filter(rng.random((64, 64)), 2) * 2 - 0.5, 0, 1)
    b = np.clip(gaussian_filter(rng.random((64, 64)), 1) * 2 - 0.5, 0, 1)
    return a, b


def test_registry_has_every_baseline():
    assert set(BASELINES.names()) == {"mean", "max", "pca", "laplacian", "dwt", "guided", "return_a", "return_b"}
    with pytest.raises(KeyError, match="known"):
        BASELINES.get("nope")


def test_mean_max_and_trivial_are_exact(pair):
    a, b = pair
    np.testing.assert_array_equal(BASELINES.get("mean")(a, b), (a + b) / 2)
    np.testing.assert_array_equal(BASELINES.get("max")(a, b), np.maximum(a, b))
    np.testing.assert_array_equal(BASELINES.get("return_a")(a, b), a)
    np.testing.assert_array_equal(BASELINES.get("return_b")(a, b), b)


def test_pca_weights_known_cases(pair):
    a, b = pair
    assert pca_weights(a, a) == pytest.approx((0.5, 0.5))
    # uncorrelated images: the principal axis is the higher-variance image
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (100, 100))
    y = rng.normal(0, 0.01, (100, 100))
    wa, wb = pca_weights(x, y)
    assert wa > 0.98 and wa + wb == pytest.approx(1.0)
    assert pca_weights(np.ones((4, 4)), np.ones((4, 4))) == (0.5, 0.5)
    fused = BASELINES.get("pca")(a, b)
    wa, wb = pca_weights(a, b)
    np.testing.assert_allclose(fused, np.clip(wa * a + wb * b, 0, 1))


@pytest.mark.parametrize("name", ["laplacian", "dwt", "guided", "mean", "max", "pca"])
def test_fusing_an_image_with_itself_returns_it(pair, name):
    a, _ = pair
    np.testing.assert_allclose(BASELINES.get(name)(a, a), a, atol=1e-10)


def test_multiscale_baselines_keep_strong_details_of_both(pair):
    a = np.zeros((64, 64))
    b = np.zeros((64, 64))
    a[10:20, 10:20] = 1.0
    b[40:50, 40:50] = 1.0
    def edge_energy(x):
        return sum(float(np.sum(np.diff(x, axis=k) ** 2)) for k in (0, 1))
    mean_energy = edge_energy((a + b) / 2)                        # averaging halves every edge
    for name in ("laplacian", "dwt", "guided"):
        f = BASELINES.get(name)(a, b)
        assert edge_energy(f) > 1.5 * mean_energy, name
        assert f[30, 30] < 0.1, name


def test_batched_equals_per_image(pair):
    a, b = pair
    A = np.stack([a, b])
    B = np.stack([b, a])
    for name in BASELINES.names():
        fn = BASELINES.get(name)
        out = fn(A, B)
        assert out.shape == A.shape
        np.testing.assert_allclose(out[1], fn(b, a), atol=1e-12)
        assert out.min() >= 0 and out.max() <= 1


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        BASELINES.get("mean")(np.zeros((4, 4)), np.zeros((4, 5)))


def test_colour_b_is_fused_on_luma_and_keeps_its_chroma(pair):
    a, b = pair
    rgb = np.stack([b, b * 0.5, 1 - b], axis=-1)
    y, cb, cr = rgb_to_ycbcr(rgb)
    fused_y, fused_rgb = fuse_colour(BASELINES.get("mean"), a, rgb)
    np.testing.assert_allclose(fused_y, (a + y) / 2)
    y2, cb2, cr2 = rgb_to_ycbcr(fused_rgb)
    inside = (fused_rgb > 1e-6).all(-1) & (fused_rgb < 1 - 1e-6).all(-1)     # no clipping there
    np.testing.assert_allclose(y2[inside], fused_y[inside], atol=1e-9)
    np.testing.assert_allclose(cb2[inside], cb[inside], atol=1e-9)
    # return_b on colour gives B back exactly (round trip)
    _, back = fuse_colour(BASELINES.get("return_b"), a, rgb)
    np.testing.assert_allclose(back, rgb, atol=1e-9)

"""Kernel MMD: estimator closed forms, bandwidth convention, median heuristic, GMMN and MMD-GAN losses."""
import math

import pytest
import torch

import gan_models
from gan_models.losses.base import CriticOutput
from gan_models.losses.kernels import (gaussian_rbf_mmd2_closed_form, median_heuristic_sigma, pairwise_sq_dists,
                                       rbf_mixture, rbf_mmd2, rq_mmd2)
from gan_models.registry import LOSSES

gan_models.load_all()


def test_bandwidth_convention_is_exp_minus_d2_over_two_sigma2():
    x, y = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])            # ‖x − y‖² = 25
    k = rbf_mixture(pairwise_sq_dists(x, y), [5.0])
    assert float(k) == pytest.approx(math.exp(-25.0 / 50.0))
    assert float(rbf_mixture(pairwise_sq_dists(x, y), [5.0, 10.0])) == pytest.approx(
        math.exp(-0.5) + math.exp(-25.0 / 200.0))                   # mixtures are sums


def test_mmd_is_zero_for_identical_samples():
    x = torch.randn(32, 5)
    assert float(rbf_mmd2(x, x.clone())) == pytest.approx(0.0, abs=1e-6)
    assert float(rq_mmd2(x, x.clone())) == pytest.approx(0.0, abs=1e-6)
    # two independent samples of the same law: the unbiased estimator is ≈ 0 (and may be negative)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 3, generator=g, dtype=torch.float64), torch.randn(800, 3, generator=g, dtype=torch.float64)
    assert abs(float(rbf_mmd2(a, b, sigmas=[1.0], biased=False))) < 5e-3


@pytest.mark.parametrize("sigma,mu", [(1.0, (1.0, 0.5, 0.0)), (2.0, (2.0, -1.0, 0.5))])
def test_mmd_matches_the_gaussian_closed_form(sigma, mu):
    n, d, reps = 800, 3, 6
    mu = torch.tensor(mu, dtype=torch.float64)
    ref = gaussian_rbf_mmd2_closed_form(float(mu.pow(2).sum()), d, sigma)
    unbiased, gaps = [], []
    for seed in range(reps):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = torch.randn(n, d, generator=g, dtype=torch.float64) + mu
        u = float(rbf_mmd2(x, y, sigmas=[sigma], biased=False))
        unbiased.append(u)
        gaps.append(float(rbf_mmd2(x, y, sigmas=[sigma], biased=True)) - u)
    mean = sum(unbiased) / reps
    se = math.sqrt(sum((u - mean) ** 2 for u in unbiased) / (reps - 1) / reps)
    assert abs(mean - ref) < 4 * se + 1e-3, (mean, ref, se)
    # the biased V-statistic is larger by ≈ (2 − E k(x,x') − E k(y,y'))/n > 0
    assert all(0 < gap < 3.0 / n for gap in gaps)
    # a wrong convention (σ read as 2σ²) is far outside the error bars
    wrong = gaussian_rbf_mmd2_closed_form(float(mu.pow(2).sum()), d, math.sqrt(sigma / 2))
    assert abs(wrong - mean) > 8 * se + 1e-3


def test_median_heuristic():
    x = torch.tensor([[0.0], [1.0], [3.0]])        # squared distances 1, 9, 4 -> median 4 -> σ = √2
    assert median_heuristic_sigma(x) == pytest.approx(math.sqrt(2.0))
    with pytest.raises(ValueError, match="coincide"):
        median_heuristic_sigma(torch.ones(4, 2))


def test_gmmn_loss():
    loss = LOSSES.build("gmmn")
    assert not loss.uses_discriminator and loss.critic_repeats(0) == 0
    x = torch.randn(16, 1, 4, 4)
    assert float(loss.g_loss(x.clone(), x).parts["mmd2"]) == pytest.approx(0.0, abs=1e-6)
    y = (x + 3.0).requires_grad_(True)
    out = loss.g_loss(y, x)
    m2 = rbf_mmd2(x, y.detach(), sigmas=loss.sigmas)
    assert float(out.total.detach()) == pytest.approx(math.sqrt(float(m2)), rel=1e-5)
    out.total.backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
    # median heuristic: bandwidths follow the data scale
    med = LOSSES.build("gmmn", median_heuristic=True)
    s1 = med.bandwidths(x, y.detach())
    s2 = med.bandwidths(10 * x, 10 * y.detach())
    assert s2[0] == pytest.approx(10 * s1[0], rel=1e-4)
    with pytest.raises(RuntimeError, match="no discriminator"):
        loss.d_loss(x, y)
    with pytest.raises(ValueError, match="kernel"):
        LOSSES.build("gmmn", kernel="laplace")
    zero = LOSSES.build("gmmn").g_loss(x.clone().requires_grad_(True), x)
    zero.total.backward()                                 # sqrt at MMD² = 0 stays finite


def _manual_mix_rbf_mmd2(fx, fy, sigmas):
    def k(a, b):
        return sum(math.exp(-float((a - b).pow(2).sum()) / (2 * s * s)) for s in sigmas)
    m, n = len(fx), len(fy)
    kxx = sum(k(a, b) for a in fx for b in fx) / m ** 2
    kyy = sum(k(a, b) for a in fy for b in fy) / n ** 2
    kxy = sum(k(a, b) for a in fx for b in fy) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd_gan_signs_and_values_follow_the_official_code():
    torch.manual_seed(0)
    fx, fy = torch.randn(5, 3), torch.randn(5, 3) + 0.5
    x, y = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    rx, ry = x + 0.1, y - 0.2
    real = CriticOutput(features=fx, recon=rx, input=x)
    fake = CriticOutput(features=fy, recon=ry, input=y)
    loss = LOSSES.build("mmd_gan")
    mmd = math.sqrt(_manual_mix_rbf_mmd2(fx, fy, loss.sigmas))
    one_sided = -float(torch.relu(-(fx.mean(0) - fy.mean(0))).mean())
    ae = 0.1 ** 2 + 0.2 ** 2
    d = loss.d_loss(real, fake)
    assert float(d.total) == pytest.approx(-(mmd + 16 * one_sided - 8 * ae), rel=1e-4)
    g = loss.g_loss(fake, real)
    assert float(g.total) == pytest.approx(mmd + 16 * one_sided, rel=1e-4)
    with pytest.raises(ValueError, match="recon"):
        loss.d_loss(CriticOutput(features=fx), fake)

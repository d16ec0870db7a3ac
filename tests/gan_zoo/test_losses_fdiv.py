"""Closed-form checks of the f-divergence family: vanilla / NS, f-GAN bounds, LSGAN, EBGAN."""
import functools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

import gan_models
from gan_models.losses.base import CriticOutput
from gan_models.registry import LOSSES

gan_models.load_all()
LOG2 = math.log(2.0)


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


# ---------------------------------------------------------------- vanilla / non-saturating
def test_logistic_d_loss_value_at_zero_logits():
    for name in ("vanilla", "nonsaturating"):
        terms = LOSSES.build(name).d_loss(torch.zeros(4), torch.zeros(4))
        assert float(terms.total) == pytest.approx(2 * LOG2, rel=1e-6)


def test_d_loss_matches_bce_with_logits():
    real, fake = torch.randn(8), torch.randn(8)
    ref = (torch.nn.functional.binary_cross_entropy_with_logits(real, torch.ones(8))
           + torch.nn.functional.binary_cross_entropy_with_logits(fake, torch.zeros(8)))
    assert float(LOSSES.build("nonsaturating").d_loss(real, fake).total) == pytest.approx(float(ref), rel=1e-6)


def test_vanilla_and_ns_generator_values_signs_and_saturation():
    v, ns = LOSSES.build("vanilla"), LOSSES.build("nonsaturating")
    assert float(v.g_loss(torch.zeros(3)).total) == pytest.approx(-LOG2, rel=1e-6)   # log(1 - 1/2)
    assert float(ns.g_loss(torch.zeros(3)).total) == pytest.approx(LOG2, rel=1e-6)   # -log(1/2)
    # both push the fake logit up (negative gradient) ...
    grads = {}
    for name, loss in (("vanilla", v), ("ns", ns)):
        logit = torch.full((1,), -10.0, requires_grad=True)
        loss.g_loss(logit).total.backward()
        grads[name] = float(logit.grad)
        assert grads[name] < 0
    # ... but the saturating one vanishes when D confidently rejects fakes: -σ(l) vs -σ(-l)
    assert grads["vanilla"] == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-4)
    assert grads["ns"] == pytest.approx(-torch.sigmoid(torch.tensor(10.0)).item(), rel=1e-4)
    assert abs(grads["ns"]) > 1e3 * abs(grads["vanilla"])


def test_logistic_losses_are_finite_for_extreme_logits_and_under_bf16_autocast():
    loss = LOSSES.build("nonsaturating")
    big = t(1e4, -1e4)
    assert torch.isfinite(loss.d_loss(big, -big).total)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = torch.randn(4, 8)
        logits = torch.nn.Linear(8, 1)(x)
        assert logits.dtype == torch.bfloat16
        terms = loss.d_loss(logits, -logits)
    assert terms.total.dtype == torch.float32 and torch.isfinite(terms.total)


def test_patch_maps_are_scored_per_element():
    # softplus is applied per patch, then averaged (PatchGAN convention), not to per-sample means
    patch = torch.tensor([[[-3.0, 3.0]]])            # (B=1, 1, 2)
    got = float(LOSSES.build("nonsaturating").g_loss(patch).total)
    ref = float(torch.nn.functional.softplus(-patch).mean())
    assert got == pytest.approx(ref) and abs(ref - LOG2) > 0.5


# ---------------------------------------------------------------- f-GAN
P_MU, Q_MU = 0.0, 1.0        # P = N(0, 1) (data), Q = N(1, 1) (model)


def density_ratio(x):
    """p(x)/q(x) for unit-variance Gaussians (numpy or torch input)."""
    lib = torch if isinstance(x, torch.Tensor) else np
    return lib.exp(0.5 * ((x - Q_MU) ** 2 - (x - P_MU) ** 2))


TRUE_DIVERGENCE = {          # D_f(P||Q) = ∫ q f(p/q), Nowozin et al.'s conventions
    "fgan_kl": 0.5,
    "fgan_reverse_kl": 0.5,
    "fgan_pearson": math.e - 1.0,
    "fgan_hellinger": 2.0 * (1.0 - math.exp(-1.0 / 8.0)),   # ∫(√p − √q)² = 2(1 − BC)
    "fgan_tv": 2.0 * stats.norm.cdf(0.5) - 1.0,
    "fgan_js": None,        # 2·JS(P, Q), by quadrature below
}


@functools.lru_cache(maxsize=1)
def js_reference():
    def integrand(x):
        p, q = stats.norm.pdf(x, P_MU), stats.norm.pdf(x, Q_MU)
        m = 0.5 * (p + q)
        return 0.5 * p * math.log(p / m) + 0.5 * q * math.log(q / m)
    return integrate.quad(integrand, -30, 30)[0]


@pytest.mark.parametrize("name", sorted(TRUE_DIVERGENCE))
def test_f_integral_matches_closed_form(name):
    loss = LOSSES.build(name)

    def integrand(x):
        return stats.norm.pdf(x, Q_MU) * float(loss.f(torch.tensor(density_ratio(x), dtype=torch.float64)))

    value = integrate.quad(integrand, -30, 30, points=[0.5], limit=200)[0]
    expected = TRUE_DIVERGENCE[name] if TRUE_DIVERGENCE[name] is not None else 2.0 * js_reference()
    assert value == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", sorted(TRUE_DIVERGENCE))
def test_fenchel_pairs_activation_and_inverse_are_consistent(name):
    loss = LOSSES.build(name)
    u = torch.tensor([0.2, 0.7, 1.3, 3.0], dtype=torch.float64)
    tt = loss.f_prime(u)
    if name != "fgan_tv":   # Fenchel–Young equality f*(f'(u)) = u f'(u) − f(u)
        assert torch.allclose(loss.conjugate(tt), u * tt - loss.f(u), atol=1e-10)
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    assert torch.allclose(loss.conjugate_of_activation(v), loss.conjugate(loss.activation(v)), atol=1e-10)
    assert torch.allclose(loss.inverse_activation(loss.activation(v)), v, atol=1e-8)


def _bound_and_se(loss, v_real, v_fake):
    a = loss.activation(v_real)
    b = loss.conjugate_of_activation(v_fake)
    bound = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var()) / len(a) + float(b.var()) / len(b))
    return bound, se


@pytest.mark.parametrize("name", sorted(TRUE_DIVERGENCE))
def test_variational_bound_is_tight_at_the_optimal_critic_and_lower_elsewhere(name):
    loss = LOSSES.build(name)
    expected = TRUE_DIVERGENCE[name] if TRUE_DIVERGENCE[name] is not None else 2.0 * js_reference()
    g = torch.Generator().manual_seed(1)
    n = 50_000
    xp = torch.randn(n, generator=g, dtype=torch.float64) + P_MU
    xq = torch.randn(n, generator=g, dtype=torch.float64) + Q_MU

    def v_star(x):   # V* = g_f^{-1}(f'(p/q))
        return loss.inverse_activation(loss.f_prime(density_ratio(x)))

    bound, se = _bound_and_se(loss, v_star(xp), v_star(xq))
    assert abs(bound - expected) < 4 * se + 2e-3, (bound, expected, se)
    # -d_loss is the same bound
    assert float(-loss.d_loss(v_star(xp), v_star(xq)).total) == pytest.approx(bound, rel=1e-5, abs=1e-6)
    # a sub-optimal critic (optimal T shrunk towards f'(1)) gives a clearly lower bound
    t_sub = lambda x: loss.f_prime(torch.ones_like(x)) + 0.5 * (  # noqa: E731
        loss.f_prime(density_ratio(x)) - loss.f_prime(torch.ones_like(x)))
    sub, se_sub = _bound_and_se(loss, loss.inverse_activation(t_sub(xp)), loss.inverse_activation(t_sub(xq)))
    assert sub < expected - 4 * se_sub - 1e-3, (sub, expected)


def test_fgan_generator_objectives():
    loss = LOSSES.build("fgan_kl")
    v = t(0.5, 1.5)
    assert float(loss.g_loss(v).total) == pytest.approx(-1.0)                      # −E g_f(V)
    saddle = LOSSES.build("fgan_kl", generator_objective="saddle")
    assert float(saddle.g_loss(v).total) == pytest.approx(-float(torch.exp(v - 1).mean()))
    with pytest.raises(ValueError, match="generator_objective"):
        LOSSES.build("fgan_kl", generator_objective="minimax")


def test_fgan_js_d_loss_is_the_gan_loss_up_to_log4():
    # f-GAN's JS row: -F = vanilla D loss - log 4 (Nowozin et al. Table 2, "GAN" up to constants)
    real, fake = torch.randn(16), torch.randn(16)
    js = float(LOSSES.build("fgan_js").d_loss(real, fake).total)
    van = float(LOSSES.build("vanilla").d_loss(real, fake).total)
    assert js == pytest.approx(van - 2 * LOG2, abs=1e-5)


# ---------------------------------------------------------------- LSGAN
@pytest.mark.parametrize("coding,abc", [("pearson", (-1.0, 1.0, 0.0)), ("01", (0.0, 1.0, 1.0))])
def test_lsgan_values_on_constant_outputs(coding, abc):
    a, b, c = abc
    loss = LOSSES.build("lsgan", coding=coding)
    assert (loss.a, loss.b, loss.c) == abc
    dr, df = 0.3, -0.4
    terms = loss.d_loss(torch.full((5,), dr), torch.full((5,), df))
    assert float(terms.total) == pytest.approx(0.5 * (dr - b) ** 2 + 0.5 * (df - a) ** 2)
    assert float(loss.g_loss(torch.full((5,), df)).total) == pytest.approx(0.5 * (df - c) ** 2)


def test_lsgan_explicit_labels_and_validation():
    loss = LOSSES.build("lsgan", coding="01", c=0.5)
    assert (loss.a, loss.b, loss.c) == (0.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="coding"):
        LOSSES.build("lsgan", coding="binary")
    with pytest.raises(ValueError, match="distinct"):
        LOSSES.build("lsgan", a=1.0, b=1.0)
    with pytest.raises(TypeError):
        LOSSES.build("lsgan", gamma=1.0)


# ---------------------------------------------------------------- EBGAN
def _ae_out(x, recon, emb=None):
    return CriticOutput(recon=recon, input=x, embedding=emb)


def test_ebgan_hinge_is_per_sample_not_on_the_batch_mean():
    loss = LOSSES.build("ebgan", margin=10.0)
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([0.0, 20.0])           # per-sample: relu(10) + relu(-10) -> mean 5; batch mean: 0
    terms = loss.d_loss(CriticOutput(score=real), CriticOutput(score=fake))
    assert float(terms.parts["real"]) == pytest.approx(2.0)
    assert float(terms.parts["fake"]) == pytest.approx(5.0)


def test_ebgan_energy_from_reconstruction_and_generator_pt():
    x = torch.zeros(2, 1, 2, 2)
    recon = x.clone()
    recon[0, 0, 0, 0] = 3.0
    recon[0, 0, 1, 1] = 4.0                    # sample 0: ‖r‖ = 5
    recon[1] = 1.0                             # sample 1: ‖r‖ = 2
    emb = torch.tensor([[1.0, 0.0], [1.0, 1.0]])      # pull-away 0.5
    loss = LOSSES.build("ebgan", margin=4.0)
    d = loss.d_loss(_ae_out(x, recon), _ae_out(x, recon))
    assert float(d.parts["real"]) == pytest.approx(3.5, rel=1e-5)
    assert float(d.parts["fake"]) == pytest.approx((0.0 + 2.0) / 2, rel=1e-5)
    g = loss.g_loss(_ae_out(x, recon, emb))
    assert float(g.total) == pytest.approx(3.5 + 0.1 * 0.5, rel=1e-5)
    mse = LOSSES.build("ebgan", energy="mse", margin=1.0, pt_weight=0.0)
    assert float(mse.g_loss(_ae_out(x, recon)).total) == pytest.approx((25 / 4 + 1.0) / 2)
    with pytest.raises(ValueError, match="embedding"):
        loss.g_loss(_ae_out(x, recon))


def test_ebgan_generator_gradient_flows_through_the_reconstruction_target():
    x = torch.tensor([[3.0, 4.0]], requires_grad=True)
    recon = 2.0 * x                            # r = recon − x = x, energy ‖x‖, d/dx = x/‖x‖
    LOSSES.build("ebgan", pt_weight=0.0).g_loss(_ae_out(x, recon)).total.backward()
    assert torch.allclose(x.grad, torch.tensor([[0.6, 0.8]]))   # a detached target would give 2x/‖x‖


def test_ebgan_margin_acts_on_the_per_sample_l2_energy_whatever_the_critics_score():
    """The preset's margin 20 is on the per-sample L2 norm of the reconstruction error (the paper's D(x)); the
    loss computes that energy from recon / input even when the critic reports a per-pixel mean as its score
    (the old bug: a ~0.3 MSE score against m = 20 meant the hinge never cut off)."""
    x = torch.zeros(2, 1, 8, 8)
    recon = torch.zeros(2, 1, 8, 8, requires_grad=True)
    with torch.no_grad():
        recon[0] += 5.0 / 8                    # ‖r‖₂ = 5 (< m): the fake term is m − 5 = 15
        recon[1] += 25.0 / 8                   # ‖r‖₂ = 25 (> m): the fake term is 0
    per_pixel_mse = (recon - x).pow(2).flatten(1).mean(1).detach()
    loss = LOSSES.build("ebgan", margin=20.0)
    fake = CriticOutput(score=per_pixel_mse, recon=recon, input=x)
    terms = loss.d_loss(CriticOutput(score=per_pixel_mse, recon=recon.detach(), input=x), fake)
    assert float(terms.parts["fake"].detach()) == pytest.approx((15.0 + 0.0) / 2, rel=1e-5)
    (grad,) = torch.autograd.grad(terms.parts["fake"], recon)
    assert grad[0].abs().sum() > 0 and float(grad[1].abs().sum()) == 0.0       # no gradient past the margin


def test_ebgan_preset_critic_reports_the_losss_energy():
    import gan_models
    s = gan_models.build("ebgan", **{"generator.width": 4, "discriminator.width": 4})
    assert s.discriminators["D"].energy_reduction == "l2" and s.loss.margin == 20.0
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    out = s.discriminators["D"](x)
    l2 = (out.recon - x).flatten(1).norm(dim=1)
    assert torch.allclose(out.score, l2, rtol=1e-4)
    from gan_models.losses.f_divergence import reconstruction_energy
    assert torch.allclose(reconstruction_energy(out, "l2"), l2, rtol=1e-4)

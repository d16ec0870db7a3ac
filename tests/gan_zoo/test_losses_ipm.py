"""IPM losses: WGAN family, hinge, McGAN mean/covariance, Fisher GAN; loss API contract."""
import math

import pytest
import torch

import gan_models
from gan_models.losses.base import AdversarialLoss, CriticOutput, LossTerms, OptimizerSpec
from gan_models.registry import LOSSES

gan_models.load_all()

REQUIRED = {"vanilla", "nonsaturating", "fgan_kl", "fgan_reverse_kl", "fgan_pearson", "fgan_hellinger", "fgan_js",
            "fgan_tv", "lsgan", "ebgan", "wgan", "wgan_gp", "wgan_lp", "wgan_div", "hinge", "mcgan_mean",
            "mcgan_cov", "gmmn", "mmd_gan", "fisher", "rsgan", "ragan", "ralsgan"}


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


def test_every_issue_loss_is_registered_and_buildable():
    assert REQUIRED <= set(LOSSES.names())
    for name in REQUIRED:
        loss = LOSSES.build(name)
        assert isinstance(loss, AdversarialLoss)
        assert loss.critic_output in ("score", "features", "energy", "samples")
        assert isinstance(loss.d_optimizer, OptimizerSpec) and isinstance(loss.g_optimizer, OptimizerSpec)
        for reg, params in loss.default_regularizers:
            assert isinstance(reg, str) and isinstance(params, dict)
        assert loss.critic_repeats(10) == loss.n_critic
    with pytest.raises(KeyError, match="known"):
        LOSSES.build("wgan-gp")


def test_paper_constants():
    wgan = LOSSES.build("wgan")
    assert (wgan.clip_weights, wgan.n_critic, wgan.d_optimizer) == (0.01, 5, OptimizerSpec("rmsprop", 5e-5))
    gp = LOSSES.build("wgan_gp")
    assert gp.clip_weights is None and gp.critic_norm == "none" and gp.n_critic == 5
    assert gp.d_optimizer == OptimizerSpec("adam", 1e-4, (0.0, 0.9)) == gp.g_optimizer
    assert gp.default_regularizers == (("gradient_penalty", {"weight": 10.0}),)
    assert LOSSES.build("wgan_lp").default_regularizers == (("lipschitz_penalty", {"weight": 10.0}),)
    assert LOSSES.build("wgan_div").default_regularizers[0][1] == {"k": 2.0, "p": 6.0, "sampling": "real_fake"}
    f = LOSSES.build("fisher")
    assert f.rho == 1e-6 and f.lam == 0.0 and f.n_critic == 2
    m = LOSSES.build("mmd_gan")
    assert (m.lambda_rg, m.lambda_ae, m.sigmas, m.clip_weights) == (16.0, 8.0, (1.0, 2.0, 4.0, 8.0, 16.0), 0.01)
    assert LOSSES.build("gmmn").sigmas == (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
    e = LOSSES.build("ebgan")
    assert e.pt_weight == 0.1 and e.critic_output == "energy"
    assert LOSSES.build("ragan").needs_real_in_g and not LOSSES.build("gmmn").uses_discriminator


def test_wgan_values_and_critic_warmup_schedule():
    loss = LOSSES.build("wgan")
    d = loss.d_loss(t(1.0, 2.0), t(0.5, 0.5))
    assert float(d.total) == pytest.approx(0.5 - 1.5)
    assert float(d.parts["wdist"]) == pytest.approx(1.0)
    assert float(loss.g_loss(t(0.5, 1.5)).total) == pytest.approx(-1.0)
    warm = LOSSES.build("wgan", critic_warmup=True)
    assert [warm.critic_repeats(s) for s in (0, 24, 25, 499, 500, 1000)] == [100, 100, 5, 5, 100, 100]
    with pytest.raises(ValueError):
        LOSSES.build("wgan", n_critic=0)


def test_hinge_values():
    loss = LOSSES.build("hinge")
    d = loss.d_loss(t(2.0, 0.5), t(-2.0, 0.0))
    assert float(d.parts["real"]) == pytest.approx(0.25)   # relu(1−2)=0, relu(1−0.5)=0.5
    assert float(d.parts["fake"]) == pytest.approx(0.5)    # relu(1−2)=0, relu(1+0)=1
    assert float(d.total) == pytest.approx(0.75)
    assert float(loss.g_loss(t(-2.0, 0.0)).total) == pytest.approx(1.0)


def test_mcgan_mean_is_the_dual_norm_of_the_feature_mean_difference():
    fr = torch.tensor([[1.0, 2.0, 0.0], [3.0, 2.0, 0.0]])    # mean (2, 2, 0)
    ff = torch.tensor([[0.0, 0.0, 0.0], [0.0, 4.0, 0.0]])    # mean (0, 2, 0) -> diff (2, 0, 0)... make it richer
    ff[1, 2] = -3.0                                           # mean (0, 2, −1.5) -> diff (2, 0, 1.5), ‖·‖₂ = 2.5
    real, fake = CriticOutput(features=fr), CriticOutput(features=ff)
    loss = LOSSES.build("mcgan_mean")
    assert float(loss.d_loss(real, fake).total) == pytest.approx(-2.5, rel=1e-6)
    assert float(loss.g_loss(fake, real).total) == pytest.approx(2.5, rel=1e-6)
    assert float(LOSSES.build("mcgan_mean", q=float("inf")).g_loss(fake, real).total) == pytest.approx(2.0)
    assert float(LOSSES.build("mcgan_mean", q=1.0).g_loss(fake, real).total) == pytest.approx(3.5, rel=1e-5)
    with pytest.raises(ValueError, match="real_out"):
        loss.g_loss(fake)
    with pytest.raises(ValueError, match="features"):
        loss.d_loss(t(1.0), t(2.0))


def test_mcgan_cov_loss_is_wgan_on_the_head_score():
    loss = LOSSES.build("mcgan_cov")
    d = loss.d_loss(t(3.0, 1.0), t(0.5, 0.5))
    assert float(d.total) == pytest.approx(-1.5) and float(d.parts["ipm_cov"]) == pytest.approx(1.5)
    assert "wdist" not in d.parts


def _fisher_terms(loss, scale):
    real, fake = torch.full((8,), scale), torch.full((8,), -scale)   # Ω̂ = scale²
    return loss.d_loss(real, fake)


def test_fisher_d_loss_value():
    loss = LOSSES.build("fisher", rho=0.1)
    loss.load_state_dict({"fisher_lambda": torch.tensor(0.5, dtype=torch.float64)})
    terms = _fisher_terms(loss, 2.0)                   # ipm 4, Ω̂ 4, gap −3
    expected = 4.0 + 0.5 * (-3.0) - 0.05 * 9.0
    assert float(terms.total) == pytest.approx(-expected, rel=1e-6)
    assert float(terms.parts["ipm_ratio"]) == pytest.approx(4.0 / 2.0)


@pytest.mark.parametrize("scale,direction", [(2.0, +1), (0.5, -1)])
def test_fisher_lambda_moves_in_the_direction_of_the_official_update(scale, direction):
    # λ ← λ − ρ(1 − Ω̂) (tomsercu/FisherGAN: obj_D.backward(mone); alpha += rho * alpha.grad):
    # Ω̂ > 1 (constraint violated) raises λ, Ω̂ < 1 lowers it
    loss = LOSSES.build("fisher", rho=1e-2)
    terms = _fisher_terms(loss, scale)
    loss.after_critic_step(None, terms)
    omega = scale ** 2
    assert loss.lam == pytest.approx(-1e-2 * (1.0 - omega))
    assert math.copysign(1.0, loss.lam) == direction
    # and the λ term of the critic loss then pushes Ω̂ back towards 1
    w = torch.tensor(scale, requires_grad=True)
    terms = loss.d_loss(w * torch.ones(8), -w * torch.ones(8))
    (lam_grad,) = torch.autograd.grad(terms.total - (-(2 * w) + 0.5 * loss.rho * (1 - w * w) ** 2), w)
    assert float(lam_grad) * direction > 0   # ∂(−λ(1−w²))/∂w = 2λw has the sign of λ: descent shrinks/grows w


def test_fisher_lambda_is_averaged_over_accumulated_micro_batches_and_checkpointed():
    loss = LOSSES.build("fisher", rho=1e-2)
    summed = _fisher_terms(loss, 2.0) + _fisher_terms(loss, 2.0)      # trainer sums micro-batch terms
    loss.after_d_step(summed)
    assert loss.lam == pytest.approx(-1e-2 * (1.0 - 4.0))
    state = loss.state_dict()
    fresh = LOSSES.build("fisher", rho=1e-2)
    fresh.load_state_dict(state)
    assert fresh.lam == pytest.approx(loss.lam)
    with pytest.raises(KeyError, match="omega"):
        loss.after_d_step(LossTerms(torch.zeros(())))


def test_stateless_losses_reject_foreign_state():
    with pytest.raises(KeyError):
        LOSSES.build("wgan").load_state_dict({"fisher_lambda": torch.zeros(())})

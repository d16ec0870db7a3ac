"""Closed-form checks of the critic regularizers, post-step constraints and spectral normalisation."""
import math

import pytest
import torch
from torch import nn

import gan_models
from gan_models.losses.base import CriticOutput
from gan_models.registry import LOSSES, REGULARIZERS
from gan_models.regularizers import apply_regularizers, clip_weights_, critic_post_step
from gan_models.regularizers.fisher import FisherConstraint
from gan_models.regularizers.gradient import gradient_penalty, lipschitz_penalty, r1_penalty, wgan_div_penalty
from gan_models.regularizers.mutual_information import infogan_mutual_information
from gan_models.regularizers.pull_away import pull_away_term
from gan_models.regularizers.spectral import apply_spectral_norm, has_spectral_norm
from gan_models.regularizers.stiefel import McGANCovHead

gan_models.load_all()
SHAPE = (4, 3, 5, 5)


def linear_critic(w):
    return lambda x, **kw: (x.flatten(1) * w.flatten()).sum(1)


def w_with_norm(norm, shape=SHAPE[1:], seed=0):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return w * (norm / w.norm())


# ---------------------------------------------------------------- gradient penalty (WGAN-GP)
@pytest.mark.parametrize("norm", [0.3, 1.0, 2.5])
def test_gp_of_a_linear_critic_is_closed_form(norm):
    w = w_with_norm(norm)
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    terms = gradient_penalty(linear_critic(w), real, fake, weight=10.0)
    assert float(terms.parts["gp"]) == pytest.approx((norm - 1.0) ** 2, abs=1e-5)
    assert float(terms.total) == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-4)


def _nonlinear_critic():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 25, 1))
    return lambda x, **kw: net(x).squeeze(1)


def test_gp_uses_per_sample_epsilon_and_per_sample_flattened_norms():
    critic = _nonlinear_critic()
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    torch.manual_seed(123)
    got = float(gradient_penalty(critic, real, fake).parts["gp"].detach())

    def manual(eps):
        xh = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(xh).sum(), xh)
        return g

    torch.manual_seed(123)
    eps = torch.rand(SHAPE[0], 1, 1, 1)
    g = manual(eps)
    ref = ((g.flatten(1).pow(2).sum(1) + 1e-10).sqrt() - 1).pow(2).mean()
    assert got == pytest.approx(float(ref), rel=1e-5)
    # one scalar ε for the whole batch (torchgan) is a different estimator
    scalar = manual(torch.full((SHAPE[0], 1, 1, 1), float(eps[0])))
    ref_scalar = ((scalar.flatten(1).norm(dim=1)) - 1).pow(2).mean()
    assert abs(float(ref_scalar) - got) > 1e-4


def test_gp_per_pixel_norm_would_differ_on_a_crafted_critic():
    # gradient w has ‖w‖ = 1 over C·H·W (penalty 0) but per-pixel channel norms far from 1
    w = torch.zeros(SHAPE[1:])
    w[:, 0, 0] = torch.tensor([0.6, 0.8, 0.0])            # all mass on one pixel
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    assert float(gradient_penalty(linear_critic(w), real, fake).parts["gp"]) == pytest.approx(0.0, abs=1e-8)
    per_pixel = (w.norm(dim=0) - 1).pow(2).mean()          # the PyTorch-GAN #20 / caogang axes
    assert float(per_pixel) > 0.9


def test_gp_is_finite_at_zero_gradient_and_never_reaches_the_generator():
    w = torch.zeros(SHAPE[1:], requires_grad=True)
    g_param = torch.ones((), requires_grad=True)
    fake = torch.randn(SHAPE) * g_param                     # "generator output" with a graph
    terms = gradient_penalty(lambda x, **kw: (x.flatten(1) * w.flatten()).sum(1), torch.randn(SHAPE), fake)
    assert float(terms.parts["gp"].detach()) == pytest.approx(1.0, abs=1e-4)
    terms.total.backward()
    assert torch.isfinite(w.grad).all()
    assert g_param.grad is None


def test_gp_passes_critic_kwargs_and_rejects_mismatched_batches():
    seen = {}

    def critic(x, y=None):
        seen["y"] = y
        return x.flatten(1).sum(1) * y
    y = torch.full((SHAPE[0],), 2.0)
    gradient_penalty(critic, torch.randn(SHAPE), torch.randn(SHAPE), critic_kwargs={"y": y})
    assert seen["y"] is y
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, torch.randn(SHAPE), torch.randn(2, 3, 5, 5))


def test_gp_accepts_critic_output_and_patch_maps():
    w = w_with_norm(2.0)

    def patch_critic(x, **kw):          # (B, 1, 2, 2) patch map, all four patches the same linear score
        s = (x.flatten(1) * w.flatten()).sum(1)
        return CriticOutput(score=s.view(-1, 1, 1, 1).expand(-1, 1, 2, 2))
    terms = gradient_penalty(patch_critic, torch.randn(SHAPE), torch.randn(SHAPE))
    assert float(terms.parts["gp"]) == pytest.approx(1.0, abs=1e-5)   # score_of averages the patches


# ---------------------------------------------------------------- LP, WGAN-div, R1
def test_lp_is_zero_inside_the_unit_ball_and_equals_gp_outside():
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    inside = lipschitz_penalty(linear_critic(w_with_norm(0.5)), real, fake)
    assert float(inside.total) == 0.0
    gp_inside = gradient_penalty(linear_critic(w_with_norm(0.5)), real, fake)
    assert float(gp_inside.parts["gp"]) == pytest.approx(0.25, abs=1e-5)
    outside = lipschitz_penalty(linear_critic(w_with_norm(2.0)), real, fake)
    assert float(outside.parts["lp"]) == pytest.approx(1.0, abs=1e-5)


def test_wgan_div_exponent_and_no_lipschitz_target():
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    terms = wgan_div_penalty(linear_critic(w_with_norm(1.5)), real, fake)
    assert float(terms.parts["div"]) == pytest.approx(1.5 ** 6, rel=1e-5)      # not (1.5 − 1)², not squared
    assert float(terms.total) == pytest.approx(2.0 * 1.5 ** 6, rel=1e-5)
    # quadratic critic D(x) = ½‖x‖²: ∇ = x, so the penalty is the mean of ‖x‖^6 over real ∪ fake points
    quad = lambda x, **kw: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    got = wgan_div_penalty(quad, real, fake, k=2.0, p=6.0)
    pts = torch.cat([real, fake]).flatten(1)
    assert float(got.parts["div"]) == pytest.approx(float(pts.norm(dim=1).pow(6).mean()), rel=1e-5)
    interp = wgan_div_penalty(linear_critic(w_with_norm(1.5)), real, fake, sampling="interpolate")
    assert float(interp.parts["div"]) == pytest.approx(1.5 ** 6, rel=1e-5)
    with pytest.raises(ValueError, match="sampling"):
        wgan_div_penalty(quad, real, fake, sampling="mix")


def test_r1_closed_form_on_real_data_only():
    real = torch.randn(SHAPE)
    quad = lambda x, **kw: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    terms = r1_penalty(quad, real, None, gamma=10.0)
    assert float(terms.total.detach()) == pytest.approx(5.0 * float(real.flatten(1).pow(2).sum(1).mean()), rel=1e-5)


@pytest.mark.parametrize("norm", [0.4, 2.0])
def test_dragan_of_a_linear_critic_is_closed_form_and_probes_near_the_real_data(norm):
    from gan_models.regularizers.gradient import dragan_penalty
    w = w_with_norm(norm)
    real = torch.randn(SHAPE)
    seen = []

    def critic(x, **kw):
        seen.append(x.detach().clone())
        return linear_critic(w)(x)
    terms = dragan_penalty(critic, real, torch.full(SHAPE, 1e6), weight=10.0)   # fakes are never used
    assert float(terms.parts["dragan"]) == pytest.approx((norm - 1.0) ** 2, abs=1e-5)
    assert float(terms.total) == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-4)
    # the authors' perturbation: x̂ = x + α·0.5·std(x)·u, α, u in [0, 1): between x and x + 0.5·std(x)
    d = seen[0] - real
    assert float(d.min()) >= 0.0 and float(d.max()) <= 0.5 * float(real.std()) + 1e-6 and float(d.max()) > 0
    seen.clear()
    dragan_penalty(critic, real, None, noise="paper", c=10.0)
    assert float((seen[0] - real).std()) == pytest.approx(10.0 ** 0.5, rel=0.15)          # δ ~ N(0, c·I)
    with pytest.raises(ValueError, match="noise"):
        dragan_penalty(critic, real, None, noise="gaussian")


def test_dragan_preset_critic_has_no_batchnorm_and_the_penalty_is_applied():
    s = gan_models.build("dragan", **{"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4})
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in s.discriminators.modules())
    from gan_models.training import Trainer
    logs = Trainer(s).train_step({"x": torch.rand(4, 1, 16, 16) * 2 - 1})
    assert logs["D/reg/dragan"] > 0 and logs["D/total"] == pytest.approx(
        logs["D/real"] + logs["D/fake"] + 10.0 * logs["D/reg/dragan"], rel=1e-4)


# ---------------------------------------------------------------- apply_regularizers
def test_apply_regularizers_uses_the_loss_defaults_and_weights():
    w = w_with_norm(3.0)
    real, fake = torch.randn(SHAPE), torch.randn(SHAPE)
    gp = apply_regularizers(LOSSES.build("wgan_gp", gp_weight=5.0), linear_critic(w), real, fake)
    assert float(gp.total) == pytest.approx(5.0 * 4.0, rel=1e-5) and "reg/gp" in gp.parts
    none = apply_regularizers(LOSSES.build("wgan"), linear_critic(w), real, fake)
    assert float(none.total) == 0.0 and none.parts == {}
    extra = apply_regularizers(LOSSES.build("hinge"), linear_critic(w), real, fake, extra=[("r1", {"gamma": 2.0})])
    assert float(extra.total) == pytest.approx(9.0, rel=1e-5)
    div = apply_regularizers(LOSSES.build("wgan_div"), linear_critic(w), real, fake)
    assert float(div.total) == pytest.approx(2.0 * 3.0 ** 6, rel=1e-5)
    assert set(REGULARIZERS.names()) >= {"gradient_penalty", "lipschitz_penalty", "wgan_div_penalty", "r1"}


# ---------------------------------------------------------------- pull-away term
def test_pull_away_term_known_cases():
    assert float(pull_away_term(torch.eye(4))) == pytest.approx(0.0, abs=1e-7)              # orthogonal
    assert float(pull_away_term(torch.ones(5, 3) * torch.rand(5, 1).add(0.1))) == pytest.approx(1.0, rel=1e-6)
    # 2x2 case: cos = 1/√2, squared 1/2, both ordered pairs: (1/2 + 1/2)/(2·1) = 1/2; invariant to row scale
    assert float(pull_away_term(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))) == pytest.approx(0.5, rel=1e-6)
    assert float(pull_away_term(torch.tensor([[3.0, 0.0], [0.1, 0.1]]))) == pytest.approx(0.5, rel=1e-6)
    # anti-parallel rows count as collinear (cos² = 1)
    assert float(pull_away_term(torch.tensor([[1.0, 2.0], [-1.0, -2.0]]))) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        pull_away_term(torch.ones(1, 3))


# ---------------------------------------------------------------- InfoGAN
def test_infogan_mutual_information_terms_and_gradients():
    logits = torch.randn(6, 10, requires_grad=True)
    codes = torch.randint(0, 10, (6,))
    mean = torch.randn(6, 2, requires_grad=True)
    cont = torch.rand(6, 2) * 2 - 1
    terms = infogan_mutual_information(logits, codes, mean, cont)
    ce = torch.nn.functional.cross_entropy(logits, codes)
    mse = (mean - cont).pow(2).mean()
    assert float(terms.total.detach()) == pytest.approx(float((ce + 0.1 * mse).detach()), rel=1e-5)
    terms.total.backward()
    assert logits.grad is not None and mean.grad is not None
    logvar = torch.full((6, 2), math.log(4.0))
    nll = infogan_mutual_information(cont_mean=mean, cont_codes=cont, cont_logvar=logvar, lambda_cont=1.0)
    ref = (0.5 * (math.log(2 * math.pi) + math.log(4.0)) * 2 + ((cont - mean.detach()) ** 2 / 8).sum(1)).mean()
    assert float(nll.total.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    with pytest.raises(ValueError):
        infogan_mutual_information(logits, [])


# ---------------------------------------------------------------- Fisher constraint state
def test_fisher_lambda_update_rule_and_checkpoint_round_trip():
    c = FisherConstraint(rho=0.5)
    c.update(3.0)                        # Ω̂ > 1: λ ← 0 − 0.5·(1 − 3) = +1 (stronger penalty)
    assert float(c.lam) == pytest.approx(1.0)
    c.update(0.0)                        # Ω̂ < 1: λ ← 1 − 0.5·(1 − 0) = 0.5
    assert float(c.lam) == pytest.approx(0.5)
    d = FisherConstraint(rho=0.5)
    d.load_state_dict(c.state_dict())
    assert float(d.lam) == pytest.approx(0.5)
    with pytest.raises(KeyError):
        d.load_state_dict({"alpha": torch.zeros(())})
    with pytest.raises(ValueError):
        FisherConstraint(rho=0.0)


# ---------------------------------------------------------------- weight clipping / Stiefel
class _Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 6)
        self.decoder = nn.Linear(6, 6)
        self.decoder.exempt_from_weight_clip = True
        self.head = McGANCovHead(6, 3)


def test_clip_weights_respects_exemptions_and_post_step_retracts():
    torch.manual_seed(0)
    m = _Critic()
    with torch.no_grad():
        m.body.weight.mul_(10)
        m.decoder.weight.mul_(10)
        m.head.u.add_(0.3)
    dec_before = m.decoder.weight.clone()
    critic_post_step(m, clip=0.01)
    assert m.body.weight.abs().max() <= 0.01 and m.body.bias.abs().max() <= 0.01
    assert torch.equal(m.decoder.weight, dec_before)
    eye = torch.eye(3)
    assert torch.allclose(m.head.u.t() @ m.head.u, eye, atol=1e-5)
    assert torch.allclose(m.head.v.t() @ m.head.v, eye, atol=1e-5)
    with pytest.raises(ValueError):
        clip_weights_(m, 0.0)


def test_wgan_after_critic_step_clips_all_critic_weights():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    loss = LOSSES.build("wgan")
    loss.after_critic_step(net, loss.d_loss(torch.zeros(2), torch.zeros(2)))
    assert max(float(p.detach().abs().max()) for p in net.parameters()) <= 0.01
    with pytest.raises(ValueError, match="no critic"):
        loss.after_critic_step(None, loss.d_loss(torch.zeros(2), torch.zeros(2)))


def test_mcgan_cov_head_is_the_ky_fan_variational_form():
    torch.manual_seed(0)
    phi_p, phi_q = torch.randn(64, 6), torch.randn(64, 6) * 1.5
    head = McGANCovHead(6, 2).requires_grad_(False)
    sig = phi_p.t() @ phi_p / 64 - phi_q.t() @ phi_q / 64        # uncentred covariances
    ipm = head(phi_p).mean() - head(phi_q).mean()
    assert float(ipm) == pytest.approx(float(torch.trace(head.u.t() @ sig @ head.v)), rel=1e-4)
    u, s, vh = torch.linalg.svd(sig)
    with torch.no_grad():
        head.u.copy_(u[:, :2])
        head.v.copy_(vh[:2].t())
    best = head(phi_p).mean() - head(phi_q).mean()
    assert float(best) == pytest.approx(float(s[:2].sum()), rel=1e-4)     # sum of the top-k singular values
    with pytest.raises(ValueError):
        McGANCovHead(4, 5)


# ---------------------------------------------------------------- spectral normalisation
def _sigma(weight):
    return float(torch.linalg.matrix_norm(weight.detach().reshape(weight.shape[0], -1), ord=2))


def test_spectral_norm_is_one_after_power_iterations():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.LeakyReLU(0.2), nn.Conv1d(1, 4, 3), nn.Embedding(7, 5))
    with torch.no_grad():
        net[0].weight.mul_(7.0)
    assert _sigma(net[0].weight) > 2.0
    apply_spectral_norm(net)
    apply_spectral_norm(net)                       # idempotent: no second parametrization
    assert len(net[0].parametrizations["weight"]) == 1
    assert all(has_spectral_norm(m) for m in (net[0], net[2], net[3]))
    net.train()
    for _ in range(30):
        net[0](torch.randn(2, 20))
        net[2](torch.randn(2, 1, 9))
        net[3](torch.tensor([1, 2]))
    for m in (net[0], net[2], net[3]):
        assert _sigma(m.weight) == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_does_not_update_u_in_eval_and_handles_conv_transpose():
    torch.manual_seed(0)
    conv_t = apply_spectral_norm(nn.ConvTranspose2d(3, 5, 4))
    u_buf = conv_t.parametrizations.weight[0]._u
    conv_t.eval()
    before = u_buf.clone()
    conv_t(torch.randn(1, 3, 4, 4))
    assert torch.equal(u_buf, before)
    conv_t.train()
    for _ in range(30):
        conv_t(torch.randn(1, 3, 4, 4))
    w = conv_t.weight.transpose(0, 1)              # torch normalises ConvTranspose along dim 1
    assert _sigma(w) == pytest.approx(1.0, abs=1e-3)

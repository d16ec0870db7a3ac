"""One CPU training step of every single-pair system with every compatible loss, and the compatibility rules."""
import math

import pytest
import torch
from torch import nn

from gan_models.registry import LOSSES, SYSTEMS
from gan_models.training import Trainer

from tests.gan_zoo.zoo_fixtures import SINGLE_PAIR, batch, build, one_critic_step, single_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)
PAIRS = [(s, l) for s in SINGLE_PAIR for l in SYSTEMS.get(s).compatible_losses()]


def _snapshot(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p.detach().clone() for g in opt.param_groups for p in g["params"]]


@pytest.mark.parametrize("system,loss", PAIRS, ids=[f"{s}-{l}" for s, l in PAIRS])
def test_one_step_every_system_with_every_compatible_loss(system, loss):
    s = build(system, one_critic_step(loss))
    before = {k: _snapshot(o) for k, o in s.optimizers.items()}
    logs = Trainer(s).train_step(batch(unlabelled=system == "ssgan"))
    assert logs and all(math.isfinite(v) for v in logs.values()), logs
    phases = {p.optimizer for p in s.phases()}
    assert phases == set(s.optimizers)
    for k, o in s.optimizers.items():
        after = _snapshot(o)
        assert any(not torch.equal(a, b) for a, b in zip(before[k], after)), f"optimizer {k} changed nothing"
    assert int(s.step_count) == 1


def test_the_matrix_is_what_the_docs_promise():
    all_losses = set(LOSSES.names())
    compat = {s: set(SYSTEMS.get(s).compatible_losses()) for s in SINGLE_PAIR}
    assert compat["sgsd"] == all_losses
    assert compat["ebgan"] == {"ebgan"}
    assert compat["ssgan"] == {"vanilla", "nonsaturating"}
    score = {n for n in all_losses if LOSSES.get(n)().critic_output == "score" and LOSSES.get(n)().uses_discriminator}
    for s in ("cgan", "acgan", "infogan", "vaegan"):
        assert compat[s] == score
    assert compat["bigan"] == score - {"fisher", "mcgan_cov"} - {n for n in score if n.startswith("fgan_")}


@pytest.mark.parametrize("system,loss,match", [
    ("ebgan", "nonsaturating", "'energy'"),
    ("cgan", "gmmn", "no discriminator"),
    ("cgan", "mmd_gan", "'features'"),
    ("acgan", "ebgan", "'energy'"),
    ("infogan", "mcgan_mean", "'features'"),
    ("ssgan", "wgan_gp", "logistic classifier"),
    ("bigan", "fisher", "constraint terms"),
    ("bigan", "fgan_kl", "asymmetric"),
    ("vaegan", "gmmn", "no discriminator"),
])
def test_incompatible_pairs_raise_clear_errors(system, loss, match):
    with pytest.raises(ValueError, match=match) as e:
        SYSTEMS.get(system)(loss=loss)
    assert system in str(e.value)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="without BatchNorm"):
        build("sgsd", "wgan_gp", discriminator={"width": 4, "norm": "batch"})
    with pytest.raises(ValueError, match="has no discriminator"):
        build("sgsd", "gmmn", discriminator={"width": 4})
    with pytest.raises(ValueError, match="data_shape"):
        build("sgsd", "hinge", data_shape=[1, 16])
    s = build("cgan", "hinge")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        Trainer(s).train_step({"x": batch()["x"], "y": torch.tensor([0, 1, 2, 3])})
    with pytest.raises(KeyError, match="needs batch keys"):
        Trainer(s).train_step({"x": batch()["x"]})
    with pytest.raises(ValueError, match="built for samples of shape"):
        Trainer(build("sgsd", "hinge")).train_step({"x": torch.zeros(4, 1, 8, 8)})


def test_gp_family_critics_have_no_batchnorm_and_others_keep_dcgan_bn():
    for loss in ("wgan_gp", "wgan_lp", "wgan_div"):
        for system in ("sgsd", "cgan", "acgan", "infogan", "vaegan", "bigan"):
            s = build(system, loss)
            assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in s.discriminators.modules()), \
                (system, loss)
            assert any(isinstance(m, nn.GroupNorm) for m in s.discriminators.modules())     # layer norm
    assert any(isinstance(m, nn.BatchNorm2d) for m in build("sgsd", "nonsaturating").discriminators.modules())


def test_sgsd_on_vectors_and_g_only_gmmn():
    s = build("sgsd", "hinge", data_shape=[2], generator={"width": 8}, discriminator={"width": 8})
    logs = Trainer(s).train_step({"x": torch.randn(4, 2)})
    assert "D/total" in logs and "G/total" in logs
    g = build("sgsd", "gmmn")
    assert [p.name for p in g.phases()] == ["G"] and set(g.optimizers) == {"G"} and len(g.discriminators) == 0
    assert "G/mmd2" in Trainer(g).train_step(batch())


def test_critic_repeats_and_clipping_follow_the_loss():
    s = build("sgsd", {"name": "wgan", "n_critic": 3})
    Trainer(s).train_step(batch())
    d_opt = s.optimizers["D"]
    steps = {int(d_opt.state[p]["step"]) for g in d_opt.param_groups for p in g["params"] if p in d_opt.state}
    assert steps == {3}
    g_opt = s.optimizers["G"]
    assert {int(g_opt.state[p]["step"]) for g in g_opt.param_groups for p in g["params"]} == {1}
    assert max(p.detach().abs().max() for p in s.discriminators.parameters()) <= 0.01 + 1e-9


def test_mcgan_cov_critic_stays_on_the_stiefel_manifold():
    s = build("sgsd", "mcgan_cov", discriminator={"width": 4, "mcgan_k": 2})
    Trainer(s).train_step(batch())
    head = s.discriminators["D"].head
    for w in (head.u, head.v):
        assert torch.allclose(w.t() @ w, torch.eye(2), atol=1e-5)


def test_fisher_lambda_is_updated_and_saved_in_extra_state():
    s = build("sgsd", "fisher")
    Trainer(s).train_step(batch())
    lam = s.extra_state()["loss"]["fisher_lambda"]
    assert float(lam) != 0.0 and float(lam) == pytest.approx(s.loss.lam)


def test_infogan_mi_updates_g_and_q_through_gs_optimizer():
    s = build("infogan", "nonsaturating")
    q_ids = {id(p) for p in s.aux["Q"].parameters()}
    g_ids = {id(p) for g in s.optimizers["G"].param_groups for p in g["params"]}
    d_ids = {id(p) for g in s.optimizers["D"].param_groups for p in g["params"]}
    assert q_ids <= g_ids and not (q_ids & d_ids)
    logs = Trainer(s).train_step(batch())
    assert logs["G/mi_cat"] > 0 and logs["G/mi_cont"] >= 0 and "D/mi_cat" in logs
    # the G loss is the adversarial loss + lambda_cat * CE + lambda_cont * MSE
    assert logs["G/total"] == pytest.approx(logs["G/fake"] + logs["G/mi_cat"] + 0.1 * logs["G/mi_cont"], rel=1e-4)


def test_vaegan_gan_loss_never_reaches_the_encoder():
    s = build("vaegan", "nonsaturating")
    b = batch()
    s.zero_grad(set_to_none=True)
    s.g_step(b, 0).total.backward()
    assert all(p.grad is None or not p.grad.abs().any() for p in s.aux["E"].parameters())
    assert any(p.grad is not None and p.grad.abs().any() for p in s.generators.parameters())
    s.zero_grad(set_to_none=True)
    t = s.e_step(b, 0)
    t.total.backward()
    assert set(t.parts) == {"prior_kl", "llike"}
    assert any(p.grad is not None and p.grad.abs().any() for p in s.aux["E"].parameters())


def test_bigan_generator_encoder_objective_is_the_swapped_critic_loss():
    s = build("bigan", "nonsaturating")
    real = batch()["x"]
    torch.manual_seed(5)
    g_terms = s.g_step({"x": real}, 0)
    torch.manual_seed(5)
    real_pair, fake_pair = s.pairs(real)
    d_real, d_fake = s.critic(real_pair), s.critic(fake_pair)
    # -log D(G(z), z) - log(1 - D(x, E(x)))
    expected = torch.nn.functional.softplus(-d_fake).mean() + torch.nn.functional.softplus(d_real).mean()
    assert float(g_terms.total.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    e_ids = {id(p) for p in s.aux["E"].parameters()}
    assert e_ids <= {id(p) for g in s.optimizers["G"].param_groups for p in g["params"]}


def test_ssgan_supervised_term_uses_only_labelled_samples():
    s = build("ssgan", "nonsaturating")
    b = batch(unlabelled=True)
    t = s.d_step(b, 0)
    assert float(t.parts["n_labelled"]) == 2.0
    b_none = dict(b, y=torch.full((4,), -1))
    assert float(s.d_step(b_none, 0).parts["sup_ce"]) == 0.0
    logits, _ = s.class_logits(b["x"])
    assert torch.allclose(s.critic(b["x"]), torch.logsumexp(logits, 1))


def test_acgan_class_head_trains_with_d_and_logs_both_ce_terms():
    s = build("acgan", "nonsaturating")
    cls_ids = {id(p) for p in s.discriminators["cls"].parameters()}
    assert cls_ids <= {id(p) for g in s.optimizers["D"].param_groups for p in g["params"]}
    logs = Trainer(s).train_step(batch())
    assert {"D/cls_real", "D/cls_fake", "G/cls_fake"} <= set(logs)


def test_cgan_projection_and_concat_conditioning():
    s = build("cgan", "hinge", conditioning="projection")
    assert s.discriminators["D"].projection is not None
    s2 = build("cgan", "hinge")
    assert s2.discriminators["D"].in_channels == 1 + 3
    with pytest.raises(ValueError, match="conditioning"):
        build("cgan", "hinge", conditioning="film")


def test_extra_per_sample_penalty_forbids_batchnorm_and_is_applied():
    s = build("sgsd", "nonsaturating", regularizers=[["r1", {"gamma": 10.0}]])
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in s.discriminators.modules())
    logs = Trainer(s).train_step(batch())
    assert logs["D/reg/r1"] > 0
    with pytest.raises(ValueError, match="without BatchNorm"):
        build("sgsd", "nonsaturating", regularizers=[["r1", {}]], discriminator={"width": 4, "norm": "batch"})


@pytest.mark.parametrize("loss, mode", [("ebgan", "energy"), ("mmd_gan", "features")])
def test_auto_encoder_losses_on_vectors_use_the_mlp_auto_encoder_critic(loss, mode):
    from gan_models.networks import MLPAutoEncoderCritic
    s = build("sgsd", loss, data_shape=[2], generator={"width": 8}, discriminator={"width": 8, "code_dim": 3})
    critic = s.discriminators["D"]
    assert isinstance(critic, MLPAutoEncoderCritic) and critic.mode == mode
    logs = Trainer(s).train_step({"x": torch.randn(6, 2)})
    assert math.isfinite(logs["D/total"]) and math.isfinite(logs["G/total"])
    if loss == "mmd_gan":          # the encoder is clipped to 0.01 after each critic step, the decoder is not
        assert max(p.detach().abs().max() for p in critic.encoder.parameters()) <= 0.01 + 1e-9
        assert max(p.detach().abs().max() for p in critic.decoder.parameters()) > 0.05

"""Objectives of the multi-network systems, checked on values and gradients.

For every system: each term of the critic and generator losses exists, has the paper's sign and weight (the
phase total is recomputed from the networks' outputs), and its gradient reaches exactly the networks it
should (``reached``).  ``test_mutations.py`` plants bugs into a copy of ``gan_models`` and checks that these
tests fail.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gan_models
from gan_models.registry import SYSTEMS
from gan_models.systems.lapgan import downsample, laplacian_pyramid, upsample

from tests.gan_zoo.test_systems_multi import CONFIGS, make
from tests.gan_zoo.zoo_fixtures import batch, build, single_thread

gan_models.load_all()
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)


def reached(scalar: torch.Tensor, networks: dict[str, nn.Module]) -> set[str]:
    """Names of the networks whose parameters get a non-zero gradient from ``scalar``."""
    names = [n for n, m in networks.items() for _ in m.parameters()]
    params = [p for m in networks.values() for p in m.parameters()]
    grads = torch.autograd.grad(scalar, params, retain_graph=True, allow_unused=True)
    return {n for n, g in zip(names, grads) if g is not None and bool(g.abs().sum() > 0)}


def ns_d(real_logit, fake_logit):
    """The logistic critic loss (nonsaturating / vanilla): softplus(−D(x)) + softplus(D(x̃))."""
    return F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()


def opt_params(system, name: str) -> set[int]:
    return {id(p) for g in system.optimizers[name].param_groups for p in g["params"]}


# ------------------------------------------------------------------------------------------------ InfoGAN
def test_infogan_mutual_information_reaches_g_and_q_in_the_g_phase_and_d_and_q_in_the_d_phase():
    s = build("infogan", "nonsaturating")
    nets = {"G": s.generators["G"], "Q": s.aux["Q"], "D": s.discriminators["D"]}
    b = batch()
    g_terms = s.g_step(b, 0)
    mi_g = g_terms.parts["mi_cat"] * s.lambda_cat + g_terms.parts["mi_cont"] * s.lambda_cont
    # maximising the MI lower bound = minimising CE/NLL: the term enters G's loss with weight +λ, and its
    # gradient reaches G (through G(z, c)) and Q (in G's optimizer)
    assert float(g_terms.total) == pytest.approx(float(g_terms.parts["fake"] + mi_g), rel=1e-5)
    assert {"G", "Q"} <= reached(mi_g, nets)
    assert {id(p) for p in s.aux["Q"].parameters()} <= opt_params(s, "G")
    d_terms = s.d_step(b, 0)
    mi_d = d_terms.parts["mi_cat"]
    assert reached(mi_d, nets) == {"Q", "D"}            # fakes detached in the critic phase: never G


def test_infogan_codes_are_the_ce_targets():
    s = build("infogan", "nonsaturating")
    codes = ([torch.tensor([0, 1, 2, 1])], torch.zeros(4, 2))
    fake = s.generate(4, torch.device("cpu"), codes=codes)
    _, _, phi = s.discriminators["D"].forward_features(fake)
    terms = s.mutual_information(phi, codes)
    cat_logits, cont_mean = s.aux["Q"](phi)
    assert float(terms.parts["mi_cat"]) == pytest.approx(float(F.cross_entropy(cat_logits[0], codes[0][0])))
    assert float(terms.parts["mi_cont"]) == pytest.approx(float(F.mse_loss(cont_mean, codes[1])))


# ------------------------------------------------------------------------------------------------ StackGAN
def _fixed_stackgan(monkeypatch):
    import gan_models.systems.stackgan as sg
    monkeypatch.setattr(sg, "mismatched_labels", lambda y, n: (y + 1) % n)
    params, make_batch = CONFIGS["stackgan"]
    s = make("stackgan", loss="nonsaturating", **params)
    b = make_batch()
    torch.manual_seed(3)
    low = torch.rand(4, 1, 8, 8) * 2 - 1
    high = torch.rand(4, 1, 16, 16) * 2 - 1
    monkeypatch.setattr(s, "_stage1", lambda z, y: (low, z.new_zeros(())))
    monkeypatch.setattr(s, "_stage2", lambda lo, y: (high, lo.new_zeros(())))
    return s, b, low, high


@pytest.mark.parametrize("stage", ["1", "2"])
def test_stackgan_matching_aware_critic_has_the_mismatch_term_at_half_weight(monkeypatch, stage):
    s, b, low, high = _fixed_stackgan(monkeypatch)
    y, wrong = b["y"], (b["y"] + 1) % 3
    real = s._real(b)[stage]
    fake = low if stage == "1" else high
    d = s.discriminators[stage]
    terms = s._d_compute(stage)(b, 0)
    r, f, w = d(real, y), d(fake, y), d(real, wrong)
    expected = 0.5 * ns_d(r, f) + 0.5 * ns_d(r, w)          # authors: errD_real + ½(errD_wrong + errD_fake)
    assert float(terms.total) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms.parts["mismatch/fake"]) == pytest.approx(float(F.softplus(w).mean()), rel=1e-5)
    nets = {k: m for k, m in s.discriminators.items()} | {"G1": s.generators["1"], "G2": s.generators["2"]}
    assert reached(terms.parts["mismatch/fake"], nets) == {stage}


def test_stackgan_generator_loss_kl_weight_and_stage_ii_input_detached():
    params, make_batch = CONFIGS["stackgan"]
    s = make("stackgan", loss="nonsaturating", **params)
    terms = s._g_compute(make_batch(), 0)
    adv = sum(terms.parts[f"stage{i}/fake"] for i in (1, 2))
    kl = terms.parts["stage1/kl"] + terms.parts["stage2/kl"]
    assert float(terms.total) == pytest.approx(float(adv + s.cfg.kl_weight * kl), rel=1e-5)
    nets = {"G1": s.generators["1"], "G2": s.generators["2"], "ca1": s.aux["ca1"], "ca2": s.aux["ca2"]}
    # the stage-II loss trains G2 and its CA; stage I's output is detached before stage II
    assert reached(terms.parts["stage2/fake"], nets) == {"G2", "ca2"}
    assert reached(terms.parts["stage1/fake"], nets) == {"G1", "ca1"}


# ------------------------------------------------------------------------------------------------ MGAN / MAD-GAN
def test_mgan_generator_loss_adds_plus_beta_times_the_classifier_ce():
    params, _ = CONFIGS["mgan"]
    s = make("mgan", loss="nonsaturating", **dict(params, beta=0.5))
    fake, labels = s.generate_with_sources(6)
    real = torch.randn(6, 2)
    terms = s._g_terms(fake, labels, real)
    logit, _, phi = s.discriminators["d"].forward_features(fake)
    ce = F.cross_entropy(s.aux["classifier"](phi), labels)
    # min over G, C of ... + β·Σ_k π_k CE(C(G_k(z)), k): the generators make their samples recognisable
    assert float(terms.parts["diversity_ce"]) == pytest.approx(float(ce), rel=1e-5)
    assert float(terms.total) == pytest.approx(float(F.softplus(-logit).mean() + 0.5 * ce), rel=1e-5)
    nets = {"g": s.generators["g"], "classifier": s.aux["classifier"]}
    assert reached(terms.parts["diversity_ce"], nets) == {"g", "classifier"}
    cls_ids = {id(p) for p in s.aux["classifier"].parameters()}
    assert cls_ids <= opt_params(s, "d") and not cls_ids & opt_params(s, "g")   # C trains with D, never in G's step


def test_mgan_critic_loss_is_the_gan_loss_plus_the_classifier_ce():
    params, _ = CONFIGS["mgan"]
    s = make("mgan", loss="nonsaturating", **params)
    real = torch.randn(6, 2)
    fake = torch.randn(6, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    s.generate_with_sources = lambda n, index=None: (fake, labels)
    terms = s._d_compute({"x": real}, 0)
    d = s.discriminators["d"]
    logit, _, phi = d.forward_features(fake)
    expected = ns_d(d(real), logit) + F.cross_entropy(s.aux["classifier"](phi), labels)
    assert float(terms.total) == pytest.approx(float(expected), rel=1e-5)


def test_mad_gan_generator_phase_i_trains_generator_i():
    params, make_batch = CONFIGS["mad_gan"]
    s = make("mad_gan", loss="nonsaturating", **params)
    members = s.generators["g"].members
    phases = [p for p in s.phases() if p.name.startswith("G_")]
    assert [p.name for p in phases] == ["G_0", "G_1", "G_2"]
    t = phases[1].compute(make_batch(), 0)
    private = {f"out{i}": members[i].out for i in range(3)} | {"shared": members[0].body}
    assert reached(t.total, private) == {"out1", "shared"}       # generator 1's own layer + the tied ones
    assert "diversity_ce" not in t.parts                          # MAD-GAN's G only tries to look real


# ------------------------------------------------------------------------------------------------ DiscoGAN
def _discogan_total(terms, w_gan, w_rec, w_fm=0.9):
    adv = sum((1 - w_fm) * terms.parts[f"gan_{d}/fake"] + w_fm * terms.parts[f"gan_{d}/fm"] for d in "ab")
    return w_gan * adv + w_rec * (terms.parts["recon_a"] + terms.parts["recon_b"])


def test_discogan_curriculum_weights_reconstruction_001_then_05():
    params, make_batch = CONFIGS["discogan"]
    s = make("discogan", **dict(params, gan_curriculum=100))
    b = make_batch()
    assert s.reconstruction_weight(0) == pytest.approx((0.99, 0.01))
    assert s.reconstruction_weight(99) == pytest.approx((0.99, 0.01))
    assert s.reconstruction_weight(100) == pytest.approx((0.5, 0.5))
    for step, (w_gan, w_rec) in ((0, (0.99, 0.01)), (100, (0.5, 0.5))):
        t = s._g_compute(dict(b), step)
        assert float(t.total) == pytest.approx(float(_discogan_total(t, w_gan, w_rec)), rel=1e-5)


def test_discogan_feature_matching_uses_the_critic_features_and_reaches_only_the_generators():
    params, make_batch = CONFIGS["discogan"]
    s = make("discogan", **params)
    t = s._g_compute(make_batch(), 0)
    nets = {"ab": s.generators["ab"], "ba": s.generators["ba"], "d_a": s.discriminators["a"],
            "d_b": s.discriminators["b"]}
    assert reached(t.parts["gan_b/fm"], nets) == {"ab", "d_b"}       # fakes of b come from G_AB, judged by D_B
    assert reached(t.parts["recon_a"], nets) == {"ab", "ba"}          # a -> b -> a goes through both


# ------------------------------------------------------------------------------------------------ LAPGAN
def _capture_inputs(module: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


def test_lapgan_level_critic_judges_residuals_with_the_low_pass_image():
    params, make_batch = CONFIGS["lapgan"]
    s = make("lapgan", loss="nonsaturating", **params)
    b = make_batch()
    x = b["x"]
    bands, gauss = laplacian_pyramid(x, 2)
    low = upsample(gauss[1])
    seen = _capture_inputs(s.discriminators["0"])
    s._d_compute(0)(b, 0)
    s._g_compute(0)(b, 0)
    assert len(seen) >= 3                                       # real and fake in D, fake in G
    for inp in seen:
        assert inp.shape[1] == 2
        torch.testing.assert_close(inp[:, 1:], low)              # every critic input carries l_0 = u(d(x))
    torch.testing.assert_close(seen[0][:, :1], bands[0])         # the real residual h_0 = x − l_0
    assert float(low.abs().mean()) > 0.05


def test_lapgan_levels_train_independently():
    params, make_batch = CONFIGS["lapgan"]
    s = make("lapgan", loss="nonsaturating", **params)
    b = make_batch()
    nets = {f"G{k}": s.generators[k] for k in ("0", "1")} | {f"D{k}": s.discriminators[k] for k in ("0", "1")}
    assert reached(s._g_compute(0)(b, 0).total, nets) == {"G0", "D0"}
    assert reached(s._g_compute(1)(b, 0).total, nets) == {"G1", "D1"}
    assert reached(s._d_compute(0)(b, 0).total, nets) == {"D0"}
    with pytest.raises(ValueError, match="even"):
        downsample(torch.rand(1, 1, 5, 6))


# ------------------------------------------------------------------------------------------------ CoGAN
def test_cogan_sums_two_gan_objectives_on_shared_layers():
    params, make_batch = CONFIGS["cogan"]
    s = make("cogan", loss="nonsaturating", **params)
    b = make_batch()
    torch.manual_seed(7)
    d_terms = s._d_compute(b, 0)
    torch.manual_seed(7)
    fake = s.generate_pair(6)
    dd = s.discriminators["d"]
    expected = ns_d(dd(b["a"], 0), dd(fake["a"], 0)) + ns_d(dd(b["b"], 1), dd(fake["b"], 1))
    assert float(d_terms.total) == pytest.approx(float(expected), rel=1e-5)
    g = s.generators["g"].members
    g_terms = s._g_compute(b, 0)
    nets = {"shared": g[0].body, "out_a": g[0].out, "out_b": g[1].out}
    assert reached(g_terms.parts["a/fake"], nets) == {"shared", "out_a"}
    assert reached(g_terms.parts["b/fake"], nets) == {"shared", "out_b"}


# ------------------------------------------------------------------------------------------------ CycleGAN / DualGAN
def test_cyclegan_generator_loss_weights_and_critic_inputs():
    params, make_batch = CONFIGS["cyclegan"]
    s = make("cyclegan", **dict(params, pool_size=0))
    b = make_batch()
    t = s._g_compute(b, 0)
    lam, idt, gan_w = 10.0, 0.5, 2.0                       # λ_cyc, identity 0.5·λ, LSGAN G term without ½
    adv = t.parts["gan_a/fake"] + t.parts["gan_b/fake"]
    expected = gan_w * adv + lam * (t.parts["recon_a"] + t.parts["recon_b"]) \
        + idt * lam * (t.parts["identity_a"] + t.parts["identity_b"])
    assert float(t.total) == pytest.approx(float(expected), rel=1e-5)
    fake_a = s.translate(b["b"], "ba")
    assert float(t.parts["recon_b"]) == pytest.approx(float((s.translate(fake_a, "ab") - b["b"]).abs().mean()))
    nets = {"ab": s.generators["ab"], "ba": s.generators["ba"]}
    assert reached(t.parts["identity_a"], nets) == {"ba"}      # G_BA(a) ≈ a
    d_a = s._d_compute("a")(b, 0)
    da = s.discriminators["a"]
    with torch.no_grad():
        expected_d = 0.5 * (da(b["a"]) - 1).pow(2).mean() + 0.5 * da(s.translate(b["b"], "ba")).pow(2).mean()
    assert float(d_a.total) == pytest.approx(float(expected_d), rel=1e-5)


def test_dualgan_wgan_objective_and_clipping():
    params, make_batch = CONFIGS["dualgan"]
    s = make("dualgan", **params)
    b = make_batch()
    t = s._g_compute(b, 0)
    expected = t.parts["gan_a/fake"] + t.parts["gan_b/fake"] + 100.0 * (t.parts["recon_a"] + t.parts["recon_b"])
    assert float(t.total) == pytest.approx(float(expected), rel=1e-5)
    assert float(t.parts["gan_b/fake"]) == pytest.approx(float(-s.discriminators["b"](s.translate(b["a"], "ab")).mean()),
                                                         rel=1e-5)
    from gan_models.training import Trainer
    Trainer(s).train_step(b)
    assert max(float(p.abs().max()) for p in s.discriminators.parameters()) <= 0.01 + 1e-7


# ------------------------------------------------------------------------------------------------ VAE-GAN, BiGAN, AC-GAN
def test_vaegan_phase_gradients_and_critic_weights():
    s = build("vaegan", "nonsaturating")
    b = batch()
    nets = {"E": s.aux["E"], "G": s.generators["G"], "D": s.discriminators["D"]}
    torch.manual_seed(4)
    d_terms = s.d_step(b, 0)
    assert reached(d_terms.total, nets) == {"D"}
    torch.manual_seed(4)
    with torch.no_grad():
        recon = s.generators["G"](s.encode(b["x"])[0])
        prior = s.generate(4, torch.device("cpu"))
    r = s.critic(b["x"])
    expected = 0.5 * (ns_d(r, s.critic(recon)) + ns_d(r, s.critic(prior)))    # the stated 1 : ½ : ½ weights
    assert float(d_terms.total) == pytest.approx(float(expected), rel=1e-5)
    e_terms = s.e_step(b, 0)
    assert "E" in reached(e_terms.total, nets)                 # E <- L_prior + L_llike, stepped by E's optimizer only
    assert opt_params(s, "E") == {id(p) for p in s.aux["E"].parameters()}
    g_terms = s.g_step(b, 0)
    assert "E" not in reached(g_terms.total, nets) and "G" in reached(g_terms.total, nets)


def test_bigan_phases_reach_the_right_networks():
    s = build("bigan", "nonsaturating")
    b = batch()
    nets = {"E": s.aux["E"], "G": s.generators["G"], "D": s.discriminators["D"]}
    assert reached(s.g_step(b, 0).total, nets) == {"E", "G", "D"}       # D is in the graph, not in G's optimizer
    assert not {id(p) for p in s.discriminators.parameters()} & opt_params(s, "G")
    assert reached(s.d_step(b, 0).total, nets) == {"D"}


def test_acgan_class_terms_have_the_paper_weights():
    s = build("acgan", "nonsaturating", lambda_cls=0.5)
    b = batch()
    torch.manual_seed(9)
    d_terms = s.d_step(b, 0)
    assert float(d_terms.total) == pytest.approx(
        float(d_terms.parts["real"] + d_terms.parts["fake"] + 0.5 * (d_terms.parts["cls_real"]
                                                                    + d_terms.parts["cls_fake"])), rel=1e-5)
    nets = {"G": s.generators["G"], "D": s.discriminators["D"], "cls": s.discriminators["cls"]}
    assert reached(d_terms.total, nets) == {"D", "cls"}
    g_terms = s.g_step(b, 0)
    assert float(g_terms.total) == pytest.approx(float(g_terms.parts["fake"] + 0.5 * g_terms.parts["cls_fake"]),
                                                 rel=1e-5)
    assert "G" in reached(g_terms.total, nets)


# ------------------------------------------------------------------------------------------------ StackGAN++
def _stackganpp(**over):
    params = dict(data_shape=[1, 16, 16], n_stages=2, latent_dim=8, generator={"name": "tree", "width": 4},
                  discriminator={"name": "dcgan", "width": 4})
    params.update(over)
    return make("stackganpp", **params)


def test_stackganpp_colour_consistency_value_weights_and_detached_coarse_image():
    from gan_models.systems.stackganpp import colour_consistency, mean_covariance
    fine = torch.rand(3, 2, 4, 4)
    coarse = torch.rand(3, 2, 4, 4)
    mu_f, cov_f = mean_covariance(fine)
    assert torch.allclose(cov_f[0], torch.cov(fine[0].flatten(1), correction=0), atol=1e-6)
    mean_t, cov_t = colour_consistency(fine, coarse)
    mu_c, cov_c = mean_covariance(coarse)
    assert float(mean_t) == pytest.approx(float((mu_f - mu_c).pow(2).sum(1).mean()), rel=1e-5)      # λ1 = 1
    assert float(cov_t) == pytest.approx(float(5 * (cov_f - cov_c).pow(2).sum((1, 2)).mean()), rel=1e-5)   # λ2 = 5
    s = _stackganpp()
    b = {"x": torch.rand(4, 1, 16, 16) * 2 - 1}
    t = s._g_compute(b, 0)
    tree = s.generators["tree"]
    color = t.parts["stage1/color_mean"] + t.parts["stage1/color_cov"]
    expected = t.parts["stage0/uncond/fake"] + t.parts["stage1/uncond/fake"] + s.cfg.color_weight * color
    assert float(t.total) == pytest.approx(float(expected), rel=1e-5)
    # recompute the colour term with grads: it trains the fine branch, never the coarse image's head
    fakes, _ = s._generate_all(4, torch.device("cpu"), None)
    m, c = colour_consistency(fakes[1], fakes[0])
    heads = {"head0": tree.heads[0], "head1": tree.heads[1], "stage1": tree.next_stages[0]}
    assert reached(m + c, heads) == {"head1", "stage1"}


def test_stackganpp_joint_conditional_and_unconditional_critic_terms():
    s = _stackganpp(n_classes=3, embed_dim=4, cond_dim=4)
    b = {"x": torch.rand(4, 1, 16, 16) * 2 - 1, "y": torch.tensor([0, 1, 2, 0])}
    torch.manual_seed(2)
    terms = s._d_compute(1)(b, 0)
    torch.manual_seed(2)
    with torch.no_grad():
        fake = s._generate_all(4, torch.device("cpu"), b["y"])[0][1]
    d = s.discriminators["1"]
    real = b["x"]
    _, _, phi_r = d.forward_features(real, b["y"])
    _, _, phi_f = d.forward_features(fake, b["y"])
    uncond = ns_d(d.head(phi_r).squeeze(1), d.head(phi_f).squeeze(1))
    cond = ns_d(d(real, b["y"]), d(fake, b["y"]))
    assert float(terms.total) == pytest.approx(float(uncond + cond), rel=1e-5)      # paper eq. (8): uncond + cond
    assert float(terms.parts["uncond/real"]) == pytest.approx(float(F.softplus(-d.head(phi_r)).mean()), rel=1e-5)


def test_stackganpp_needs_projection_critics_when_conditional_and_checks_sizes():
    with pytest.raises(ValueError, match="divisible"):
        _stackganpp(data_shape=[1, 18, 18], n_stages=3)
    with pytest.raises(ValueError, match="cannot use loss 'mcgan_cov'"):
        _stackganpp(loss="mcgan_cov")
    s = SYSTEMS.build("stackganpp", data_shape=[1, 32, 32], n_stages=3, generator={"name": "tree", "width": 4},
                      discriminator={"name": "dcgan", "width": 4}).setup()
    assert [list(x.shape[2:]) for x in s._generate_all(2, torch.device("cpu"), None)[0]] == [[8, 8], [16, 16],
                                                                                            [32, 32]]


# ------------------------------------------------------------------------------------------------ step caches
def test_step_cache_lives_in_the_batch_and_cyclegan_critics_judge_the_g_phases_fakes():
    from gan_models.systems.base import step_cache
    b = {"x": torch.zeros(2)}
    c = step_cache(b, 3)
    c["v"] = 1
    assert step_cache(b, 3) is c and "v" not in step_cache(b, 4)              # a new step: a fresh cache
    assert "v" not in step_cache({"x": torch.zeros(2)}, 3)                    # another batch: never shared
    params, make_batch = CONFIGS["cyclegan"]
    s = make("cyclegan", **dict(params, pool_size=0))
    batch = make_batch()
    with torch.no_grad():
        before = s.translate(batch["b"], "ba")
    s._g_compute(batch, 0)
    for p in s.generators.parameters():                                     # G changes after its phase ...
        p.data.add_(1.0)
    seen = _capture_inputs(s.discriminators["a"])
    s._d_compute("a")(batch, 0)
    torch.testing.assert_close(seen[1], before)                             # ... the critic judges its fakes


# ------------------------------------------------------------------------------------------------ generic options
def test_every_multi_network_config_trains_with_diagnostics():
    from gan_models.training import Trainer
    for system, (params, make_batch) in CONFIGS.items():
        logs = Trainer(make(system, **params)).train_step(make_batch())
        assert any(k.endswith("/grad_norm") for k in logs), system
        assert any(k.endswith("/acc_real") for k in logs), system

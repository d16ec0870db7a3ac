"""Multi-network topologies: mad_gan, mgan, lapgan, stackgan, stackganpp, cogan, cyclegan, dualgan, discogan."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import gan_models
from gan_models.presets import preset_names
from gan_models.registry import LOSSES, SYSTEMS
from gan_models.systems.adversarial import compatible_losses
from gan_models.systems.image_pool import ImagePool
from gan_models.systems.lapgan import downsample, laplacian_pyramid, reconstruct, upsample
from gan_models.training import Trainer
from gan_models.training.checkpoint import load_checkpoint, save_checkpoint

gan_models.load_all()

TINY_MLP_G = {"name": "mlp", "width": 16, "depth": 2}
TINY_MLP_D = {"name": "mlp", "width": 16, "depth": 2}
TINY_CONV = {"name": "dcgan", "width": 4}

# small configs of every system, and a batch maker for each
CONFIGS = {
    "mad_gan": (dict(n_generators=3, generator=TINY_MLP_G, discriminator=TINY_MLP_D),
                lambda: {"x": torch.randn(6, 2)}),
    "mgan": (dict(n_generators=3, generator=TINY_MLP_G, discriminator=TINY_MLP_D),
             lambda: {"x": torch.randn(6, 2)}),
    "cogan": (dict(generator=TINY_MLP_G, discriminator=TINY_MLP_D),
              lambda: {"a": torch.randn(6, 2), "b": torch.randn(6, 2)}),
    "cyclegan": (dict(generator=TINY_MLP_G, discriminator=TINY_MLP_D, pool_size=4),
                 lambda: {"a": torch.randn(6, 2), "b": torch.randn(6, 2)}),
    "dualgan": (dict(generator=TINY_MLP_G, discriminator=TINY_MLP_D),
                lambda: {"a": torch.randn(6, 2), "b": torch.randn(6, 2)}),
    "discogan": (dict(generator=TINY_MLP_G, discriminator=TINY_MLP_D),
                 lambda: {"a": torch.randn(6, 2), "b": torch.randn(6, 2)}),
    "lapgan": (dict(data_shape=[1, 16, 16], levels=2, latent_dim=8, coarse_generator=TINY_CONV,
                    coarse_discriminator=TINY_CONV, level_discriminator=TINY_CONV,
                    level_generator={"name": "resnet_translator", "width": 4, "n_down": 0, "n_blocks": 1,
                                     "out_act": "none"}),
               lambda: {"x": torch.rand(4, 1, 16, 16) * 2 - 1}),
    "stackgan": (dict(data_shape=[1, 16, 16], upscale=2, n_classes=3, embed_dim=4, cond_dim=4, latent_dim=8,
                      stage1_generator=TINY_CONV, stage1_discriminator=TINY_CONV, stage2_discriminator=TINY_CONV,
                      stage2_generator={"name": "resnet_translator", "width": 4, "n_down": 1, "n_blocks": 1}),
                 lambda: {"x": torch.rand(4, 1, 16, 16) * 2 - 1, "y": torch.tensor([0, 1, 2, 1])}),
    "stackganpp": (dict(data_shape=[1, 16, 16], n_stages=2, n_classes=3, embed_dim=4, cond_dim=4, latent_dim=8,
                        generator={"name": "tree", "width": 4}, discriminator=TINY_CONV),
                   lambda: {"x": torch.rand(4, 1, 16, 16) * 2 - 1, "y": torch.tensor([0, 1, 2, 1])}),
}


def make(system: str, **params):
    """The system with its own defaults (not a preset's) and ``params``, optimizers created."""
    return SYSTEMS.build(system, **params).setup()


INCOMPATIBLE = ("gmmn", "ebgan", "mmd_gan", "mcgan_mean", "mcgan_cov")


def test_every_system_of_this_module_is_registered_and_has_a_preset():
    for name in CONFIGS:
        assert name in SYSTEMS
        assert name in preset_names()


IMAGE_SYSTEMS = ("lapgan", "stackgan", "stackganpp")
CORE_LOSSES = ("nonsaturating", "lsgan", "wgan", "wgan_gp", "hinge", "ragan", "fisher")


def _cases():
    """Every (system, compatible loss); the conv-net systems run the other losses in the slow tier."""
    for system in CONFIGS:
        for loss in compatible_losses(SYSTEMS.get(system)):
            slow = system in IMAGE_SYSTEMS and loss not in CORE_LOSSES
            yield pytest.param(system, loss, marks=[pytest.mark.slow] if slow else [])


def one_critic_step(loss: str):
    """The loss with n_critic = 1 where it has that constant (one critic step is enough for this test)."""
    fields = getattr(LOSSES.get(loss), "__dataclass_fields__", {})
    return {"name": loss, "n_critic": 1} if "n_critic" in fields else loss


def test_compatibility_is_the_score_losses_without_mcgan_cov():
    losses = {n: LOSSES.build(n) for n in LOSSES.names()}
    score = {n for n, l in losses.items() if l.critic_output == "score" and l.uses_discriminator}
    for system in CONFIGS:
        assert set(compatible_losses(SYSTEMS.get(system))) == score - {"mcgan_cov"}


@pytest.mark.parametrize("system,loss", list(_cases()))
def test_one_training_step_updates_every_optimizer(system, loss):
    params, make_batch = CONFIGS[system]
    s = make(system, loss=one_critic_step(loss), **params)
    before = {k: [p.detach().clone() for g in o.param_groups for p in g["params"]] for k, o in s.optimizers.items()}
    logs = Trainer(s).train_step(make_batch())
    assert logs and all(math.isfinite(v) for v in logs.values()), logs
    for k, o in s.optimizers.items():
        after = [p for g in o.param_groups for p in g["params"]]
        assert any(not torch.equal(a, b) for a, b in zip(before[k], after)), f"optimizer {k} changed nothing"


@pytest.mark.parametrize("system", list(CONFIGS))
@pytest.mark.parametrize("loss", INCOMPATIBLE)
def test_incompatible_losses_raise_a_clear_error(system, loss):
    params, _ = CONFIGS[system]
    with pytest.raises(ValueError, match=f"system '{system}' cannot use loss '{loss}'"):
        make(system, loss=loss, **params)


def test_missing_batch_keys_name_the_system():
    s = make("cyclegan", **CONFIGS["cyclegan"][0])
    with pytest.raises(KeyError, match="cyclegan"):
        Trainer(s).train_step({"x": torch.randn(4, 2)})


def test_cyclegan_identity_needs_same_shapes():
    with pytest.raises(ValueError, match="identity"):
        make("cyclegan", shape_a=[2], shape_b=[3], **CONFIGS["cyclegan"][0])


# ---------------------------------------------------------------- parameter sharing
def _same(a, b) -> bool:
    return a is b and all(p is q for p, q in zip(a.parameters(), b.parameters()))


def test_mad_gan_generators_share_all_but_the_last_layer():
    s = make("mad_gan", **CONFIGS["mad_gan"][0])
    m = s.generators["g"].members
    for i in (1, 2):                         # the weight-layer units (Linear) are tied
        assert _same(m[0].body[0][0], m[i].body[0][0]) and _same(m[0].body[1][0], m[i].body[1][0])
        assert m[0].out is not m[i].out and m[0].out.weight is not m[i].out.weight
    n_unique = len(list(s.generators.parameters()))
    assert n_unique == 4 + 3 * 2            # shared: 2 hidden (w, b); private: out (w, b) x 3


def test_mgan_generators_share_all_but_the_input_layer():
    s = make("mgan", **CONFIGS["mgan"][0])
    m = s.generators["g"].members
    assert m[0].body[0] is not m[1].body[0]
    assert m[0].body[0][0].weight is not m[1].body[0][0].weight
    assert _same(m[0].body[1][0], m[2].body[1][0]) and _same(m[0].out, m[1].out)
    # the classifier C reads the critic's features (shares D's trunk)
    assert s.aux["classifier"].fc.in_features == s.discriminators["d"].feature_dim


def _batchnorm_batch_sizes(module: torch.nn.Module) -> dict[int, list[int]]:
    """id(BatchNorm) -> the batch sizes it normalised, recorded by forward hooks (removed by the caller)."""
    seen: dict[int, list[int]] = {}
    module._bn_hooks = [m.register_forward_pre_hook(lambda m, a: seen.setdefault(id(m), []).append(a[0].shape[0]))
                        for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    return seen


def test_mgan_shared_batchnorm_normalises_the_whole_mixture_batch():
    # qhoangdl/MGAN models.py: each generator's input layer (linear + its own BN) runs on its own z, the
    # outputs are concatenated and the shared layers (and their BN) run ONCE on the batch of all generators.
    # Running the generators one by one gives the shared BN per-generator statistics in training and running
    # statistics that match no generator in eval mode.
    s = make("mgan", n_generators=4, generator=dict(TINY_MLP_G, norm="batch"), discriminator=TINY_MLP_D)
    g = s.generators["g"]
    m = g.members
    shared_bn, private_bn = m[0].body[1][1], [m[i].body[0][1] for i in range(4)]
    assert all(m[i].body[1][1] is shared_bn for i in range(4)) and len({id(b) for b in private_bn}) == 4
    seen = _batchnorm_batch_sizes(g)
    s.train()
    x, labels = s.generate_with_sources(32)
    for h in g._bn_hooks:
        h.remove()
    assert seen[id(shared_bn)] == [32]                          # one pass over the mixture batch
    assert all(seen[id(b)] == [8] for b in private_bn)          # each input BN on its generator's 8 samples
    assert x.shape == (32, 2) and labels.tolist() == [0, 1, 2, 3] * 8


def test_tied_ensemble_joint_forward_is_per_member_input_then_one_shared_pass():
    s = make("mgan", n_generators=3, generator=dict(TINY_MLP_G, norm="batch"), discriminator=TINY_MLP_D)
    g = s.generators["g"]
    m = g.members
    z = torch.randn(3 * 5, 2)
    g.train()
    h = torch.cat([m[i].body[0](c) for i, c in enumerate(z.chunk(3))])     # private input blocks, own BN
    ref = m[0].out(m[0].body[1](h))                                       # shared layers once, whole batch
    torch.testing.assert_close(g(z, None), ref)
    with pytest.raises(ValueError, match="divisible"):
        g(torch.randn(7, 2), None)


def test_joint_forward_without_batch_statistics_equals_running_the_members_one_by_one():
    s = make("mad_gan", **CONFIGS["mad_gan"][0])                 # no BatchNorm: nothing couples the samples
    g = s.generators["g"]
    z = torch.randn(3 * 4, 2)
    per_member = torch.cat([g(c, i) for i, c in enumerate(z.chunk(3))])
    torch.testing.assert_close(g(z, None), per_member)


def test_joint_pass_of_a_deep_copy_uses_the_copys_parameters():
    # EMA copies the generator ensemble with deepcopy after the joint pass has been built
    import copy
    s = make("mgan", n_generators=2, generator=dict(TINY_MLP_G, norm="batch"), discriminator=TINY_MLP_D)
    g = s.generators["g"]
    z = torch.randn(8, 2)
    g.eval()
    before = g(z, None)
    twin = copy.deepcopy(g).eval()
    with torch.no_grad():
        for q in twin.parameters():
            q.zero_()
    assert torch.count_nonzero(twin(z, None)) == 0             # the copy's (zeroed) tensors, not the original's
    torch.testing.assert_close(g(z, None), before)


def test_mgan_eval_mode_matches_training_statistics_after_training():
    # with the joint pass the shared BN's running statistics estimate the mixture batch's statistics, so
    # eval-mode samples (running stats) match training-mode samples (batch stats) for the same latents
    torch.manual_seed(0)
    s = make("mgan", n_generators=4, generator=dict(TINY_MLP_G, norm="batch"), discriminator=TINY_MLP_D)
    g = s.generators["g"]
    for bn in (mod for mod in g.modules() if isinstance(mod, torch.nn.BatchNorm1d)):
        bn.momentum = None                                        # cumulative average: exact population stats
    z = torch.randn(4 * 512, 2)
    g.train()
    with torch.no_grad():
        for _ in range(3):
            train_out = g(z, None)
        g.eval()
        eval_out = g(z, None)
    torch.testing.assert_close(eval_out, train_out, rtol=1e-3, atol=1e-3)


def test_cogan_shares_first_generator_and_last_critic_layers():
    s = make("cogan", **CONFIGS["cogan"][0])
    g, d = s.generators["g"].members, s.discriminators["d"].members
    assert _same(g[0].body[0][0], g[1].body[0][0]) and _same(g[0].body[1][0], g[1].body[1][0])
    assert g[0].out is not g[1].out
    assert d[0].body[0][0] is not d[1].body[0][0]        # first critic layer per domain
    assert _same(d[0].body[1][0], d[1].body[1][0]) and _same(d[0].head, d[1].head)
    weight = d[0].head.weight
    Trainer(s).train_step(CONFIGS["cogan"][1]())
    assert d[1].head.weight is weight                     # still one tensor after an optimizer step


def test_mad_gan_critic_loss_is_the_k_plus_one_cross_entropy():
    s = make("mad_gan", loss="nonsaturating", **CONFIGS["mad_gan"][0])
    real = torch.randn(6, 2)
    fake = torch.randn(6, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    s.generate_with_sources = lambda n, index=None: (fake, labels)
    terms = s._d_compute({"x": real}, 0)
    d, c = s.discriminators["d"], s.aux["classifier"]
    with torch.no_grad():
        logits = []
        for x in (real, fake):
            score, _, phi = d.forward_features(x)
            cls = c(phi)
            logits.append(torch.cat([(score + torch.logsumexp(cls, 1))[:, None], cls], dim=1))   # (k+1)-way
        expected = F.cross_entropy(logits[0], torch.zeros(6, dtype=torch.long)) + \
            F.cross_entropy(logits[1], labels + 1)
    assert torch.allclose(terms.total.detach(), expected, atol=1e-5)


# ---------------------------------------------------------------- CycleGAN image pool
def test_image_pool_fills_then_returns_past_fakes_half_the_time():
    pool = ImagePool(50)
    first = torch.arange(50.0)[:, None]
    assert torch.equal(pool.query(first), first)          # filling: returns the inputs and stores them
    assert len(pool) == 50
    torch.manual_seed(1)
    n_past, trials = 0, 4000
    for t in range(trials):
        new = torch.full((1, 1), 1000.0 + t)
        stored_before = set(pool.images[:, 0].tolist())
        out = float(pool.query(new)[0, 0])
        if out != 1000.0 + t:
            n_past += 1
            assert out in stored_before                     # a past fake, now replaced by the new one
            assert 1000.0 + t in pool.images[:, 0].tolist()
        assert len(pool) == 50
    assert 0.46 < n_past / trials < 0.54


def test_image_pool_size_zero_is_a_passthrough_and_state_round_trips():
    x = torch.randn(3, 2)
    assert torch.equal(ImagePool(0).query(x), x)
    pool = ImagePool(4)
    pool.query(torch.randn(3, 2))
    other = ImagePool(4)
    other.load_state_dict(pool.state_dict())
    assert torch.equal(other.images, pool.images)
    with pytest.raises(ValueError, match="size"):
        ImagePool(5).load_state_dict(pool.state_dict())


def test_cyclegan_checkpoint_round_trip_restores_the_pool(tmp_path):
    params = dict(CONFIGS["cyclegan"][0], pool_size=8)
    batch_of = CONFIGS["cyclegan"][1]
    trainer = Trainer(make("cyclegan", **params))
    for _ in range(3):
        trainer.train_step(batch_of())
    assert len(trainer.system.pools["a"]) == 8            # full: the next step draws from the pool
    batch = batch_of()
    save_checkpoint(tmp_path / "c.pt", trainer)
    expected = trainer.train_step(batch)

    fresh = Trainer(make("cyclegan", **params))
    load_checkpoint(tmp_path / "c.pt", fresh)
    assert len(fresh.system.pools["a"]) == 8 and len(fresh.system.pools["b"]) == 8
    assert fresh.train_step(batch) == expected

    # the pool matters: the same restore with an emptied pool gives different critic losses
    again = Trainer(make("cyclegan", **params))
    load_checkpoint(tmp_path / "c.pt", again)
    again.system.pools["a"].images = None
    again.system.pools["b"].images = None
    logs = again.train_step(batch)
    assert logs["D_A/total"] != expected["D_A/total"] or logs["D_B/total"] != expected["D_B/total"]


# ---------------------------------------------------------------- LAPGAN pyramid
def test_laplacian_pyramid_reconstructs_the_image():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    bands, gauss = laplacian_pyramid(x, 4)
    assert [tuple(g.shape[2:]) for g in gauss] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert [tuple(h.shape[2:]) for h in bands] == [(32, 32), (16, 16), (8, 8)]
    assert torch.allclose(reconstruct(bands, gauss[-1]), x, atol=1e-12)


def test_pyramid_filters_preserve_constants_and_reject_odd_sizes():
    c = torch.full((1, 1, 8, 8), 0.7, dtype=torch.float64)
    assert torch.allclose(downsample(c), torch.full((1, 1, 4, 4), 0.7, dtype=torch.float64))
    assert torch.allclose(upsample(c), torch.full((1, 1, 16, 16), 0.7, dtype=torch.float64))
    bands, _ = laplacian_pyramid(c, 3)
    assert all(torch.allclose(h, torch.zeros_like(h)) for h in bands)   # no detail in a flat image
    with pytest.raises(ValueError, match="even"):
        downsample(torch.rand(1, 1, 7, 8))


def test_lapgan_samples_have_the_data_shape():
    s = make("lapgan", **CONFIGS["lapgan"][0])
    assert s.generate(3).shape == (3, 1, 16, 16)


# ---------------------------------------------------------------- StackGAN
def test_conditioning_augmentation_kl_is_zero_at_the_prior():
    from gan_models.systems.stackgan import ConditioningAugmentation
    ca = ConditioningAugmentation(4, 3)
    torch.nn.init.zeros_(ca.fc.weight)
    torch.nn.init.zeros_(ca.fc.bias)
    c, kl = ca(torch.randn(5, 4))
    assert c.shape == (5, 3) and float(kl.detach()) == 0.0
    torch.nn.init.constant_(ca.fc.bias, 1.0)              # mu = 1, log sigma^2 = 1 per dim
    _, kl = ca(torch.randn(5, 4))
    per_dim = -0.5 * (1 + 1 - 1 - math.e)
    assert math.isclose(float(kl.detach()), per_dim, rel_tol=1e-6)            # authors' code: mean over elements
    summed = ConditioningAugmentation(4, 3, kl_reduction="sum")
    summed.load_state_dict(ca.state_dict())
    assert math.isclose(float(summed(torch.randn(5, 4))[1].detach()), 3 * per_dim, rel_tol=1e-6)   # paper's sum


def test_stackgan_needs_labels_when_conditional():
    s = make("stackgan", **CONFIGS["stackgan"][0])
    with pytest.raises(ValueError, match="labels"):
        s.generate(2)
    assert s.generate(2, y=torch.tensor([0, 2])).shape == (2, 1, 16, 16)

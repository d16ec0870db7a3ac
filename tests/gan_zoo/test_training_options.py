"""The generic training options: learning-rate schedules, DiffAugment / ADA, stability monitors.

Closed forms of the schedules and the augmentations, their reach (every critic call of every system, the fusion
systems included), ADA's heuristic, the monitors' diagnostics, detectors and actions, and exact resumption of all
of their state from a checkpoint.
"""
from __future__ import annotations

import math

import pytest
import torch

import gan_models
from gan_models.augment.ada import ADA
from gan_models.augment.diffaugment import DiffAugment, rand_cutout, rand_translation
from gan_models.config import ConfigError
from gan_models.critic_stats import CriticReport, PhaseRecord
from gan_models.losses.f_divergence import EBGAN, NonSaturatingGAN
from gan_models.training import Trainer, TrainingStopped, load_checkpoint, save_checkpoint
from gan_models.training.monitors import Monitor, parse_monitors
from gan_models.training.schedules import parse_scheduler

from tests.gan_zoo.zoo_fixtures import batch, single_thread

gan_models.load_all()
_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)
SMALL = {"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4}


def dcgan(**options):
    return gan_models.build("dcgan", **SMALL, **options)


def lrs(system) -> dict[str, float]:
    return {k: o.param_groups[0]["lr"] for k, o in system.optimizers.items()}


# ------------------------------------------------------------------------------------------------ schedules
def test_schedule_closed_forms():
    lin = parse_scheduler({"name": "linear_decay", "start": 100, "end": 200})
    assert [lin.factor(s) for s in (0, 100, 150, 200, 300)] == pytest.approx([1, 1, 0.5, 0, 0])
    exp = parse_scheduler({"name": "exponential", "gamma": 0.9, "steps_per_epoch": 10})
    assert exp.factor(15) == pytest.approx(0.9 ** 1.5) and exp.factor(20) == pytest.approx(0.81)
    stair = parse_scheduler({"name": "exponential", "gamma": 0.9, "steps_per_epoch": 10, "staircase": True})
    assert stair.factor(19) == pytest.approx(0.9) and stair.factor(20) == pytest.approx(0.81)
    cos = parse_scheduler({"name": "cosine", "end": 10, "final": 0.2})
    assert [cos.factor(s) for s in (0, 5, 10, 20)] == pytest.approx([1, 0.6, 0.2, 0.2])
    assert parse_scheduler({"name": "constant"}).factor(10 ** 6) == 1.0


@pytest.mark.parametrize("spec, match", [
    ({"name": "step"}, "unknown schedule 'step'"),
    ({"name": "linear_decay"}, "missing required key 'end'"),
    ({"name": "linear_decay", "end": 10, "gama": 1}, r"unknown key\(s\) \['gama'\]"),
    ({"name": "linear_decay", "start": 10, "end": 5}, "start < end"),
    ({"name": "exponential", "gamma": 1.5}, "gamma"),
    ({"name": "cosine", "end": 5, "steps_per_epoch": 0}, "steps_per_epoch"),
    ("cosine", "a 'name'"),
])
def test_bad_scheduler_specs_raise_naming_the_key(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_scheduler(spec)


def test_steps_per_epoch_data_waits_for_the_trainers_epoch_length(tmp_path):
    """DDcGAN's 0.9 per epoch: the preset counts epochs of the training data (steps_per_epoch: data)."""
    spec = parse_scheduler({"name": "exponential", "gamma": 0.9, "steps_per_epoch": "data"})
    with pytest.raises(ConfigError, match="steps_per_epoch: data: the number of batches per epoch was not given"):
        spec.factor(3)
    assert spec.resolved(10).factor(15) == pytest.approx(0.9 ** 1.5)
    with pytest.raises(ConfigError, match="must be an integer >= 1"):
        spec.resolved(0)
    tiny = {"stages.G.generator.width": 4, "judges.mri.net.width": 4, "judges.func.net.width": 4}
    pair = {"a": torch.rand(2, 1, 32, 32), "b": torch.rand(2, 1, 32, 32)}
    with pytest.raises(ConfigError, match=r"system.setup\(steps_per_epoch="):
        Trainer(gan_models.build("ddcgan", **tiny)).train_step(pair)      # no epoch length: refused, not guessed
    s = gan_models.build("ddcgan", **tiny).setup(steps_per_epoch=10)
    base = lrs(s)
    assert base["G"] == pytest.approx(2e-4)
    t = Trainer(s)
    for _ in range(15):
        t.train_step(pair)
    assert lrs(s) == pytest.approx({k: v * 0.9 ** 1.5 for k, v in base.items()})   # continuous, every optimizer
    path = save_checkpoint(tmp_path / "c.pt", t)
    again = Trainer(gan_models.build("ddcgan", **tiny))           # pending: the epoch length comes from the file
    load_checkpoint(path, again)
    assert lrs(again.system) == pytest.approx(lrs(s))
    again.train_step(pair)
    assert lrs(again.system)["G"] == pytest.approx(2e-4 * 0.9 ** 1.6)


def test_scheduler_steps_per_generator_step_and_only_named_optimizers():
    s = dcgan(scheduler={"name": "linear_decay", "start": 1, "end": 3, "optimizers": ["G"]})
    base = lrs(s)
    t = Trainer(s)
    seen = []
    for i in range(4):
        logs = t.train_step(batch(i))
        seen.append(lrs(s))
        assert logs["lr/G"] == pytest.approx(seen[-1]["G"])
    assert [x["G"] / base["G"] for x in seen] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert all(x["D"] == base["D"] for x in seen)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        dcgan(scheduler={"name": "constant", "optimizers": ["Q"]})


def test_cyclegan_and_sngan_presets_carry_the_papers_schedules():
    sngan = gan_models.build("sngan", **SMALL)
    assert sngan.training_options.scheduler.raw == {"name": "linear_decay", "start": 0, "end": 50000}
    assert sngan.training_options.scheduler.factor(25000) == pytest.approx(0.5)
    s = gan_models.build("cyclegan", **{"generator.width": 4, "discriminator.width": 4, "shape_a": [1, 16, 16],
                                        "shape_b": [1, 16, 16], "scheduler.steps_per_epoch": 2})
    spec = s.training_options.scheduler
    assert spec.factor(2 * 150) == pytest.approx(0.5) and spec.factor(2 * 150 + 1) == pytest.approx(0.5)
    assert spec.factor(2 * 100 - 1) == 1.0 and spec.factor(2 * 200) == 0.0
    assert set(s.training_options.schedulers.schedulers) == {"g", "d_a", "d_b"}


# ------------------------------------------------------------------------------------------------ checkpoints
OPTIONS = {"scheduler": {"name": "cosine", "end": 8, "final": 0.1},
           "augment": {"name": "ada", "p": 0.2, "kimg": 0.5, "interval": 2},
           "monitors": {"mode_collapse": {"patience": 2}, "vanishing_gradient": {"patience": 2},
                        "warmup": 1, "window": 3}}


def test_resume_restores_schedules_ada_and_monitors_exactly(tmp_path):
    torch.manual_seed(0)
    t = Trainer(dcgan(**OPTIONS))
    for i in range(3):
        t.train_step(batch(i))
    path = save_checkpoint(tmp_path / "c.pt", t)
    expected = [t.train_step(batch(3 + i)) for i in range(3)]
    p_before = t.system.training_options.augment.p
    torch.manual_seed(99)
    t2 = Trainer(dcgan(**OPTIONS))
    load_checkpoint(path, t2)
    got = [t2.train_step(batch(3 + i)) for i in range(3)]
    for e, g in zip(expected, got):
        assert set(e) == set(g)
        for k in e:
            assert g[k] == pytest.approx(e[k], rel=1e-6, abs=1e-9), k
    assert t2.system.training_options.augment.p == pytest.approx(p_before)
    assert lrs(t2.system) == pytest.approx(lrs(t.system))
    h1, h2 = t.monitor.state_dict()["history"], t2.monitor.state_dict()["history"]
    assert set(h1) == set(h2) and all(h2[k] == pytest.approx(h1[k]) for k in h1)


def test_checkpoints_refuse_a_different_or_missing_schedule(tmp_path):
    t = Trainer(dcgan(scheduler={"name": "linear_decay", "end": 10}))
    t.train_step(batch())
    path = save_checkpoint(tmp_path / "c.pt", t)
    with pytest.raises(ValueError, match="resume with the same scheduler"):
        load_checkpoint(path, Trainer(dcgan(scheduler={"name": "linear_decay", "end": 20})))
    with pytest.raises(KeyError, match="'schedulers'"):
        load_checkpoint(path, Trainer(dcgan()))
    plain = Trainer(dcgan())
    plain.train_step(batch())
    path2 = save_checkpoint(tmp_path / "plain.pt", plain)
    with pytest.raises(KeyError, match="'augment'"):
        load_checkpoint(path2, Trainer(dcgan(augment={"name": "diffaugment"})))


# ------------------------------------------------------------------------------------------------ DiffAugment
def test_translation_shifts_by_at_most_an_eighth_with_zero_fill():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, 0, 8, 8] = 1.0
    y = rand_translation(x)
    pos = y.flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert torch.all(y.flatten(1).sum(1) == 1) and dy.abs().max() <= 2 and dx.abs().max() <= 2
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10                   # per-sample shifts
    ones = rand_translation(torch.ones(64, 1, 16, 16))
    zeros_per_sample = (ones == 0).flatten(1).sum(1)
    assert zeros_per_sample.max() > 0 and zeros_per_sample.max() <= 16 * 16 - 14 * 14


def test_cutout_zeroes_a_half_size_square_clipped_at_the_border():
    torch.manual_seed(1)
    y = rand_cutout(torch.ones(200, 2, 16, 16))
    holes = (y[:, 0] == 0)
    counts = holes.flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() >= 16                     # 8x8 square, at least a quarter inside
    assert torch.equal(y[:, 0] == 0, y[:, 1] == 0)                        # the same hole in every channel
    rows = holes.any(2).sum(1)
    assert rows.max() == 8


def test_diffaugment_colour_respects_the_value_range_and_is_differentiable():
    torch.manual_seed(2)
    x = torch.full((256, 1, 8, 8), 0.5, requires_grad=True)
    aug = DiffAugment(policy="color", value_range=[0.0, 1.0])
    y = aug(x)
    shift = (y - 0.5).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift))          # flat image: one constant per sample
    assert shift.min() >= -0.25 - 1e-6 and shift.max() < 0.25              # U[-0.5, 0.5) on [-1, 1] = ±0.25 on [0, 1]
    y.sum().backward()
    assert x.grad is not None and torch.all(x.grad > 0)
    with pytest.raises(ConfigError, match="policy"):
        DiffAugment(policy="color,zoom")
    with pytest.raises(ValueError, match="image batches"):
        DiffAugment()(torch.rand(4, 2))


def _count_calls(system):
    aug = system.training_options.augment
    calls = []
    original = aug.apply
    aug.apply = lambda x: calls.append(tuple(x.shape)) or original(x)
    return calls


@pytest.mark.parametrize("name, extra, n_min", [
    ("dcgan", {}, 3),                                         # D: real + fake, G: fake
    ("wgan_gp", {"loss.n_critic": 1}, 4),                     # + the GP interpolates
    ("ragan", {}, 4),                                         # G also sees the real batch
    ("acgan", {}, 3)])                                        # forward_features path of a Critic
def test_augmentation_reaches_every_critic_call_in_training_only(name, extra, n_min):
    s = gan_models.build(name, **SMALL, **extra, augment={"name": "diffaugment"})
    calls = _count_calls(s)
    b = dict(batch(), y=torch.tensor([0, 1, 2, 0]))
    Trainer(s).train_step(b)
    assert len(calls) >= n_min and all(c[1:] == (1, 16, 16) for c in calls)
    n = len(calls)
    s.eval()
    with torch.no_grad():
        s.discriminators["D"](b["x"])
    assert len(calls) == n                                    # eval mode: no augmentation
    assert not any(k.startswith("input_transform") for k in s.state_dict())


def test_fusion_critics_are_augmented_without_fusion_code():
    s = gan_models.build("ddcgan", **{"stages.G.generator.width": 4, "judges.mri.net.width": 4,
                                      "judges.func.net.width": 4},
                         augment={"name": "diffaugment", "value_range": [0, 1]}).setup(steps_per_epoch=4)
    calls = _count_calls(s)
    logs = Trainer(s).train_step({"a": torch.rand(2, 1, 32, 32), "b": torch.rand(2, 1, 32, 32)})
    assert len(calls) >= 6                                    # 2 critics x (real + fake) + 2 in the G step
    assert "monitor/D_mri/acc_real" in logs and "monitor/D_func/acc_real" in logs


# ------------------------------------------------------------------------------------------------ ADA
def test_ada_heuristic_moves_p_by_the_papers_step():
    ada = ADA(p=0.0, target=0.6, interval=4, kimg=1.0)
    for _ in range(4):
        ada.observe([1.0, 0.9], batch_size=64)
    assert ada.p == pytest.approx(64 * 4 / 1000)                        # r_t = 0.95 > 0.6: p rises
    assert ada.logs()["augment/r_t"] == pytest.approx(0.95)
    for _ in range(8):
        ada.observe([-1.0], batch_size=64)
    assert ada.p == 0.0                                                  # clamped at 0
    fixed = ADA(p=0.3, adaptive=False)
    fixed.observe([1.0], 64)
    assert fixed.p == 0.3
    other = ADA()
    other.load_state_dict(ada.state_dict())
    assert other.p == ada.p and other.last_rt == ada.last_rt


def test_ada_transforms_at_p_one():
    torch.manual_seed(3)
    x = torch.rand(32, 1, 8, 8) * 2 - 1
    assert torch.equal(ADA(p=0.0)(x), x)
    flips = ADA(p=1.0, **{k: 0.0 for k in ("rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness",
                                           "contrast", "lumaflip", "hue", "saturation")})(x)
    for i in range(32):
        assert torch.allclose(flips[i], x[i], atol=1e-5) or torch.allclose(flips[i], x[i].flip(-1), atol=1e-5)
    luma = ADA(p=1.0, **{k: 0.0 for k in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
                                          "brightness", "contrast", "hue", "saturation")})(x)
    for i in range(32):                                                   # grey luma flip: x or -x
        assert torch.allclose(luma[i], x[i], atol=1e-5) or torch.allclose(luma[i], -x[i], atol=1e-5)
    shifted = ADA(p=1.0, xint_max=0.25, **{k: 0.0 for k in ("xflip", "rotate90", "scale", "rotate", "aniso", "xfrac",
                                                            "brightness", "contrast", "lumaflip", "hue",
                                                            "saturation")})(x)
    moved = 0
    for i in range(32):                                                   # integer blits, reflection at the border
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if torch.allclose(shifted[i, :, 2:6, 2:6], x[i, :, 2 - dy:6 - dy, 2 - dx:6 - dx], atol=1e-5)]
        assert hits
        moved += hits != [(0, 0)]
    assert moved > 10


@pytest.mark.parametrize("diagnostics", [True, False])
def test_ada_p_follows_r_t_in_training(diagnostics):
    s = dcgan(augment={"name": "ada", "p": 0.5, "kimg": 0.1, "interval": 1})
    t = Trainer(s, diagnostics=diagnostics)                  # r_t is collected even without the diagnostics
    ps = [t.train_step(batch(i))["augment/p"] for i in range(4)]
    assert len(set(ps)) > 1 and all(p >= 0 for p in ps)
    assert s.training_options.augment.last_rt is not None


# ------------------------------------------------------------------------------------------------ monitors
def _record(real, fake, loss=NonSaturatingGAN()):
    from gan_models.critic_stats import recording, report_critic, report_generated
    with recording() as rec:
        report_critic(loss, torch.tensor(real), torch.tensor(fake))
    return rec, report_generated


def test_critic_accuracy_uses_the_losss_threshold_and_orientation():
    rec, _ = _record([1.0, 2.0, -0.5, 3.0], [-1.0, 0.5, -2.0, -3.0])
    diag, _, critics = Monitor().diagnostics({"D": rec}, {}, {})
    assert critics == ["D"] and diag["monitor/D/acc_real"] == 0.75 and diag["monitor/D/acc_fake"] == 0.75
    energy, _ = _record([0.1, 0.2, 5.0, 0.3], [4.0, 6.0, 0.05, 7.0], loss=EBGAN())     # low energy = real
    diag, _, _ = Monitor().diagnostics({"D": energy}, {}, {})
    assert diag["monitor/D/acc_real"] == 0.75 and diag["monitor/D/acc_fake"] == 0.75
    report = CriticReport(torch.tensor([10.0, 11.0]), torch.tensor([1.0, 12.0]), None)     # WGAN: the midpoint
    assert report.cut() == pytest.approx(8.5) and report.accuracy() == (1.0, 0.5)
    assert report.real_sign() == 1.0


def test_diversity_is_the_fake_over_the_real_pairwise_distance():
    real = torch.randn(16, 2)
    for fake, expected in ((real.clone(), 1.0), (torch.zeros(16, 2), 0.0), (3 * real, 3.0)):
        rec = PhaseRecord(fakes=[fake], reals=[real])
        diag, gens, _ = Monitor().diagnostics({"G": rec}, {}, {})
        assert gens == ["G"] and diag["monitor/diversity"] == pytest.approx(expected, abs=1e-6)


def _feed(policy: dict, diags: list[dict]) -> list[dict]:
    m = Monitor(parse_monitors(policy))
    fired = []
    for step, d in enumerate(diags):
        fired += m.check(step, d, ["G"], ["D"])
    return fired


def test_detectors_fire_on_the_median_after_warmup_and_patience():
    healthy = {"monitor/diversity": 0.9, "monitor/G/grad_norm": 1.0, "monitor/D/acc_real": 0.7,
               "monitor/D/acc_fake": 0.8}
    collapsed = dict(healthy, **{"monitor/diversity": 0.1})
    policy = {"warmup": 5, "mode_collapse": {"patience": 10}}
    assert _feed(policy, [healthy] * 40) == []
    ev = _feed(policy, [healthy] * 10 + [collapsed] * 30)
    # the median over 10 steps flips after 6 collapsed steps (steps 10..15); a fresh window before firing again
    assert [e["step"] for e in ev] == [15, 25, 35] and ev[0]["kind"] == "mode_collapse"
    assert ev[0]["evidence"]["diversity"] == pytest.approx(0.1)
    noisy = [collapsed if i % 3 else healthy for i in range(40)]          # 2 of 3 collapsed: still a collapse
    assert _feed(policy, noisy)
    vanish = _feed({"warmup": 0, "vanishing_gradient": {"patience": 5, "reference_steps": 5}},
                   [healthy] * 5 + [dict(healthy, **{"monitor/G/grad_norm": 0.005})] * 10)
    assert vanish and vanish[0]["evidence"]["g_grad_ratio"] == pytest.approx(0.005)
    tiny = _feed({"warmup": 0, "vanishing_gradient": {"patience": 5, "reference_steps": 5}},
                 [dict(healthy, **{"monitor/G/grad_norm": 5e-4})] * 20)   # small from the start: the floor
    assert tiny and tiny[0]["evidence"]["g_grad_norm"] == pytest.approx(5e-4)
    over = _feed({"warmup": 0, "critic_overpowering": {"patience": 5}},
                 [dict(healthy, **{"monitor/D/acc_real": 1.0, "monitor/D/acc_fake": 1.0})] * 6)
    assert over and over[0]["kind"] == "critic_overpowering"
    with pytest.raises(ConfigError, match="no detector"):
        parse_monitors({"action": "stop"})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['mode_colapse'\]"):
        parse_monitors({"mode_colapse": {}})


ALWAYS = {"mode_collapse": {"diversity_below": 1e9, "patience": 2}, "warmup": 2, "window": 3, "snapshot_every": 1}


def test_monitor_actions_record_stop_and_rollback():
    t = Trainer(dcgan(monitors=dict(ALWAYS, action="record")))
    logs = [t.train_step(batch(i)) for i in range(6)]
    assert [e["step"] for e in t.events] == [3, 5] and logs[3]["monitor/event/mode_collapse"] == 1.0
    assert t.events[0]["action"] == "record"
    t = Trainer(dcgan(monitors=dict(ALWAYS, action="stop")))
    with pytest.raises(TrainingStopped, match="mode_collapse") as err:
        for i in range(6):
            t.train_step(batch(i))
    assert err.value.event["step"] == 3


def test_rollback_restores_the_last_good_state_and_lowers_the_learning_rate():
    policy = {"mode_collapse": {"diversity_below": 1e9, "patience": 3}, "warmup": 3, "window": 3,
              "snapshot_every": 2, "action": "rollback", "max_rollbacks": 1, "rollback_lr_factor": 0.5}
    t = Trainer(dcgan(monitors=policy))
    base = lrs(t.system)
    snapshots = {}
    for i in range(5):
        t.train_step(batch(i))
        if t.step == 2:      # the last snapshot: later the detector's window already meets its condition
            snapshots = {k: v.clone() for k, v in t.system.generators["G"].state_dict().items()}
    logs = t.train_step(batch(5))                           # the detector fires at this step (warm-up 3 + 3)
    assert logs["monitor/rollbacks"] == 1.0 and t.rollbacks == 1 and t.step == 2
    for k, v in t.system.generators["G"].state_dict().items():
        assert torch.equal(v, snapshots[k]), k
    assert lrs(t.system) == pytest.approx({k: 0.5 * v for k, v in base.items()})
    with pytest.raises(TrainingStopped):                    # max_rollbacks = 1: the next event stops
        for i in range(10):
            t.train_step(batch(i))


def test_diagnostics_are_in_every_steps_logs_and_can_be_turned_off():
    logs = Trainer(dcgan()).train_step(batch())
    for key in ("monitor/D/acc_real", "monitor/D/acc_fake", "monitor/D/grad_norm", "monitor/G/grad_norm",
                "monitor/diversity", "monitor/fake_spread"):
        assert key in logs and math.isfinite(logs[key]), key
    assert not any(k.startswith("monitor/") for k in Trainer(dcgan(), diagnostics=False).train_step(batch()))
    with pytest.raises(ValueError, match="diagnostics"):
        Trainer(dcgan(monitors={"mode_collapse": {}}), diagnostics=False)


def test_generic_options_reach_systems_built_by_name_only():
    s = gan_models.build("lapgan", **{"data_shape": [1, 16, 16], "levels": 2, "coarse_generator.width": 4,
                                      "coarse_discriminator.width": 4, "level_discriminator.width": 4,
                                      "level_generator.width": 4},
                         scheduler={"name": "constant"}, augment={"name": "diffaugment"})
    assert s.training_options.scheduler.name == "constant" and s.training_options.augment is not None
    assert s.generators["1"].__class__.__name__ == "DCGANGenerator"      # dotted override kept the default name
    with pytest.raises(ConfigError, match="augment"):
        gan_models.build("dcgan", **SMALL, augment={"name": "mixup"})

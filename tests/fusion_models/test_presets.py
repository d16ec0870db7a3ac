"""Every preset of issue 5 on the shared trainer: registration, citations, a few CPU steps with each
adversarial loss, content loss going down, and the topology-specific behaviour of the special models."""
import math

import pytest
import torch
import yaml

import gan_models
from gan_models.presets import preset_names, resolve_preset
from gan_models.systems.fusion import FusionSystem
from gan_models.systems.fusion_synthesis import ROICycleGAN, SynthesisSystem
from gan_models.tissue_labels import dense_structure_mask, tissue_labels
from gan_models.training.checkpoint import load_checkpoint, save_checkpoint
from gan_models.training.trainer import Trainer

from tests.fusion_models.fusion_fixtures import ALL_PRESETS, FUSION_PRESETS, LOSSES, SYNTHESIS_PRESETS, TINY, batch_for


def build(name, **over):
    # steps_per_epoch: the batches per epoch a trainer with data gives (ddcgan's schedule counts epochs)
    return gan_models.build(name, **{**TINY[name], **over}).setup(steps_per_epoch=4)


def test_every_preset_of_the_issue_is_registered_and_documented():
    names = set(preset_names())
    assert set(ALL_PRESETS) <= names
    for name in ALL_PRESETS:
        data = resolve_preset(name)
        desc = data["description"]
        assert data.get("paper"), name
        assert "chosen" in desc.lower() or "not reproduced" in desc.lower(), f"{name}: say what was chosen"
        assert len(desc) > 300, name


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("name", ALL_PRESETS)
def test_preset_trains_with_each_loss(name, loss, pair32, contrasts32):
    torch.manual_seed(0)
    system = build(name, loss=loss)
    trainer = Trainer(system)
    batch = batch_for(name, pair32, contrasts32)
    logs = trainer.train_step(dict(batch))
    assert logs and all(math.isfinite(v) for v in logs.values()), logs
    assert any(k.startswith("D_") for k in logs) and any(k.startswith("G") for k in logs)
    if name in FUSION_PRESETS:
        f = system.fuse(batch["a"], batch["b"])
        assert f.shape == batch["a"].shape
    elif isinstance(system, SynthesisSystem):
        outs = system.synthesize(**{k: batch[k] for k in system.inputs})
        assert set(outs) == set(system.targets)
        f = torch.cat(list(outs.values()))
    else:
        f = system.synthesize(batch["a"])
        assert f.shape == batch["a"].shape
    assert torch.isfinite(f).all() and f.min() >= 0.0 and f.max() <= 1.0


def _content(logs):
    return sum(v for k, v in logs.items() if k.startswith("G/") and ("content" in k or "/l1_" in k or "recon" in k
                                                                     or "latent" in k))


#: generators whose last layer starts at zero (the untrained model is a fixed fusion rule already close to the
#: content target) need more steps before the loss moves by 10 %
CONTENT_STEPS = {"smoothmax_gan": 150}


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_content_loss_decreases(name, pair32, contrasts32):
    torch.manual_seed(0)
    lr = 5e-3 if name in CONTENT_STEPS else 2e-3
    system = build(name, **{"g_optimizer.lr": lr})       # the preset's loss and nets; a faster G for the test
    trainer = Trainer(system)
    batch = batch_for(name, pair32, contrasts32)
    hist = [_content(trainer.train_step(dict(batch))) for _ in range(CONTENT_STEPS.get(name, 10))]
    assert hist[0] > 0
    assert sum(hist[-3:]) / 3 < 0.9 * sum(hist[:3]) / 3, hist


# ------------------------------------------------------------------ topology-specific behaviour
def test_ddcgan_multi_resolution(pair32):
    s = build("ddcgan", b_scale=4)
    a, b = pair32["a"], pair32["b"]
    low = torch.nn.functional.avg_pool2d(b, 4)
    batch = s.prepare({"a": a, "b": b})
    assert torch.allclose(batch["b_lowres"], low)
    real, fake = s._judge_inputs("func", batch, [torch.rand_like(a)])
    assert real.shape == fake.shape == (1, 1, 8, 8)                   # D_func judges at B's resolution
    f_low_only = s.fuse(a, low)                                        # inference from a low-resolution B alone
    assert f_low_only.shape == a.shape
    with pytest.raises(ValueError, match="1/4 resolution"):
        s.fuse(a, b[..., :16, :])


def test_ddcgan_paper_constants():
    s = gan_models.build("ddcgan")
    w = {t.label: (t.weight, t.params.get("sum_pixels")) for t in s.contents[0]}
    assert w["intensity_b_lowres"] == (pytest.approx(0.6 / 16), 7056)
    assert w["gradient_a"] == (pytest.approx(0.6 * 1.2), 7056)
    assert s.param_clip == 8.0 and s.loss_name == "nonsaturating"
    opts = s.optimizers
    assert isinstance(opts["G"], torch.optim.RMSprop) and isinstance(opts["D_mri"], torch.optim.SGD)
    assert opts["G"].param_groups[0]["lr"] == pytest.approx(2e-4)


def test_param_clip_is_applied(pair32):
    s = build("ddcgan", param_clip=0.01)
    Trainer(s).train_step(dict(pair32))
    assert max(float(p.detach().abs().max()) for p in s.parameters() if p.requires_grad) <= 0.01 + 1e-7


def test_ganfuse_critics_judge_differences(pair32):
    s = build("ganfuse")
    batch = s.prepare(dict(pair32))
    f = torch.rand_like(pair32["a"])
    real1, fake1 = s._judge_inputs("d1", batch, [f])
    real2, fake2 = s._judge_inputs("d2", batch, [f])
    assert torch.equal(real1, pair32["a"]) and torch.equal(fake1, (f - pair32["b"]).abs())
    assert torch.equal(real2, pair32["b"]) and torch.equal(fake2, (f - pair32["a"]).abs())


def test_tacgan_conditions_on_tissue_labels(pair32):
    s = build("tacgan")
    batch = s.prepare(dict(pair32))
    assert torch.equal(batch["labels"], tissue_labels(pair32["a"], 3))
    assert s.generators["G"].extra_channels == 4
    real, fake = s._judge_inputs("mri", batch, [torch.rand_like(pair32["a"])])
    assert real.shape[1] == fake.shape[1] == 5                          # image + 4 one-hot channels
    labels = torch.zeros_like(batch["labels"])                          # a batch may bring its own labels
    assert torch.equal(s.prepare({**pair32, "labels": labels})["labels"], labels)


def test_mgmdcgan_cascade(pair32):
    s = build("mgmdcgan")
    batch = s.prepare(dict(pair32))
    assert torch.equal(batch["mask"], dense_structure_mask(pair32["a"]))
    outs = s.run_stages(batch)
    assert len(outs) == 2 and s.generators["G2"].extra_channels == 1
    outs[1].sum().backward()                          # G2's loss must not reach G1 (F1 is detached)
    assert all(p.grad is None for p in s.generators["G1"].parameters())
    real, fake = s._judge_inputs("mri", batch, outs)
    assert fake.shape[0] == 2 * pair32["a"].shape[0]                   # the critics see both generators


def test_rcgan_coupling(pair32):
    s = build("rcgan")
    g1, g2 = s.generators["G1"], s.generators["G2"]
    assert g1.net[3] is g2.net[3] and g1.net[4] is g2.net[4]            # shared tail
    assert g1.net[0] is not g2.net[0]
    s.eval()
    batch = s.prepare(dict(pair32))
    f1, f2 = s.run_stages(batch)
    assert torch.allclose(s.fuse(pair32["a"], pair32["b"]), 0.5 * (f1 + f2), atol=1e-6)
    assert torch.allclose(f2, g2(pair32["b"], pair32["a"]))             # G2 sees the role-swapped pair


def test_fuse_colour_b_through_the_system(pair32):
    s = build("fusiongan")
    rgb = torch.stack([pair32["b"][:, 0], pair32["b"][:, 0] * 0.5, 1 - pair32["b"][:, 0]], dim=1)
    out = s.fuse(pair32["a"], rgb)
    assert out.shape == (1, 3, 32, 32) and 0 <= out.min() and out.max() <= 1


def test_bad_configuration_and_input_errors(pair32):
    with pytest.raises(KeyError, match="unknown view"):
        build("fusiongan", **{"judges.mri.real": "ct"})
    with pytest.raises(ValueError, match="unknown key"):
        build("fusiongan", **{"stages.G.colour": True})
    with pytest.raises(ValueError, match="cannot use loss"):
        build("fusiongan", loss="gmmn")
    with pytest.raises(KeyError, match="missing"):
        Trainer(build("fusiongan")).train_step({"a": pair32["a"]})
    with pytest.raises(ValueError, match="one shape"):
        build("fusiongan").fuse(pair32["a"], pair32["b"][..., :16])


def test_checkpoint_round_trip(tmp_path, pair32):
    torch.manual_seed(0)
    s = build("ganfm")
    tr = Trainer(s)
    tr.train_step(dict(pair32))
    path = save_checkpoint(tmp_path / "ck.pt", tr, meta={"preset": "ganfm"})
    f = s.fuse(pair32["a"], pair32["b"])
    torch.manual_seed(1)
    s2 = build("ganfm")
    tr2 = Trainer(s2)
    assert load_checkpoint(path, tr2)["preset"] == "ganfm"
    assert torch.allclose(s2.fuse(pair32["a"], pair32["b"]), f)


# ------------------------------------------------------------------ the optional balanced-steps policy
def _count_steps(system):
    counts = {k: 0 for k in system.optimizers}
    for k, opt in system.optimizers.items():
        orig = opt.step

        def step(*a, _k=k, _orig=orig, **kw):
            counts[_k] += 1
            return _orig(*a, **kw)
        opt.step = step
    return counts


@pytest.mark.parametrize("thresholds,expected", [
    ({"d_max_loss": 1e9, "d_min_loss": -1e9, "g_max_loss": 1e9}, {"D_mri": 1, "D_func": 1, "G": 1}),
    ({"d_max_loss": -1.0, "d_min_loss": -1e9, "g_max_loss": 1e9}, {"D_mri": 3, "D_func": 3, "G": 1}),
    ({"d_max_loss": 1e9, "d_min_loss": 1e9, "g_max_loss": 1e9}, {"D_mri": 1, "D_func": 1, "G": 3}),
    ({"d_max_loss": 1e9, "d_min_loss": -1e9, "g_max_loss": -1.0}, {"D_mri": 1, "D_func": 1, "G": 3}),
])
def test_threshold_balance_policy_drives_the_repeats(pair32, thresholds, expected):
    s = build("ddcgan", balance={"name": "threshold", "max_repeats": 3, **thresholds})
    counts = _count_steps(s)
    Trainer(s).train_step(dict(pair32))
    assert counts == expected


def test_threshold_balance_adversarial_only_repeats(pair32):
    s = build("ddcgan", balance={"name": "threshold", "max_repeats": 2, "d_min_loss": 1e9})
    seen = []
    orig = s.g_terms
    s.g_terms = lambda batch, adversarial_only=False: (seen.append(adversarial_only), orig(batch, adversarial_only))[1]
    Trainer(s).train_step(dict(pair32))
    assert seen[0] is False and True in seen            # first G update full, then adversarial-only (G_GAN_solver)


def test_threshold_balance_needs_a_logistic_loss():
    with pytest.raises(ValueError, match="BCE thresholds"):
        build("ddcgan", loss="lsgan", balance={"name": "threshold"})
    with pytest.raises(KeyError, match="unknown balanced-steps policy"):
        build("ddcgan", balance={"name": "ttur"})


def test_fproi_roi_weighting():
    s = build("fproi_gan")
    assert isinstance(s, ROICycleGAN)
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 0.5
    x = target.clone()
    x[..., 0, 0] = 1.0                                  # an error of 1 in the background
    bg = s._recon(x, target)
    x2 = target.clone()
    x2[..., 3, 3] += 1.0                                # the same error inside the ROI
    fg = s._recon(x2, target)
    assert float(fg) == pytest.approx(5 * float(bg))    # weight 1 + roi_weight = 5 vs 1


def test_preset_files_are_valid_yaml_with_known_systems():
    from importlib import resources
    for name in ALL_PRESETS:
        text = (resources.files("gan_models.presets") / f"{name}.yaml").read_text()
        data = yaml.safe_load(text)
        assert data["system"] in ("fusion", "synthesis", "cycle_roi")
        expected = FusionSystem if data["system"] == "fusion" else None
        if expected is not None:
            assert isinstance(gan_models.build(name, **TINY[name]), expected)
    assert set(SYNTHESIS_PRESETS) == {"mgmgan", "nenc_mdec", "fproi_gan"}

"""Every fusion preset takes a B at 1/4 of A's resolution (``b_scale`` 4): DDcGAN / MGMDcGAN through the
generator's learned upsampler (stage B view ``b_lowres``), the others through ``FusionSystem.prepare``'s explicit
bilinear upsampling; one training step and a fusion each, F at A's size.  Non-fusion presets are refused by the
train stage (tests/training/test_multires_training.py)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_models import build
from gan_models.presets import preset_names, resolve_preset
from gan_models.training.trainer import Trainer

R = 4
FUSION_PRESETS = [n for n in preset_names() if resolve_preset(n).get("kind") == "fusion"]
LEARNED_UPSAMPLER = {"ddcgan", "mgmdcgan"}


def test_the_fusion_presets_are_all_here():
    assert {"ddcgan", "smoothmax_gan", "fusiongan", "dense_lmax", "dsagan"} <= set(FUSION_PRESETS)
    assert len(FUSION_PRESETS) >= 16


@pytest.mark.parametrize("name", FUSION_PRESETS)
def test_preset_trains_and_fuses_with_a_quarter_resolution_b(name):
    torch.manual_seed(0)
    system = build(name, b_scale=R)
    system.setup(steps_per_epoch=4)                  # a trainer's batches per epoch (ddcgan's schedule counts epochs)
    trainer = Trainer(system)
    a, b = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32 // R, 32 // R)
    batch = {"a": a, "b": b}
    logs = trainer.train_step(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values()), logs
    fused = system.fuse(a, b)
    assert fused.shape == a.shape and 0 <= float(fused.min()) and float(fused.max()) <= 1
    stage_b = [s.b for s in system.stages]
    if name in LEARNED_UPSAMPLER:
        assert stage_b[0] == "b_lowres"                 # the generator's own learned upsampler gets B at 1/4
    else:
        assert "b_lowres" not in stage_b
    prepared = system.prepare({"a": a, "b": b})
    torch.testing.assert_close(prepared["b_lowres"], b)
    torch.testing.assert_close(prepared["b"], F.interpolate(b, size=(32, 32), mode="bilinear",
                                                            align_corners=False))


def test_a_training_step_keeps_the_upsampled_b_for_every_phase():
    """Regression: the critics' and G's phases of one step share the prepared batch, whose "b" is the full-size
    B made from the low-resolution one (it used to keep the caller's low-resolution "b")."""
    system = build("smoothmax_gan", b_scale=R)
    system.setup()
    batch = {"a": torch.rand(2, 1, 32, 32), "b": torch.rand(2, 1, 8, 8)}
    Trainer(system).train_step(batch)
    prepared = system._prepared(batch)
    assert prepared["b"].shape == (2, 1, 32, 32) and prepared["b_lowres"].shape == (2, 1, 8, 8)


def test_ddcgan_second_critic_judges_f_box_averaged_to_b_s_resolution():
    from gan_models.systems.fusion import FUSION_VIEWS
    system = build("ddcgan", b_scale=R)
    assert (system.judges["func"].real, system.judges["func"].fake) == ("b_lowres", "fused_down")
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 8, 8)
    fused = torch.rand(1, 1, 32, 32)
    ctx = system._context(system.prepare({"a": a, "b": b}), fused=fused)
    torch.testing.assert_close(FUSION_VIEWS.get("fused_down")(ctx), F.avg_pool2d(fused, R))

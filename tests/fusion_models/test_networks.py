"""Fusion and synthesis generators: the (a, b, extra) -> F contract, [0, 1] outputs, sizes, bad input."""
import pytest
import torch
import torch.nn.functional as F

from gan_models import load_all
from gan_models.networks.fusion_base import LearnedUpsample
from gan_models.networks.fusion_streams import lmax_fuse
from gan_models.registry import GENERATORS

load_all()

FUSION_GENERATORS = {
    "fusiongan": {"width": 2}, "ddcgan": {"width": 4}, "rrdb_fusion": {"width": 6, "growth": 4, "n_blocks": 1},
    "sagan_fusion": {"width": 4}, "mefgan": {"width": 4}, "fusion_unet": {"width": 4, "depth": 2},
    "ganfm": {"width": 4, "depth": 2}, "dsagan": {"width": 3}, "mmfgan": {"width": 4}, "fusegan": {"width": 4},
    "mganfuse": {"width": 4}, "dense_lmax": {"width": 4}, "smoothmax_residual": {"width": 4, "depth": 2},
}


@pytest.mark.parametrize("name", sorted(FUSION_GENERATORS))
def test_fusion_generator_contract(name):
    g = GENERATORS.build(name, **FUSION_GENERATORS[name])
    for h, w in ((32, 32), (32, 64)):
        a, b = torch.rand(2, 1, h, w), torch.rand(2, 1, h, w)
        f = g(a, b)
        assert f.shape == (2, 1, h, w)
        assert float(f.detach().min()) >= 0.0 and float(f.detach().max()) <= 1.0
        f.mean().backward()                                   # differentiable end to end
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
        g.zero_grad()
    # with conditioning channels
    gc = GENERATORS.build(name, extra_channels=2, **FUSION_GENERATORS[name])
    assert gc(a, b, torch.rand(2, 2, h, w)).shape == (2, 1, h, w)
    with pytest.raises(ValueError, match="extra"):
        gc(a, b)
    with pytest.raises(ValueError, match="extra_channels=0"):
        g(a, b, torch.rand(2, 2, h, w))
    with pytest.raises(ValueError, match="B must be"):
        g(a, torch.rand(3, 1, h, w))
    if g.stride > 1:
        with pytest.raises(ValueError, match="divisible"):
            bad = 8 * g.stride + g.stride // 2
            g(torch.rand(1, 1, bad, bad), torch.rand(1, 1, bad, bad))


def test_ddcgan_accepts_low_resolution_b():
    g = GENERATORS.build("ddcgan", width=4, b_scale=4)
    a = torch.rand(2, 1, 32, 32)
    assert g(a, torch.rand(2, 1, 8, 8)).shape == (2, 1, 32, 32)
    assert g(a, torch.rand(2, 1, 32, 32)).shape == (2, 1, 32, 32)          # full-size B bypasses the upsampler
    with pytest.raises(ValueError, match="8x8"):
        g(a, torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="A's resolution"):
        GENERATORS.build("fusiongan", width=2)(a, torch.rand(2, 1, 8, 8))


def test_learned_upsample_starts_as_bilinear():
    up = LearnedUpsample(1, 4)
    x = torch.rand(1, 1, 8, 8)
    ref = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.allclose(up(x)[..., 4:-4, 4:-4], ref[..., 4:-4, 4:-4], atol=1e-5)
    with pytest.raises(ValueError, match="power of two"):
        LearnedUpsample(1, 3)


def test_lmax_rule_keeps_the_more_active_source_per_pixel():
    fa = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.1]]]])       # (1, 2 channels, 1, 2): activity 1.0 | 0.1
    fb = torch.tensor([[[[0.5, -0.7]], [[0.2, 0.0]]]])      # activity 0.5 | 0.7
    out = lmax_fuse(fa, fb)
    assert torch.equal(out[..., 0], fa[..., 0]) and torch.equal(out[..., 1], fb[..., 1])


def test_siamese_encoder_is_shared_and_mganfuse_encoders_are_not():
    fg = GENERATORS.build("fusegan", width=4)
    assert not hasattr(fg, "encoder_b")
    a = torch.rand(1, 1, 16, 16)
    # swapping the inputs of a Siamese encoder swaps its features: encoder(a) for B equals encoder(a) for A
    ea, eb = fg.encoder(a), fg.encoder(a.clone())
    assert all(torch.equal(x, y) for x, y in zip(ea, eb))
    mg = GENERATORS.build("mganfuse", width=4)
    assert mg.enc_a is not mg.enc_b and mg.enc_a.stages[0][0].weight is not mg.enc_b.stages[0][0].weight


@pytest.mark.parametrize("name,kw", [("mgm_synth", {"n_inputs": 3, "n_outputs": 2, "width": 4}),
                                     ("nenc_mdec", {"n_inputs": 3, "n_outputs": 2, "width": 4, "latent": 4})])
def test_synthesis_generators(name, kw):
    g = GENERATORS.build(name, **kw)
    xs = [torch.rand(2, 1, 16, 16) for _ in range(3)]
    outs, lat = g(xs, return_latents=True)
    assert len(outs) == 2 and all(o.shape == (2, 1, 16, 16) and 0 <= o.min() and o.max() <= 1 for o in outs)
    assert len(lat) == 3
    with pytest.raises(ValueError, match="expects 3 input"):
        g(xs[:2])


def test_nenc_mdec_max_fusion_ignores_a_dominated_input():
    g = GENERATORS.build("nenc_mdec", n_inputs=2, n_outputs=1, width=4, latent=4).eval()
    x = [torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)]
    _, (za, zb) = g(x, return_latents=True)
    fused = torch.maximum(za, zb)
    dec = g.decoders[0]
    from gan_models.networks.fusion_base import unit_interval
    assert torch.allclose(g(x)[0], unit_interval(dec(fused), g.out_act), atol=1e-6)

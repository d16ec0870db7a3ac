"""Networks: shapes at two sizes, DCGAN rules, critic-norm decision, PatchGAN receptive field, heads, adapters."""
import pytest
import torch
from torch import nn

import gan_models
from gan_models.losses.base import CriticOutput
from gan_models.networks import (AutoEncoderCritic, ClassHead, ConvEncoder, DCGANDiscriminator, DCGANGenerator,
                                 FeatureCritic, KPlusOneHead, PatchDiscriminator, QHead, SAGANDiscriminator,
                                 SAGANGenerator, base_grid, resolve_critic_norm, with_mcgan_cov_head)
from gan_models.networks.joint import JointCritic
from gan_models.networks.patch import receptive_field
from gan_models.registry import LOSSES
from tests.gan_zoo.zoo_fixtures import single_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)

gan_models.load_all()

SIZES = [16, (16, 32)]


def hw(size):
    return (size, size) if isinstance(size, int) else tuple(size)


def test_base_grid():
    assert base_grid(64) == (4, 4, 4)
    assert base_grid(16) == (4, 4, 2)
    assert base_grid((48, 64)) == (6, 8, 3)
    assert base_grid(28) == (7, 7, 2)
    with pytest.raises(ValueError, match="cannot be halved"):
        base_grid(7)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("ch", [1, 3])
def test_dcgan_shapes(size, ch):
    g = DCGANGenerator(8, ch, size, width=4)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, ch, *hw(size))
    assert x.abs().max() <= 1.0                                     # tanh output
    d = DCGANDiscriminator(ch, size, width=4)
    assert d(x).shape == (3,)


@pytest.mark.parametrize("size", SIZES)
def test_sagan_shapes(size):
    g = SAGANGenerator(8, 2, size, width=4, attention_at=1)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 2, *hw(size))
    d = SAGANDiscriminator(2, size, width=4, attention_at=1)
    assert d(x).shape == (3,)


@pytest.mark.parametrize("size", SIZES)
def test_encoder_and_autoencoder_shapes(size):
    x = torch.randn(3, 1, *hw(size))
    assert ConvEncoder(1, 5, size, width=4)(x).shape == (3, 5)
    mu, logvar = ConvEncoder(1, 5, size, width=4, variational=True)(x)
    assert mu.shape == logvar.shape == (3, 5)
    out = AutoEncoderCritic(1, size, width=4, code_channels=2)(x)
    assert isinstance(out, CriticOutput)
    assert out.recon.shape == x.shape and out.score.shape == (3,) and out.embedding.shape[0] == 3


@pytest.mark.parametrize("size", [(32, 32), (48, 64)])
def test_patch_shapes(size):
    d = PatchDiscriminator(2, width=4, n_layers=3)
    h, w = size
    assert d(torch.randn(2, 2, h, w)).shape == (2, 1, h // 8 - 2, w // 8 - 2)


def test_critics_accept_other_sizes_divisible_by_their_stride_and_reject_the_rest():
    d = DCGANDiscriminator(1, 16, width=4)                          # stride 4, design grid 4x4
    assert d(torch.randn(2, 1, 24, 36)).shape == (2,)
    with pytest.raises(ValueError, match="divisible by 4"):
        d(torch.randn(2, 1, 18, 16))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        d(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="needs H, W >= 24"):
        PatchDiscriminator(1, width=4, n_layers=3)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"z of shape \(B, 8\)"):
        DCGANGenerator(8, 1, 16, width=4)(torch.randn(2, 9))


def test_dcgan_follows_the_paper():
    g = DCGANGenerator(100, 3, 64, width=64)
    d = DCGANDiscriminator(3, 64, width=64)
    ws = torch.cat([m.weight.detach().flatten() for m in list(g.modules()) + list(d.modules())
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))])
    assert ws.mean().abs() < 1e-3 and ws.std() == pytest.approx(0.02, rel=0.02)
    bn = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert torch.cat([m.weight.detach() for m in bn]).std() == pytest.approx(0.02, rel=0.2)
    # channel schedule of the paper's 64x64 model
    assert g.base == (512, 4, 4)
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512]
    # no BN on the G output / D input layers, BN elsewhere; LeakyReLU 0.2 in D, ReLU + tanh in G
    last = g.up[-1]
    assert isinstance(last[1], nn.Identity) and isinstance(last[2], nn.Tanh)
    assert isinstance(d.down[0][1], nn.Identity) and all(isinstance(b[1], nn.BatchNorm2d) for b in d.down[1:])
    assert all(b[2].negative_slope == 0.2 for b in d.down)
    assert len(bn) == 4                               # projection + 3 hidden transposed convs


def test_projection_critic_adds_the_class_embedding_inner_product():
    d = DCGANDiscriminator(1, 16, width=4, n_classes=3)
    x = torch.randn(2, 1, 16, 16)
    d.eval()
    logit0, _, phi = d.forward_features(x, torch.tensor([0, 0]))
    logit2 = d(x, torch.tensor([2, 2]))
    e = d.projection.weight.detach()
    assert torch.allclose(logit2 - logit0, phi @ (e[2] - e[0]), atol=1e-5)
    with pytest.raises(ValueError, match="needs labels"):
        d(x)
    with pytest.raises(ValueError, match="without classes"):
        DCGANDiscriminator(1, 16, width=4)(x, torch.tensor([0, 1]))


def test_sagan_uses_sn_everywhere_and_no_norm_in_the_critic():
    d = SAGANDiscriminator(1, 16, width=4, n_classes=2)
    g = SAGANGenerator(8, 1, 16, width=4)
    for net in (g, d):
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
        assert layers and all(hasattr(m, "parametrizations") for m in layers)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) for m in d.modules())
    atts = [m for m in g.modules() if m.__class__.__name__ == "SelfAttention"]
    assert len(atts) == 1 and float(atts[0].gamma.detach()) == 0.0
    with pytest.raises(TypeError):
        SAGANDiscriminator(1, 16, norm="batch")            # no normalisation option at all


def test_patch_receptive_field_is_70_for_three_layers():
    assert receptive_field(3) == 70 and receptive_field(2) == 34
    d = PatchDiscriminator(1, width=2, n_layers=3, norm="none")
    x = torch.randn(1, 1, 160, 160, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert int(rows.max() - rows.min() + 1) <= 70 and int(cols.max() - cols.min() + 1) <= 70
    assert int(rows.max() - rows.min() + 1) >= 60           # the field is (almost fully) used


def test_resolve_critic_norm():
    wgan_gp, ns = LOSSES.build("wgan_gp"), LOSSES.build("nonsaturating")
    assert resolve_critic_norm(ns) == "batch"
    assert resolve_critic_norm(wgan_gp) == "layer"
    assert resolve_critic_norm(ns, sn=True) == "none"
    assert resolve_critic_norm(wgan_gp, "instance") == "instance"
    assert resolve_critic_norm(ns, extra_regularizers=("r1",)) == "layer"
    with pytest.raises(ValueError, match="without BatchNorm"):
        resolve_critic_norm(wgan_gp, "batch")
    with pytest.raises(ValueError, match="spectral norm with BatchNorm"):
        resolve_critic_norm(ns, "batch", sn=True)
    with pytest.raises(KeyError, match="unknown critic norm"):
        resolve_critic_norm(ns, "weight")


def test_heads_output_logits_of_the_right_shapes():
    phi = torch.randn(4, 12)
    assert ClassHead(12, 5)(phi).shape == (4, 5)
    cat, cont = QHead(12, (10, 3), 2, hidden=8)(phi)
    assert [c.shape for c in cat] == [(4, 10), (4, 3)] and cont.shape == (4, 2)
    l = KPlusOneHead(12, 5)(phi)
    # P(real) = Z / (Z + 1) with the fake logit fixed at 0
    z = l.exp().sum(1)
    assert torch.allclose(torch.sigmoid(KPlusOneHead.real_fake_logit(l)), z / (z + 1), atol=1e-6)


def test_feature_critic_and_mcgan_head():
    d = DCGANDiscriminator(1, 16, width=4, norm="none")
    out = FeatureCritic(d)(torch.randn(3, 1, 16, 16))
    assert out.features.shape == (3, d.feature_dim) and out.score.shape == (3,)
    d = with_mcgan_cov_head(DCGANDiscriminator(1, 16, width=4, norm="none"), k=3)
    assert d(torch.randn(3, 1, 16, 16)).shape == (3,)
    u = d.head.u.detach()
    assert torch.allclose(u.t() @ u, torch.eye(3), atol=1e-5)


def test_autoencoder_energy_is_the_per_sample_reconstruction_error_and_decoder_is_clip_exempt():
    ae = AutoEncoderCritic(1, 16, width=4, energy_reduction="mean")
    x = torch.randn(3, 1, 16, 16)
    out = ae(x)
    assert torch.allclose(out.score, (out.recon - x).pow(2).flatten(1).mean(1), atol=1e-6)
    assert getattr(ae.decoder, "exempt_from_weight_clip", False)
    assert not getattr(ae.encoder, "exempt_from_weight_clip", False)
    assert AutoEncoderCritic(1, 16, width=4, mode="features")(x).score is None


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mlp_autoencoder_energy_code_and_clip_exemption(reduction):
    from gan_models.networks import MLPAutoEncoderCritic
    ae = MLPAutoEncoderCritic(3, width=8, depth=2, code_dim=4, energy_reduction=reduction)
    x = torch.randn(5, 3)
    out = ae(x)
    err = (out.recon - x).pow(2)
    assert out.recon.shape == x.shape and out.features.shape == (5, 4) and out.embedding is out.features
    assert torch.allclose(out.score, err.mean(1) if reduction == "mean" else err.sum(1), atol=1e-6)
    assert torch.equal(out.features, ae.encoder(x)) and torch.equal(out.input, x)
    assert getattr(ae.decoder, "exempt_from_weight_clip", False)
    assert not getattr(ae.encoder, "exempt_from_weight_clip", False)
    assert MLPAutoEncoderCritic(3, width=8, mode="features")(x).score is None
    with pytest.raises(ValueError, match=r"expects \(B, 3\)"):
        ae(torch.randn(5, 2))
    with pytest.raises(ValueError, match="mode"):
        MLPAutoEncoderCritic(3, mode="score")
    with pytest.raises(ValueError, match="unconditional"):
        MLPAutoEncoderCritic(3, n_classes=2)


def test_joint_critic_pack_unpack_round_trip():
    jc = JointCritic(DCGANDiscriminator(1, 16, width=4), 5, (1, 16, 16), hidden=8)
    x, z = torch.randn(2, 1, 16, 16), torch.randn(2, 5)
    x2, z2 = jc.unpack(jc.pack(x, z))
    assert torch.equal(x, x2) and torch.equal(z, z2)
    assert jc(x, z).shape == (2,)

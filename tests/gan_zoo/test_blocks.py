"""Blocks: norms/activations by name, SAGAN attention identity at init, RRDB scaling, CBAM, gate merge, sampling."""
import pytest
import torch
from torch import nn

from gan_models.blocks import (CBAM, RRDB, ChannelAttention, ConvNormAct, DenseBlock, Downsample, GateMerge,
                               ResBlockDown, ResBlockUp, ResidualBlock, ResidualDenseBlock, SelfAttention,
                               SpatialAttention, Upsample, make_activation, make_norm, spectral_norm)
from gan_models.registry import BLOCKS
from tests.gan_zoo.zoo_fixtures import single_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)


def test_every_block_is_registered():
    import gan_models
    gan_models.load_all()
    for name in ("conv_norm_act", "linear_norm_act", "residual", "res_block_up", "res_block_down", "dense",
                 "residual_dense", "rrdb", "self_attention", "channel_attention", "spatial_attention", "cbam",
                 "gate_merge", "upsample", "downsample"):
        assert name in BLOCKS


@pytest.mark.parametrize("name,cls", [("batch", nn.BatchNorm2d), ("instance", nn.InstanceNorm2d),
                                      ("group", nn.GroupNorm), ("layer", nn.GroupNorm), ("none", nn.Identity)])
def test_norm_by_name(name, cls):
    assert isinstance(make_norm(name, 64), cls)


def test_layer_norm_normalises_each_sample_over_chw():
    x = torch.randn(3, 8, 5, 5) * 4 + 2
    y = make_norm("layer", 8)(x)
    assert torch.allclose(y.flatten(1).mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.flatten(1).var(1, unbiased=False), torch.ones(3), atol=1e-3)


def test_group_norm_uses_32_groups_when_possible():
    assert make_norm("group", 64).num_groups == 32
    assert make_norm("group", 24).num_groups == 8


def test_bad_norm_and_activation_names_raise():
    with pytest.raises(KeyError, match="unknown norm"):
        make_norm("spectral", 8)
    with pytest.raises(ValueError, match="instance norm needs feature maps"):
        make_norm("instance", 8, dims=1)
    with pytest.raises(KeyError, match="unknown activation"):
        make_activation("swish2")
    assert make_activation("lrelu").negative_slope == 0.2


def test_spectral_norm_makes_the_top_singular_value_one():
    lin = spectral_norm(nn.Linear(20, 30))
    for _ in range(50):                       # power iterations run in training-mode forwards
        lin(torch.randn(2, 20))
    assert torch.linalg.matrix_norm(lin.weight.detach(), ord=2) == pytest.approx(1.0, abs=1e-3)


def test_conv_norm_act_drops_bias_before_a_norm():
    assert ConvNormAct(3, 8, norm="batch")[0].bias is None
    assert ConvNormAct(3, 8, norm="none")[0].bias is not None


def test_self_attention_is_identity_at_init_and_not_after_gamma_moves():
    att = SelfAttention(16, sn=True)
    assert float(att.gamma.detach()) == 0.0
    x = torch.randn(2, 16, 6, 6)
    assert torch.equal(att(x), x)
    assert att.f.weight.shape[0] == 2 and att.g.weight.shape[0] == 2           # C/8
    beta = att.attention_map(x)
    assert beta.shape == (2, 36, 36)
    assert torch.allclose(beta.sum(-1), torch.ones(2, 36), atol=1e-5)
    with torch.no_grad():
        att.gamma.fill_(1.0)
    assert not torch.allclose(att(x), x)


def test_rrdb_has_no_batchnorm_and_scales_residuals_by_0_2():
    block = RRDB(8, growth=4)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) for m in block.modules())
    assert block.beta == 0.2 and all(b.beta == 0.2 for b in block.blocks)
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(block(x), x + 0.2 * block.blocks(x), atol=1e-6)
    rdb = block.blocks[0]
    assert len(rdb.dense) == 4                                             # 5 convs: 4 dense + fuse
    feats = [x]
    for layer in rdb.dense:
        feats.append(layer(torch.cat(feats, 1)))
    assert torch.allclose(rdb(x), x + 0.2 * rdb.fuse(torch.cat(feats, 1)), atol=1e-6)
    assert all(layer[2].negative_slope == 0.2 for layer in rdb.dense)


def test_dense_block_concatenates():
    block = DenseBlock(6, growth=3, n_layers=4)
    y = block(torch.randn(2, 6, 4, 4))
    assert y.shape == (2, 18, 4, 4) and block.out_channels == 18


def test_residual_dense_block_needs_two_layers():
    with pytest.raises(ValueError, match=">= 2 layers"):
        ResidualDenseBlock(8, n_layers=1)


def test_cbam_attention_values_gate_the_input():
    x = torch.rand(2, 16, 7, 7) + 0.1
    for m in (ChannelAttention(16, 4), SpatialAttention(7), CBAM(16, 4)):
        y = m(x)
        assert y.shape == x.shape
        assert torch.all(y <= x + 1e-6) and torch.all(y >= 0)         # sigmoid gates in (0, 1) on x > 0
    with pytest.raises(ValueError, match="odd"):
        SpatialAttention(4)


def test_gate_merge_is_the_average_at_init_and_a_gated_sum_after():
    gm = GateMerge(4)
    a, b = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    assert torch.allclose(gm(a, b), 0.5 * (a + b), atol=1e-6)
    with torch.no_grad():
        gm.gate.bias.fill_(50.0)
    assert torch.allclose(gm(a, b), a, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        gm(a, b[:, :2])


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "transposed", "pixelshuffle"])
def test_upsample_doubles(mode):
    assert Upsample(8, 4, mode=mode)(torch.randn(2, 8, 5, 6)).shape == (2, 4, 10, 12)


@pytest.mark.parametrize("mode", ["stride", "avgpool", "maxpool"])
def test_downsample_halves(mode):
    assert Downsample(8, 4, mode=mode)(torch.randn(2, 8, 10, 12)).shape == (2, 4, 5, 6)


def test_bad_sampling_modes_raise():
    with pytest.raises(KeyError, match="upsample mode"):
        Upsample(4, 4, mode="cubic")
    with pytest.raises(KeyError, match="downsample mode"):
        Downsample(4, 4, mode="lanczos")


def test_residual_blocks_shapes_and_identity_path():
    x = torch.randn(2, 8, 8, 8)
    rb = ResidualBlock(8, norm="instance", padding_mode="reflect")
    with torch.no_grad():
        for p in rb.body[1].parameters():
            p.zero_()                       # last conv and its norm's affine = 0 -> body output 0
    assert torch.allclose(rb(x), x)
    assert ResBlockUp(8, 4)(x).shape == (2, 4, 16, 16)
    assert ResBlockDown(8, 4, preactivation=False)(x).shape == (2, 4, 4, 4)
    assert ResBlockDown(8, 8, downsample=False)(x).shape == (2, 8, 8, 8)

"""Colour (BT.601 luma fusion + chroma restore) and the tissue-label data path of TA-cGAN / MGMDcGAN."""
import numpy as np
import pytest
import torch

from gan_models.fusion_colour import colour_fuser, fuse_colour, merge_luma_chroma, split_luma_chroma
from gan_models.tissue_labels import dense_structure_mask, foreground_mask, one_hot_labels, tissue_labels
from pipelines.imaging.color import rgb_to_ycbcr


def _pseudo_colour(n=2, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, h, w, generator=g) * 0.8 + 0.1      # inside the gamut, away from clipping


def test_luma_chroma_round_trip_and_same_constants_as_pipelines():
    rgb = _pseudo_colour()
    y, cb, cr = split_luma_chroma(rgb)
    assert torch.allclose(merge_luma_chroma(y, cb, cr), rgb, atol=1e-6)
    ny, ncb, ncr = rgb_to_ycbcr(rgb.permute(0, 2, 3, 1).double().numpy())      # the numpy path of the project
    assert np.allclose(y[:, 0].numpy(), ny, atol=1e-6) and np.allclose(cr[:, 0].numpy(), ncr, atol=1e-6)


def test_fuse_colour_fuses_luma_and_restores_chroma():
    rgb = _pseudo_colour()
    a = torch.rand(2, 1, 16, 16) * 0.2 + 0.4
    identity = fuse_colour(lambda a_, b_: b_, a, rgb)                     # fusing returns B's luma: B back
    assert torch.allclose(identity, rgb, atol=1e-6)
    out = fuse_colour(lambda a_, b_: 0.5 * (a_ + b_), a, rgb)
    y_out, cb_out, cr_out = split_luma_chroma(out)
    y, cb, cr = split_luma_chroma(rgb)
    inside = (out > 0).all(1, keepdim=True) & (out < 1).all(1, keepdim=True)          # not clipped
    assert inside.float().mean() > 0.5
    assert torch.allclose(y_out[inside], (0.5 * (a + y))[inside], atol=1e-5)
    assert torch.allclose(cb_out[inside], cb[inside], atol=1e-5)
    grey = torch.rand(2, 1, 16, 16)
    assert torch.equal(colour_fuser(lambda a_, b_: b_)(a, grey), grey)                # grey B stays grey
    with pytest.raises(ValueError, match="RGB"):
        fuse_colour(lambda a_, b_: b_, a, torch.rand(2, 2, 16, 16))


def _three_tissues(noise=0.01):
    g = torch.Generator().manual_seed(1)
    img = torch.zeros(1, 1, 32, 32)
    img[..., 4:28, 4:12] = 0.2        # CSF-like (dark)
    img[..., 4:28, 12:20] = 0.5       # grey matter
    img[..., 4:28, 20:28] = 0.9       # white matter (bright on T1)
    truth = torch.zeros(1, 1, 32, 32, dtype=torch.long)
    truth[..., 4:28, 4:12], truth[..., 4:28, 12:20], truth[..., 4:28, 20:28] = 1, 2, 3
    fg = img > 0
    img = torch.where(fg, img + noise * torch.randn(img.shape, generator=g), img)
    return img, truth


def test_tissue_labels_recover_the_classes_darkest_first():
    img, truth = _three_tissues()
    lab = tissue_labels(img, classes=3)
    assert lab.dtype == torch.long and torch.equal(lab, truth)
    assert torch.equal(tissue_labels(img, classes=3), lab)                # deterministic
    oh = one_hot_labels(lab, 3)
    assert oh.shape == (1, 4, 32, 32) and torch.equal(oh.sum(1), torch.ones(1, 32, 32))
    assert torch.equal(dense_structure_mask(img, 3), (truth == 3).float())
    assert torch.equal(foreground_mask(img), (truth > 0).float())


def test_tissue_labels_edge_cases_and_errors():
    flat = torch.zeros(2, 1, 8, 8)
    assert torch.equal(tissue_labels(flat), torch.zeros(2, 1, 8, 8, dtype=torch.long))
    two_levels = torch.zeros(1, 1, 8, 8)
    two_levels[..., :4] = 0.3
    two_levels[..., 6:] = 0.8
    assert set(tissue_labels(two_levels, 3).unique().tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        tissue_labels(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="at least 2"):
        tissue_labels(flat, classes=1)

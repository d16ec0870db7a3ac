"""Content losses: closed-form values, resolution handling, the paper kernels and bad configurations."""
import pytest
import torch
import torch.nn.functional as F

from gan_models.losses.content import (GRADIENT_OPERATORS, ContentTerm, content_loss, gradient, gradient_response,
                                       intensity, match_resolution, ms_ssim_loss, parse_content_terms, ssim_loss)
from gan_models.registry import CONTENT_LOSSES


def test_registered_names():
    assert {"intensity", "gradient", "ssim", "ms_ssim"} <= set(CONTENT_LOSSES.names())


def test_intensity_closed_form_and_targets():
    a = torch.zeros(2, 1, 8, 8)
    b = torch.ones(2, 1, 8, 8)
    f = torch.full((2, 1, 8, 8), 0.25)
    src = {"a": a, "b": b}
    assert intensity(f, src, target="b", norm="l2").item() == pytest.approx(0.75 ** 2)
    assert intensity(f, src, target="b", norm="l1").item() == pytest.approx(0.75)
    assert intensity(f, src, target="a", norm="l1").item() == pytest.approx(0.25)
    assert intensity(f, src, target="max", norm="l1").item() == pytest.approx(0.75)     # max(a, b) = 1
    assert intensity(f, src, target="mean", norm="l1").item() == pytest.approx(0.25)    # mean = 0.5
    # the papers' per-patch sum: mean x sum_pixels (DDcGAN: 84 x 84)
    assert intensity(f, src, target="b", reduction="sum", sum_pixels=7056).item() == pytest.approx(0.5625 * 7056)
    with pytest.raises(ValueError, match="sum_pixels"):
        intensity(f, src, reduction="sum")


def test_intensity_mask_weights_pixels():
    f = torch.zeros(1, 1, 4, 4)
    b = torch.ones(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1.0
    src = {"a": b, "b": b, "mask": mask}
    assert intensity(f, src, target="b", norm="l1", mask="mask").item() == pytest.approx(0.5)
    assert intensity(f, src, target="b", norm="l1", mask="mask", invert_mask=True).item() == pytest.approx(0.5)
    f2 = f.clone()
    f2[..., :2, :] = 1.0                                  # correct inside the mask only
    assert intensity(f2, src, target="b", norm="l1", mask="mask").item() == 0.0
    assert intensity(f2, src, target="b", norm="l1", mask="mask", invert_mask=True).item() == pytest.approx(0.5)


def test_low_resolution_target_is_compared_after_box_averaging():
    f = torch.rand(2, 1, 16, 16)
    low = torch.rand(2, 1, 4, 4)
    expected = ((F.avg_pool2d(f, 4) - low) ** 2).mean()
    assert intensity(f, {"a": f, "b": f, "b_lowres": low}, target="b_lowres").item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="integer factor"):
        match_resolution(f, torch.rand(2, 1, 5, 5))


def test_gradient_operators_on_a_ramp():
    x = torch.arange(10, dtype=torch.float32).repeat(10, 1)[None, None] * 0.1     # d/dx = 0.1 per pixel
    sob = gradient_response(x, "sobel")[..., 2:-2, 2:-2]
    assert torch.allclose(sob[:, 0], torch.full_like(sob[:, 0], 0.8))          # (1 + 2 + 1) * 2 * 0.1
    assert torch.allclose(sob[:, 1], torch.zeros_like(sob[:, 1]), atol=1e-6)
    for op in ("laplacian", "laplacian8"):                                    # a linear ramp has no curvature
        assert gradient_response(x, op)[..., 2:-2, 2:-2].abs().max() < 1e-6
    # DDcGAN / MEF-GAN kernel exactly
    assert GRADIENT_OPERATORS["laplacian8"] == [[[1 / 8, 1 / 8, 1 / 8], [1 / 8, -1.0, 1 / 8], [1 / 8, 1 / 8, 1 / 8]]]


def test_gradient_loss_values():
    a = torch.rand(1, 1, 16, 16)
    const = torch.full_like(a, 0.3)
    src = {"a": a, "b": const}
    assert gradient(a, src, target="a").item() == 0.0
    assert gradient(a + 0.2, src, target="a").item() == pytest.approx(0.0, abs=1e-6)   # offsets have no gradient
    assert gradient(const, src, target="a").item() > 0.1
    # joint gradient: B is flat, so max(|∇A|, |∇B|) = |∇A| and F = A matches it exactly
    assert gradient(a, src, target="max").item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_and_ms_ssim():
    a = torch.rand(2, 1, 64, 64)
    b = torch.rand(2, 1, 64, 64)
    src = {"a": a, "b": b}
    assert ssim_loss(a, src, target="a").item() == pytest.approx(0.0, abs=1e-5)
    both = ssim_loss(a, src, target="both", weights=(0.5, 0.5)).item()
    assert both == pytest.approx(0.5 * ssim_loss(a, src, target="b").item(), rel=1e-5)
    assert ms_ssim_loss(a, src, target="a").item() == pytest.approx(0.0, abs=1e-5)
    assert ms_ssim_loss(b, src, target="a").item() > 0.5
    with pytest.raises(ValueError, match="48 px"):
        ms_ssim_loss(a[..., :32, :32], {"a": a[..., :32, :32], "b": b[..., :32, :32]}, target="a")


def test_terms_from_config_validate_and_sum():
    terms = parse_content_terms([{"name": "intensity", "weight": 2.0, "target": "b", "norm": "l1"},
                                 {"name": "intensity", "weight": 3.0, "target": "a", "norm": "l1"}])
    f = torch.full((1, 1, 8, 8), 0.25)
    out = content_loss(terms, f, {"a": torch.zeros_like(f), "b": torch.ones_like(f)})
    assert out.total.item() == pytest.approx(2 * 0.75 + 3 * 0.25)
    assert set(out.parts) == {"content/intensity_b", "content/intensity_a"}
    with pytest.raises(KeyError, match="unknown parameter"):
        ContentTerm("gradient", 1.0, {"kernel": "sobel"})
    with pytest.raises(KeyError, match="unknown content loss"):
        parse_content_terms([{"name": "perceptual"}])
    with pytest.raises(KeyError, match="not in the batch"):
        intensity(f, {"a": f, "b": f}, target="labels")
    with pytest.raises(KeyError, match="unknown gradient operator"):
        gradient(f, {"a": f, "b": f}, operator="prewitt")

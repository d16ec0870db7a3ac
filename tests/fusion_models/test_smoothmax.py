"""The smooth-maximum fusion model: closed forms of P_p, the untrained model is exactly its prior, the
'prior' content target, the detail critic's views, and training moving the output towards the content target."""
import numpy as np
import pytest
import torch

import gan_models
from gan_models.losses.content import gradient_magnitude, resolve_target
from gan_models.networks.fusion_smoothmax import SmoothMaxResidualGenerator, smooth_max
from gan_models.systems.fusion import FUSION_VIEWS, FusionContext
from gan_models.training.trainer import Trainer


def test_smooth_max_closed_forms():
    a = torch.tensor([0.0, 0.3, 0.6, 0.5, 0.0])
    b = torch.tensor([0.0, 0.4, 0.2, 0.5, 0.7])
    assert torch.allclose(smooth_max(a, b, 1.0), a + b)                          # p = 1: the sum
    assert torch.allclose(smooth_max(a, b, 2.0), (a * a + b * b).sqrt())         # p = 2: the Euclidean norm
    assert torch.allclose(smooth_max(a, b, 200.0), torch.maximum(a, b), atol=3.5e-3)   # p -> inf: the max
    assert smooth_max(a, b, 6.0)[0] == 0 and smooth_max(a, b, 6.0)[4] == pytest.approx(0.7)  # one source 0
    assert smooth_max(a, b, 6.0)[3] == pytest.approx(0.5 * 2 ** (1 / 6))         # equal sources
    big = smooth_max(torch.tensor([1e-30, 0.9]), torch.tensor([1e-31, 0.9]), 64.0)  # no underflow to 0/NaN
    assert torch.isfinite(big).all() and big[0] > 0
    with pytest.raises(ValueError, match="p >= 1"):
        smooth_max(a, b, 0.5)


def test_gradients_are_finite_where_both_sources_are_zero():
    a = torch.zeros(4, requires_grad=True)
    b = torch.tensor([0.0, 0.0, 0.5, 0.0], requires_grad=True)
    smooth_max(a, b, 6.0).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_untrained_generator_is_its_prior_and_training_moves_it():
    g = SmoothMaxResidualGenerator(p=4.0, width=4, depth=2)
    a, b = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    assert torch.equal(g(a, b), smooth_max(a, b, 4.0).clamp(0, 1))
    assert torch.equal(g.prior(a, b), smooth_max(a, b, 4.0))
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        (g(a, b) - 0.5 * (a + b)).abs().mean().backward()
        opt.step()
    assert (g(a, b) - 0.5 * (a + b)).abs().mean() < (smooth_max(a, b, 4.0).clamp(0, 1) - 0.5 * (a + b)).abs().mean()
    with pytest.raises(ValueError, match="depth >= 1"):
        SmoothMaxResidualGenerator(depth=0)


def test_cap_to_sources_keeps_each_image_within_its_sources_range():
    """cap_to_sources: prior and output are clamped per image to [0, max(A, B) over that image]; an image whose
    sources reach 1 gets the plain [0, 1] clamp; a large residual cannot push the output above the cap."""
    torch.manual_seed(0)
    a, b = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    a[0], b[0] = 0.6 * a[0], 0.5 * b[0]                     # image 0 peaks at ~0.6, image 1 at ~0.99
    a[2], b[2] = 0.8, 0.8                                   # flat: P_2 = 0.8 * sqrt(2), capped to 0.8
    top = torch.maximum(a, b).amax(dim=(-2, -1), keepdim=True)
    g = SmoothMaxResidualGenerator(p=2.0, width=4, depth=2, cap_to_sources=True)
    plain = SmoothMaxResidualGenerator(p=2.0, width=4, depth=2)
    p2 = smooth_max(a, b, 2.0)
    assert torch.equal(g.prior(a, b), torch.minimum(p2, top))
    assert (p2[0] > top[0]).any() and float(g(a, b).detach()[0].max()) == pytest.approx(float(top[0]))
    assert torch.allclose(g(a, b)[2], torch.full_like(a[2], 0.8))
    assert torch.equal(plain.prior(a, b), p2)                              # off: the prior is not clamped
    assert torch.allclose(g(a, b)[1], plain(a, b)[1].clamp(max=float(top[1])))
    with torch.no_grad():
        g.last.bias.fill_(1.0)                                  # a residual that pushes everything up
    out = g(a, b)
    assert torch.all(out <= top) and torch.allclose(out.amax(dim=(-2, -1), keepdim=True), top)
    two = SmoothMaxResidualGenerator(p=2.0, width=4, depth=2, cap_to_sources=True, detail_sigma=1.0)
    assert torch.all(two.prior(a, b) <= top) and torch.all(two(a, b) <= top)


def test_pnorm_target_and_the_prior_target():
    a, b = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    assert torch.allclose(resolve_target({"a": a, "b": b}, "pnorm:3"), smooth_max(a, b, 3.0))
    with pytest.raises(ValueError, match="pnorm:<p>"):
        resolve_target({"a": a, "b": b}, "pnorm:x")
    # 'prior' reaches the generator's own rule: tuning p moves the target with it
    system = gan_models.build("smoothmax_gan", **{"stages.G.generator.p": 3.0, "stages.G.generator.width": 4})
    batch = system._prepared({"a": a, "b": b})
    ctx = system._context(batch)
    top = torch.maximum(a, b).amax(dim=(-2, -1), keepdim=True)           # the preset caps to the sources' range
    assert torch.allclose(system.stage_prior(0, ctx), torch.minimum(smooth_max(a, b, 3.0), top))
    logs = system.g_terms(batch).parts
    assert float(logs["content/intensity_prior"]) == 0.0          # the untrained output is its capped target
    uncapped = gan_models.build("smoothmax_gan", **{"stages.G.generator.p": 3.0, "stages.G.generator.width": 4,
                                                    "stages.G.generator.cap_to_sources": False})
    logs = uncapped.g_terms(uncapped._prepared({"a": a, "b": b})).parts
    assert float(logs["content/intensity_prior"]) == pytest.approx(       # output clamped to 1, target not
        float((smooth_max(a, b, 3.0).clamp(0, 1) - smooth_max(a, b, 3.0)).abs().mean()), abs=1e-6)
    # a generator without a fixed rule refuses the target with its name
    other = gan_models.build("fusiongan", **{"stages.G.content": [{"name": "intensity", "target": "prior"}],
                                             "stages.G.generator.width": 2})
    with pytest.raises(ValueError, match="FusionGANGenerator"):
        other.g_terms(other._prepared({"a": a, "b": b}))


def test_detail_views_are_gradient_maps():
    a = torch.zeros(1, 1, 8, 8)
    a[..., :, 4:] = 1.0                                       # a vertical edge in A, none in B
    b = torch.zeros(1, 1, 8, 8)
    f = 0.5 * a
    ctx = FusionContext(a=a, b=b, b_lowres=b, fused=f, prev=None, labels=None, mask=None)
    joint = FUSION_VIEWS.get("grad_joint")(ctx)
    assert torch.equal(joint, gradient_magnitude(a))
    assert torch.allclose(FUSION_VIEWS.get("grad_fused")(ctx), 0.5 * gradient_magnitude(a))
    assert float(joint[..., 3:5].min()) > 0 and float(joint[..., :2].abs().max()) == 0


def test_preset_trains_its_detail_critic_and_keeps_a_black_background():
    """A blob of B over a striped A: the smooth maximum loses A's stripes under the blob; training with the
    preset's losses puts edges back (the joint-gradient term falls) while the background stays black."""
    torch.manual_seed(0)
    system = gan_models.build("smoothmax_gan", **{"stages.G.generator.width": 8, "judges.detail.net.width": 4,
                                                  "g_optimizer.lr": 5e-3})
    trainer = Trainer(system)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    head = ((xx ** 2 + yy ** 2) < 0.6).float()
    a = (head * (0.4 + 0.3 * torch.sin(8 * xx))).expand(4, 1, 32, 32).contiguous()
    b = (0.9 * torch.exp(-((xx - 0.1) ** 2 + yy ** 2) / 0.1) * head).expand(4, 1, 32, 32).contiguous()
    first = trainer.train_step({"a": a, "b": b})
    for _ in range(300):
        logs = trainer.train_step({"a": a, "b": b})
    assert "D_detail/total" in logs and "G/adv_detail/fake" in logs
    assert logs["G/content/gradient_max"] < 0.9 * first["G/content/gradient_max"]
    f = system.fuse(a, b)
    assert f.shape == a.shape and float(f[..., :3, :].abs().max()) < 0.05      # the background stays dark


def test_support_gate_keeps_the_background_exactly_black():
    g = SmoothMaxResidualGenerator(p=6.0, width=4, depth=2, support=0.02)
    with torch.no_grad():
        g.last.bias.fill_(0.3)                                  # a residual that writes everywhere
    a = torch.zeros(1, 1, 16, 16)
    b = torch.zeros(1, 1, 16, 16)
    a[..., 4:12, 4:12] = 0.5
    b[..., 6:10, 6:10] = 0.01                                   # faint B: half of the gate's threshold
    f = g(a, b)
    assert float(f[..., :4, :].abs().max()) == 0.0                 # both sources 0: exactly 0
    assert torch.allclose(f[..., 5, 5], (0.5 * 2 ** 0 + 0.3) * torch.ones(1))   # full residual where A = 0.5
    ungated = SmoothMaxResidualGenerator(p=6.0, width=4, depth=2, support=None)
    ungated.load_state_dict(g.state_dict())
    assert float(ungated(a, b)[..., :4, :].min()) > 0.2            # without the gate the bias leaks out
    with pytest.raises(ValueError, match="support"):
        SmoothMaxResidualGenerator(support=0.0)


def test_views_of_a_under_b():
    a = torch.zeros(1, 1, 8, 8)
    a[..., :, 4:] = 0.4
    b = torch.zeros(1, 1, 8, 8)
    b[..., :4, :] = 0.9                                         # B outshines A in the top half only
    f = a.clone()
    ctx = FusionContext(a=a, b=b, b_lowres=b, fused=f, prev=None, labels=None, mask=None)
    under = FUSION_VIEWS.get("grad_a_under_b")(ctx)
    assert float(under[..., 4:, :].abs().max()) == 0.0 and float(under[..., :4, 3:5].min()) > 0
    assert torch.equal(FUSION_VIEWS.get("grad_fused_under_b")(ctx), under)      # F = A: same edges


def test_gaussian_blur_matches_scipy():
    from scipy.ndimage import gaussian_filter
    from gan_models.networks.fusion_smoothmax import gaussian_blur
    x = torch.rand(2, 1, 40, 37, dtype=torch.float64)
    for sigma in (0.7, 2.0, 3.0):
        ref = [gaussian_filter(x[i, 0].numpy(), sigma, mode="mirror", truncate=4.0) for i in range(2)]
        assert torch.allclose(gaussian_blur(x, sigma)[:, 0], torch.tensor(np.array(ref)), atol=1e-12)


def test_two_scale_prior_keeps_the_stronger_detail_under_a_bright_source():
    """B bright and flat over striped A: the one-scale P_p attenuates A's stripes there; the two-scale prior keeps
    their full amplitude (the detail layer of larger magnitude is A's, added to P_p of the bases), is exactly 0
    where both sources are 0, and equals its closed form inside."""
    from gan_models.networks.fusion_smoothmax import gaussian_blur, two_scale_smooth_max
    xx = torch.arange(64, dtype=torch.float64).view(1, 1, 1, 64).expand(1, 1, 64, 64)
    a = 0.4 + 0.1 * torch.sin(xx * 1.2)                           # fine stripes everywhere
    a = a.clone()
    a[..., :, :8] = 0.0                                           # a black margin in both sources
    b = torch.full_like(a, 0.6)
    b[..., :, :8] = 0.0
    one = SmoothMaxResidualGenerator(p=4.0).double()
    two = SmoothMaxResidualGenerator(p=4.0, detail_sigma=2.0).double()
    inner = (..., slice(16, 48), slice(24, 56))
    amp = lambda f: float(f[inner].max() - f[inner].min())
    assert amp(two.prior(a, b)) == pytest.approx(amp(a), rel=0.05)      # A's stripes at full amplitude
    assert amp(one.prior(a, b)) < 0.6 * amp(a)                          # P_p squashes them under B
    assert float(two.prior(a, b)[..., :8].abs().max()) == 0.0
    ba, bb = gaussian_blur(a, 2.0), gaussian_blur(b, 2.0)
    da, db = a - ba, b - bb
    ref = (smooth_max(ba, bb, 4.0) + torch.where(da.abs() >= db.abs(), da, db)).clamp(0, 1)
    assert torch.allclose(two_scale_smooth_max(a, b, 4.0, 2.0), ref)
    assert torch.allclose(two.prior(a, b)[inner], ref[inner])
    with torch.no_grad():                                         # untrained: the model is its prior
        assert torch.equal(two(a, b), two.prior(a, b).clamp(0, 1))
    with pytest.raises(ValueError, match="detail_sigma"):
        SmoothMaxResidualGenerator(detail_sigma=-1.0)
    assert SmoothMaxResidualGenerator(detail_sigma=0.0).detail_sigma is None        # 0: the one-scale prior

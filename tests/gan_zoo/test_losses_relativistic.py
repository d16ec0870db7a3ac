"""Relativistic losses: closed-form values and the role-swap identity L_D(fake, real) = L_G(fake, real)."""
import math

import pytest
import torch
import torch.nn.functional as F

import gan_models
from gan_models.registry import LOSSES

gan_models.load_all()


@pytest.mark.parametrize("name", ["rsgan", "ragan", "ralsgan"])
def test_role_swap_turns_d_loss_into_g_loss(name):
    loss = LOSSES.build(name)
    real, fake = torch.randn(6), torch.randn(6) - 1.0
    swapped = loss.d_loss(real_out=fake, fake_out=real)
    g = loss.g_loss(fake_out=fake, real_out=real)
    assert float(swapped.total) == pytest.approx(float(g.total), rel=1e-6)
    assert float(g.total) != pytest.approx(float(loss.d_loss(real, fake).total), rel=1e-3)


@pytest.mark.parametrize("name", ["rsgan", "ragan", "ralsgan"])
def test_generator_loss_needs_and_uses_the_real_batch(name):
    loss = LOSSES.build(name)
    assert loss.needs_real_in_g
    fake = torch.randn(4)
    with pytest.raises(ValueError, match="real_out"):
        loss.g_loss(fake)
    real = torch.randn(4, requires_grad=True)
    loss.g_loss(fake, real).total.backward()
    assert real.grad is not None and real.grad.abs().sum() > 0      # the real term is present


def test_ragan_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])      # means 1 and 0
    d = LOSSES.build("ragan").d_loss(real, fake)
    ref_real = (F.softplus(-(real - 0.0))).mean()
    ref_fake = (F.softplus(fake - 1.0)).mean()
    assert float(d.total) == pytest.approx(float(ref_real + ref_fake), rel=1e-6)
    g = LOSSES.build("ragan").g_loss(fake, real)
    assert float(g.total) == pytest.approx(float(F.softplus(-(fake - 1.0)).mean() + F.softplus(real - 0.0).mean()))


def test_rsgan_pairs_samples_and_checks_batch_sizes():
    loss = LOSSES.build("rsgan")
    d = loss.d_loss(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert float(d.total) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="equal batch"):
        loss.d_loss(torch.zeros(3), torch.zeros(2))


def test_ralsgan_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])
    d = LOSSES.build("ralsgan").d_loss(real, fake)
    # (C(x) − 0 − 1)² -> (0, 4) mean 2; (C(x̃) − 2 + 1)² -> 1 each
    assert float(d.total) == pytest.approx(3.0)
    g = LOSSES.build("ralsgan").g_loss(fake, real)
    # (C(x̃) − 2 − 1)² = 9; (C(x) − 0 + 1)² -> (4, 16) mean 10
    assert float(g.total) == pytest.approx(19.0)

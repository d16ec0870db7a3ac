"""The differentiable fusion metrics (gan_models.losses.fusion_metrics) equal the reference evaluator's values
(tests/data/fusion_metrics/expected.csv, computed with CDDFuse's Evaluator) on integer images, and give gradients."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_models.losses import fusion_metrics as fm

DATA = Path(__file__).resolve().parents[1] / "data" / "fusion_metrics"
#: relative tolerances (expected.csv holds 9 significant digits): float64 arithmetic in a different order than the reference (SSIM: scikit-image float32)
TOL = {"EN": 1e-8, "SD": 1e-8, "SF": 1e-8, "MI": 1e-8, "SCD": 1e-8, "VIF": 1e-7, "Qabf": 1e-6, "SSIM": 3e-6}


def _rows():
    from PIL import Image

    def read(p):   # the reference's cv2 BGR2GRAY + round on these grey PNGs is the plain grey level
        return torch.from_numpy(np.asarray(Image.open(p).convert("L"), dtype=np.float64))[None, None]
    for r in csv.DictReader((DATA / "expected.csv").open()):
        yield (r, read(DATA / f"{r['pair']}_F_{r['fusion']}.png"), read(DATA / f"{r['pair']}_A.png"),
               read(DATA / f"{r['pair']}_B.png"))


@pytest.mark.parametrize("name", list(fm.DIFFERENTIABLE_METRICS))
def test_values_equal_the_reference_evaluator(name):
    checked = 0
    for r, F, A, B in _rows():
        want = float(r[name])
        if np.isnan(want):          # SCD of F == a source: 0/0 in the reference
            continue
        got = float(fm.metric_values(F, A, B, [name])[name][0])
        assert got == pytest.approx(want, rel=TOL[name], abs=1e-9), (r["pair"], r["fusion"])
        checked += 1
    assert checked >= 12


def test_batched_values_equal_single_image_values():
    rows = list(_rows())[:4]
    F = torch.cat([r[1] for r in rows]); A = torch.cat([r[2] for r in rows]); B = torch.cat([r[3] for r in rows])
    batched = fm.metric_values(F, A, B)
    for i, (_, f, a, b) in enumerate(rows):
        single = fm.metric_values(f, a, b)
        for k in batched:
            assert float(batched[k][i]) == pytest.approx(float(single[k][0]), rel=1e-12, abs=1e-12)


def test_soft_histogram_is_exact_on_integers_and_linear_between():
    x = torch.tensor([[[[3.0, 3.25]]]], dtype=torch.float64)
    w = fm.soft_levels(x)[0]
    assert w[0, 3] == 1 and w[0].sum() == 1
    assert w[1, 3] == pytest.approx(0.75) and w[1, 4] == pytest.approx(0.25)
    top = fm.soft_levels(torch.tensor([[[[255.0]]]], dtype=torch.float64))[0, 0]
    assert top[255] == 1 and top.sum() == 1


def test_every_metric_has_a_finite_gradient_with_respect_to_f():
    _, F, A, B = next(iter(_rows()))
    f = (F + torch.rand_like(F) * 0.5).requires_grad_(True)   # off the integers, through the stretch
    vals = fm.metric_values(fm.stretch_255(f), A, B)
    for k, v in vals.items():
        (g,) = torch.autograd.grad(v.sum(), f, retain_graph=True)
        assert torch.isfinite(g).all(), k
        assert g.abs().sum() > 0, k


def test_stretch_maps_each_image_to_the_full_range():
    x = torch.stack([torch.linspace(0.2, 0.6, 64).view(1, 8, 8), torch.full((1, 8, 8), 0.3)])
    s = fm.stretch_255(x)
    assert float(s[0].min()) == 0 and float(s[0].max()) == pytest.approx(255)
    assert float(s[1].abs().max()) == 0                            # a constant image maps to 0


def test_gradient_ascent_on_ssim_moves_f_towards_the_sources():
    """A loss built on these values works as an objective: ascent on SSIM(F, A) + SSIM(F, B) from noise."""
    _, _, A, B = next(iter(_rows()))
    f = (torch.rand_like(A) * 255).requires_grad_(True)
    opt = torch.optim.Adam([f], lr=2.0)
    start = float(fm.ssim(f.detach(), A, B)[0])
    for _ in range(60):
        opt.zero_grad()
        (-fm.ssim(f, A, B, data_range=255.0).sum()).backward()
        opt.step()
    assert float(fm.ssim(f.detach(), A, B)[0]) > start + 0.1


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        fm.scd(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))

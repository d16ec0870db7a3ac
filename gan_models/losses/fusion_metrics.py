"""Differentiable versions of the field's fusion metrics, for training losses.

Each function takes the fused image ``f`` and the sources ``a``, ``b`` as ``(N, 1, H, W)`` tensors **on the
0-255 scale** (the scale the reference evaluator, CDDFuse's ``utils/Evaluator.py``, scores on) and returns the
per-image values ``(N,)``, with the reference's definitions and constants (``FUSION_METRICS.md`` §3):

* ``sd``:   population standard deviation of F;
* ``sf``:   spatial frequency, sqrt(mean row-difference² + mean column-difference²);
* ``scd``:  corr(A, F − B) + corr(B, F − A) (Pearson over all pixels);
* ``ssim``: SSIM(F, A) + SSIM(F, B) with scikit-image's defaults (7x7 uniform window, sample covariance,
  K1 0.01, K2 0.03, the 3-pixel border excluded) and ``data_range`` (2 reproduces the published tables);
* ``vif``:  VIF(A, F) + VIF(B, F), Sheikh & Bovik's pixel-domain multiscale VIF (4 scales, σ_n² = 2, the
  reference's fix-ups);
* ``qabf``: Xydeas-Petrović with Sobel edges, zero padding and the reference's constants and quirks;
* ``en``:   Shannon entropy (bits) of F's grey-level histogram;
* ``mi``:   MI(F, A) + MI(F, B) (nats) from 256-level joint histograms.

On integer-valued inputs the first six equal the reference to float rounding (``tests/fusion_models/
test_fusion_metric_losses.py`` checks them against :mod:`pipelines.metrics`).  EN and MI count grey levels, which
has no gradient; here F's histogram is *soft*: each pixel spreads over its two nearest levels with linear
weights (exact on integer F, so the values still equal the reference there) and the gradient flows through
those weights.  Only ``qabf``'s arctan needs a guard: where the Sobel x-response is exactly 0 the reference sets
the angle to π/2, and here the gradient through that pixel's angle is zero.

:func:`stretch_255` is the evaluate stage's per-image min-max stretch (CDDFuse's ``test_MIF.py`` convention), so
that a loss can score the image the way it will be scored.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

EPS_VIF = 1e-10
SIGMA_NSQ = 2.0


def _check(*xs: torch.Tensor) -> None:
    shape = xs[0].shape
    for x in xs:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape != shape:
            raise ValueError(f"fusion metrics take (N, 1, H, W) tensors of one shape, got "
                             f"{[tuple(y.shape) for y in xs]}")


def stretch_255(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-image min-max stretch to [0, 255] (a constant image maps to 0)."""
    flat = x.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return (x - lo) / (hi - lo).clamp_min(eps) * 255.0


# ------------------------------------------------------------------ intensity statistics
def sd(f: torch.Tensor) -> torch.Tensor:
    return f.flatten(1).std(dim=1, unbiased=False)


def sf(f: torch.Tensor) -> torch.Tensor:
    rf = (f[..., :, 1:] - f[..., :, :-1]).square().flatten(1).mean(dim=1)
    cf = (f[..., 1:, :] - f[..., :-1, :]).square().flatten(1).mean(dim=1)
    return (rf + cf).sqrt()


def _corr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.flatten(1) - x.flatten(1).mean(dim=1, keepdim=True)
    y = y.flatten(1) - y.flatten(1).mean(dim=1, keepdim=True)
    return (x * y).sum(dim=1) / ((x.square().sum(dim=1) * y.square().sum(dim=1)).sqrt() + 1e-12)


def scd(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    _check(f, a, b)
    return _corr(a, f - b) + _corr(b, f - a)


# ------------------------------------------------------------------ SSIM (scikit-image defaults)
def _ssim_one(x: torch.Tensor, y: torch.Tensor, data_range: float, win: int = 7) -> torch.Tensor:
    """scikit-image ``structural_similarity`` (gaussian_weights=False): the filtered maps are only used away
    from the (win - 1) / 2 border, so 'valid' box filtering gives exactly the pixels it averages."""
    n = win * win
    cov_norm = n / (n - 1.0)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def box(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, win, stride=1)

    ux, uy = box(x), box(y)
    vx = cov_norm * (box(x * x) - ux * ux)
    vy = cov_norm * (box(y * y) - uy * uy)
    vxy = cov_norm * (box(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1)


def ssim(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    _check(f, a, b)
    return _ssim_one(f, a, data_range) + _ssim_one(f, b, data_range)


# ------------------------------------------------------------------ VIF (pixel domain, multiscale)
@lru_cache(maxsize=None)
def _vif_taps(n: int) -> tuple[float, ...]:
    """1-D factor of MATLAB's ``fspecial('gaussian', n, n / 5)`` (for these n no value falls under fspecial's
    eps * max cut, so the 2-D window is exactly the outer product of this with itself)."""
    sigma = n / 5.0
    r = (n - 1) / 2.0
    g = [math.exp(-((i - r) ** 2) / (2 * sigma * sigma)) for i in range(n)]
    total = sum(g)
    return tuple(v / total for v in g)


def _gauss_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """'valid' 2-D filtering with the separable window (rows, then columns)."""
    return F.conv2d(F.conv2d(x, taps.view(1, 1, 1, -1)), taps.view(1, 1, -1, 1))


def _vif_one(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    num = ref.new_zeros(ref.shape[0])
    den = ref.new_zeros(ref.shape[0])
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        w = torch.tensor(_vif_taps(n), dtype=ref.dtype, device=ref.device)
        if scale > 1:
            ref = _gauss_valid(ref, w)[..., ::2, ::2]
            dist = _gauss_valid(dist, w)[..., ::2, ::2]
        mu1, mu2 = _gauss_valid(ref, w), _gauss_valid(dist, w)
        s1 = (_gauss_valid(ref * ref, w) - mu1 * mu1).clamp_min(0)
        s2 = (_gauss_valid(dist * dist, w) - mu2 * mu2).clamp_min(0)
        s12 = _gauss_valid(ref * dist, w) - mu1 * mu2
        g = s12 / (s1 + EPS_VIF)
        sv = s2 - g * s12
        low1 = s1 < EPS_VIF
        g = torch.where(low1, torch.zeros_like(g), g)
        sv = torch.where(low1, s2, sv)
        s1 = torch.where(low1, torch.zeros_like(s1), s1)
        low2 = s2 < EPS_VIF
        g = torch.where(low2, torch.zeros_like(g), g)
        sv = torch.where(low2, torch.zeros_like(sv), sv)
        neg = g < 0
        sv = torch.where(neg, s2, sv)
        g = torch.where(neg, torch.zeros_like(g), g)
        sv = sv.clamp_min(EPS_VIF)
        num = num + torch.log10(1 + g * g * s1 / (sv + SIGMA_NSQ)).flatten(1).sum(dim=1)
        den = den + torch.log10(1 + s1 / SIGMA_NSQ).flatten(1).sum(dim=1)
    out = num / den
    return torch.where(torch.isnan(out), torch.ones_like(out), out)


def vif(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    _check(f, a, b)
    return _vif_one(a, f) + _vif_one(b, f)


# ------------------------------------------------------------------ Qabf
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def _sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``convolve2d(x, k, mode='same')`` (zero padding, kernel flipped) for the reference's two kernels."""
    k = torch.tensor([_SOBEL_X, _SOBEL_Y], dtype=x.dtype, device=x.device).flip(-1, -2)[:, None]
    r = F.conv2d(F.pad(x, (1, 1, 1, 1)), k)
    return r[:, :1], r[:, 1:]


def _edges(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    sx, sy = _sobel(x)
    g = (sx * sx + sy * sy + 1e-12).sqrt()
    zero = sx == 0
    safe = torch.where(zero, torch.ones_like(sx), sx)
    alpha = torch.where(zero, torch.full_like(sx, math.pi / 2), torch.atan(sy / safe))
    return g, alpha


def _q_edge(g_s: torch.Tensor, a_s: torch.Tensor, g_f: torch.Tensor, a_f: torch.Tensor) -> torch.Tensor:
    ratio = torch.where(g_s > g_f, g_f / g_s.clamp_min(1e-12), g_s / g_f.clamp_min(1e-12))
    G = torch.where(g_s == g_f, g_f, ratio)                       # the reference's quirk
    A = 1 - (a_s - a_f).abs() / (math.pi / 2)
    return (0.9994 / (1 + torch.exp(-15 * (G - 0.5)))) * (0.9879 / (1 + torch.exp(-22 * (A - 0.8))))


def qabf(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    _check(f, a, b)
    g_a, al_a = _edges(a)
    g_b, al_b = _edges(b)
    g_f, al_f = _edges(f)
    num = _q_edge(g_a, al_a, g_f, al_f) * g_a + _q_edge(g_b, al_b, g_f, al_f) * g_b
    return num.flatten(1).sum(dim=1) / (g_a + g_b).flatten(1).sum(dim=1).clamp_min(1e-12)


# ------------------------------------------------------------------ EN, MI (soft histograms)
def _soft_index(x: torch.Tensor, levels: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) on 0..levels-1 -> (lower level (N, HW) int64, weight of the upper level (N, HW)): each
    pixel splits between its two nearest grey levels with linear weights (all on its own level if integer)."""
    v = x.flatten(1).clamp(0, levels - 1)
    lo = v.detach().floor().clamp(max=levels - 2)
    return lo.long(), v - lo


def soft_levels(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """(N, 1, H, W) on 0..levels-1 -> (N, HW, levels) linear-interpolation weights on the grey levels."""
    lo, w_hi = _soft_index(x, levels)
    out = w_hi.new_zeros(w_hi.shape[0], w_hi.shape[1], levels)
    out.scatter_(2, lo.unsqueeze(-1), (1 - w_hi).unsqueeze(-1))
    out.scatter_add_(2, (lo + 1).unsqueeze(-1), w_hi.unsqueeze(-1))
    return out


def _soft_histogram(index: torch.Tensor, w_hi: torch.Tensor, step: int, bins: int) -> torch.Tensor:
    """Normalised histogram (N, bins) of pixels at ``index`` (weight 1 - w_hi) and ``index + step`` (w_hi)."""
    h = w_hi.new_zeros(w_hi.shape[0], bins)
    h.scatter_add_(1, index, 1 - w_hi)
    h.scatter_add_(1, index + step, w_hi)
    return h / w_hi.shape[1]


def _entropy(p: torch.Tensor, dims: tuple[int, ...], log) -> torch.Tensor:
    return -(p * log(p.clamp_min(1e-30))).sum(dim=dims)


def en(f: torch.Tensor) -> torch.Tensor:
    lo, w = _soft_index(f)
    return _entropy(_soft_histogram(lo, w, 1, 256), (1,), torch.log2)


def _mi_one(lo: torch.Tensor, w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    s_idx = s.flatten(1).round().clamp(0, 255).long()
    joint = _soft_histogram(lo * 256 + s_idx, w, 256, 256 * 256).view(-1, 256, 256)   # [F level, S level]
    pf, ps = joint.sum(dim=2), joint.sum(dim=1)
    return _entropy(pf, (1,), torch.log) + _entropy(ps, (1,), torch.log) - _entropy(joint, (1, 2), torch.log)


def mi(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MI(F, A) + MI(F, B) in nats; A and B are counted at their (rounded) integer levels."""
    _check(f, a, b)
    lo, w = _soft_index(f)
    return _mi_one(lo, w, a) + _mi_one(lo, w, b)


#: name -> (function, needs the sources)
DIFFERENTIABLE_METRICS = {"EN": (en, False), "SD": (sd, False), "SF": (sf, False), "MI": (mi, True),
                          "SCD": (scd, True), "VIF": (vif, True), "Qabf": (qabf, True), "SSIM": (ssim, True)}


def metric_values(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, names=tuple(DIFFERENTIABLE_METRICS)
                  ) -> dict[str, torch.Tensor]:
    """``{name: (N,) values}`` for the named metrics (all on the 0-255 scale)."""
    out = {}
    for name in names:
        fn, two = DIFFERENTIABLE_METRICS[name]
        out[name] = fn(f, a, b) if two else fn(f)
    return out


__all__ = ["DIFFERENTIABLE_METRICS", "en", "metric_values", "mi", "qabf", "scd", "sd", "sf", "soft_levels",
           "ssim", "stretch_255", "vif"]

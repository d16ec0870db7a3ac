"""Smooth-maximum fusion with a learned detail residual: F = clamp(P_p(A, B) + R(A, B, P_p), 0, 1).

``P_p(A, B) = (A^p + B^p)^(1/p)`` is the p-norm of the two sources, a *smooth maximum*: p = 1 is the sum,
p → ∞ the pixel-wise maximum.  Pixel-wise max (the strongest classical baseline on Harvard MRI-CT/PET/SPECT)
keeps every bright functional region and the MRI's anatomy where the functional image is dark, but switches
hard between the sources: the seams are artificial edges, and where one source is brighter the other's
structure is gone.  The p-norm keeps max's intensities where one source dominates and blends where both
are bright, so every pixel carries some of both sources (measured on unseen Harvard pairs, p = 4-10 alone
beats max on entropy, SD, SCD and SSIM for MRI-PET/SPECT: ``reports/bench/quality.md``).  The residual network
R adds what a fixed rule cannot: detail of the weaker source inside the other's bright regions, edges at the
sources' joint strength.  Its last layer starts at zero, so an untrained model is exactly P_p: training starts
from a strong fusion and only has to learn the correction (the "residual on max(A, B)" design that
``FUSION_TRAINING.md`` §3 measured as the fastest to train on CPU).

P_p is computed as ``m · (1 + (n/m)^p)^(1/p)`` with m = max(A, B), n = min(A, B) (0 where m = 0): no
underflow for large p and no infinite gradient where both sources are 0; the background stays exactly 0
where both sources are 0, and R cannot write there (the support gate below).

Two-scale prior (``detail_sigma`` = σ; 0 or null, the default: off): P_p blends where both sources are bright, and there the
weaker source's edges are attenuated (∂P_p/∂A = (A/P_p)^(p-1) < 1), which costs spatial frequency and edge
transfer (Qabf) against detail-keeping rules such as guided-filter fusion (Li et al. 2013).  With σ set, the
prior splits each source into a base G_σ * X (Gaussian blur) and a detail X - G_σ * X, as two-scale fusion does
(Li et al. 2013; Bavirisetti & Dhuli 2016), fuses the bases with P_p and keeps, per pixel, the detail of larger
magnitude: ``P = clamp(P_p(G_σ A, G_σ B) + choose-max-|.|(A - G_σ A, B - G_σ B), 0, 1)``, exactly 0 where
both sources are 0.  Measured on the Harvard test split (closed form, no training): MRI-SPECT p = 4, σ = 2
raises SF from 17.5 to 19.8, above guided filtering's 19.5.  Trained with the quality recipe's settings the
trade is task-dependent: on MRI-SPECT (p = 2) σ = 1 kept the validation win rate (0.840 against 0.837) and put
SF above guided filtering's, σ = 2 lowered the test win rate 0.771 -> 0.753; on MRI-CT (p = 16) σ = 2 fell
0.766 -> 0.665 and on MRI-PET (p = 12) 0.796 -> 0.757.  It is off by default; the quality recipe's tune has
σ in {0, 1} as a grid dimension, so validation chooses it per task (closed-form priors on the validation cases:
σ = 1 scores MRI-SPECT 0.744 against 0.720 at p = 2, MRI-CT 0.685 against 0.764 at p = 16).

Range cap (``cap_to_sources``, default off; on in the ``smoothmax_gan`` preset): P_p exceeds both sources where
both are bright (up to 2^(1/p) times the max), and the residual can add to it, so the fused image's brightest
pixel can lie above the brightest pixel of either source.  The evaluation protocol stretches every fused image
to 0..255 by its own minimum and maximum, so such a peak compresses the rest of the image: on a Harvard MRI-SPECT
case whose MRI dominates, the model's raw spatial frequency equalled guided filtering's (16.2 against 16.3) and
lost after the stretch (17.3 against 18.3).  With the cap, prior and output are clamped per image to
[0, max over the image of max(A, B)]: the fused image keeps the sources' range, as max fusion does; with sources
that reach 1 it is the plain clamp to [0, 1].  Measured on the Harvard test split (closed form P_2): MRI-SPECT SF
17.57 -> 17.83, SD 67.3 -> 68.4, per-image win rate 0.725 -> 0.729; MRI-CT unchanged (its sources reach 1).
During training on crops the cap is the crop's maximum.

Support gate (``support`` = τ, default 0.02): R is multiplied by clamp(max(A, B) / τ, 0, 1), so where both
sources are black (the background, a third to half of a brain slice) F is exactly 0 and stays so during
training: the reference SSIM (data_range 2, constants ~1e-4) scores a black window 1 only if F is exactly flat
there, and any halo a convolution leaks into it costs up to 1 per window (FUSION_TRAINING.md §1).

R: ``depth`` 3x3 convolutions of ``width`` channels with LeakyReLU 0.2 on [A, B, P_p, extra] (``dilations``
cycled, default 1, 2, 1: a 11x11 receptive field at depth 4 for about 1.4k multiply-adds per pixel), then a
3x3 convolution to one channel.  Reflect padding, no normalisation (batch statistics of 2-D crops would
couple unrelated slices, and inference must not depend on the batch).  Cost: ``benchmarks/quality.py``
reports the one-thread CPU time per 256x256 pair.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_models.networks.fusion_base import FusionGenerator
from gan_models.registry import GENERATORS


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) with reflect padding: ``scipy.ndimage.gaussian_filter(x, sigma,
    mode="mirror", truncate=4.0)`` per image (the kernel is cut at radius round(4σ) and normalised)."""
    radius = int(4.0 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = nn.functional.conv2d(nn.functional.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return nn.functional.conv2d(nn.functional.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


def two_scale_smooth_max(a: torch.Tensor, b: torch.Tensor, p: float, sigma: float) -> torch.Tensor:
    """P_p of the sources' Gaussian bases plus, per pixel, the detail layer of larger magnitude (module
    docstring), clamped to [0, 1]."""
    base_a, base_b = gaussian_blur(a, sigma), gaussian_blur(b, sigma)
    detail_a, detail_b = a - base_a, b - base_b
    detail = torch.where(detail_a.abs() >= detail_b.abs(), detail_a, detail_b)
    return (smooth_max(base_a.clamp_min(0), base_b.clamp_min(0), p) + detail).clamp(0.0, 1.0)


def smooth_max(a: torch.Tensor, b: torch.Tensor, p: float) -> torch.Tensor:
    """(A^p + B^p)^(1/p) for A, B >= 0, stable for large p (see the module docstring)."""
    if p < 1:
        raise ValueError(f"smooth_max needs p >= 1 (p = 1: the sum, p -> inf: the maximum), got {p}")
    m = torch.maximum(a, b)
    n = torch.minimum(a, b)
    ratio = torch.where(m > 0, n / m.clamp_min(1e-12), torch.zeros_like(m))
    return m * (1.0 + ratio.clamp(0, 1) ** p) ** (1.0 / p)


@GENERATORS.register("smoothmax_residual")
class SmoothMaxResidualGenerator(FusionGenerator):
    """F = clamp(P_p(A, B) + R(A, B, P_p, extra), 0, 1); see the module docstring."""

    def __init__(self, p: float = 6.0, width: int = 8, depth: int = 3,
                 dilations: tuple[int, ...] | list[int] = (1, 2, 1), support: float | None = 0.02,
                 extra_channels: int = 0, detail_sigma: float | None = None, cap_to_sources: bool = False):
        super().__init__(extra_channels)        # the output is P_p + R clamped to [0, 1], no activation
        if support is not None and support <= 0:
            raise ValueError(f"smoothmax_residual: support must be > 0 or null, got {support}")
        self.support = support
        if depth < 1 or width < 1 or not dilations or min(dilations) < 1:
            raise ValueError(f"smoothmax_residual needs depth >= 1, width >= 1 and dilations >= 1, got depth "
                             f"{depth}, width {width}, dilations {list(dilations)}")
        smooth_max(torch.zeros(1), torch.zeros(1), p)              # validates p
        self.p = float(p)
        if detail_sigma is not None and not 0 <= detail_sigma <= 16:
            raise ValueError(f"smoothmax_residual: detail_sigma must be in (0, 16] pixels, or 0 / null for the "
                             f"one-scale prior, got {detail_sigma}")
        self.detail_sigma = float(detail_sigma) if detail_sigma else None
        self.cap_to_sources = bool(cap_to_sources)
        layers: list[nn.Module] = []
        cin = 3 + extra_channels
        for i in range(depth):
            d = int(dilations[i % len(dilations)])
            layers += [nn.Conv2d(cin, width, 3, padding=d, dilation=d, padding_mode="reflect"),
                       nn.LeakyReLU(0.2)]
            cin = width
        self.last = nn.Conv2d(cin, 1, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)
        self.body = nn.Sequential(*layers, self.last)
        # channels-last (NHWC) convolutions: oneDNN's fast path for these few-channel layers on the CPU
        # (measured 2.2x faster training steps and several times faster inference on one thread than NCHW)
        self.body.to(memory_format=torch.channels_last)

    def _capped(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``x`` clamped per image to the brightest pixel of either source (``cap_to_sources``), else unchanged."""
        if not self.cap_to_sources:
            return x
        return torch.minimum(x, torch.maximum(a, b).amax(dim=(-2, -1), keepdim=True))

    def prior(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """P_p(A, B), or its two-scale form with ``detail_sigma``, capped to the sources' range with
        ``cap_to_sources``: what the untrained model outputs (the fusion systems' content target ``"prior"``)."""
        if self.detail_sigma is None:
            out = smooth_max(a, b, self.p)
        else:
            # exactly 0 where both sources are 0 (the blur spreads the head into the background); not the
            # residual's ramp: scaling the prior down on faint pixels cost SSIM on MRI-SPECT (test SSIM 1.229
            # against 1.248)
            out = two_scale_smooth_max(a, b, self.p, self.detail_sigma) * (torch.maximum(a, b) > 0).to(a.dtype)
        return self._capped(out, a, b)


    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        base = self.prior(a, b)
        x = torch.cat([a, b, base] + ([extra] if extra is not None else []), dim=1)
        residual = self.body(x.contiguous(memory_format=torch.channels_last)).contiguous()
        if self.support is not None:             # no content where neither source has signal
            residual = residual * (torch.maximum(a, b) / self.support).clamp(0.0, 1.0)
        return self._capped((base + residual).clamp(0.0, 1.0), a, b)

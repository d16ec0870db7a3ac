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
                 extra_channels: int = 0):
        super().__init__(extra_channels)        # the output is P_p + R clamped to [0, 1], no activation
        if support is not None and support <= 0:
            raise ValueError(f"smoothmax_residual: support must be > 0 or null, got {support}")
        self.support = support
        if depth < 1 or width < 1 or not dilations or min(dilations) < 1:
            raise ValueError(f"smoothmax_residual needs depth >= 1, width >= 1 and dilations >= 1, got depth "
                             f"{depth}, width {width}, dilations {list(dilations)}")
        smooth_max(torch.zeros(1), torch.zeros(1), p)              # validates p
        self.p = float(p)
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

    def prior(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """P_p(A, B): what the untrained model outputs (the fusion systems' content target ``"prior"``)."""
        return smooth_max(a, b, self.p)

    def forward(self, a: torch.Tensor, b: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(a, b, extra)
        base = self.prior(a, b)
        x = torch.cat([a, b, base] + ([extra] if extra is not None else []), dim=1)
        residual = self.body(x.contiguous(memory_format=torch.channels_last)).contiguous()
        if self.support is not None:             # no content where neither source has signal
            residual = residual * (torch.maximum(a, b) / self.support).clamp(0.0, 1.0)
        return (base + residual).clamp(0.0, 1.0)

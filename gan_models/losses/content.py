"""Content losses of the fusion generators (registered in ``CONTENT_LOSSES``): intensity, gradient, SSIM, MS-SSIM.

Every term is a **pure function** ``term(fused, sources, **params) -> Tensor`` (a scalar to minimise) where
``fused`` is the generator output ``(B, 1, H, W)`` in [0, 1] and ``sources`` maps names to tensors
(``"a"``: MRI, ``"b"``: the functional/CT image, optionally ``"b_lowres"``, ``"mask"``, ``"prev"`` (a cascade's
earlier output) ...).  A *target* names what the fused image is compared with:

* a key of ``sources`` (``"a"``, ``"b"``, ``"b_lowres"``, ``"prev"`` ...);
* ``"max"``: the element-wise maximum of A and B (for gradients: of their gradient magnitudes, the "joint
  gradient" of GAN-FM / U2Fusion);
* ``"mean"``: the average of A and B.

When the target has a lower resolution than ``fused`` (DDcGAN's low-resolution B), ``fused`` is
average-pooled to the target's size first (DDcGAN's ψ: the authors downsample with two 3x3 stride-2 average
pools; here an exact r x r box average, ``F.interpolate(mode="area")``).

Reductions.  ``reduction="mean"`` averages over pixels and batch (FusionGAN's 1/(HW) normalisation).
``reduction="sum"`` reproduces the papers that sum over the pixels of each training patch and average over the
batch (DDcGAN, MGMDcGAN: ``tf.reduce_sum(..., axis=[1, 2])``): it returns the per-pixel mean times
``sum_pixels``, the pixel count of the paper's patch (84 x 84 = 7056 for DDcGAN), so the paper's weights
keep their meaning whatever crop size is trained on.

SSIM and MS-SSIM come from ``pytorch_msssim`` (Gaussian window 11, σ 1.5, K = (0.01, 0.03), data range 1).
MS-SSIM needs the image's smaller side to exceed (win − 1)·16; smaller images get the largest odd window that
fits (11 at ≥ 176 px, 3 at ≥ 48 px) and anything below 48 px is refused with a clear error.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim

from gan_models.losses.base import LossTerms
from gan_models.registry import CONTENT_LOSSES

Sources = Mapping[str, torch.Tensor]

# ---------------------------------------------------------------- gradient operators (3x3 kernels)
#: name -> list of 3x3 kernels; the operator's response has one channel per kernel
GRADIENT_OPERATORS: dict[str, list[list[list[float]]]] = {
    # Sobel x / y (magnitude |gx| + |gy| where a magnitude is needed)
    "sobel": [[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
              [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]],
    # 4-neighbour Laplacian (FusionGAN's ``gradient()``)
    "laplacian": [[[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]],
    # DDcGAN / MEF-GAN ``grad()``: [[1/8]*3, [1/8, -1, 1/8], [1/8]*3] (8-neighbour Laplacian / 8)
    "laplacian8": [[[0.125, 0.125, 0.125], [0.125, -1.0, 0.125], [0.125, 0.125, 0.125]]],
}


def gradient_response(x: torch.Tensor, operator: str = "sobel") -> torch.Tensor:
    """Apply a gradient operator to ``x`` (B, 1, H, W) with reflect padding -> (B, K, H, W), K kernels."""
    try:
        kernels = GRADIENT_OPERATORS[operator]
    except KeyError:
        raise KeyError(f"unknown gradient operator {operator!r}; known: {sorted(GRADIENT_OPERATORS)}") from None
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"gradient operator expects (B, 1, H, W), got {tuple(x.shape)}")
    w = torch.tensor(kernels, dtype=x.dtype, device=x.device).unsqueeze(1)   # (K, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w)


def gradient_magnitude(x: torch.Tensor, operator: str = "sobel") -> torch.Tensor:
    """Sum of absolute operator responses, (B, 1, H, W) (|gx| + |gy| for Sobel, |∇²x| for a Laplacian)."""
    return gradient_response(x, operator).abs().sum(dim=1, keepdim=True)


# ---------------------------------------------------------------- helpers
def _pnorm_order(target: str) -> float | None:
    """``"pnorm:<p>"`` -> p (None for any other target)."""
    if not target.startswith("pnorm:"):
        return None
    try:
        return float(target.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"content target {target!r}: expected 'pnorm:<p>' with a number p >= 1") from None


def resolve_target(sources: Sources, target: str) -> torch.Tensor:
    """The image a term compares with: a key of ``sources``, ``"max"`` or ``"mean"`` of A and B, or
    ``"pnorm:<p>"``, the smooth maximum (A^p + B^p)^(1/p) (:func:`gan_models.networks.fusion_smoothmax.smooth_max`)."""
    p = _pnorm_order(target)
    if target in ("max", "mean") or p is not None:
        a, b = sources["a"], sources["b"]
        if a.shape != b.shape:
            raise ValueError(f"target {target!r} needs A and B of the same shape, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        if p is not None:
            from gan_models.networks.fusion_smoothmax import smooth_max
            return smooth_max(a, b, p)
        return torch.maximum(a, b) if target == "max" else 0.5 * (a + b)
    if target not in sources:
        raise KeyError(f"content target {target!r} is not in the batch; available: {sorted(sources)} "
                       f"(plus 'max', 'mean', 'pnorm:<p>')")
    return sources[target]


def match_resolution(fused: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Box-average ``fused`` down to ``target``'s size (DDcGAN ψ); integer factors only."""
    if fused.shape[-2:] == target.shape[-2:]:
        return fused
    (h, w), (th, tw) = fused.shape[-2:], target.shape[-2:]
    if th > h or tw > w or h % th or w % tw or h // th != w // tw:
        raise ValueError(f"cannot compare a {h}x{w} fused image with a {th}x{tw} target: the target must be "
                         f"smaller by one integer factor")
    return F.avg_pool2d(fused, kernel_size=h // th)


def reduce(err: torch.Tensor, reduction: str, sum_pixels: int | None,
           weight_map: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over pixels and batch, or the papers' per-patch sum (mean x ``sum_pixels``)."""
    if weight_map is not None:
        if weight_map.shape[-2:] != err.shape[-2:]:
            weight_map = F.interpolate(weight_map, size=err.shape[-2:], mode="nearest")
        err = err * weight_map
    if reduction == "mean":
        return err.mean()
    if reduction == "sum":
        if not sum_pixels or sum_pixels <= 0:
            raise ValueError("reduction='sum' needs sum_pixels (the pixel count of the paper's training patch)")
        return err.mean() * float(sum_pixels)
    raise ValueError(f"unknown reduction {reduction!r}; use 'mean' or 'sum'")


_NORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l1": torch.abs,
    "l2": torch.square,      # squared error (Frobenius norm squared when summed)
}


def _norm(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return _NORMS[name]
    except KeyError:
        raise KeyError(f"unknown norm {name!r}; known: {sorted(_NORMS)}") from None


def _mask(sources: Sources, mask: str | None, invert: bool) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask not in sources:
        raise KeyError(f"content mask {mask!r} is not in the batch; available: {sorted(sources)}")
    m = sources[mask].float()
    return 1.0 - m if invert else m


# ---------------------------------------------------------------- registered terms
@CONTENT_LOSSES.register("intensity")
def intensity(fused: torch.Tensor, sources: Sources, *, target: str = "b", norm: str = "l2",
              reduction: str = "mean", sum_pixels: int | None = None, mask: str | None = None,
              invert_mask: bool = False) -> torch.Tensor:
    """Pixel-intensity fidelity ‖F − T‖ (``norm`` l1: |·|, l2: squared), optionally weighted by a mask."""
    t = resolve_target(sources, target)
    f = match_resolution(fused, t)
    return reduce(_norm(norm)(f - t), reduction, sum_pixels, _mask(sources, mask, invert_mask))


@CONTENT_LOSSES.register("gradient")
def gradient(fused: torch.Tensor, sources: Sources, *, target: str = "a", operator: str = "sobel",
             norm: str = "l1", reduction: str = "mean", sum_pixels: int | None = None,
             mask: str | None = None, invert_mask: bool = False) -> torch.Tensor:
    """Gradient fidelity ‖∇F − ∇T‖ for a source target; for ``target="max"`` the joint-gradient loss
    ‖ |∇F| − max(|∇A|, |∇B|) ‖ on magnitudes (the sign of a maximum of two gradients is undefined)."""
    if target == "max":
        ga, gb = gradient_magnitude(sources["a"], operator), gradient_magnitude(sources["b"], operator)
        if ga.shape != gb.shape:
            raise ValueError("target 'max' needs A and B of the same shape")
        diff = gradient_magnitude(fused, operator) - torch.maximum(ga, gb)
    else:
        t = resolve_target(sources, target)
        f = match_resolution(fused, t)
        diff = gradient_response(f, operator) - gradient_response(t, operator)
    return reduce(_norm(norm)(diff), reduction, sum_pixels, _mask(sources, mask, invert_mask))


def _targets_and_weights(target: str, weights: tuple[float, float] | list[float]) -> list[tuple[str, float]]:
    if target == "both":
        if len(weights) != 2:
            raise ValueError(f"target 'both' needs two weights (A, B), got {weights}")
        return [("a", float(weights[0])), ("b", float(weights[1]))]
    return [(target, 1.0)]


@CONTENT_LOSSES.register("ssim")
def ssim_loss(fused: torch.Tensor, sources: Sources, *, target: str = "both",
              weights: tuple[float, float] | list[float] = (0.5, 0.5), win_size: int = 11,
              win_sigma: float = 1.5) -> torch.Tensor:
    """1 − SSIM(F, T) (``target="both"``: Σ w_i (1 − SSIM(F, S_i)) over A, B)."""
    def one(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ws = min(win_size, _largest_odd_window(min(t.shape[-2:]), levels=1))
        return 1.0 - _ssim(f, t, data_range=1.0, win_size=ws, win_sigma=win_sigma)
    return _weighted_over_targets(fused, sources, target, weights, one)


def _weighted_over_targets(fused: torch.Tensor, sources: Sources, target: str,
                           weights: tuple[float, float] | list[float], term) -> torch.Tensor:
    """Σ w_i · term(F at the target's resolution, target_i) over the targets ``target`` names."""
    total = fused.new_zeros(())
    for name, w in _targets_and_weights(target, weights):
        t = resolve_target(sources, name)
        total = total + w * term(match_resolution(fused, t), t)
    return total


def _largest_odd_window(side: int, levels: int) -> int:
    """Largest odd Gaussian window that pytorch_msssim accepts for ``levels`` scales on ``side`` pixels."""
    if levels <= 1:
        return side if side % 2 else side - 1
    w = (side - 1) // 2 ** 4 + 1          # need side > (w - 1) * 16
    while (w - 1) * 2 ** 4 >= side:
        w -= 1
    return w if w % 2 else w - 1


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)   # Wang, Simoncelli & Bovik 2003


@CONTENT_LOSSES.register("ms_ssim")
def ms_ssim_loss(fused: torch.Tensor, sources: Sources, *, target: str = "both",
                 weights: tuple[float, float] | list[float] = (0.5, 0.5), win_size: int = 11,
                 win_sigma: float = 1.5) -> torch.Tensor:
    """1 − MS-SSIM(F, T) with the 5 scale weights of Wang et al. (2003)."""
    def one(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        side = min(t.shape[-2:])
        ws = min(win_size, _largest_odd_window(side, levels=5))
        if ws < 3:
            raise ValueError(f"MS-SSIM needs images of at least 48 px on the smaller side, got {side} px; "
                             f"use the 'ssim' content loss for such small images")
        return 1.0 - _ms_ssim(f, t, data_range=1.0, win_size=ws, win_sigma=win_sigma,
                              weights=list(MS_SSIM_WEIGHTS))
    return _weighted_over_targets(fused, sources, target, weights, one)


# ---------------------------------------------------------------- weighted sums of terms
@dataclass
class ContentTerm:
    """One weighted term of a content loss: ``weight * CONTENT_LOSSES[name](fused, sources, **params)``."""
    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fn = CONTENT_LOSSES.get(self.name)
        sig = inspect.signature(fn)
        allowed = [p for p in list(sig.parameters)[2:]]
        unknown = set(self.params) - set(allowed)
        if unknown:
            raise KeyError(f"content loss {self.name!r}: unknown parameter(s) {sorted(unknown)}; "
                           f"allowed {allowed}")
        self.fn = fn

    @property
    def label(self) -> str:
        tgt = self.params.get("target")
        return f"{self.name}" + (f"_{tgt}" if tgt else "")


def parse_content_terms(spec: list[dict[str, Any]] | None) -> list[ContentTerm]:
    """``[{"name": "intensity", "weight": 1.0, "target": "b", ...}, ...]`` -> :class:`ContentTerm` list."""
    terms = []
    for i, item in enumerate(spec or []):
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"content term #{i} must be a mapping with a 'name', got {item!r}")
        item = dict(item)
        name, weight = item.pop("name"), float(item.pop("weight", 1.0))
        terms.append(ContentTerm(name, weight, item))
    return terms


def content_loss(terms: list[ContentTerm], fused: torch.Tensor, sources: Sources,
                 prefix: str = "content/") -> LossTerms:
    """Σ weight · term, with every unweighted term in ``parts`` (labels made unique by their index)."""
    total = fused.new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    for i, t in enumerate(terms):
        value = t.fn(fused, sources, **t.params)
        total = total + t.weight * value
        key = f"{prefix}{t.label}"
        parts[key if key not in parts else f"{key}_{i}"] = value.detach()
    return LossTerms(total, parts)


__all__ = ["GRADIENT_OPERATORS", "ContentTerm", "MS_SSIM_WEIGHTS", "content_loss", "gradient",
           "gradient_magnitude", "gradient_response", "intensity", "match_resolution", "ms_ssim_loss",
           "parse_content_terms", "resolve_target", "ssim_loss"]

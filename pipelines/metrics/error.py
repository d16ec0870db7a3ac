"""Error metrics: MSE and PSNR as the reference evaluator defines them for fusion, and NRMSE for synthesis.

* MSE = (mean((A-F)^2) + mean((B-F)^2)) / 2 on the 0-255 scale.
* PSNR = 10 log10(max(F)^2 / MSE) - the fused image's max, not 255 (FUSION_METRICS.md §3); with the
  min-max stretch max(F) = 255 and it is the usual PSNR.  MSE = 0 gives +inf.
* NRMSE(pred, target) for synthesis tasks (e.g. MRI -> CT): sqrt(MSE) divided by a normalisation of the
  target, with the three choices of ``skimage.metrics.normalized_root_mse``.
"""
from __future__ import annotations

import torch

from pipelines.metrics.arrays import as_batch
from pipelines.metrics.batch import Triplet
from pipelines.metrics.moments import F_MINUS_A, F_MINUS_B, pixel_moments
from pipelines.metrics.registry import metric


def _mse_parts(batch: Triplet) -> tuple[torch.Tensor, torch.Tensor]:
    m = pixel_moments(batch)
    return m.mean_square(F_MINUS_A), m.mean_square(F_MINUS_B)


@metric("MSE", parts=("MSE_A", "MSE_B"), better="lower",
        reference="(mean((A-F)^2) + mean((B-F)^2)) / 2, 0-255 scale")
def mse(batch: Triplet):
    ma, mb = _mse_parts(batch)
    return {"MSE": (ma + mb) / 2, "MSE_A": ma, "MSE_B": mb}


@metric("PSNR", unit="dB", reference="10 log10(max(F)^2 / MSE)")
def psnr(batch: Triplet):
    ma, mb = _mse_parts(batch)
    peak = batch.F.amax(dim=(1, 2))
    return {"PSNR": 10.0 * torch.log10(peak * peak / ((ma + mb) / 2))}


_NORMALISATIONS = {
    "euclidean": lambda t: torch.sqrt(torch.mean(t * t, dim=(1, 2))),
    "min-max": lambda t: t.amax(dim=(1, 2)) - t.amin(dim=(1, 2)),
    "mean": lambda t: t.mean(dim=(1, 2)),
}


def nrmse(pred, target, normalization: str = "euclidean"):
    """Normalised RMSE of ``pred`` against ``target`` ((H, W) or (N, H, W), numpy or torch on any device);
    same definition and default as ``skimage.metrics.normalized_root_mse``.  Scale-invariant, so any common
    scale works.  Returns a float for one image, else an (N,) numpy array."""
    if normalization not in _NORMALISATIONS:
        raise ValueError(f"normalization {normalization!r}: expected one of {sorted(_NORMALISATIONS)}")
    p, single = as_batch(pred)
    t, _ = as_batch(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    d = p - t
    out = (torch.sqrt(torch.mean(d * d, dim=(1, 2))) / _NORMALISATIONS[normalization](t)).cpu().numpy()
    return float(out[0]) if single else out

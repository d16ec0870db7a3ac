"""Error metrics: MSE and PSNR as the reference evaluator defines them for fusion, and NRMSE for synthesis.

* MSE = (mean((A-F)^2) + mean((B-F)^2)) / 2 on the 0-255 scale.
* PSNR = 10 log10(max(F)^2 / MSE) - the fused image's max, not 255 (FUSION_METRICS.md §3); with the
  min-max stretch max(F) = 255 and it is the usual PSNR.  MSE = 0 gives +inf.
* NRMSE(pred, target) for synthesis tasks (e.g. MRI -> CT): sqrt(MSE) divided by a normalisation of the
  target, with the three choices of ``skimage.metrics.normalized_root_mse``.
"""
from __future__ import annotations

import numpy as np

from pipelines.metrics.arrays import as_batch
from pipelines.metrics.registry import metric


def _mse(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = x - y
    return np.einsum("nij,nij->n", d, d) / (d.shape[1] * d.shape[2])


@metric("MSE", parts=("MSE_A", "MSE_B"), better="lower",
        reference="(mean((A-F)^2) + mean((B-F)^2)) / 2, 0-255 scale")
def mse(F, A, B):
    ma, mb = _mse(A, F), _mse(B, F)
    return {"MSE": (ma + mb) / 2, "MSE_A": ma, "MSE_B": mb}


@metric("PSNR", unit="dB", reference="10 log10(max(F)^2 / MSE)")
def psnr(F, A, B):
    m = (_mse(A, F) + _mse(B, F)) / 2
    peak = F.max(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return {"PSNR": 10.0 * np.log10(peak * peak / m)}


_NORMALISATIONS = {
    "euclidean": lambda t: np.sqrt(np.mean(t * t, axis=(1, 2))),
    "min-max": lambda t: t.max(axis=(1, 2)) - t.min(axis=(1, 2)),
    "mean": lambda t: t.mean(axis=(1, 2)),
}


def nrmse(pred, target, normalization: str = "euclidean"):
    """Normalised RMSE of ``pred`` against ``target`` ((H, W) or (N, H, W)); same definition and default as
    ``skimage.metrics.normalized_root_mse``.  Scale-invariant, so any common scale works."""
    if normalization not in _NORMALISATIONS:
        raise ValueError(f"normalization {normalization!r}: expected one of {sorted(_NORMALISATIONS)}")
    p, single = as_batch(pred)
    t, _ = as_batch(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    out = np.sqrt(_mse(p, t)) / _NORMALISATIONS[normalization](t)
    return float(out[0]) if single else out

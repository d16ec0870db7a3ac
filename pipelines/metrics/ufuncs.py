"""Fast elementwise transcendental functions for the metrics.

numpy's float64 ``exp``/``log10`` have no SIMD path on AVX2 machines (~20-40 ns per value on the
development machine), torch's (SLEEF) do (~2-3 ns), so the hot transcendental calls go through torch on
zero-copy views of the numpy arrays.  ``*_f32`` variants compute in float32 where the reference itself
does (CDDFuse's Qabf runs entirely in float32), results returned as float64.
"""
from __future__ import annotations

import numpy as np
import torch


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def log10(x: np.ndarray) -> np.ndarray:
    return torch.log10(_t(np.asarray(x, dtype=np.float64))).numpy()


def exp(x: np.ndarray) -> np.ndarray:
    return torch.exp(_t(np.asarray(x, dtype=np.float64))).numpy()


def arctan_f32(x: np.ndarray) -> np.ndarray:
    return torch.atan(_t(np.asarray(x, dtype=np.float32))).numpy().astype(np.float64)


def exp_f32(x: np.ndarray) -> np.ndarray:
    return torch.exp(_t(np.asarray(x, dtype=np.float32))).numpy().astype(np.float64)

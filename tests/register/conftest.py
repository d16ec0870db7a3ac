"""Synthetic misaligned pairs for the registration tests (no files, a few ms each).

``head(n, z)`` is an asymmetric head-like slice (skull ring, brain, ventricles, off-centre lesions);
``modality_b`` maps it to another contrast by a non-monotonic intensity relabelling (a multimodal pair);
``moved(img, T)`` resamples an image so that ``moved(B)(T^-1 ...)``: with ITK's convention the returned
image M satisfies ``M(T(p)) = B(p)``, i.e. T is exactly the transform the registration must find.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from pipelines.registration import engine


def head(n: int = 96, z: float = 0.0, seed: int = 0) -> np.ndarray:
    yy, xx = (np.mgrid[0:n, 0:n] / (n - 1)) * 2 - 1
    s = math.sqrt(max(1.0 - z * z, 0.2))
    img = np.zeros((n, n), np.float64)
    img[(xx / (0.82 * s)) ** 2 + (yy / (0.92 * s)) ** 2 < 1] = 0.85          # skull
    img[(xx / (0.74 * s)) ** 2 + (yy / (0.84 * s)) ** 2 < 1] = 0.45          # brain
    img[((xx + 0.12) / 0.08) ** 2 + ((yy + 0.05 - 0.1 * z) / 0.3) ** 2 < 1] = 0.15   # ventricle L
    img[((xx - 0.14) / 0.07) ** 2 + ((yy - 0.02) / 0.22) ** 2 < 1] = 0.15           # ventricle R
    img[((xx - 0.38) / 0.12) ** 2 + ((yy + 0.35) / 0.09) ** 2 < s] = 0.7            # lesion
    img[((xx + 0.3) / 0.06) ** 2 + ((yy - 0.45) / 0.14) ** 2 < s] = 0.95            # second lesion
    img[(np.abs(xx - 0.05 + 0.3 * yy) < 0.03) & (img == 0.45)] = 0.6                 # oblique stripe
    rng = np.random.default_rng(seed)
    img = img + 0.01 * rng.standard_normal(img.shape) * (img > 0)
    return np.clip(img, 0, 1).astype(np.float32)


def modality_b(a: np.ndarray) -> np.ndarray:
    """Non-monotonic relabelling (like CT vs MRI): bright skull, dark brain, mid ventricles."""
    out = np.where(a > 0.8, 0.9, np.where(a > 0.55, 0.2, np.where(a > 0.3, 0.35, np.where(a > 0.05, 0.6, 0.0))))
    return out.astype(np.float32)


def rigid(angle_deg: float, tx: float, ty: float, centre) -> sitk.Euler2DTransform:
    t = sitk.Euler2DTransform()
    t.SetCenter(tuple(float(c) for c in centre))
    t.SetAngle(math.radians(angle_deg))
    t.SetTranslation((tx, ty))
    return t


def moved(img: np.ndarray, transform: sitk.Transform, spacing=(1.0, 1.0), default: float = 0.0) -> np.ndarray:
    """Image M with M(T(p)) = img(p): resample ``img`` through T^-1."""
    f = engine.to_image(img, spacing)
    return engine.to_array(engine.resample(f, f, transform.GetInverse(), default))


@pytest.fixture(scope="session")
def synthetic():
    return {"head": head, "modality_b": modality_b, "rigid": rigid, "moved": moved}

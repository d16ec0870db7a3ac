"""Smooth random fields: a patient's anatomical deformation and an MR coil's bias field.

Both are sums of a few random low-frequency plane waves, ``f(x) = sum_k a_k sin(w_k . x + phi_k)``: smooth
by construction, cheap to evaluate at any point (no grid to interpolate), and exactly reproducible from the
seed.  For a deformation ``x -> c + S (x - c) + u(x)`` the spectral bound ``sum_k |a_k| |w_k|`` is kept at or
below 0.4, so the Jacobian of ``u`` has norm < 0.4 and the mapping is invertible (no folding).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

MAX_GRADIENT = 0.4
GRID_STEP_MM = 4.0      # smooth fields on point grids are evaluated every ~4 mm and interpolated linearly


@dataclass(frozen=True)
class PlaneWaveField:
    """``f(x) = sum_k amplitudes[k] * sin(wavevectors[k] . x + phases[k])``; amplitudes (K, C), C outputs."""

    amplitudes: np.ndarray      # (K, C)
    wavevectors: np.ndarray     # (K, 3) rad per mm
    phases: np.ndarray          # (K,)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points (3, ...) in mm -> values (C, ...) (float32; the fields are smooth, float32 is plenty)."""
        p = np.asarray(points, np.float32)
        flat = p.reshape(3, -1)
        out = np.zeros((self.amplitudes.shape[1], flat.shape[1]), np.float32)
        for a, w, ph in zip(self.amplitudes, self.wavevectors, self.phases):
            w32 = w.astype(np.float32)
            # explicit sum, not a BLAS product: no thread pool on an oversubscribed machine
            wave = np.sin(w32[0] * flat[0] + w32[1] * flat[1] + w32[2] * flat[2] + np.float32(ph))
            for c in range(out.shape[0]):
                out[c] += np.float32(a[c]) * wave
        return out.reshape((self.amplitudes.shape[1],) + p.shape[1:])

    def gradient_bound(self) -> float:
        return float(sum(np.linalg.norm(a) * np.linalg.norm(w) for a, w in zip(self.amplitudes, self.wavevectors)))

    def to_json(self) -> dict:
        return {"amplitudes": self.amplitudes.round(6).tolist(), "wavevectors": self.wavevectors.round(6).tolist(),
                "phases": self.phases.round(6).tolist()}


def _interp_matrix(n: int, step: int) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Sub-sample indices of an axis of length ``n`` (every ``step``-th plus the last) and the (n, m)
    linear-interpolation matrix from them back to all ``n``."""
    idx = np.unique(np.r_[np.arange(0, n, step), n - 1])
    m = np.zeros((n, len(idx)), np.float32)  # converted to CSR below
    pos = np.arange(n)
    j = np.clip(np.searchsorted(idx, pos, side="right") - 1, 0, len(idx) - 1)
    j1 = np.minimum(j + 1, len(idx) - 1)
    span = np.maximum(idx[j1] - idx[j], 1)
    w = ((pos - idx[j]) / span).astype(np.float32)
    m[pos, j] += 1.0 - w
    m[pos, j1] += np.where(j1 != j, w, 0.0)
    return idx, sparse.csr_matrix(m)


def on_grid(f: PlaneWaveField, points: np.ndarray, step_mm: float = GRID_STEP_MM) -> np.ndarray:
    """Evaluate ``f`` at a point grid (3, Z, Y, X) whose coordinates are affine in the indices (a regular,
    possibly rotated grid): exactly at every ~``step_mm`` in-plane and linearly interpolated in between
    (error < 1 % of the amplitude for wavelengths >= 60 mm).  Returns (C, Z, Y, X)."""
    p = np.asarray(points, np.float32)
    if p.ndim != 4 or min(p.shape[2:]) < 2:
        return f(p)
    sy = float(np.linalg.norm(p[:, 0, 1, 0] - p[:, 0, 0, 0]))
    sx = float(np.linalg.norm(p[:, 0, 0, 1] - p[:, 0, 0, 0]))
    fy, fx = max(1, int(step_mm // max(sy, 1e-6))), max(1, int(step_mm // max(sx, 1e-6)))
    if fy == 1 and fx == 1:
        return f(p)
    iy, my = _interp_matrix(p.shape[2], fy)
    ix, mx = _interp_matrix(p.shape[3], fx)
    coarse = f(p[:, :, iy][:, :, :, ix])                       # (C, Z, m_y, m_x)
    out = np.empty((coarse.shape[0], p.shape[1], p.shape[2], p.shape[3]), np.float32)
    for c in range(coarse.shape[0]):
        for z in range(coarse.shape[1]):
            # sparse products: single-threaded, independent of the BLAS thread pool
            out[c, z] = (mx @ (my @ coarse[c, z]).T).T
    return out


def random_plane_waves(rng: np.random.Generator, n_terms: int, channels: int, rms_amplitude: float,
                       wavelength_mm: tuple[float, float]) -> PlaneWaveField:
    """Random directions, wavelengths uniform in ``wavelength_mm``, amplitudes scaled so the field's RMS
    (over space) is ``rms_amplitude`` per channel."""
    dirs = rng.normal(size=(n_terms, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    lam = rng.uniform(*wavelength_mm, size=n_terms)
    w = dirs * (2 * np.pi / lam)[:, None]
    amp = rng.normal(size=(n_terms, channels))
    # RMS of sum_k a_k sin(...) with independent phases is sqrt(sum a_k^2 / 2)
    amp *= rms_amplitude / np.sqrt((amp ** 2).sum(axis=0, keepdims=True) / 2.0)
    return PlaneWaveField(amp, w, rng.uniform(0, 2 * np.pi, size=n_terms))


@dataclass(frozen=True)
class SmoothDeformation:
    """Case space -> template space: ``q = c + scale * (p - c) + u(p)`` (voxel = mm on the 1 mm grid).

    ``scale`` varies head size per axis (a few %); ``u`` is a smooth displacement of a few mm.
    """

    center: np.ndarray          # (3,)
    scale: np.ndarray           # (3,)
    displacement: PlaneWaveField

    def to_template(self, points: np.ndarray) -> np.ndarray:
        """points (3, ...); a (3, Z, Y, X) regular grid is evaluated with :func:`on_grid`."""
        p = np.asarray(points, np.float32)
        c = self.center.astype(np.float32).reshape((3,) + (1,) * (p.ndim - 1))
        s = self.scale.astype(np.float32).reshape((3,) + (1,) * (p.ndim - 1))
        return c + s * (p - c) + on_grid(self.displacement, p)

    def to_json(self) -> dict:
        return {"center_vox": self.center.round(3).tolist(), "scale": self.scale.round(6).tolist(),
                "displacement": self.displacement.to_json()}


def random_deformation(rng: np.random.Generator, center: np.ndarray, rms_mm: float = 2.0,
                       scale_sd: float = 0.03, n_terms: int = 6,
                       wavelength_mm: tuple[float, float] = (70.0, 160.0)) -> SmoothDeformation:
    field = random_plane_waves(rng, n_terms, 3, rms_mm, wavelength_mm)
    bound = field.gradient_bound()
    if bound > MAX_GRADIENT:
        field = PlaneWaveField(field.amplitudes * (MAX_GRADIENT / bound), field.wavevectors, field.phases)
    scale = np.clip(1.0 + rng.normal(0.0, scale_sd, size=3), 0.9, 1.1)
    return SmoothDeformation(np.asarray(center, np.float64), scale, field)


def random_bias_field(rng: np.random.Generator, rms: float = 0.08, n_terms: int = 4,
                      wavelength_mm: tuple[float, float] = (200.0, 400.0)) -> PlaneWaveField:
    """Log-bias field for MR: the image is multiplied by ``exp(f(x))`` (x in scanner mm)."""
    return random_plane_waves(rng, n_terms, 1, rms, wavelength_mm)
